"""`check` and `serve` take their policy from AGENTGATE_CONFIG / AGENTGATE_MODE and the config's audit target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agentgate.cli import cli

READ_ONLY = "agents: {default: {allowed_operations: [read]}}\n"


def test_check_reads_agentgate_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With AGENTGATE_CONFIG set and no --config, check applies that policy."""
    cfg = tmp_path / "agentgate.yaml"
    cfg.write_text(READ_ONLY)
    args = ["check", "send_email", '{"to": "a@b.example", "body": "hi"}', "--json"]
    assert CliRunner().invoke(cli, args).exit_code == 0  # no policy: nothing forbids a send
    monkeypatch.setenv("AGENTGATE_CONFIG", str(cfg))
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 1
    assert json.loads(res.output)["policy_name"] == "scope.operation"


def test_check_honours_agentgate_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AGENTGATE_MODE=monitor: the refused call is ALLOW with would_block, exit 0, as the firewall would run it."""
    cfg = tmp_path / "agentgate.yaml"
    cfg.write_text(READ_ONLY)
    monkeypatch.setenv("AGENTGATE_CONFIG", str(cfg))
    monkeypatch.setenv("AGENTGATE_MODE", "monitor")
    res = CliRunner().invoke(cli, ["check", "send_email", '{"to": "a@b.example"}', "--json"])
    assert res.exit_code == 0
    out = json.loads(res.output)
    assert out["action"] == "allow" and out["would_block"] is True


def test_check_rejects_a_bad_agentgate_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """An AGENTGATE_MODE that is not enforce/monitor is a usage error naming the variable."""
    monkeypatch.setenv("AGENTGATE_MODE", "off")
    res = CliRunner().invoke(cli, ["check", "read_file", "{}"])
    assert res.exit_code == 2
    assert "AGENTGATE_MODE" in res.output


def test_serve_shows_the_trail_the_config_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """serve without --db opens the config's audit: target (from AGENTGATE_CONFIG), not the default trail."""
    import uvicorn

    import agentgate.server

    seen: dict[str, Any] = {}
    monkeypatch.setattr(
        agentgate.server, "create_app", lambda audit, cfg, **kw: seen.update(audit=audit, cfg=cfg) or "app"
    )
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app))
    cfg = tmp_path / "agentgate.yaml"
    cfg.write_text(f"audit: sqlite:///{tmp_path}/team.db\n" + READ_ONLY)
    monkeypatch.setenv("AGENTGATE_CONFIG", str(cfg))
    res = CliRunner().invoke(cli, ["serve"])
    assert res.exit_code == 0, res.output
    assert seen["audit"] == f"sqlite:///{tmp_path}/team.db"
    assert seen["app"] == "app"
    res = CliRunner().invoke(cli, ["serve", "--db", "sqlite:///other.db"])
    assert seen["audit"] == "sqlite:///other.db"  # an explicit --db wins
