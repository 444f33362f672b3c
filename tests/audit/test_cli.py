"""``agentgate audit``: tail, query, stats, export, verify, schema; exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentgate._decision import VerdictType
from agentgate.audit import open_auditor
from agentgate.cli import cli

from .conftest import decision


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A SQLite trail with 30 decisions from two agents, every third one blocked."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    w = open_auditor(url)
    for i in range(30):
        action = VerdictType.BLOCK if i % 3 == 0 else VerdictType.ALLOW
        w.record(
            *decision(
                i, agent="alpha" if i < 20 else "beta", tool="read_file" if i % 2 else "execute_sql", action=action
            )
        )
    w.shutdown()
    return url


def _run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, ["audit", *args])
    return r.exit_code, r.stdout, r.stderr


def test_query_filters_combine(db: str) -> None:
    """--agent, --tool, --verdict and --limit select exactly the matching records; --json is one object per line."""
    code, out, _ = _run(
        "--db", db, "query", "--agent", "alpha", "--tool", "execute_sql", "--verdict", "block", "--json"
    )
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["decision_id"] for r in rows] == ["d-0", "d-6", "d-12", "d-18"]
    code, out, _ = _run("--db", db, "query", "--limit", "3")
    assert code == 0
    assert len(out.splitlines()) == 3
    assert "BLOCK" in out.splitlines()[0]
    code, out, _ = _run("--db", db, "query", "--since", "1h", "--agent", "beta", "--json")
    assert len(out.splitlines()) == 10
    code, out, _ = _run("--db", db, "query", "--since", "2999-01-01", "--json")
    assert code == 0
    assert out == ""


def test_stats_counts_and_latency_percentiles(db: str) -> None:
    """stats counts by verdict, agent and rule and gives p50/p99 decision latency."""
    code, out, _ = _run("--db", db, "stats", "--json")
    assert code == 0
    s = json.loads(out)
    assert s["total"] == 30
    assert s["by_verdict"] == {"allow": 20, "block": 10}
    assert s["by_agent"] == {"alpha": 20, "beta": 10}
    assert s["by_rule"] == {"sql.drop": 10}
    assert s["latency_us"]["p50"] == 13.0
    assert s["latency_us"]["p99"] == 16.0
    code, out, _ = _run("--db", db, "stats")
    assert "decision latency: p50 13.0 us" in out


def test_export_jsonl_and_csv(db: str, tmp_path: Path) -> None:
    """export writes every record as JSON lines or CSV with a header row."""
    code, out, _ = _run("--db", db, "export", "--format", "jsonl")
    assert code == 0
    assert len(out.splitlines()) == 30
    assert json.loads(out.splitlines()[0])["hash"]
    target = tmp_path / "out.csv"
    code, _, _ = _run("--db", db, "export", "--format", "csv", "-o", str(target), "--verdict", "block")
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert code == 0
    assert len(rows) == 10
    assert json.loads(rows[0]["payload"])["arguments"] == {"query": "SELECT 0"}


def test_tail_last_n_and_follow(db: str) -> None:
    """tail -n prints the latest records oldest first; -f keeps printing records stored later."""
    _code, out, _ = _run("--db", db, "tail", "-n", "2", "--json")
    assert [json.loads(x)["decision_id"] for x in out.splitlines()] == ["d-28", "d-29"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentgate.cli",
            "audit",
            "--db",
            db,
            "tail",
            "-n",
            "1",
            "-f",
            "--json",
            "--interval",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert p.stdout is not None
        assert json.loads(p.stdout.readline())["decision_id"] == "d-29"
        w = open_auditor(db)
        w.record(*decision(100))
        w.shutdown()
        deadline = time.time() + 20
        line = ""
        while time.time() < deadline and not line:
            line = p.stdout.readline()
        assert json.loads(line)["decision_id"] == "d-100"
    finally:
        p.kill()
        p.wait()


def test_verify_exit_codes(db: str) -> None:
    """verify exits 0 on an intact trail and 1 naming the first altered record after tampering."""
    code, out, _ = _run("--db", db, "verify")
    assert code == 0
    assert out.startswith("OK: 30 records in 1 chain(s)")
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        conn.execute("UPDATE actions SET tool_name = 'rm' WHERE seq = 9")
    code, _, err = _run("--db", db, "verify")
    assert code == 1
    assert err.startswith("FAILED: altered: record")
    assert "seq 9" in err
    code, out, _ = _run("--db", db, "verify", "--json")
    assert code == 1
    assert json.loads(out)["problems"][0]["seq"] == 9


def test_bad_arguments_exit_2_and_unreadable_trail_exit_1(tmp_path: Path) -> None:
    """Unknown schemes, bad --since and bad choices exit 2; a missing database exits 1."""
    assert _run("--db", "mysql://x", "stats")[0] == 2
    assert _run("--db", f"sqlite:///{tmp_path}/a.db", "query", "--since", "yesterday-ish")[0] == 2
    assert _run("query", "--verdict", "maybe")[0] == 2
    code, _, err = _run("--db", f"sqlite:///{tmp_path}/missing.db", "stats")
    assert code == 1
    assert "no audit database" in err


def test_schema_prints_seed_tables_and_migrations(tmp_path: Path) -> None:
    """schema prints the PostgreSQL DDL (seed tables with their types, then the added columns)."""
    code, out, _ = _run("schema")
    assert code == 0
    assert "id UUID PRIMARY KEY DEFAULT gen_random_uuid()" in out
    assert "ADD COLUMN IF NOT EXISTS prev_hash TEXT" in out
    code, out, _ = _run("--db", f"sqlite:///{tmp_path}/new.db", "migrate")
    assert code == 0
    assert "schema is current" in out


def test_db_works_after_the_subcommand_too(db: str) -> None:
    """`agentgate audit verify --db X` is the same as `agentgate audit --db X verify` (the docs use both)."""
    code, out, _ = _run("verify", "--db", db)
    assert code == 0, out
    assert out.startswith("OK: 30 records")
    code, out, _ = _run("--db", "sqlite:///elsewhere.db", "stats", "--db", db, "--json")
    assert code == 0
    assert json.loads(out)["total"] == 30  # the subcommand's --db wins


def test_audit_reads_the_configs_audit_url(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--config and AGENTGATE_CONFIG point `agentgate audit` at the config's audit: URL, as the firewall writes."""
    cfg = tmp_path / "agentgate.yaml"
    cfg.write_text(f"audit: {db}\n")
    monkeypatch.setenv("AGENTGATE_AUDIT_URL", f"sqlite:///{tmp_path / 'other.db'}")  # the config beats it
    for args in (("--config", str(cfg), "stats", "--json"), ("stats", "--config", str(cfg), "--json")):
        code, out, err = _run(*args)
        assert code == 0, err
        assert json.loads(out)["total"] == 30
    monkeypatch.setenv("AGENTGATE_CONFIG", str(cfg))
    code, out, err = _run("stats", "--json")
    assert code == 0, err
    assert json.loads(out)["total"] == 30
    cfg.write_text("audit: {url: [memory://, " + db + "]}\n")  # a list: the first readable target
    code, out, err = _run("stats", "--json")
    assert code == 0, err
    assert json.loads(out)["total"] == 30


