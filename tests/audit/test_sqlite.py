"""SQLite, the default: concurrent processes, exit without flush, tamper detection, no secret on disk."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agentgate._decision import VerdictType
from agentgate.audit import open_auditor, verify
from agentgate.audit._schema import sqlite_migrations
from agentgate.audit._sqlite import connect_sqlite, migrate

from .conftest import AWS_KEY, GITHUB_TOKEN, decision

_SRC = str(Path(__file__).resolve().parents[2] / "src")
_TESTS = str(Path(__file__).resolve().parents[2])

_WRITER = textwrap.dedent(
    """
    import sys, threading
    from agentgate.audit import open_auditor
    from tests.audit.conftest import decision

    db, proc, per_thread, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    w = open_auditor(f"sqlite:///{db}", flush_interval=interval, batch_size=100)

    def work(t):
        for i in range(per_thread):
            w.record(*decision(i, agent=f"p{proc}", task=f"t{t}"))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(2)]
    for t in threads: t.start()
    for t in threads: t.join()
    # no flush(), no shutdown(): the atexit hook must drain the queue
    """
)


def _spawn(db: Path, proc: int, per_thread: int, interval: float) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([_SRC, _TESTS]))
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db), str(proc), str(per_thread), str(interval)], env=env, cwd=db.parent
    )


def _count(db: Path, sql: str = "SELECT count(*) FROM actions") -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_four_processes_two_threads_each_all_records_and_chains_verify(tmp_path: Path) -> None:
    """4 processes x 2 threads write one file at once: every record is there, every chain verifies."""
    db = tmp_path / "audit.db"
    procs = [_spawn(db, p, 400, 0.01) for p in range(4)]
    assert [p.wait(60) for p in procs] == [0, 0, 0, 0]
    assert _count(db) == 4 * 2 * 400
    for p in range(4):
        for t in range(2):
            n = _count(db, f"SELECT count(DISTINCT decision_id) FROM actions WHERE agent_id='p{p}' AND task_id='t{t}'")
            assert n == 400
    report = verify(f"sqlite:///{db}")
    assert report.ok, report.problems[:3]
    assert report.chains == 4
    assert report.records == 3200


def test_process_exiting_without_flush_keeps_every_record(tmp_path: Path) -> None:
    """Nothing is written before exit (60 s interval); atexit still stores every record."""
    db = tmp_path / "audit.db"
    p = _spawn(db, 0, 1500, 60.0)
    assert p.wait(60) == 0
    assert _count(db) == 3000
    assert verify(f"sqlite:///{db}").ok


def _filled(tmp_path: Path, n: int = 20) -> Path:
    db = tmp_path / "audit.db"
    w = open_auditor(f"sqlite:///{db}")
    for i in range(n):
        w.record(*decision(i, action=VerdictType.BLOCK if i % 5 == 0 else VerdictType.ALLOW))
    w.shutdown()
    report = verify(f"sqlite:///{db}")
    assert report.ok
    assert report.records == n
    ((seq, head),) = report.heads.values()  # the anchor to keep elsewhere: last position and hash
    assert seq == n
    assert len(head) == 64
    return db


def _tamper(db: Path, sql: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(sql)


def test_update_of_a_stored_row_is_caught(tmp_path: Path) -> None:
    """Changing a verdict in place is named: the row's content no longer matches its hash."""
    db = _filled(tmp_path)
    _tamper(db, "UPDATE actions SET verdict = CASE verdict WHEN 'allow' THEN 'block' ELSE 'allow' END WHERE seq=5")
    first = verify(f"sqlite:///{db}").first
    assert first is not None
    assert first.kind == "altered"
    assert first.seq == 5


def test_update_with_recomputed_hash_breaks_the_next_link(tmp_path: Path) -> None:
    """Rewriting a row together with its own hash is caught at the next record's prev_hash."""
    from agentgate.audit import record_hash
    from agentgate.audit._sqlite import SqliteStore

    db = _filled(tmp_path)
    store = SqliteStore(db)
    row = next(r for r in store.chain_rows() if r["seq"] == 7)
    store.close()
    row["reasoning"] = "nothing to see"
    _tamper(db, f"UPDATE actions SET reasoning='nothing to see', hash='{record_hash(row)}' WHERE seq=7")
    first = verify(f"sqlite:///{db}").first
    assert first is not None
    assert first.kind == "altered"
    assert first.seq == 8
    assert "prev_hash" in first.message


