"""The dashboard's counts against a full scan while writers come and go, and PostgreSQL's settled bound.

The rollup may only advance to ids no commit still to come can go below (`settled_bound`);
rows past it are counted from the trail. These tests pin both halves: the bound is held
by this trail's own open writer transactions and by nothing else (other databases, other
schemas), and the counts equal counting the rows, with writers inserting concurrently.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from agentgate._call import ToolCall
from agentgate._context import AgentContext
from agentgate._decision import Verdict, VerdictType
from agentgate.audit import open_store
from agentgate.audit._query import ActionFilter
from agentgate.audit._stats import filtered_stats

from .trail import Trail


def _add(trail: Trail, i: int, agent: str) -> None:
    action = VerdictType.BLOCK if i % 3 == 0 else VerdictType.ALLOW
    v = Verdict(action, policy_name="sql.drop" if i % 3 == 0 else "", decision_id=f"{agent}-{i}", latency_us=5.0)
    trail.add(ToolCall("run_query", {"query": f"SELECT {i}"}), v, AgentContext(agent_id=agent), time.time())


def _count(store: Any, f: ActionFilter) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in store.iter_filtered(f):
        out[r["verdict"]] = out.get(r["verdict"], 0) + 1
    return out


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A trail URL on SQLite, then on PostgreSQL (a schema of its own)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/audit.db"
    return str(request.getfixturevalue("pg_schema")[0])


def test_counts_equal_a_full_scan_with_writers_inserting_concurrently(url: str) -> None:
    """Four writers insert while the counts are taken over and over; after they stop, every count equals a scan."""
    first = Trail(url)
    _add(first, 0, "seed")
    first.close()
    store = open_store(url)
    store.ensure_dashboard()
    done = threading.Event()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        t = Trail(url)
        try:
            for batch in range(8):
                for i in range(5):
                    _add(t, batch * 5 + i, f"agent-{n}")
                t.flush()
        except BaseException as e:  # surfaced by the assertion below
            errors.append(e)
        finally:
            t.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    seen = []
    watcher_done = threading.Event()

    def watch() -> None:
        s = open_store(url)
        try:
            while not done.is_set():
                seen.append(filtered_stats(s, ActionFilter())["total"])
        finally:
            s.close()
            watcher_done.set()

    w = threading.Thread(target=watch)
    w.start()
    for th in threads:
        th.join(120)
    done.set()
    w.join(120)
    assert watcher_done.is_set() and not errors
    assert all(0 < n <= 161 for n in seen)  # never a row counted twice while the rollup advanced
    for f in (
        ActionFilter(),
        ActionFilter(agent="agent-2"),
        ActionFilter(verdict="block"),
        ActionFilter(rule="sql.drop"),
    ):
        s = filtered_stats(store, f)
        assert s["by_verdict"] == _count(store, f), f
    assert filtered_stats(store, ActionFilter())["total"] == 161
    store.close()


@pytest.fixture
def pg(pg_schema: tuple[str, str], postgres_url: str) -> tuple[str, str, str]:
    """(trail url, schema, server url) on PostgreSQL, with a few records in the trail."""
    url, schema = pg_schema
    t = Trail(url)
    for i in range(6):
        _add(t, i, "a")
    t.close()
    return url, schema, postgres_url


def _bound(url: str) -> tuple[int, int]:
    """(settled bound, newest ingest id) as the dashboard computes them now."""
    store = open_store(url)
    try:
        store.ensure_dashboard()
        with store.transaction() as ex:
            bound = store.settled_bound(ex)
        top = int(store._exec("SELECT max(ingest_id) FROM actions")[0][0])
        return bound, top
    finally:
        store.close()


def _open_transaction(url: str, app: str, dbname: str | None = None, schema: str | None = None) -> Any:
    """A connection with *app* as application_name, inside a transaction that holds an xid."""
    import psycopg

    conninfo = url if dbname is None else url.rsplit("/", 1)[0] + "/" + dbname
    conn = psycopg.connect(conninfo, application_name=app)
    if schema is not None:
        conn.execute(f'SET search_path TO "{schema}"')
    conn.execute("SELECT pg_current_xact_id()")  # assigns the transaction an id: it is in every snapshot now
    return conn


def test_other_databases_and_schemas_do_not_hold_the_bound(pg: tuple[str, str, str]) -> None:
    """Open transactions of another database (even one named like this trail's writers) and of another schema's writers leave the bound at the newest id."""
    url, schema, server = pg
    elsewhere = _open_transaction(server, f"agentgate-audit {schema}", dbname="postgres")
    other_schema = _open_transaction(server, f"agentgate-audit ag_other_{uuid.uuid4().hex[:6]}")
    try:
        bound, top = _bound(url)
        assert bound == top == 6
    finally:
        elsewhere.rollback()
        elsewhere.close()
        other_schema.rollback()
        other_schema.close()


def test_an_open_writer_transaction_holds_the_bound_and_the_tail_is_counted(pg: tuple[str, str, str]) -> None:
    """While this trail's writer has a transaction open the bound stays; rows past it are still counted, once."""
    url, schema, server = pg
    assert _bound(url) == (6, 6)
    writer = _open_transaction(server, f"agentgate-audit {schema}", schema=schema)
    try:
        t = Trail(url)
        for i in range(6, 10):
            _add(t, i, "b")
        t.close()
        bound, top = _bound(url)
        assert bound == 6 and top == 10  # held: the open writer might still commit an id below 10
        store = open_store(url)
        s = filtered_stats(store, ActionFilter())
        assert s["rollup_upto"] == 6 and s["total"] == 10  # four rows from the tail past the bound
        assert filtered_stats(store, ActionFilter(agent="b"))["by_verdict"] == _count(store, ActionFilter(agent="b"))
        store.close()
    finally:
        writer.rollback()
        writer.close()
    bound, top = _bound(url)
    assert bound == top == 10
    store = open_store(url)
    assert filtered_stats(store, ActionFilter())["total"] == 10
    store.close()
