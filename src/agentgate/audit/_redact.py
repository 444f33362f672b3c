"""Redaction before anything is persisted.

Every string that goes into a record (arguments at any depth, the reasoning,
each finding's message and evidence) passes through `Redactor.text`:

1. the secrets detector of the analyzers, ``agentgate.analyzers.secrets.redact``
   (imported lazily: the audit package must not pull the analyzers in at import
   time, and works before that module exists);
2. a small built-in pattern set (`BUILTIN_PATTERNS`), applied as well, so a
   detector gap never writes a well-known token shape to disk.

Arguments whose *name* marks them as secret (``password``, ``api_key``, the
user's ``redact_fields`` ...) are masked whole, whatever their value; and the
literal values of those arguments are also scrubbed from every other string of
the same record (a password echoed in a command line or in a finding's evidence).

>>> r = Redactor((), detector=None)  # the built-in set alone; with the detector the masks name the token type
>>> r.text("curl -H 'Authorization: Bearer abcdefghijklmnop0123456789'")
("curl -H 'Authorization: Bearer [REDACTED]'", True)
>>> r.value({"password": "hunter22", "cmd": "login hunter22"})[0]
{'password': '[REDACTED]', 'cmd': 'login [REDACTED]'}
"""

from __future__ import annotations

import fnmatch
import importlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._record import _MAX_DEPTH, _MAX_ITEMS, clean_text, jsonable

__all__ = ["BUILTIN_PATTERNS", "DEFAULT_FIELDS", "MASK", "Redactor", "load_detector"]

logger = logging.getLogger("agentgate.audit")

MASK = "[REDACTED]"

#: Argument names (lower case, ``-`` read as ``_``) always masked whole.
DEFAULT_FIELDS: frozenset[str] = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "access_token",
        "refresh_token",
        "auth_token",
        "client_secret",
        "private_key",
        "secret_key",
        "access_key",
        "authorization",
        "cookie",
        "set_cookie",
        "credentials",
        "session_token",
    }
)
# A name ending in one of these is a secret too (db_password, stripe_api_key, x_auth_token).
_FIELD_SUFFIXES = ("_password", "_passwd", "_secret", "_token", "_api_key", "_apikey", "_private_key", "_secret_key")

#: (name, pattern, needles). A pattern with a group named ``v`` masks only that group. A pattern
#: set runs only on text that contains one of the needles (any case): most strings are benign and
#: one search for literals is much cheaper than running every regex over them.
BUILTIN_PATTERNS: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (name, re.compile(rx), needles)
    for name, rx, needles in (
        (
            "private_key",
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----|[\s\S]*)",
            ("private key-----",),
        ),
        (
            "aws_access_key",
            r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[0-9A-Z]{16}\b",
            ("akia", "asia", "agpa", "aida", "aroa", "aipa", "anpa", "anva"),
        ),
        (
            "github_token",
            r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})",
            ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        ),
        ("llm_api_key", r"\bsk-(?:proj-|ant-(?:api\d\d-)?|svcacct-)?[A-Za-z0-9_\-]{20,}", ("sk-",)),
        ("stripe_key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}", ("_live_", "_test_")),
        ("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", ("xox",)),
        ("google_api_key", r"\bAIza[0-9A-Za-z_\-]{35}", ("aiza",)),
        ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", ("eyj",)),
        (
            "bearer",
            r"(?i:\b(?:bearer|basic|token)\s+)(?P<v>[A-Za-z0-9._~+/=\-]{16,})",
            ("bearer", "basic", "token"),
        ),
        ("url_password", r"://[^/\s:@]+:(?P<v>[^/\s@]+)@", ("://",)),
        (
            "assignment",
            r"(?i:\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key|client[_-]?secret|auth))"
            r"[\"']?\s*[:=]\s*[\"']?(?P<v>[^\s\"'&;,]{6,})",
            ("pass", "pwd", "secret", "token", "key", "auth"),
        ),
    )
)

Detector = Callable[[str], tuple[str, bool]]


def load_detector() -> Detector | None:
    """``agentgate.analyzers.secrets.redact`` when that module exists, else None."""
    try:
        mod = importlib.import_module("agentgate.analyzers.secrets")
    except ImportError:
        return None
    except Exception:  # a broken detector must not stop the audit trail; the built-in set still runs
        logger.exception("agentgate audit: importing the secrets detector failed; using built-in patterns only")
        return None
    fn = getattr(mod, "redact", None)
    return fn if callable(fn) else None


# Matched against the lower-cased text: a case-sensitive alternation of literals is ten times
# faster than the same with re.IGNORECASE (which defeats the engine's first-character skip).
_NEEDLES = re.compile("|".join(re.escape(n) for _, _, ns in BUILTIN_PATTERNS for n in ns))


def _builtin(s: str) -> tuple[str, bool]:
    if _NEEDLES.search(s.lower()) is None:
        return s, False
    changed = False
    for _name, rx, _needles in BUILTIN_PATTERNS:
        if rx.search(s) is None:
            continue
        changed = True
        if "v" in rx.groupindex:
            s = rx.sub(
                lambda m: m.group(0)[: m.start("v") - m.start(0)] + MASK + m.group(0)[m.end("v") - m.start(0) :], s
            )
        else:
            s = rx.sub(MASK, s)
    return s, changed


