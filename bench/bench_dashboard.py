"""Dashboard API at a million records: the filtered list, the counts and verify-from-checkpoint.

Run: ``.venv/bin/python bench/bench_dashboard.py [--n 1000000] [--iterations 40] [--postgres URL]``

The trail is synthetic (bench/synthetic.py: one valid hash chain, a realistic mix of agents,
tools, verdicts and rules over seven days) and written through the sinks' own bulk paths
(SQLite executemany, PostgreSQL COPY). It is generated once and kept: the SQLite file in
bench/.cache/ (gitignored), the PostgreSQL one in the schema ``agentgate_bench_dashboard_<n>``
of the local test database, COPied from the SQLite file when there is one (the same records,
hashes included; ``--fresh`` regenerates both). The first dashboard request on a new
trail builds the dashboard's indexes, aggregates the rollup and verifies every chain; that is
set-up, reported but not timed with the rest. A PostgreSQL trail that was never analyzed is
ANALYZEd first (and the run says so): autovacuum does that after a bulk load on a running
server, but may be off on a test cluster, and a plan made without statistics is not one a
server would use.

Each figure is an HTTP request through the app (Starlette's test client: routing, the query,
JSON encoding), timed one at a time: p50 and p99 over ``--iterations`` requests (with 40, the
p99 is the slowest but one). Verify-from-checkpoint is measured after 100 new records have
been written by a new writer before each request: the records a check reads in steady state.
Target (issue 14): each p50 under 100 ms at 1M records, on both databases.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from synthetic import rows, write  # noqa: E402

CACHE = HERE / ".cache"
SPAN = 7 * 86400


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def _marked(url: str, n: int) -> bool:
    """The trail at *url* holds at least *n* records (a generation cut off half-way does not count)."""
    from agentgate.audit import open_store

    try:
        store = open_store(url)
    except Exception:
        return False
    try:
        top = store._exec(f"SELECT coalesce(max({store.sql_dialect.id_col}), 0) FROM actions")[0][0]
        return int(top) >= n
    except Exception:
        return False
    finally:
        store.close()


def _generate(url: str, n: int) -> float:
    t = time.perf_counter()
    write(url, rows(n, end=time.time() - 120, span=SPAN, seed=1))
    return time.perf_counter() - t


def sqlite_trail(n: int, fresh: bool) -> tuple[str, str]:
    """The cached SQLite trail (generated when missing); returns (url, what was done)."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"dashboard-{n}.db"
    url = f"sqlite:///{path}"
    if not fresh and path.exists() and _marked(url, n):
        return url, "cached"
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)
    took = _generate(url, n)
    return url, f"generated in {took:.0f} s"


def postgres_trail(base: str, n: int, fresh: bool) -> tuple[str, str]:
    """The PostgreSQL trail in its own schema (generated when missing)."""
    import psycopg

    schema = f"agentgate_bench_dashboard_{n}"
    url = f"{base}?schema={schema}"
    if not fresh and _marked(url, n):
        return url, "cached" + _analyze(base, schema)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    lite = CACHE / f"dashboard-{n}.db"
    if lite.exists():  # the same records, already hashed: COPY them across instead of generating again
        t = time.perf_counter()
        copied = _copy_from_sqlite(lite, url)
        return url, f"{copied:,} records copied from the SQLite trail in {time.perf_counter() - t:.0f} s" + _analyze(
            base, schema
        )
    took = _generate(url, n)
    return url, f"generated in {took:.0f} s" + _analyze(base, schema)


def _analyze(base: str, schema: str) -> str:
    """ANALYZE the trail's tables if they never were (what autovacuum does after a bulk load; it may be off here).

    Without statistics PostgreSQL plans every query on default guesses (an equality filter
    matches 0.5% of the rows), so the figures would measure a trail no running server has.
    """
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = %s AND relname IN ('actions', 'violations') "
            "AND last_analyze IS NULL AND last_autoanalyze IS NULL",
            (schema,),
        ).fetchall()
        if not rows:
            return ""
        t = time.perf_counter()
        for (rel,) in rows:
            conn.execute(f'ANALYZE "{schema}"."{rel}"')
        return f"; never analyzed: ANALYZE took {time.perf_counter() - t:.1f} s"


