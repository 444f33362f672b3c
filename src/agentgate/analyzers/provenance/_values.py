"""The values provenance tracks, and where in a tool's output each one sits.

A value is an identity a side effect can be pointed at. Two families:

* **addresses**, recognized by their syntax wherever they stand: e-mail addresses, IBANs, URL
  hosts, phone numbers, SSH public keys (a deploy key grants access as an address receives data). Each is normalized the way the systems that use it compare it (addresses
  and hosts case-insensitively, IBANs without spaces, phone numbers by their digits).
* **names** (kind ``name``): chat handles and user ids, channel names, record ids (tickets, pull
  requests, files, events), repositories. A bare word has no syntax that tells it apart from prose,
  so a name is indexed only where its *role* says what it is: the whole short value of a field whose
  key names an identity or an id (``user``, ``channel``, ``*_id``, ``number``, ``repo`` ...), a
  marked mention in free text (``@alice``, ``#general``, ``#311``), a token that mixes letters and
  digits (``U0193``, ``SUP-812``, ``f-77``) or an ``owner/repo`` pair; and every word of a text that
  instructs the agent (the origin module adds those). A name is compared lower-cased, without its
  ``@``/``#`` mark or trailing punctuation.

Every scan is linear: one pass of simple regexes over text capped at ``MAX_TEXT`` characters per
string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "MAX_TEXT",
    "Found",
    "extract_names",
    "extract_text",
    "extract_tree",
    "is_name_key",
    "name_tokens",
    "normalize_name",
    "normalize_target",
]

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
# An SSH public key (what a deploy key or an authorized_keys line grants access to): its base64 body.
_SSH_KEY = re.compile(
    r"\b(?:ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com)\s+(AAAA[A-Za-z0-9+/]{16,8192}={0,3})"
)

#: Keys whose values are facts about a record (who sent it, which account) rather than free text.
IDENTITY_KEYS = frozenset(
    {
        "from", "sender", "to", "cc", "bcc", "recipient", "recipients", "email", "emails", "address",
        "reply_to", "author", "owner", "organizer", "participants", "attendees", "contact", "contacts",
        "iban", "account", "account_number", "payee", "beneficiary", "creditor", "debtor",
        "phone", "phone_number", "mobile", "url", "link", "website", "homepage", "domain", "host",
        "user", "username", "users", "members", "channel", "id", "name",
        "customer", "customer_email", "requester", "reporter", "assignee", "creator", "login", "handle",
        "invitees", "collaborators", "reviewers", "remote", "repo", "repository", "webhook", "endpoint",
    }
)  # fmt: skip

# Keys whose short value names an identity or a record (``user``, ``user_id``, ``channel``, ``number``,
# ``repo``): the value is indexed as a name. Suffix match on the lower-cased key, camelCase split first.
_NAME_KEY = re.compile(
    r"(?:^|_)(?:ids?|uid|key|number|num|no|users?|user_?names?|logins?|handles?|names?|display_?name|"
    r"real_?name|authors?|senders?|from|to|owners?|assignees?|reporters?|requesters?|creators?|members?|"
    r"participants?|attendees?|invitees?|recipients?|channels?|repo|repos|repository|repositories|"
    r"full_?name|branch|branches|remote|ref|slug|tickets?|issues?|prs?|pull_request|events?|files?|teams?|"
    r"groups?|contacts?|customers?|collaborators?|reviewers?|workspace|project)$"
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# A token of free text: an optional @/# mark, then letters, digits and the separators names use.
# (One character class, greedy, no nesting: linear.)
_TOKEN = re.compile(r"[@#]?[A-Za-z0-9][A-Za-z0-9_.:/-]*")
_STRIP = ".,;:!?/-_"
#: Longest name indexed, in characters.
MAX_NAME = 64


@dataclass(frozen=True, slots=True)
class Found:
    """One value found in an output: its kind, normalized form, and whether it sat in a structured field."""

    kind: str
    value: str
    field: str
    structured: bool


def is_name_key(key: str) -> bool:
    """True when *key* (a field or argument name) says its value names an identity or a record."""
    return bool(_NAME_KEY.search(_CAMEL.sub("_", key).lower()))


def normalize_name(raw: str) -> str:
    """The comparison form of a name: lower-cased, words joined by one space, no mark or end punctuation."""
    return " ".join(raw.split()).lower().lstrip("@#./").rstrip(_STRIP + "'\")")


def name_tokens(text: str) -> Iterator[str]:
    """Every word of *text* (the first ``MAX_TEXT`` characters) as a name, marks and end punctuation cut."""
    for m in _TOKEN.finditer(text[:MAX_TEXT]):
        tok = m.group().lower().lstrip("@#").rstrip(_STRIP)
        if tok and len(tok) <= MAX_NAME:
            yield tok


def extract_names(text: str, field: str = "") -> Iterator[Found]:
    """Names that free text marks as names: ``@handle``, ``#channel``/``#311``, ids mixing letters and
    digits (``U0193``, ``SUP-812``) and ``owner/repo`` pairs. Bare words are left out: in prose they
    are words, not targets."""
    for m in _TOKEN.finditer(text[:MAX_TEXT]):
        raw = m.group()
        tok = raw.lower().lstrip("@#").rstrip(_STRIP)
        if not tok or len(tok) > MAX_NAME or "://" in tok:
            continue
        marked = raw[0] in "@#"
        if raw[0] == "@" and m.start() > 0 and text[m.start() - 1].isalnum():
            continue  # the domain of an address, not a handle
        has_digit = any(c.isdigit() for c in tok)
        mixed = has_digit and any(c.isalpha() for c in tok) and "." not in tok and ":" not in tok
        repo = tok.count("/") == 1 and "." not in tok.split("/", 1)[0] and ":" not in tok
        if marked or mixed or repo:
            yield Found("name", tok, field, False)


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
    if "AAAA" in text:
        for m in _SSH_KEY.finditer(text):
            yield Found("sshkey", m.group(1), field, structured)
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
            short = len(s) <= 320
            named_key = is_name_key(key)
            keyed = key.lower() in IDENTITY_KEYS or named_key
            values = list(extract_text(v, key, keyed and short))
            if not (keyed and short) and len(values) == 1 and _whole(values[0], s):
                # The field holds one address and nothing else: a fact the tool reports, not prose.
                values[0] = Found(values[0].kind, values[0].value, key, True)
            found.extend(values)
            if named_key and s and len(s) <= MAX_NAME and len(s.split()) <= 4:
                found.append(Found("name", normalize_name(s), key, True))
            elif s:
                found.extend(extract_names(v, key))
            if len(v) > MAX_TEXT:
                truncated[0] = True
        elif isinstance(v, int) and not isinstance(v, bool):
            if is_name_key(key):
                found.append(Found("name", str(v), key, True))
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


def _whole(f: Found, s: str) -> bool:
    low = s.lower().rstrip(".")
    if f.kind == "host":
        return " " not in low and ("://" in low or low == f.value)
    if f.kind == "email":
        return low == f.value or low.endswith(f"<{f.value}>")
    if f.kind == "phone":
        return _PHONE_ONLY.fullmatch(s) is not None and normalize_target("phone", s) == f.value
    return normalize_target(f.kind, s) == f.value


_PHONE_ONLY = re.compile(r"\+[0-9 ().-]{6,30}")


def normalize_target(kind: str, raw: str) -> str:
    """The comparison form of a value of *kind* given as an argument."""
    if kind == "iban":
        return raw.replace(" ", "").upper()
    if kind == "phone":
        return "+" + re.sub(r"\D", "", raw)
    if kind == "name":
        return normalize_name(raw)
    return raw.strip().lower().rstrip(".")
