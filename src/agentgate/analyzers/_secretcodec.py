"""Secrets hidden in an encoding: base64, hex, URL-encoding, reversal, separators.

Helpers of `agentgate.analyzers.secrets`. Decoding is bounded: only candidate
substrings of a plausible alphabet and length are decoded (at most `MAX_CANDIDATES`
per text, each at most `MAX_RUN` characters), and a decoded view is scanned by the
same fixed-format detectors as plain text, one level deep.

=====================  ==================================================================
encoding               how it is found
=====================  ==================================================================
base64 / base64url     a run of 16+ base64 characters that decodes to mostly printable text
hex                    a run of 32+ hex digits (even length) that decodes to printable text
URL-encoding           ``%XX`` escapes: the text is scanned once more, unquoted
reversed               the text is scanned once more, backwards (C speed)
separators             after a token prefix (``AKIA``, ``ghp_``, ``github_pat_``, ``npm_``,
                       ``sk-``, ``xox``): dashes and blanks inside the next 160 characters
                       are dropped and the result scanned (``AKIA-BDSO-F2MP-...``)
=====================  ==================================================================
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Iterator
from urllib.parse import unquote

from agentgate.analyzers import _fastpath

__all__ = ["MAX_CANDIDATES", "MAX_RUN", "decoded_views", "has_run"]

MAX_CANDIDATES = 64
MAX_RUN = 16_384

# Runs start at the beginning of their class run (lookbehind): one scan per run, linear.
_B64_RUN = re.compile(r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{16,}={0,2}")
_HEX_RUN = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){16,}(?![0-9A-Fa-f])")


def has_run(chars: str, n: int) -> Callable[[str], bool]:
    """A test that a text may hold *n* consecutive characters of *chars* (all ASCII).

    ``str.translate`` of ASCII text and a substring search run at C speed (a few ns a
    character), where a regex scanning for such a run costs 15-50 ns a character: a text
    without the run skips the regex. A necessary condition only: non-ASCII text always
    answers True (a regex's ``\\d`` also matches other scripts' digits).

    >>> has_run("0123456789", 4)("call 555 1234"), has_run("0123456789", 4)("call 555 123")
    (True, False)
    """
    run = "x" * n
    table = {c: ("x" if chr(c) in chars else " ") for c in range(128)}

    def test(text: str) -> bool:
        return not text.isascii() or run in text.translate(table)

    return test


# The shortest run each regex can match: 16 base64 characters, 32 hex digits.
_B64_CANDIDATE = has_run("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-", 16)
_HEX_CANDIDATE = has_run("0123456789ABCDEFabcdef", 32)
_PCT = re.compile(r"%[0-9A-Fa-f]{2}")
_PREFIXES = ("AKIA", "ASIA", "ghp_", "gho_", "ghs_", "ghu_", "github_pat_", "npm_", "sk-", "xox", "glpat-")
_CHUNKS = re.compile(r"[A-Za-z0-9_+/=]+")  # what lies between dashes and blanks


def _printable(b: bytes) -> str | None:
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if s and s.isprintable():  # the common case, at C speed (the count below is a Python loop)
        return s
    if not s or sum(c.isprintable() or c in "\n\r\t" for c in s) < 0.9 * len(s):
        return None
    return s


# base64.b64decode / urlsafe_b64decode without their Python wrappers: a run is ASCII by its
# regex, and the non-strict decoder (theirs too) skips characters outside the alphabet.
_URLSAFE = str.maketrans("-_", "+/")


def _b64(run: str) -> str | None:
    body = run.rstrip("=")
    if len(body) % 4 == 1 or body.isalpha() or body.isdigit():
        return None  # plain words and numbers are not encodings
    pad = "=" * (-len(body) % 4)
    for text in (body + pad, (body + pad).translate(_URLSAFE)):
        try:
            out = _printable(binascii.a2b_base64(text))
        except (binascii.Error, ValueError):
            continue
        if out is not None:
            return out
    return None


def decoded_views(text: str) -> Iterator[tuple[str, int, int, str]]:
    """``(encoding, start, end, decoded text)`` for every decodable candidate in *text*.

    *start*/*end* locate the encoded span in *text* (the whole text for ``url`` and
    ``reversed``). A token prefix whose next 160 characters repeat an earlier one's is not
    expanded again: its split views would be the same strings (it still counts towards
    `MAX_CANDIDATES`).
    """
    n = 0
    for rx, candidate, decode, name in (
        (_B64_RUN, _B64_CANDIDATE, _b64, "base64"),
        (_HEX_RUN, _HEX_CANDIDATE, _hex, "hex"),
    ):
        if _fastpath.ENABLED and not candidate(text):
            continue
        for m in rx.finditer(text):
            if len(m.group()) > MAX_RUN:
                continue
            out = decode(m.group())
            if out is not None:
                yield name, m.start(), m.end(), out
                n += 1
                if n >= MAX_CANDIDATES:
                    return
    if "%" in text and _PCT.search(text):
        yield "url-encoded", 0, len(text), unquote(text)
    yield "reversed", 0, len(text), text[::-1]
    expanded: set[str] = set()
    for p in _PREFIXES:
        i = text.find(p)
        while i >= 0 and n < MAX_CANDIDATES:
            # The views of a prefix depend only on the 160 characters from it: a repetition
            # (a token pasted twice, "ghp_ " a megabyte long) would only repeat them.
            span = text[i : i + 160]
            if span in expanded and _fastpath.ENABLED:
                n += 1
                i = text.find(p, i + len(p))
                continue
            expanded.add(span)
            # the token is some prefix of the chunks joined: AKIA|BDSO|F2MP|... then "secret";
            # only dashes and blanks split a token ("ghp_pdTh...uO9" is a truncated one)
            joined = ""
            end = i
            for k, m in enumerate(_CHUNKS.finditer(text, i, i + 160)):
                if k >= 12 or (k and text[end : m.start()].strip(" \t\n-")):
                    break
                joined += m.group()
                end = m.end()
                if k:
                    yield "split", i, i + len(joined), joined
            n += 1
            i = text.find(p, i + len(p))


_hex: Callable[[str], str | None] = lambda run: _printable(bytes.fromhex(run))  # noqa: E731