def _copy_from_sqlite(path: Path, url: str) -> int:
    """COPY the actions and violations of the SQLite trail into PostgreSQL as stored (hashes included)."""
    import sqlite3

    from agentgate.audit._postgres import PostgresSink
    from agentgate.audit._record import ACTION_COLUMNS, VIOLATION_COLUMNS

    sink = PostgresSink(url)
    sink.open()  # creates the schema and the tables
    conn = sink._conn
    conn.execute("SET statement_timeout = 0")  # one COPY of a million rows outlasts the writer's 15 s bound
    conn.commit()
    lite = sqlite3.connect(path)
    n = 0
    try:
        with conn.transaction(), conn.cursor() as cur:
            cols = ", ".join(ACTION_COLUMNS)
            with cur.copy(f"COPY actions ({cols}) FROM STDIN") as copy:
                for row in lite.execute(f"SELECT {cols} FROM actions ORDER BY rowid"):
                    copy.write_row(row)
                    n += 1
            vcols = ", ".join(VIOLATION_COLUMNS)
            with cur.copy(f"COPY violations ({vcols}) FROM STDIN") as copy:
                for row in lite.execute(f"SELECT {vcols} FROM violations ORDER BY rowid"):
                    copy.write_row(row)
    finally:
        lite.close()
        sink.close()
    return n


def _timed(client: Any, path: str, iterations: int, before: Any = None) -> tuple[float, float, float, Any]:
    """Wall-clock p50 and p99 (ms), this process's CPU p50 (ms: the dashboard's own work, all threads), last body."""
    ms: list[float] = []
    cpu: list[float] = []
    body: Any = None
    for _ in range(iterations):
        if before is not None:
            before()
        c = time.process_time()
        t = time.perf_counter()
        r = client.get(path)
        ms.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"{path}: HTTP {r.status_code} {r.text[:200]}")
        body = r.json()
    return statistics.median(ms), _pct(ms, 0.99), statistics.median(cpu), body


def bench(url: str, label: str, how: str, iterations: int) -> list[tuple[str, float, float, float, str]]:
    """Set up (indexes, rollup, first verification) and time each request kind."""
    from starlette.testclient import TestClient

    from agentgate.server import create_app

    out: list[tuple[str, float, float, float, str]] = []
    with TestClient(create_app(url), base_url="http://localhost") as c:
        t = time.perf_counter()
        total = c.get("/api/stats").json()["total"]
        setup_stats = time.perf_counter() - t
        t = time.perf_counter()
        first = c.get("/api/verify").json()
        setup_verify = time.perf_counter() - t
        print(
            f"  {label}: {total:,} records ({how}); set-up: rollup {setup_stats:.1f} s, "
            f"first verification {setup_verify:.1f} s ({first['records']:,} records read, ok={first['ok']})",
            flush=True,
        )
        for name, path in (
            ("list, agent+verdict+7d", "/api/actions?agent=ops-bot&verdict=block&since=7d&limit=50"),
            ("list, rule, next page", None),
            ("list, text search", "/api/actions?text=partner.example&limit=50"),
            ("stats, no filter", "/api/stats"),
            ("stats, agent+24h", "/api/stats?agent=ops-bot&since=24h"),
            ("stats, rule+tier+7d", "/api/stats?rule=sql.drop&tier=2&since=7d"),
        ):
            if path is None:
                nxt = c.get("/api/actions?rule=sql.drop&limit=50").json()["next"]
                path = f"/api/actions?rule=sql.drop&limit=50&cursor={nxt}"
            p50, p99, cpu, body = _timed(c, path, iterations)
            n = body.get("count", body.get("total"))
            out.append((name, p50, p99, cpu, f"{n:,} {'rows' if 'count' in body else 'counted'}"))

        def append() -> None:
            write(
                url,
                rows(100, end=time.time(), span=1.0, seed=int(time.time() * 1e6) % 2**31, writer_id=uuid.uuid4().hex),
            )

        p50, p99, cpu, body = _timed(c, "/api/verify", max(10, iterations // 2), before=append)
        out.append(("verify from checkpoint", p50, p99, cpu, f"+100 records, {body['records']} read, ok={body['ok']}"))
    for name, p50, p99, cpu, note in out:
        flag = "" if p50 < 100 else "  (over the 100 ms target)"
        print(
            f"    {name:<26} p50 {p50:>7.1f} ms  p99 {p99:>7.1f} ms  cpu p50 {cpu:>6.1f} ms   {note}{flag}", flush=True
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=int(os.environ.get("BENCH_DASHBOARD_N", "1000000")))
    ap.add_argument("--iterations", type=int, default=40)
    ap.add_argument(
        "--postgres", default=os.environ.get("AGENTGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    ap.add_argument("--fresh", action="store_true", help="regenerate the trails")
    ap.add_argument("--only", choices=("sqlite", "postgres"))
    a = ap.parse_args()
    print(f"dashboard API at {a.n:,} records, load average {os.getloadavg()[0]:.2f} (2 cores shared)", flush=True)
    if a.only in (None, "sqlite"):
        url, how = sqlite_trail(a.n, a.fresh)
        bench(url, "SQLite", how, a.iterations)
    if a.only in (None, "postgres"):
        try:
            url, how = postgres_trail(a.postgres, a.n, a.fresh)
        except Exception as e:  # no PostgreSQL here: say so, do not invent a figure
            print(f"  PostgreSQL: not measured ({e})")
        else:
            bench(url, "PostgreSQL", how, a.iterations)
    print(f"  load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
