"""The values provenance tracks, and where in a tool's output each one sits.

A value is an identity a side effect can be pointed at: an e-mail address, an IBAN, a URL's host, a
phone number. Each is normalized the way the systems that use it compare it (addresses and hosts
case-insensitively, IBANs without spaces, phone numbers by their digits). Every scan is linear: one
pass of simple regexes over text capped at ``MAX_TEXT`` characters per string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["MAX_TEXT", "Found", "extract_text", "extract_tree", "normalize_target"]

#: Characters of one string that are scanned; values past it are not indexed.
MAX_TEXT = 50_000
#: Strings, dict entries and list items walked in one output.
MAX_NODES = 5_000
#: Nesting followed in one output.
MAX_DEPTH = 12

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}")
# An IBAN: two letters, two check digits, then 11-30 alphanumerics, optionally in groups of four.
_IBAN = re.compile(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_URL = re.compile(r"\b(?:https?|ftp|wss?)://[^\s<>\"'`)\]]{1,2000}", re.IGNORECASE)
_BARE_HOST = re.compile(r"\b(?:www\.)?[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})*\.(?:[a-z]{2,24})\b", re.IGNORECASE)
_PHONE = re.compile(r"\+[1-9][0-9 ().-]{6,20}[0-9]")

#: Keys whose values are facts about a record (who sent it, which account) rather than free text.
IDENTITY_KEYS = frozenset(
    {
        "from", "sender", "to", "cc", "bcc", "recipient", "recipients", "email", "emails", "address",
        "reply_to", "author", "owner", "organizer", "participants", "attendees", "contact", "contacts",
        "iban", "account", "account_number", "payee", "beneficiary", "creditor", "debtor",
        "phone", "phone_number", "mobile", "url", "link", "website", "homepage", "domain", "host",
        "user", "username", "users", "members", "channel", "id", "name",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Found:
    """One value found in an output: its kind, normalized form, and whether it sat in a structured field."""

    kind: str
    value: str
    field: str
    structured: bool


def _iban(raw: str) -> str | None:
    s = raw.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return None
    # ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97 == 1.
    digits = "".join(str(int(c, 36)) for c in s[4:] + s[:4])
    return s if int(digits) % 97 == 1 else None


def _host(raw: str) -> str | None:
    try:
        host = urlsplit(raw).hostname
    except ValueError:
        return None
    return host.rstrip(".").lower() if host else None


def extract_text(text: str, field: str = "", structured: bool = False) -> Iterator[Found]:
    """Every tracked value in *text* (the first ``MAX_TEXT`` characters)."""
    text = text[:MAX_TEXT]
    if "@" in text:
        for m in _EMAIL.finditer(text):
            yield Found("email", m.group().lower().rstrip("."), field, structured)
    if "://" in text:
        for m in _URL.finditer(text):
            url = m.group().rstrip(".,;:!?")
            host = _host(url)
            if host:
                yield Found("host", host, field, structured)
    elif structured and "." in text and len(text) < 256:
        for m in _BARE_HOST.finditer(text):
            if "@" not in text[max(0, m.start() - 1) : m.start()]:
                yield Found("host", m.group().lower(), field, structured)
    for m in _IBAN.finditer(text.upper() if structured else text):
        iban = _iban(m.group())
        if iban:
            yield Found("iban", iban, field, structured)
    if "+" in text:
        for m in _PHONE.finditer(text):
            digits = re.sub(r"\D", "", m.group())
            if 8 <= len(digits) <= 15:
                yield Found("phone", "+" + digits, field, structured)


def extract_tree(value: object) -> tuple[list[Found], bool]:
    """Every tracked value in a tool output of any shape; and whether a limit cut the walk short.

    A string holding a JSON object or array is parsed and walked. A value is *structured* when it is
    the whole (short) value of a key in `IDENTITY_KEYS`, at any depth; prose is everything else.
    """
    found: list[Found] = []
    budget = [MAX_NODES]
    truncated = [False]

    def walk(v: object, key: str, depth: int) -> None:
        budget[0] -= 1
        if budget[0] < 0 or depth > MAX_DEPTH:
            truncated[0] = True
            return
        if isinstance(v, str):
            s = v.strip()
            if s[:1] in "{[" and len(s) <= MAX_TEXT:
                try:
                    walk(json.loads(s), key, depth + 1)
                    return
                except ValueError:
                    pass
            structured = key.lower() in IDENTITY_KEYS and len(s) <= 320
            found.extend(extract_text(v, key, structured))
            if len(v) > MAX_TEXT:
                truncated[0] = True
        elif isinstance(v, Mapping):
            for k, item in v.items():
                walk(item, str(k), depth + 1)
        elif isinstance(v, (list, tuple, set, frozenset)):
            for item in v:
                walk(item, key, depth + 1)
        elif v is not None and not isinstance(v, (bool, int, float)):
            dump = getattr(v, "model_dump", None)
            walk(dump() if callable(dump) else str(v), key, depth + 1)

    walk(value, "", 0)
    return found, truncated[0]


def normalize_target(kind: str, raw: str) -> str:
    """The comparison form of a value of *kind* given as an argument."""
    if kind == "iban":
        return raw.replace(" ", "").upper()
    if kind == "phone":
        return "+" + re.sub(r"\D", "", raw)
    return raw.strip().lower().rstrip(".")