class Redactor:
    """Masks secrets in strings and in argument structures (see module docstring).

    Args:
        fields: Extra argument names masked whole (exact, case-insensitive;
            ``*`` globs allowed: ``"*_pin"``).
        detector: The secrets detector; by default `load_detector()`.
    """

    def __init__(self, fields: Iterable[str] = (), detector: Detector | bool | None = True) -> None:
        extra = {_norm(f) for f in fields}
        self._exact = DEFAULT_FIELDS | {f for f in extra if "*" not in f and "?" not in f}
        self._globs = tuple(f for f in extra if "*" in f or "?" in f)
        self._detector: Detector | None = load_detector() if detector is True else (detector or None)
        self._cache: dict[str, bool] = {}
        self._texts: dict[str, tuple[str, bool]] = {}

    @property
    def detector(self) -> Detector | None:
        """The secrets detector in use (None: built-in patterns only)."""
        return self._detector

    def is_secret_field(self, name: str) -> bool:
        """True when an argument called *name* is masked whole."""
        n = _norm(name)
        if n in self._exact or n.endswith(_FIELD_SUFFIXES):
            return True
        return any(fnmatch.fnmatchcase(n, g) for g in self._globs)

    def text(self, s: str, literals: Iterable[str] = ()) -> tuple[str, bool]:
        """Mask the secrets in one string; returns ``(masked, changed)``.

        Without literals, results for short strings are memoized: reasoning and
        finding messages repeat from one decision to the next.
        """
        if not literals and len(s) <= 512:
            hit = self._texts.get(s)
            if hit is None:
                hit = self._text(s, ())
                if len(self._texts) >= 4096:
                    self._texts.clear()
                self._texts[s] = hit
            return hit
        return self._text(s, literals)

    def _text(self, s: str, literals: Iterable[str]) -> tuple[str, bool]:
        changed = False
        for lit in literals:
            if lit in s:
                s = s.replace(lit, MASK)
                changed = True
        if self._detector is not None:
            try:
                masked, hit = self._detector(s)
            except Exception:  # fall through to the built-in set rather than persist unscanned text
                logger.exception("agentgate audit: secrets detector failed")
            else:
                if hit and isinstance(masked, str):
                    s, changed = masked, True
        s, hit = _builtin(s)
        return s, changed or hit

    def value(self, value: Any, literals: Iterable[str] = ()) -> tuple[Any, bool]:
        """Redact a structure of arguments, returning plain JSON data: ``(redacted, changed)``.

        Secret-named keys are masked whole; their literal values are then
        scrubbed from every other string in *value*. Leaves become JSON data as
        `jsonable` makes them.
        """
        out, _lits, changed = self.arguments(value, literals)
        return out, changed

    def arguments(self, value: Any, literals: Iterable[str] = ()) -> tuple[Any, list[str], bool]:
        """Like `value`, also returning the literals of the masked fields (to scrub elsewhere).

        One pass masks secret-named fields and redacts every string; only when a
        field was masked does a second pass scrub its literal value from the
        strings visited before it.
        """
        found: list[str] = list(literals)
        out, changed = self._walk(value, [], 0, found)
        lits = sorted({x for x in found if len(x) >= 4}, key=len, reverse=True) if found else []
        if lits:
            out, again = _scrub(out, lits, 0)
            changed = changed or again
        return out, lits, changed

    def _secret_key(self, name: str) -> bool:
        hit = self._cache.get(name)
        if hit is None:
            hit = self.is_secret_field(name)
            if len(self._cache) < 10_000:
                self._cache[name] = hit
        return hit

    def _walk(self, value: Any, lits: list[str], depth: int, found: list[str]) -> tuple[Any, bool]:
        t = type(value)
        if t is str:
            return self.text(clean_text(value), lits)
        if t is int or t is bool or value is None:  # exact types first: ABC isinstance checks are slow
            return value, False
        if t is float:
            return jsonable(value), False
        if isinstance(value, str):
            return self.text(clean_text(value), lits)
        if depth >= _MAX_DEPTH or not isinstance(value, Mapping | list | tuple | set | frozenset):
            v = jsonable(value, _MAX_DEPTH if depth >= _MAX_DEPTH else depth)
            return self.text(v, lits) if isinstance(v, str) and not isinstance(value, bool) else (v, False)
        changed = False
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for i, (k, v) in enumerate(value.items()):
                if i >= _MAX_ITEMS:
                    out["..."] = f"{len(value) - _MAX_ITEMS} more items"
                    break
                key, kc = self.text(clean_text(k) if isinstance(k, str) else clean_text(str(k)), lits)
                changed = changed or kc  # a credential used as a key is masked like any other text
                if isinstance(k, str) and self._secret_key(k) and v not in (None, "", MASK):
                    _leaves(v, found)
                    out[key] = MASK
                    changed = True
                    continue
                nv, c = self._walk(v, lits, depth + 1, found)
                out[key] = nv
                changed = changed or c
            return out, changed
        items = list(value)
        res = []
        for v in items[:_MAX_ITEMS]:
            nv, c = self._walk(v, lits, depth + 1, found)
            res.append(nv)
            changed = changed or c
        if len(items) > _MAX_ITEMS:
            res.append(f"... {len(items) - _MAX_ITEMS} more items")
        return res, changed


def _scrub(value: Any, lits: list[str], depth: int) -> tuple[Any, bool]:
    """Replace the literal values of masked fields wherever they appear in plain JSON data."""
    if isinstance(value, str):
        changed = False
        for lit in lits:
            if lit in value:
                value = value.replace(lit, MASK)
                changed = True
        return value, changed
    if isinstance(value, dict):
        pairs = [(k, _scrub(v, lits, depth + 1)) for k, v in value.items()]
        return {k: v for k, (v, _) in pairs}, any(c for _, (_, c) in pairs)
    if isinstance(value, list):
        items = [_scrub(v, lits, depth + 1) for v in value]
        return [v for v, _ in items], any(c for _, c in items)
    return value, False


def _norm(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _leaves(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out.append(str(value))
    elif isinstance(value, Mapping):
        for v in value.values():
            _leaves(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            _leaves(v, out)
