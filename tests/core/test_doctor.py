"""`agentgate doctor --json`: the checks a user runs before trusting an installation."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agentgate.cli import cli


def doctor(*args: str) -> tuple[int, dict[str, Any]]:
    res = CliRunner().invoke(cli, ["doctor", "--json", *args])
    return res.exit_code, json.loads(res.output)


def test_healthy_default_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config, a writable SQLite trail, no judge: every check passes, exit 0, and nothing is created."""
    monkeypatch.setenv("AGENTGATE_AUDIT_URL", f"sqlite:///{tmp_path}/new/audit.db")
    code, rep = doctor()
    assert code == 0 and rep["ok"] is True
    assert rep["agentgate"]["distribution"] == "agentgate-action-firewall"
    assert rep["audit"]["targets"][0]["ok"] is True
    assert rep["judge"]["configured"] is False
    assert not (tmp_path / "new").exists()  # a check, not a side effect
    openai = next(f for f in rep["frameworks"] if f["framework"] == "openai")
    assert openai["protect_all_would_patch"] is True and openai["patched"] is False


def test_broken_config_fails_with_the_reason(tmp_path: Path) -> None:
    """An invalid agentgate.yaml is a failed check that carries the loader's message."""
    bad = tmp_path / "agentgate.yaml"
    bad.write_text("agents: {default: {allowed_operation: [read]}}\n")
    code, rep = doctor("--config", str(bad))
    assert code == 1 and rep["config"]["ok"] is False
    assert "allowed_operation" in rep["config"]["error"]


def test_uncreatable_sqlite_trail_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A SQLite trail whose directory cannot exist (a file is in the way) fails the audit check."""
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("AGENTGATE_AUDIT_URL", f"sqlite:///{tmp_path}/afile/sub/audit.db")
    code, rep = doctor()
    assert code == 1 and "is not a directory" in rep["audit"]["targets"][0]["error"]


def test_unreachable_postgres_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """A PostgreSQL trail nobody listens on fails the audit check, with the password masked."""
    with socket.socket() as s:  # a port that is certainly closed: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        monkeypatch.setenv("AGENTGATE_AUDIT_URL", f"postgresql://u:secret@127.0.0.1:{port}/db")
        code, rep = doctor()
    assert code == 1
    target = rep["audit"]["targets"][0]
    assert target["ok"] is False and "secret" not in json.dumps(rep)


@pytest.mark.services
def test_reachable_postgres_passes(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real PostgreSQL trail passes the audit check."""
    monkeypatch.setenv("AGENTGATE_AUDIT_URL", postgres_url)
    code, rep = doctor()
    assert code == 0 and rep["audit"]["targets"][0]["ok"] is True


def test_judge_without_a_key_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """A judge model with no key anywhere is a failed check naming the variables to set."""
    monkeypatch.setenv("AGENTGATE_JUDGE_MODEL", "gpt-4o-mini")
    code, rep = doctor()
    assert code == 1
    assert any("no API key" in e and "OPENAI_API_KEY" in e for e in rep["judge"]["errors"])


def test_judge_endpoint_reachability(monkeypatch: pytest.MonkeyPatch) -> None:
    """The judge's endpoint is probed: a listening local server passes, a closed port fails."""
    monkeypatch.setenv("AGENTGATE_JUDGE_MODEL", "llama3.1")
    monkeypatch.setenv("AGENTGATE_JUDGE_API_KEY", "k")
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        monkeypatch.setenv("AGENTGATE_JUDGE_BASE_URL", f"http://127.0.0.1:{srv.getsockname()[1]}/v1")
        code, rep = doctor()
    assert code == 0 and rep["judge"]["reachable"] is True and rep["judge"]["key"] == "AGENTGATE_JUDGE_API_KEY"
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        monkeypatch.setenv("AGENTGATE_JUDGE_BASE_URL", f"http://127.0.0.1:{closed.getsockname()[1]}/v1")
        code, rep = doctor()
    assert code == 1 and rep["judge"]["reachable"] is False


def test_spool_that_cannot_be_created_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The spool (where records wait when a sink is down) must be creatable: a file in the way fails the check."""
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("AGENTGATE_AUDIT_URL", f"sqlite:///{tmp_path}/audit.db")
    monkeypatch.setenv("AGENTGATE_AUDIT_SPOOL", str(tmp_path / "afile" / "spool"))
    code, rep = doctor()
    assert code == 1 and rep["audit"]["spool"]["ok"] is False
    assert "is not a directory" in rep["audit"]["spool"]["error"]
    monkeypatch.setenv("AGENTGATE_AUDIT_SPOOL", str(tmp_path / "spool"))
    code, rep = doctor()
    assert code == 0 and rep["audit"]["spool"] == {"path": str(tmp_path / "spool"), "ok": True}
