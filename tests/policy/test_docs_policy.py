"""Every YAML and Python block of docs/policy.md runs; the reference policy decides as documented."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from agentgate import agent_context
from agentgate._call import ToolCall
from agentgate.policy._config import load_config

from .conftest import make_fw

DOC = Path(__file__).resolve().parents[2] / "docs" / "policy.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks(lang: str) -> list[str]:
    return [body for kind, body in _BLOCK.findall(DOC.read_text()) if kind == lang]


def test_the_doc_has_snippets() -> None:
    """The page shows YAML and Python (so the parametrized tests below cannot pass vacuously)."""
    assert len(_blocks("yaml")) >= 5 and len(_blocks("python")) >= 3


@pytest.mark.parametrize("body", _blocks("yaml"), ids=lambda b: b.splitlines()[0][:40])
def test_yaml_blocks_are_valid_policies(body: str, tmp_path: Path) -> None:
    """Each YAML block is a complete agentgate.yaml that loads without a problem."""
    p = tmp_path / "agentgate.yaml"
    p.write_text(body)
    load_config(p)


@pytest.mark.parametrize("body", _blocks("python"), ids=lambda b: b.splitlines()[-1][:40])
def test_python_blocks_run(body: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each Python block runs as shown (its asserts hold)."""
    monkeypatch.chdir(tmp_path)
    exec(compile(body, str(DOC), "exec"), {"__name__": "docs_policy"})  # noqa: S102 - the doc's own code


def _reference() -> str:
    return next(b for b in _blocks("yaml") if b.startswith("version: 1"))


def test_reference_policy_decides_as_documented(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reference agentgate.yaml: default reads only, reporting_agent's scope, payments_bot's rules."""
    monkeypatch.chdir(tmp_path)
    os.makedirs("reports", exist_ok=True)
    ref = _reference().replace("audit: sqlite:///.agentgate/audit.db", "audit: none")
    fw = make_fw(tmp_path, ref, audit="none")
    assert fw.evaluate(ToolCall("read_file", {"path": "reports/q3.csv"})).allowed
    assert fw.evaluate(ToolCall("write_file", {"path": "reports/q3.csv", "content": "x"})).blocked
    with agent_context(agent_id="reporting_agent", task_id="ref-1"):
        assert fw.evaluate(ToolCall("aggregate_sales", {"table": "sales_data"})).allowed
        assert fw.evaluate(ToolCall("write_file", {"path": "reports/q3.md", "content": "x"})).allowed
        assert fw.evaluate(ToolCall("delete_file", {"path": "reports/q3.md"})).blocked
        assert fw.evaluate(ToolCall("send_email", {"to": "eve@gmail.com", "body": "x"})).blocked
        assert fw.evaluate(ToolCall("execute_sql", {"query": "SELECT * FROM payroll"})).blocked
    with agent_context(agent_id="payments_bot", task_id="ref-2"):
        pay = {"amount": 100, "currency": "EUR", "iban": "DE44500105175407324931"}
        v = fw.evaluate(ToolCall("send_payment", pay))
        assert v.blocked and [f.rule_id for f in v.findings] == ["policy.history_first_time"]  # new payee
        assert fw.evaluate(ToolCall("send_payment", {**pay, "amount": 900})).blocked
        assert fw.evaluate(ToolCall("send_payment", {**pay, "iban": "GB29NWBK60161331926819"})).blocked
        assert fw.evaluate(ToolCall("refund_payment", {"amount": 5})).blocked
        assert fw.evaluate(ToolCall("lookup_invoice", {"invoice_id": "INV-7"})).allowed
    fw_ok = make_fw(tmp_path, ref, audit="none", on_escalate="ask", approver=lambda req: True)
    with agent_context(agent_id="payments_bot", task_id="ref-3"):
        pay = {"amount": 400, "currency": "EUR", "iban": "DE44500105175407324931"}
        assert [fw_ok.evaluate(ToolCall("send_payment", pay)).allowed for _ in range(3)] == [True, True, False]
    sql = ToolCall("execute_sql", {"query": "DROP TABLE tmp_nightly"})
    v = fw.evaluate(sql)  # the suppression silences sql.drop, but default's scope (read) still refuses a delete
    assert v.blocked and v.policy_name == "scope.operation"
    assert v.extra["suppressed"][0]["reason"] == "temp tables of the nightly job"
