"""Rules on argument values and per-agent tool allow/deny lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentgate import agent_context, scope
from agentgate._call import ToolCall
from agentgate._errors import ConfigError

from .conftest import make_fw

POLICY = """\
agents:
  payer:
    allowed_operations: [read, transfer]
    tools: {allow: [send_payment, "lookup_*"], deny: [lookup_salary]}
    arguments:
      send_payment:
        amount: {max: 500, min: 0.01}
        currency: {in: [EUR]}
        iban: {glob: "DE*"}
        reference: {regex: "INV-[0-9]{4,}", required: true}
        bcc: {forbidden: true}
      "*":
        items: {max_items: 3}
"""


def _pay(**kw: object) -> ToolCall:
    args: dict[str, object] = {
        "amount": 120,
        "currency": "EUR",
        "iban": "DE44 5001 0517 5407 3249 31",
        "reference": "INV-2026",
    }
    args.update(kw)
    return ToolCall("send_payment", {k: v for k, v in args.items() if v is not None})


@pytest.mark.parametrize(
    ("change", "ok"),
    [
        ({}, True),
        ({"amount": "500.00"}, True),
        ({"amount": 500.01}, False),
        ({"amount": "5e3"}, False),
        ({"amount": "lots"}, False),
        ({"amount": True}, False),
        ({"amount": float("nan")}, False),
        ({"amount": 0}, False),
        ({"currency": "eur"}, True),
        ({"currency": "USD"}, False),
        ({"iban": "de44 5001"}, True),
        ({"iban": "GB29 NWBK 6016 1331 9268 19"}, False),
        ({"reference": None}, False),
        ({"reference": "INV-12"}, False),
        ({"reference": "xINV-2026"}, False),
        ({"reference": "INV-2026\nDROP"}, False),
        ({"bcc": "eve@evil.io"}, False),
        ({"items": [1, 2, 3]}, True),
        ({"items": [1, 2, 3, 4]}, False),
    ],
)
def test_value_rules(tmp_path: Path, change: dict[str, object], ok: bool) -> None:
    """Bounds, sets, globs, RE2 regexes, required/forbidden and max_items; unreadable values refuse."""
    fw = make_fw(tmp_path, POLICY)
    with agent_context(agent_id="payer"):
        v = fw.evaluate(_pay(**change))
    assert v.allowed is ok, v.reasoning
    if not ok:
        assert any(f.rule_id == "policy.argument" for f in v.findings)


def test_tool_allow_and_deny_lists(tmp_path: Path) -> None:
    """Only listed tools run; deny beats a matching allow glob."""
    fw = make_fw(tmp_path, POLICY)
    with agent_context(agent_id="payer"):
        assert fw.evaluate(ToolCall("lookup_invoice", {"invoice_id": "INV-1"})).allowed
        assert fw.evaluate(ToolCall("lookup_salary", {"employee": "7"})).blocked
        v = fw.evaluate(ToolCall("refund_payment", {"amount": 5}))
        assert v.blocked and v.policy_name == "policy.tool"


def test_value_rules_in_code_and_layers_intersect() -> None:
    """scope(arguments=...) adds its rules to the agent's: both must hold."""
    fw = make_fw()
    with scope(arguments={"send_payment": {"amount": {"max": 1000}}}):
        assert fw.evaluate(ToolCall("send_payment", {"amount": 900})).allowed
        with scope(arguments={"send_payment": {"amount": {"max": 100}}}):
            assert fw.evaluate(ToolCall("send_payment", {"amount": 900})).blocked
        assert fw.evaluate(ToolCall("send_payment", {"amount": 1900})).blocked


def test_regexes_are_re2_so_backreferences_are_refused() -> None:
    """A regex RE2 cannot run in linear time (a backreference) is a ConfigError, not a ReDoS risk."""
    with pytest.raises(ConfigError, match="invalid regex"):
        scope(arguments={"t": {"x": {"regex": r"(a+)\1"}}})
    fw = make_fw()
    with scope(arguments={"t": {"x": {"regex": "(a+)+$"}}}):
        assert fw.evaluate(ToolCall("t", {"x": "a" * 50_000 + "!"})).blocked


def test_bad_rules_in_a_file_are_reported_with_key_and_line(tmp_path: Path) -> None:
    """An unknown constraint and a non-numeric bound are both reported."""
    p = tmp_path / "agentgate.yaml"
    p.write_text("agents:\n  a:\n    arguments:\n      t:\n        x: {maxx: 3}\n        y: {max: lots}\n")
    from agentgate.policy._config import load_config

    with pytest.raises(ConfigError) as e:
        load_config(p)
    text = str(e.value)
    assert "maxx" in text and "did you mean 'max'" in text and ":5" in text
