"""Bounded cost: every analyzer finishes on adversarial inputs of 100 kB to 1 MB (linear-time patterns).

Each input repeats a unit that once drove a pattern into quadratic backtracking (a
60 kB fork-bomb probe took 67 s, the secrets URL scan 12 s, a run of blanks 5 s in
the SQL sniffer). The per-test timeout is the assertion: no timed asserts.
"""

from __future__ import annotations

import re

import pytest

from agentgate import Firewall, ToolCall
from agentgate._decision import VerdictType
from agentgate.analyzers import DEFAULT_ANALYZERS
from agentgate.analyzers.base import AnalyzerSettings, make_context

_UNITS = {
    "fork-bomb": ":(){",
    "fork-bomb-full": ":(){ :|:& };",
    "letters": "a",
    "word-dash": "a-",
    "scheme": "http://",
    "scheme-userinfo": "http://a:",
    "base64": "QUJD",
    "blanks": " ",
    "newlines": "\n",
    "subst": "$(",
    "quotes": '"a ',
    "assign": "password=",
    "jwt-ish": "eyJa.",
    "override": "ignore all previous instructions ",
    "comment": "<!--",
    "styled": "<a style='",
    "labels": "a.",
    "traversal": "../",
    "email-ish": "a@b.",
    "tags": "\U000e0041",
    "zero-width": "a\u200b",
}
_SIZES = {"100k": 100_000, "1M": 1_000_000}
_TOOLS = (
    ("run_shell", "command"),
    ("send_email", "body"),
    ("http_get", "url"),
    ("write_file", "content"),
    ("summarize", "text"),
)
_SETTINGS = AnalyzerSettings(resolve_dns=False, time_budget_ms=None)  # the analyzers themselves, unbudgeted


@pytest.mark.timeout(120)
@pytest.mark.parametrize("size", _SIZES.values(), ids=list(_SIZES))
@pytest.mark.parametrize("unit", _UNITS.values(), ids=list(_UNITS))
def test_every_analyzer_finishes_on_adversarial_input(unit: str, size: int) -> None:
    """Classification and every default analyzer finish on a long repeated unit, for every kind of tool."""
    text = unit * (size // len(unit))
    for tool, arg in _TOOLS:
        call = ToolCall(tool, {arg: text})
        ctx = make_context(call, settings=_SETTINGS)
        for analyzer in DEFAULT_ANALYZERS:
            analyzer(call, ctx)


@pytest.mark.timeout(120)
def test_deep_nesting_and_long_base64_finish() -> None:
    """Deeply nested JSON text and a megabyte of base64 finish, and the nesting escalates."""
    nested = "[" * 5000 + '"x"' + "]" * 5000
    fw = Firewall(audit="none", settings=_SETTINGS)
    v = fw.evaluate_tier1(ToolCall("summarize", {"text": nested}))
    assert v.action is VerdictType.ALLOW or v.policy_name == "args.limit"
    blob = "QUJD" * 250_000
    fw.evaluate_tier1(ToolCall("upload", {"data": blob}))


@pytest.mark.timeout(120)
def test_one_megabyte_call_through_the_firewall_is_decided() -> None:
    """Through the firewall with its default budget, a 1 MB adversarial call ends (ALLOW or ESCALATE, never hangs)."""
    fw = Firewall(audit="none", settings=AnalyzerSettings(resolve_dns=False))
    for unit in _UNITS.values():
        v = fw.evaluate_tier1(ToolCall("summarize", {"text": unit * (1_000_000 // len(unit))}))
        assert v.action in (VerdictType.ALLOW, VerdictType.ESCALATE, VerdictType.BLOCK)


def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    import importlib
    import pkgutil

    import agentgate

    out: dict[str, tuple[str, re.Pattern[str]]] = {}
    for m in pkgutil.walk_packages(agentgate.__path__, "agentgate."):
        if m.name.endswith("__main__") or ".cli" in m.name or ".integrations" in m.name or ".server" in m.name:
            continue
        mod = importlib.import_module(m.name)
        for k, v in vars(mod).items():
            if isinstance(v, re.Pattern) and isinstance(v.pattern, str):
                out.setdefault(v.pattern, (f"{m.name}.{k}", v))
    return sorted(out.values())


@pytest.mark.timeout(300)
def test_every_module_pattern_is_linear_when_anchored() -> None:
    """Every compiled module-level pattern, anchored with match() on 20 kB of each adversarial unit, finishes.

    Unanchored uses are exercised through the analyzers above (several patterns are only
    ever matched at a fixed offset, where an unanchored search would be a different cost).
    """
    for _name, pattern in _patterns():
        for unit in _UNITS.values():
            pattern.match(unit * (20_000 // len(unit)))
