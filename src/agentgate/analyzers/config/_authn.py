"""Authentication controls weakened: sessions that outlive a working day by far, password
minimums lowered below what any standard accepts, lockout switched off.

Identity providers (Okta, Entra ID / Azure AD, Google Workspace, Auth0, AWS IAM) spell these
settings differently, so keys are read by their words (`key_words`) and numbers by the unit
the key names (``maxSessionLifetimeMinutes``, ``session_lifetime`` in hours as Auth0 keeps it,
``{"signInFrequency": {"value": 365, "type": "days"}}``). Switching MFA off is
``config.disable_control`` (`_controls.control_of` names the control); this module is for the
numeric weakenings, which escalate: a change to a lifetime or a length is sometimes right,
and the judge (or a person) sees the number and what it was set on.

The bounds are the loosest any common baseline accepts, so that an ordinary hardening
or a default never trips them: NIST SP 800-63B's 8-character minimum, a session or idle
timeout above 30 days, a lockout threshold of 0 (never locks) or above 100.

>>> [h[0] for h in authn_findings("maxSessionLifetimeMinutes", 0, ())]
['config.weak_auth']
>>> authn_findings("maxSessionLifetimeMinutes", 720, ())
[]
>>> [h[0] for h in authn_findings("minLength", 4, ("complexity", "password"))]
['config.weak_auth']
"""

from __future__ import annotations

from typing import Any

from agentgate._decision import Effect, Severity

from ._doc import key_words
from ._iam import RawHit

__all__ = ["authn_findings", "authn_key", "enrollment_findings", "frequency_findings"]

_SESSION_WORDS = frozenset({"session", "sessions", "idle", "signin", "sign", "token", "cookie", "refresh"})
_LIFETIME_WORDS = frozenset({"lifetime", "timeout", "length", "duration", "frequency", "max", "maximum", "expiry"})
_UNIT_MINUTES = {
    "seconds": 1 / 60,
    "secs": 1 / 60,
    "sec": 1 / 60,
    "minutes": 1.0,
    "mins": 1.0,
    "min": 1.0,
    "hours": 60.0,
    "hrs": 60.0,
    "hour": 60.0,
    "days": 1440.0,
    "day": 1440.0,
}
_MAX_SESSION_MINUTES = 30 * 1440  # above a month, a stolen session cookie is as good as a password
_PASSWORD_WORDS = frozenset({"password", "passwords", "pwd", "passphrase", "complexity"})
_MIN_LENGTH = 8  # NIST SP 800-63B: memorized secrets of at least 8 characters
_LOCKOUT_WORDS = frozenset({"lockout", "attempts", "failed", "failures"})
_WEAK_STRENGTH = frozenset({"none", "low", "weak", "fair"})


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


def _unit(words: tuple[str, ...], parents_words: set[str]) -> float:
    """Minutes per unit named by the key (Auth0's ``session_lifetime`` is in hours, Okta's keys say)."""
    for w in reversed(words):
        if w in _UNIT_MINUTES:
            return _UNIT_MINUTES[w]
    if {"session", "lifetime"} <= set(words) or {"idle", "session"} <= set(words):
        return 60.0  # Auth0 tenant settings: session_lifetime / idle_session_lifetime, in hours
    return 1.0 if "okta" in parents_words else 60.0


def _hit(rule_msg: str, key: str, value: Any) -> RawHit:
    return ("config.weak_auth", Severity.HIGH, Effect.ESCALATE, rule_msg, f"{key}={value!r}"[:120])


