"""The agentgate CLI: check, policy validate, demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from agentgate.cli import cli


def test_check_exit_codes_and_json(tmp_path: Path) -> None:
    """check exits 0 on allow, 1 on block, 2 on bad JSON or a bad config; --json is machine-readable."""
    r = CliRunner()
    assert r.invoke(cli, ["check", "read_file", '{"path": "reports/q3.csv"}']).exit_code == 0
    cfg = tmp_path / "a.yaml"
    cfg.write_text("agents: {default: {allowed_operations: [read]}}\n")
    res = r.invoke(cli, ["check", "send_email", '{"to": "x@y.z"}', "--config", str(cfg), "--json"])
    assert res.exit_code == 1
    out = json.loads(res.output)
    assert out["action"] == "block" and out["policy_name"] == "scope.operation"
    assert r.invoke(cli, ["check", "t", "{not json"]).exit_code == 2
    assert r.invoke(cli, ["check", "t", "[1]"]).exit_code == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents: {default: {allowed_operation: [read]}}\n")
    res = r.invoke(cli, ["check", "t", "{}", "--config", str(bad)])
    assert res.exit_code == 2 and "allowed_operation" in res.output


def test_check_agent_selects_policy(tmp_path: Path) -> None:
    """--agent picks that agent's policy from the config."""
    cfg = tmp_path / "a.yaml"
    cfg.write_text("agents:\n  default: {allowed_operations: [read]}\n  mailer: {allowed_operations: [send]}\n")
    r = CliRunner()
    args = ["check", "send_email", '{"to": "x@y.z"}', "--config", str(cfg)]
    assert r.invoke(cli, args).exit_code == 1
    assert r.invoke(cli, [*args, "--agent", "mailer"]).exit_code == 0


def test_policy_validate(tmp_path: Path) -> None:
    """policy validate: 0 for a valid file, 1 with every problem listed otherwise."""
    good = tmp_path / "g.yaml"
    good.write_text("agents: {default: {allowed_operations: [read]}}\n")
    r = CliRunner()
    assert r.invoke(cli, ["policy", "validate", str(good)]).exit_code == 0
    bad = tmp_path / "b.yaml"
    bad.write_text("agents:\n  a:\n    allowed_operation: [read]\n    max_rate: x\n")
    res = r.invoke(cli, ["policy", "validate", str(bad)])
    assert res.exit_code == 1 and ":3" in res.output and ":4" in res.output


def test_scripted_demo_runs_and_blocks(tmp_path: Path) -> None:
    """`agentgate demo --agent scripted` replays the session, blocks the attacks and writes the audit trail."""
    env = {**os.environ, "AGENTGATE_AUDIT_URL": f"sqlite:///{tmp_path}/audit.db", "COLUMNS": "200"}
    p = subprocess.run(
        [sys.executable, "-m", "agentgate.cli", "demo", "--agent", "scripted"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert "5 allowed, 6 blocked of 11 tool calls" in p.stdout
    for rule in ("sql.drop", "sql.tautology", "http.metadata", "scope.resource"):
        assert rule in p.stdout, rule
    assert (tmp_path / "audit.db").exists()
