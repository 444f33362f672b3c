"""agentgate policy push/pull/history/diff/rollback against a file store and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentgate.cli import cli

from .conftest import READ_ONLY, READ_WRITE


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture(params=["file", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        return str(tmp_path / "live.yaml")
    return str(request.getfixturevalue("pg_store_url"))


def test_push_history_diff_pull_rollback(target: str, tmp_path: Path) -> None:
    """The whole cycle from the command line, with --json where a script needs it."""
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(READ_ONLY)
    b.write_text(READ_WRITE)
    code, out, _ = _run("policy", "push", str(a), "-m", "first", "--author", "ana", "--store", target, "--json")
    assert code == 0
    r1 = json.loads(out)
    assert (r1["seq"], r1["author"], r1["unchanged"]) == (1, "ana", False)
    code, out, _ = _run("policy", "push", str(b), "-m", "write", "--store", target)
    assert code == 0 and out.startswith("pushed ")
    code, out, _ = _run("policy", "push", str(b), "-m", "again", "--store", target)
    assert code == 0 and out.startswith("unchanged")
    code, out, _ = _run("policy", "history", "--store", target, "--json")
    hist = json.loads(out)
    assert [h["seq"] for h in hist] == [2, 1] and "@" in hist[0]["author"]  # default author is user@host
    code, out, _ = _run("policy", "diff", r1["revision"], "--store", target)
    assert code == 1 and "+    allowed_operations: [read, write]" in out
    code, out, _ = _run("policy", "pull", r1["revision"][:6], "--store", target)
    assert code == 0 and out == READ_ONLY
    pulled = tmp_path / "pulled.yaml"
    code, _, _ = _run("policy", "pull", "-o", str(pulled), "--store", target)
    assert code == 0 and pulled.read_text() == READ_WRITE
    code, out, _ = _run("policy", "rollback", r1["revision"], "-m", "too broad", "--store", target, "--json")
    assert code == 0 and json.loads(out)["revision"] == r1["revision"] and json.loads(out)["seq"] == 3
    code, out, _ = _run("policy", "history", "--store", target)
    assert code == 0 and out.splitlines()[0].startswith(r1["revision"]) and "too broad" in out


def test_invalid_push_lists_problems_and_stores_nothing(target: str, tmp_path: Path) -> None:
    """An invalid file: exit 1, every problem with the file's name, line and key; history unchanged."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents:\n  default:\n    allowed_operationz: [read]\n")
    code, _, err = _run("policy", "push", str(bad), "-m", "typo", "--store", target)
    assert code == 1 and f"{bad}:3 [agents.default.allowed_operationz]: unknown key" in err
    code, out, err = _run("policy", "history", "--store", target, "--json")
    assert code == 0 and json.loads(out) == []


def test_store_errors_exit_3_with_a_message(tmp_path: Path) -> None:
    """Unknown revision, unreachable store: exit 3 and one clear line, no traceback."""
    code, _, err = _run("policy", "pull", "--store", str(tmp_path / "none.yaml"))
    assert code == 3 and "no policy has been pushed" in err
    code, _, err = _run("policy", "history", "--store", "postgresql://u@127.0.0.1:9/x?connect_timeout=2")
    assert code == 3 and "cannot connect" in err and "Traceback" not in err


def test_store_defaults_to_agentgate_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --store the store is AGENTGATE_POLICY_STORE, then AGENTGATE_CONFIG."""
    live = tmp_path / "cfg.yaml"
    a = tmp_path / "a.yaml"
    a.write_text(READ_ONLY)
    monkeypatch.setenv("AGENTGATE_CONFIG", str(live))
    code, _, _ = _run("policy", "push", str(a), "-m", "first")
    assert code == 0 and live.read_text() == READ_ONLY
    other = tmp_path / "other.yaml"
    monkeypatch.setenv("AGENTGATE_POLICY_STORE", str(other))
    code, _, _ = _run("policy", "push", str(a), "-m", "first")
    assert code == 0 and other.read_text() == READ_ONLY