def authn_findings(key: str, value: Any, parents: tuple[str, ...]) -> list[RawHit]:
    """A session lifetime, password minimum or lockout threshold weakened by ``key: value``
    (*parents*: enclosing keys, nearest first)."""
    words = key_words(key)
    s = set(words)
    around = {w for p in parents[:3] for w in key_words(p)}
    n = _number(value)
    if n is not None and s & _LIFETIME_WORDS and (s | around) & _SESSION_WORDS and not s & {"min", "minimum"}:
        minutes = n * _unit(words, around)
        if n == 0 and s & {"max", "maximum", "lifetime"}:
            return [_hit(f"{key} = {value!r} lets sessions live for ever (0 means no limit)", key, value)]
        if minutes > _MAX_SESSION_MINUTES:
            return [_hit(f"{key} = {value!r} keeps a session valid for {minutes / 1440:.0f} days", key, value)]
        return []
    if n is not None and (s | around) & _PASSWORD_WORDS and s & {"min", "minimum"} and s & {"length", "len"}:
        if n < _MIN_LENGTH:
            return [_hit(f"{key} = {value!r} allows passwords shorter than {_MIN_LENGTH} characters", key, value)]
        return []
    if n is not None and (s | around) & _LOCKOUT_WORDS and s & {"max", "maximum", "threshold", "attempts"}:
        if n == 0 or n > 100:
            return [_hit(f"{key} = {value!r} switches off account lockout after failed sign-ins", key, value)]
        return []
    if (
        isinstance(value, str)
        and (s | around) & _PASSWORD_WORDS
        and s & {"policy", "strength", "complexity"}
        and value.strip().lower() in _WEAK_STRENGTH
    ):
        return [_hit(f"{key} = {value!r} drops the password strength requirement", key, value)]
    return []


def authn_key(words: tuple[str, ...]) -> bool:
    """Could a key with these words hold a lifetime, a password minimum or a lockout threshold?"""
    return bool(set(words) & _KEY_WORDS)


_KEY_WORDS = _LIFETIME_WORDS | {"min", "minimum", "lockout", "attempts", "threshold", "strength", "policy"}


def frequency_findings(key: str, value: Any) -> list[RawHit]:
    """Entra ID conditional access ``signInFrequency: {"value": 365, "type": "days"}``."""
    if not isinstance(value, dict) or not set(key_words(key)) & {"frequency", "lifetime"}:
        return []
    n = _number(value.get("value"))
    unit = value.get("type")
    if n is None or not isinstance(unit, str) or unit.lower() not in _UNIT_MINUTES:
        return []
    if n * _UNIT_MINUTES[unit.lower()] > _MAX_SESSION_MINUTES:
        return [_hit(f"{key} = {value!r} asks users to sign in again only after {n:g} {unit}", key, value)]
    return []


# Factors that are no second factor: what the user knows or the inbox already holds.
_KNOWLEDGE_FACTORS = frozenset({"password", "email", "question", "security", "okta"})
_OFF_ENROLL = frozenset({"not_allowed", "notallowed", "disabled", "never", "off", "false"})
_ON_ENROLL = frozenset({"required", "optional", "allowed", "enabled", "true", "on"})


def _enroll_state(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return None
    enroll = next((v for k, v in entry.items() if key_words(k) == ("enroll",)), None)
    if isinstance(enroll, dict):
        enroll = next((v for k, v in enroll.items() if key_words(k) == ("self",)), None)
    return str(enroll).strip().lower() if isinstance(enroll, (str, bool)) else None


def enrollment_findings(key: str, value: Any) -> list[RawHit]:
    """An MFA enrollment policy (Okta ``factors``/``authenticators``) after which no second factor can
    be enrolled: every factor that is not a password, e-mail or question set ``NOT_ALLOWED`` (a weak
    factor turned off while a strong one stays required is hardening, not this)."""
    if not set(key_words(key)) & {"factors", "authenticators"}:
        return []
    if isinstance(value, dict):
        entries = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        entries = [(str(e.get("key", "")), e) for e in value if isinstance(e, dict)]
    else:
        return []
    second = [(name, _enroll_state(e)) for name, e in entries if not set(key_words(name)) <= _KNOWLEDGE_FACTORS]
    states = [st for _, st in second if st is not None]
    if not states or any(st in _ON_ENROLL for st in states) or not all(st in _OFF_ENROLL for st in states):
        return []
    names = ", ".join(n for n, _ in second)[:80]
    return [
        (
            "config.disable_control",
            Severity.HIGH,
            Effect.BLOCK,
            f"{key} leaves no second factor anyone may enroll ({names} not allowed): sign-in falls back to a password",
            f"{key}: {names} not allowed"[:120],
        )
    ]