def test_query_limit_returns_the_newest_records(db: str) -> None:
    """query --limit N shows the newest N matching records (oldest of them first), not the first N ever stored."""
    code, out, _ = _run("--db", db, "query", "--limit", "3", "--json")
    assert code == 0
    assert [json.loads(x)["decision_id"] for x in out.splitlines()] == ["d-27", "d-28", "d-29"]
    code, out, _ = _run("--db", db, "query", "--agent", "alpha", "--limit", "2", "--json")
    assert [json.loads(x)["decision_id"] for x in out.splitlines()] == ["d-18", "d-19"]


def test_the_documented_hash_recipe_verifies_sqlite_rows_as_stored(db: str, tmp_path: Path) -> None:
    """The recompute-the-hash snippet of docs/audit.md runs as written against a real SQLite trail, and catches an edit."""
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text()
    (snippet,) = [b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "COLS = [" in b]
    path = db.removeprefix("sqlite:///")
    (tmp_path / ".agentgate").mkdir(exist_ok=True)
    target = tmp_path / ".agentgate" / "audit.db"
    if Path(path) != target:
        Path(path).rename(target)
    ok = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr  # every row's hash recomputes
    with sqlite3.connect(target) as conn:
        conn.execute("UPDATE actions SET redacted = 1 WHERE seq = 4")
    bad = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "AssertionError" in bad.stderr


def test_tail_follow_waits_for_a_trail_that_does_not_exist_yet(tmp_path: Path) -> None:
    """tail -f on a database not created yet waits for it, then prints records as they arrive."""
    url = f"sqlite:///{tmp_path / 'later' / 'audit.db'}"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "agentgate.cli", "audit", "tail", "--db", url, "-f", "--json", "--interval", "0.1"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        assert p.stderr is not None and p.stdout is not None
        assert "waiting for" in p.stderr.readline()  # it did not exit with "no audit database"
        w = open_auditor(url, spool_dir=tmp_path / "spool")
        w.record(*decision(7))
        w.shutdown()
        assert json.loads(p.stdout.readline())["decision_id"] == "d-7"
    finally:
        p.kill()
        p.wait()


def test_export_and_verify_show_progress_on_request_only(db: str) -> None:
    """--progress counts records on stderr; without a terminal and without the flag nothing is added."""
    code, out, err = _run("--db", db, "verify", "--progress")
    assert code == 0
    assert "verify: 30 records" in err
    code, out, err = _run("--db", db, "export", "--progress")
    assert "export: 30 records" in err
    assert len(out.splitlines()) == 30  # stdout is the export only
    code, out, err = _run("--db", db, "verify")
    assert "records (" not in err
