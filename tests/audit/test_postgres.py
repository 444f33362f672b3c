"""PostgreSQL at 127.0.0.1:5432: records land; a killed backend and refused connections lose nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from agentgate._decision import VerdictType
from agentgate.audit import open_auditor, verify
from agentgate.audit._postgres import PostgresSink, connect, split_schema
from agentgate.audit._schema import postgres_migrations

from .conftest import AWS_KEY, TcpProxy, decision

pytestmark = pytest.mark.services


def _q(url: str, schema: str, sql: str) -> list[tuple[object, ...]]:
    base, _ = split_schema(url)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        return list(conn.execute(sql).fetchall())  # type: ignore[arg-type]


def test_records_land_with_violations_and_verify(pg_schema: tuple[str, str], tmp_path: Path) -> None:
    """Batches are stored (COPY), blocked calls get a violations row, secrets are masked, the chain verifies."""
    url, schema = pg_schema
    w = open_auditor(url, spool_dir=tmp_path)
    for i in range(300):
        w.record(*decision(i, action=VerdictType.BLOCK if i % 10 == 0 else VerdictType.ALLOW))
    w.record(*decision(300, args={"body": f"aws {AWS_KEY}"}))
    assert w.flush(20)
    w.shutdown()
    assert _q(url, schema, "SELECT count(*) FROM actions") == [(301,)]
    assert _q(url, schema, "SELECT count(*) FROM violations") == [(30,)]
    assert _q(url, schema, f"SELECT count(*) FROM actions WHERE payload::text LIKE '%{AWS_KEY[4:]}%'") == [(0,)]
    assert _q(url, schema, "SELECT redacted FROM actions WHERE decision_id = 'd-300'") == [(True,)]
    report = verify(url)
    assert report.ok, report.problems[:3]
    assert report.records == 301


def test_killed_backend_and_refused_connections_lose_nothing(
    postgres_url: str, pg_schema: tuple[str, str], tmp_path: Path
) -> None:
    """pg_terminate_backend mid-stream, then connections refused for a while: all records, in order, chain verifies."""
    _, schema = pg_schema
    proxy = TcpProxy(("127.0.0.1", 5432))
    url = f"postgresql://postgres@127.0.0.1:{proxy.port}/test?schema={schema}"
    w = open_auditor(url, spool_dir=tmp_path, batch_size=50, flush_interval=0.01)
    total = 3000
    done = threading.Event()

    def produce() -> None:
        for i in range(total):
            w.record(*decision(i))
            if i % 100 == 0:
                time.sleep(0.01)
        done.set()

    try:
        w.record(*decision(-1))
        assert w.flush(20)
        t = threading.Thread(target=produce)
        t.start()
        time.sleep(0.05)
        killed = _q(
            postgres_url,
            "public",
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'agentgate-audit {schema}'",
        )
        assert killed == [(True,)]
        proxy.stop()  # refuse connections for a while
        time.sleep(1.0)
        assert w.stats()["errors"] >= 1
        proxy.start()
        t.join(30)
        assert done.is_set()
        assert w.flush(30), w.stats()
    finally:
        w.shutdown()
        proxy.stop()
    st = w.stats()
    assert st["dropped"] == 0
    assert st["spooled"] == 0
    assert st["replayed"] > 0
    rows = _q(postgres_url, schema, "SELECT decision_id FROM actions ORDER BY seq")
    assert [r[0] for r in rows] == ["d--1"] + [f"d-{i}" for i in range(total)]
    report = verify(f"{postgres_url}?schema={schema}")
    assert report.ok, report.problems[:3]


def test_update_and_delete_are_caught(pg_schema: tuple[str, str], tmp_path: Path) -> None:
    """An UPDATE, then a DELETE, of stored rows are each named by audit verify."""
    url, schema = pg_schema
    w = open_auditor(url, spool_dir=tmp_path)
    for i in range(20):
        w.record(*decision(i))
    w.shutdown()
    assert verify(url).ok
    _q(url, schema, 'UPDATE actions SET payload = \'{"arguments": {"query": "SELECT 99"}}\' WHERE seq = 4 RETURNING 1')
    first = verify(url).first
    assert first is not None
    assert (first.kind, first.seq) == ("altered", 4)
    _q(
        url,
        schema,
        "UPDATE actions SET payload = (SELECT payload FROM actions WHERE seq = 3) WHERE seq = 4 RETURNING 1",
    )
    _q(url, schema, "DELETE FROM actions WHERE seq IN (4, 5) RETURNING 1")
    first = verify(url).first
    assert first is not None
    assert first.kind == "deleted"
    assert "4..5" in first.message


def test_migrations_concurrent_and_from_seed_schema(pg_schema: tuple[str, str]) -> None:
    """A seed-schema database with rows is upgraded in place; concurrent openers apply each migration once."""
    url, schema = pg_schema
    base, _ = split_schema(url)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET search_path TO "{schema}"')
        for stmt in postgres_migrations()[0][2]:
            conn.execute(stmt)
        conn.execute("INSERT INTO actions (tool_name, verdict) VALUES ('read_file', 'allow')")
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            connect(base, schema).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _q(url, schema, "SELECT version FROM agentgate_migrations ORDER BY version") == [(1,), (2,)]
    assert _q(url, schema, "SELECT count(*), min(ingest_id) FROM actions") == [(1, 1)]
    sink = PostgresSink(url)
    sink.open()
    sink.close()


def test_replayed_batch_overlapping_stored_rows_stores_nothing_twice(
    pg_schema: tuple[str, str], tmp_path: Path
) -> None:
    """A batch whose first commit did land (ambiguous commit) is replayed without duplicates or errors."""
    from agentgate.audit import MemorySink, violation_for

    url, schema = pg_schema
    mem = MemorySink()
    w = open_auditor(mem, spool_dir=tmp_path)
    for i in range(20):
        w.record(*decision(i, action=VerdictType.BLOCK if i % 4 == 0 else VerdictType.ALLOW))
    w.shutdown()
    rows = [r.to_dict() for r in mem.records]

    def viols(batch: list[dict[str, object]]) -> list[dict[str, object]]:
        return [v for r in batch if (v := violation_for(r)) is not None]

    sink = PostgresSink(url)
    sink.open()
    sink.write(rows[:12], viols(rows[:12]))
    sink.write(rows[8:], viols(rows[8:]))  # 8..11 are already stored
    sink.write(rows, viols(rows))
    sink.close()
    assert _q(url, schema, "SELECT count(*), count(DISTINCT id) FROM actions") == [(20, 20)]
    assert _q(url, schema, "SELECT count(*) FROM violations") == [(5,)]
    assert verify(url).ok


_EXIT_WRITER = """
import sys
from agentgate.audit import open_auditor
from tests.audit.conftest import decision

