"""Replay: the verdicts a candidate policy changes over a recorded audit trail (SQLite, PostgreSQL, JSONL)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentgate import Firewall, ToolCall, agent_context
from agentgate.cli import cli
from agentgate.policy.preview import replay

LIVE = "agents:\n  default:\n    allowed_operations: [read]\n  ops:\n    allowed_operations: [read, write, delete]\n"
# The candidate lets default agents write, and stops ops from deleting.
CANDIDATE = (
    "agents:\n  default:\n    allowed_operations: [read, write]\n  ops:\n    allowed_operations: [read, write]\n"
)

CALLS = [
    ("", ToolCall("read_file", {"path": "notes.txt"})),  # allow -> allow
    ("", ToolCall("write_file", {"path": "notes.txt", "content": "x"})),  # block -> allow
    ("ops", ToolCall("delete_file", {"path": "old.txt"})),  # allow -> block
    ("", ToolCall("write_file", {"path": "cfg.txt", "content": "x", "password": "hunter22hunter22"})),  # redacted
    ("ops", ToolCall("write_file", {"path": "a.txt", "content": "x"})),  # allow -> allow
]


def _record(audit: str, tmp_path: Path) -> None:
    (tmp_path / "live.yaml").write_text(LIVE)
    fw = Firewall(str(tmp_path / "live.yaml"), audit=audit)
    for agent, call in CALLS:
        with agent_context(agent_id=agent):
            fw.evaluate(call)
    fw.shutdown(10)


@pytest.fixture
def trail(tmp_path: Path) -> str:
    db = str(tmp_path / "audit.db")
    _record(db, tmp_path)
    (tmp_path / "candidate.yaml").write_text(CANDIDATE)
    return db


def _kinds(report: object) -> list[tuple[str, str, str]]:
    return [(c.tool_name, c.before, c.after) for c in report.changes]  # type: ignore[attr-defined]


def test_replay_reports_the_changed_verdicts(trail: str, tmp_path: Path) -> None:
    """Under the candidate: the two writes are allowed now, the ops delete is blocked; the rest unchanged."""
    report = replay(tmp_path / "candidate.yaml", db=trail)
    assert report.replayed == 5
    assert _kinds(report) == [
        ("write_file", "block", "allow"),
        ("delete_file", "allow", "block"),
        ("write_file", "block", "allow"),
    ]
    assert report.summary == {"allow→block": 1, "block→allow": 2}
    # The password was recorded redacted: that change is flagged.
    assert [c.redacted for c in report.changes] == [False, False, True] and report.redacted == 1
    assert report.changes[1].rule_after is not None and report.changes[1].rule_after.startswith("scope.")


def test_replay_of_the_live_policy_changes_nothing(trail: str, tmp_path: Path) -> None:
    """The benign twin: replaying under the policy that decided the trail changes no verdict."""
    report = replay(tmp_path / "live.yaml", db=trail)
    assert report.replayed == 5 and report.changes == []


def test_replay_cli_prints_changes_summary_and_redaction_note(trail: str, tmp_path: Path) -> None:
    """The command: one line per change (before → after, rules), a summary per kind, the redaction note; exit 1."""
    r = CliRunner().invoke(cli, ["replay", "--policy", str(tmp_path / "candidate.yaml"), "--db", trail])
    assert r.exit_code == 1, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("replayed 5 calls from")
    assert sum(" → " in ln and "delete_file" in ln for ln in lines) == 1
    assert "summary: 3 changed (allow→block 1, block→allow 2); 2 unchanged" in r.stdout
    assert "[redacted args]" in r.stdout and "may decide differently" in r.stdout
    r = CliRunner().invoke(cli, ["replay", "--policy", str(tmp_path / "live.yaml"), "--db", trail, "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["changed"] == 0


def test_replay_from_a_jsonl_export(trail: str, tmp_path: Path) -> None:
    """An `audit export --format jsonl` file replays like the database it came from."""
    out = tmp_path / "trail.jsonl"
    r = CliRunner().invoke(cli, ["audit", "--db", trail, "export", "--format", "jsonl", "-o", str(out)])
    assert r.exit_code == 0, r.output
    report = replay(tmp_path / "candidate.yaml", jsonl=out)
    assert report.summary == {"allow→block": 1, "block→allow": 2}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tool_name": "x", "payload": {"arguments": {}}, "verdict": "allow"}\nnot json\n')
    r = CliRunner().invoke(cli, ["replay", "--policy", str(tmp_path / "candidate.yaml"), "--jsonl", str(bad)])
    assert r.exit_code == 2 and "bad.jsonl:2" in r.stderr


def test_replay_since_filters_old_records(trail: str, tmp_path: Path) -> None:
    """--since in the future replays nothing."""
    report = replay(tmp_path / "candidate.yaml", db=trail, since="2999-01-01T00:00:00.000000Z")
    assert report.replayed == 0


@pytest.fixture
def pg_audit(postgres_url: str) -> Iterator[str]:
    import psycopg

    schema = f"ag_replay_{uuid.uuid4().hex[:10]}"
    yield f"{postgres_url}?schema={schema}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_replay_from_a_postgres_trail(pg_audit: str, tmp_path: Path) -> None:
    """The same changes read back from a PostgreSQL audit trail."""
    _record(pg_audit, tmp_path)
    (tmp_path / "candidate.yaml").write_text(CANDIDATE)
    report = replay(tmp_path / "candidate.yaml", db=pg_audit)
    assert report.summary == {"allow→block": 1, "block→allow": 2}


def test_replay_api_takes_a_datetime_and_an_unsaved_edit(trail: str) -> None:
    """The dashboard preview: an edited text validated with parse_document, over the last day."""
    from datetime import UTC, datetime, timedelta

    from agentgate.policy.store import parse_document

    edit = parse_document(CANDIDATE, "edit")
    report = replay(edit, db=trail, since=datetime.now(UTC) - timedelta(days=1))
    assert report.summary == {"allow→block": 1, "block→allow": 2}
    assert replay(edit, db=trail, since=datetime.now(UTC) + timedelta(days=1)).replayed == 0