def test_delete_of_a_stored_row_is_caught(tmp_path: Path) -> None:
    """Deleting a record leaves a gap in its chain, named by position."""
    db = _filled(tmp_path)
    _tamper(db, "DELETE FROM actions WHERE seq=12")
    first = verify(f"sqlite:///{db}").first
    assert first is not None
    assert first.kind == "deleted"
    assert first.seq == 12


def test_inserted_row_and_violation_tampering_are_caught(tmp_path: Path) -> None:
    """A hand-inserted action, a deleted violation and an edited violation are each reported."""
    db = _filled(tmp_path)
    _tamper(db, "INSERT INTO actions (id, tool_name, verdict) VALUES ('forged', 'rm', 'allow')")
    assert verify(f"sqlite:///{db}").first.kind == "inserted"  # type: ignore[union-attr]
    _tamper(db, "DELETE FROM actions WHERE id='forged'")
    _tamper(db, "DELETE FROM violations WHERE rowid = (SELECT min(rowid) FROM violations)")
    kinds = {p.kind for p in verify(f"sqlite:///{db}").problems}
    assert kinds == {"deleted"}
    db2 = _filled(tmp_path / "b")
    _tamper(db2, "UPDATE violations SET severity='low'")
    assert {p.kind for p in verify(f"sqlite:///{db2}").problems} == {"altered"}


def test_secret_argument_never_reaches_any_file(tmp_path: Path) -> None:
    """A token passed as a tool argument (and echoed in reasoning) is absent from every byte on disk."""
    from dataclasses import replace

    from agentgate._decision import Effect, Finding, Severity

    db = tmp_path / "audit.db"
    w = open_auditor(f"sqlite:///{db}")
    call, verdict, agent = decision(
        1,
        tool="http_post",
        args={
            "url": "https://api.example.com",
            "body": f"key={AWS_KEY}",
            "auth": {"headers": [f"token {GITHUB_TOKEN}"]},
        },
    )
    verdict = replace(
        verdict,
        reasoning=f"leaks {AWS_KEY}",
        findings=(Finding("secrets.aws_key", Severity.HIGH, Effect.BLOCK, "AWS key", AWS_KEY),),
    )
    w.record(call, verdict, agent)
    assert w.flush(10)
    raw = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())  # db, -wal, -shm, spool
    assert AWS_KEY.encode() not in raw
    assert GITHUB_TOKEN.encode() not in raw
    assert AWS_KEY[4:].encode() not in raw  # not even the random part
    w.shutdown()
    raw = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert AWS_KEY[4:].encode() not in raw
    assert b"api.example.com" in raw
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT redacted FROM actions").fetchone()[0] == 1


def test_seed_database_is_migrated_in_place_and_migrations_are_idempotent(tmp_path: Path) -> None:
    """A 0.1.0 database (seed tables only, with rows) gains the new columns; running migrations again does nothing."""
    db = tmp_path / "audit.db"
    with sqlite3.connect(db) as conn:
        for stmt in sqlite_migrations()[0][2]:
            conn.execute(stmt)
        conn.execute("INSERT INTO actions (id, tool_name, verdict) VALUES ('old-1', 'read_file', 'allow')")
    conn2 = connect_sqlite(db)
    assert migrate(conn2) == []
    cols = {r[1] for r in conn2.execute("PRAGMA table_info(actions)")}
    assert {"decision_id", "findings", "prev_hash", "hash", "writer_id", "seq", "redacted"} <= cols
    assert [r[0] for r in conn2.execute("SELECT version FROM agentgate_migrations ORDER BY version")] == [1, 2]
    conn2.close()
    w = open_auditor(f"sqlite:///{db}")
    w.record(*decision(1))
    w.shutdown()
    report = verify(f"sqlite:///{db}")
    assert report.records == 2
    assert [p.record_id for p in report.problems] == ["old-1"]


def test_wal_switch_waits_for_a_process_holding_a_new_file(tmp_path: Path) -> None:
    """Two processes opening a fresh file at once: SQLite refuses the WAL switch at once ("database is
    locked", no busy handler) while the other holds a write lock. set_wal retries until it is free, and
    says what it waited for when it runs out of time; the file ends in WAL mode."""
    from agentgate._statedb import StateDB
    from agentgate.audit._sqlite import set_wal

    path = tmp_path / "fresh.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    other = sqlite3.connect(path, isolation_level=None, timeout=5)
    with pytest.raises(sqlite3.OperationalError, match=r"WAL mode within 0\.05s"):
        set_wal(other, timeout=0.05)
    holder.execute("COMMIT")
    set_wal(other, timeout=5)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    StateDB(f"sqlite:///{path}").close()  # opens through the same switch