w = open_auditor(sys.argv[1], flush_interval=60.0, spool_dir=sys.argv[2])
for i in range(2000):
    w.record(*decision(i))
# exits without flush() or shutdown(): the atexit hook must store everything
"""


def test_process_exiting_without_flush_stores_everything_in_postgres(
    pg_schema: tuple[str, str], tmp_path: Path
) -> None:
    """A process that records 2,000 decisions and just exits has all of them in PostgreSQL."""
    import os
    import subprocess
    import sys

    url, schema = pg_schema
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root / "src"), str(root)]))
    p = subprocess.run([sys.executable, "-c", _EXIT_WRITER, url, str(tmp_path)], env=env, timeout=60, check=False)
    assert p.returncode == 0
    assert _q(url, schema, "SELECT count(*), max(seq) FROM actions") == [(2000, 2000)]
    assert verify(url).ok


def test_connections_carry_statement_timeout_and_tcp_keepalives(pg_schema: tuple[str, str], tmp_path: Path) -> None:
    """The audit connection has a server-side statement_timeout and TCP keepalives/tcp_user_timeout set."""
    from agentgate.audit._postgres import STATEMENT_TIMEOUT_MS

    url, _ = pg_schema
    sink = PostgresSink(url)
    sink.open()
    try:
        conn = sink._conn
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == f"{STATEMENT_TIMEOUT_MS // 1000}s"
        params = conn.info.get_parameters()
        assert params["keepalives"] == "1"
        assert int(params["keepalives_idle"]) > 0
        assert int(params["tcp_user_timeout"]) > 0
    finally:
        sink.close()
