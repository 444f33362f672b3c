"""Escape hatches: suppressions with a reason and severity/effect overrides, recorded in verdict and audit."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentgate import agent_context
from agentgate._call import ToolCall, ToolSpec
from agentgate._errors import ConfigError
from agentgate.policy._config import load_config

from .conftest import make_fw

POLICY = """\
tools:
  run_sql: {kind: sql}
suppress:
  - rule: sql.drop
    tool: run_sql
    resource: "table:tmp_*"
    reason: the nightly job drops its own temp tables
agents:
  default: {}
  ops:
    overrides:
      - rule: sql.truncate
        effect: escalate
        reason: ops truncates staging tables with a human approving
"""


def test_suppression_applies_only_to_its_tool_and_resources(tmp_path: Path) -> None:
    """DROP TABLE tmp_x runs and says why; DROP of a real table or of tmp_x plus a real one is still blocked."""
    fw = make_fw(tmp_path, POLICY)
    v = fw.evaluate(ToolCall("run_sql", {"query": "DROP TABLE tmp_daily"}))
    assert v.allowed
    assert v.extra["suppressed"][0]["rule"] == "sql.drop"
    assert v.extra["suppressed"][0]["reason"] == "the nightly job drops its own temp tables"
    assert fw.evaluate(ToolCall("run_sql", {"query": "DROP TABLE users"})).blocked
    assert fw.evaluate(ToolCall("run_sql", {"query": "DROP TABLE tmp_a, users"})).blocked
    assert fw.evaluate(ToolCall("other_sql", {"query": "DROP TABLE tmp_daily"}, spec=ToolSpec("sql"))).blocked


def test_override_changes_the_effect_for_one_agent_and_is_recorded(tmp_path: Path) -> None:
    """ops' TRUNCATE escalates (and, with an approver, runs); the override is in the verdict; others stay blocked."""
    fw = make_fw(tmp_path, POLICY, on_escalate="ask", approver=lambda req: True)
    with agent_context(agent_id="ops"):
        v = fw.evaluate(ToolCall("run_sql", {"query": "TRUNCATE staging_events"}))
    assert v.allowed and v.extra["overridden"][0]["to"].startswith("escalate")
    assert fw.evaluate(ToolCall("run_sql", {"query": "TRUNCATE staging_events"})).blocked


def test_suppressions_reach_the_audit_record(tmp_path: Path) -> None:
    """The audit trail stores the suppression with its reason."""
    import sqlite3

    db = tmp_path / "audit.db"
    fw = make_fw(tmp_path, POLICY, audit=f"sqlite:///{db}")
    fw.evaluate(ToolCall("run_sql", {"query": "DROP TABLE tmp_daily"}))
    fw.shutdown(10.0)
    rows = sqlite3.connect(db).execute("SELECT * FROM actions").fetchall()
    assert any("the nightly job drops its own temp tables" in str(r) for r in rows)


@pytest.mark.parametrize("rule", ["scope.operation", "policy.argument", "*"])
def test_the_policy_own_rules_cannot_be_suppressed(tmp_path: Path, rule: str) -> None:
    """scope.* and policy.* rules are the policy itself: suppressing them is a ConfigError."""
    p = tmp_path / "agentgate.yaml"
    p.write_text(f"suppress:\n  - rule: '{rule}'\n    reason: because\n")
    with pytest.raises(ConfigError, match="cannot be suppressed"):
        load_config(p)


def test_a_suppression_needs_a_reason(tmp_path: Path) -> None:
    """A suppression without reason: is refused."""
    p = tmp_path / "agentgate.yaml"
    p.write_text("suppress:\n  - rule: sql.drop\n")
    with pytest.raises(ConfigError, match="reason"):
        load_config(p)
