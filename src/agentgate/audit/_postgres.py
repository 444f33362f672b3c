"""PostgreSQL (psycopg 3): the audit trail at scale.

One connection per writer thread. Each batch is one transaction of ``COPY``
into ``actions`` and ``violations``. A batch replayed after a commit that was
cut off may hold rows already stored; its COPY then fails on the primary key
and the batch goes through temporary staging tables and ``INSERT ... SELECT ...
ON CONFLICT DO NOTHING`` instead, so nothing is stored twice. A lost connection (server restart, ``pg_terminate_backend``,
network) raises; the writer spools the batch and retries with backoff; this
sink reconnects on the next write.

``?schema=name`` in the URL (or ``schema=``) keeps the tables in their own
schema, created if missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from agentgate._errors import AuditError, MissingDependencyError

from ._query import POSTGRES, Executor, SqlStore
from ._record import ACTION_COLUMNS, VIOLATION_COLUMNS, dumps, normalize_row
from ._schema import MIGRATIONS_TABLE, dashboard_migrations, postgres_migrations
from ._sink import Sink

__all__ = ["STATEMENT_TIMEOUT_MS", "WRITE_DEADLINE", "PostgresSink", "PostgresStore", "split_schema"]

logger = logging.getLogger("agentgate.audit")

_PG_TYPES = {
    "id": "uuid",
    "created_at": "timestamptz",
    "payload": "jsonb",
    "findings": "jsonb",
    "details": "jsonb",
    "action_id": "uuid",
    "tier_used": "integer",
    "latency_us": "double precision",
    "judge_latency_ms": "double precision",
    "confidence": "double precision",
    "would_block": "boolean",
    "redacted": "boolean",
    "seq": "bigint",
}
_P, _F = ACTION_COLUMNS.index("payload"), ACTION_COLUMNS.index("findings")


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is in the dev environment
        raise MissingDependencyError("psycopg", "postgres") from exc
    return psycopg


def split_schema(url: str, schema: str | None = None) -> tuple[str, str | None]:
    """Remove ``schema=`` from the URL's query (psycopg does not know it); return ``(url, schema)``."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    rest = [(k, v) for k, v in query if k != "schema"]
    found = [v for k, v in query if k == "schema"]
    clean = urlunsplit(parts._replace(query=urlencode(rest)))
    return clean, schema or (found[-1] if found else None)


def redact_url(url: str) -> str:
    """The URL without its password (for logs and ``stats()``)."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


#: Server-side bound on any one statement of the audit connection, in milliseconds.
STATEMENT_TIMEOUT_MS = 15_000
#: Client-side bound on one batch write (or connect + migrate), in seconds: past it the
#: socket is shut down, so a write on a partitioned connection fails instead of blocking.
WRITE_DEADLINE = 20.0
# TCP keepalives (probe after 10 s idle, every 5 s, give up after 3) and a 20 s bound on
# unacknowledged data: the kernel notices a dead peer on an idle or a busy connection.
_TCP = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 20_000,
}


def connect(
    url: str,
    schema: str | None,
    *,
    app: str = "agentgate-audit",
    migrate_schema: bool = True,
    connected: Callable[[Any], None] | None = None,
) -> Any:
    """A psycopg connection with ``search_path`` on *schema* and the migrations applied.

    Every connection has a 5 s connect timeout, TCP keepalives, ``tcp_user_timeout``
    and a server-side ``statement_timeout`` (see `STATEMENT_TIMEOUT_MS`).
    """
    psycopg = _psycopg()
    conn = psycopg.connect(
        url,
        connect_timeout=5,
        application_name=app[:63],
        autocommit=False,
        options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        **_TCP,
    )
    if connected is not None:  # lets a deadline cut the socket while the schema is set up
        connected(conn)
    try:
        if schema:
            if migrate_schema:
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)}")
            conn.execute(f"SET search_path TO {_ident(schema)}, public")
            conn.commit()
        if migrate_schema:
            migrate(conn, schema)
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: Any, schema: str | None) -> list[int]:
    """Apply the missing migrations in one transaction under an advisory lock; returns the versions applied."""
    key = int.from_bytes(hashlib.sha256(f"agentgate-audit:{schema or ''}".encode()).digest()[:8], "big", signed=True)
    applied = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, name TEXT, "
            "applied_at TIMESTAMPTZ DEFAULT now())"
        )
        done = {r[0] for r in conn.execute(f"SELECT version FROM {MIGRATIONS_TABLE}")}  # noqa: S608 - constant name
        for version, name, statements in postgres_migrations():
            if version in done:
                continue
            for stmt in statements:
                conn.execute(stmt)
            conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} (version, name) VALUES (%s, %s)", (version, name))  # noqa: S608
            applied.append(version)
    return applied


def _staging(table: str, cols: Sequence[str]) -> str:
    defs = ", ".join(f"{c} {_PG_TYPES.get(c, 'text')}" for c in cols)
    return f"CREATE TEMP TABLE IF NOT EXISTS _ag_{table} ({defs}) ON COMMIT DELETE ROWS"


def _dumps(value: Any) -> str:
    return str(dumps(value))


def _action_values(row: dict[str, Any]) -> list[Any]:
    out = [row.get(c) for c in ACTION_COLUMNS]
    pre = row.get("_json")
    if pre is not None:
        out[_P], out[_F] = pre
    else:
        out[_P], out[_F] = _dumps(out[_P]), _dumps(out[_F])
    return out


class _Deadline:
    """Shut down the sink's socket if the block has not finished by *seconds*.

    psycopg waits on the socket without a client-side timeout; ``statement_timeout``
    only helps when the server receives the statement. Shutting the socket down
    (on a duplicate of its descriptor) wakes the blocked wait with an error, whatever
    the network does.
    """

    def __init__(self, sink: PostgresSink, seconds: float) -> None:
        self.sink = sink
        self.fired = False
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def _cut(self) -> None:
        conn = self.sink._conn
        fd = getattr(getattr(conn, "pgconn", None), "socket", -1) if conn is not None else -1
        if fd is None or fd < 0:
            conn = self.sink._connecting
            fd = getattr(getattr(conn, "pgconn", None), "socket", -1) if conn is not None else -1
        self.fired = True
        logger.warning("agentgate audit: %s did not answer in time; cutting the connection", self.sink.describe())
        if fd is not None and fd >= 0:
            with contextlib.suppress(OSError):
                s = socket.socket(fileno=os.dup(fd))
                try:
                    s.shutdown(socket.SHUT_RDWR)
                finally:
                    s.close()

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


class PostgresSink(Sink):
    """Writes batches into PostgreSQL (see module docstring)."""

    def __init__(self, url: str, schema: str | None = None) -> None:
        self.url, self.schema = split_schema(url, schema)
        where = f"{redact_url(self.url)}#{self.schema or ''}"
        self.spool_key = "postgres-" + hashlib.sha256(where.encode()).hexdigest()[:12]
        self.application_name = f"agentgate-audit {self.schema or ''}".strip()
        self._conn: Any = None
        self._migrated = False
        self.write_deadline = WRITE_DEADLINE
        self._connecting: Any = None

    def _hold(self, conn: Any) -> None:
        self._connecting = conn

    def _connect(self) -> Any:
        if self._conn is None:
            try:
                self._conn = connect(
                    self.url,
                    self.schema,
                    app=self.application_name,
                    migrate_schema=not self._migrated,
                    connected=self._hold,
                )
                self._migrated = True
                with self._conn.transaction():
                    self._conn.execute(_staging("actions", ACTION_COLUMNS))
                    self._conn.execute(_staging("violations", VIOLATION_COLUMNS))
            except Exception as exc:
                self._conn = None
                raise AuditError(f"cannot connect to {redact_url(self.url)}: {exc}") from exc
            finally:
                self._connecting = None
        return self._conn

    def open(self) -> None:
        """Connect, create the schema and migrate (bounded by `WRITE_DEADLINE`)."""
        with _Deadline(self, self.write_deadline):
            self._connect()

    def check(self) -> None:
        """Connect on a separate connection (migrating if needed) and check INSERT rights on both tables."""
        conn = None
        try:
            conn = connect(self.url, self.schema, app=self.application_name + " check")
            row = conn.execute(
                "SELECT has_table_privilege('actions', 'INSERT') AND has_table_privilege('violations', 'INSERT')"
            ).fetchone()
            if not (row and row[0]):
                raise AuditError("no INSERT privilege on actions/violations")
        except AuditError:
            raise
        except Exception as exc:
            raise AuditError(f"cannot connect to {redact_url(self.url)}: {exc}") from exc
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    def write(self, rows: Sequence[dict[str, Any]], violations: Sequence[dict[str, Any]]) -> None:
        """COPY the batch straight into the tables; a replayed batch that hits ids already stored goes
        through staging tables and ``ON CONFLICT DO NOTHING`` instead (see module docstring).

        Bounded by `WRITE_DEADLINE`: a connection that stops answering (a network
        partition, a blackholed proxy) is cut and the write raises.
        """
        psycopg = _psycopg()
        with _Deadline(self, self.write_deadline) as dl:
            conn = self._connect()
            try:
                try:
                    self._copy(conn, rows, violations, staged=False)
                except psycopg.errors.UniqueViolation:
                    # Only a replay can collide (fresh ids never do): its first attempt did commit.
                    self._copy(conn, rows, violations, staged=True)
            except Exception as exc:
                if conn.closed or conn.broken or dl.fired:
                    self._conn = None
                    with contextlib.suppress(Exception):
                        conn.close()
                why = f"no answer within {self.write_deadline:g}s, connection cut" if dl.fired else str(exc)
                raise AuditError(f"postgres write failed: {why}") from exc

    @staticmethod
    def _copy(conn: Any, rows: Sequence[dict[str, Any]], violations: Sequence[dict[str, Any]], *, staged: bool) -> None:
        cols = ", ".join(ACTION_COLUMNS)
        vcols = ", ".join(VIOLATION_COLUMNS)
        prefix = "_ag_" if staged else ""
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(f"COPY {prefix}actions ({cols}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(_action_values(r))
            if staged:
                cur.execute(f"INSERT INTO actions ({cols}) SELECT {cols} FROM _ag_actions ON CONFLICT DO NOTHING")  # noqa: S608
            if violations:
                with cur.copy(f"COPY {prefix}violations ({vcols}) FROM STDIN") as copy:
                    for v in violations:
                        copy.write_row([_dumps(v[c]) if c == "details" else v[c] for c in VIOLATION_COLUMNS])
                if staged:
                    cur.execute(
                        f"INSERT INTO violations ({vcols}) SELECT {vcols} FROM _ag_violations ON CONFLICT DO NOTHING"  # noqa: S608
                    )

    def close(self) -> None:
        """Close the connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def after_fork(self) -> None:
        """Forget the parent's connection (closing it here would end the parent's session)."""
        self._conn = None

    def describe(self) -> str:
        """The URL without password, and the schema."""
        return redact_url(self.url) + (f" (schema {self.schema})" if self.schema else "")


#: How long a PostgreSQL writer's transaction can stay open at most (its write deadline, with margin):
#: an ingest id older than that can no longer be taken by a commit still to come.
SETTLE_SECONDS = 60.0


def _lock_key(schema: str | None, what: str) -> int:
    return int.from_bytes(hashlib.sha256(f"agentgate-{what}:{schema or ''}".encode()).digest()[:8], "big", signed=True)


class PostgresStore(SqlStore):
    """Reads the audit tables for the CLI and `verify` (server-side cursors)."""

    dialect = "postgres"
    sql_dialect = POSTGRES

    def __init__(self, url: str, schema: str | None = None) -> None:
        self.url, self.schema = split_schema(url, schema)
        try:
            self._conn = connect(self.url, self.schema, app="agentgate-audit-cli", migrate_schema=False)
        except Exception as exc:
            raise AuditError(f"cannot connect to {redact_url(self.url)}: {exc}") from exc
        self._conn.autocommit = True
        self._n = 0

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def _rows(self, sql: str, params: Sequence[Any]) -> Iterator[dict[str, Any]]:
        psycopg = _psycopg()
        self._n += 1
        try:
            with self._conn.transaction(), self._conn.cursor(f"ag_{self._n}", row_factory=psycopg.rows.dict_row) as cur:
                cur.itersize = 2000
                cur.execute(sql, params)
                for r in cur:
                    yield normalize_row(r)
        except psycopg.Error as exc:  # no tables yet, lost connection ...: an AgentGate error for the CLI
            raise AuditError(f"reading audit records from {redact_url(self.url)} failed: {exc}") from exc

    def chain_rows(self) -> Iterator[dict[str, Any]]:
        """Every action row, by writer and chain position (unchained rows first)."""
        return self._rows("SELECT * FROM actions ORDER BY writer_id NULLS FIRST, seq, ingest_id", ())

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        psycopg = _psycopg()
        try:
            cur = self._conn.execute(sql, params)
            return [tuple(r) for r in cur.fetchall()] if cur.description else []
        except psycopg.Error as exc:
            raise AuditError(f"audit database {redact_url(self.url)}: {exc}") from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Executor]:
        """A transaction holding this schema's dashboard advisory lock (dashboards take turns)."""
        with self._conn.transaction():
            self._exec("SELECT pg_advisory_xact_lock(%s)", (_lock_key(self.schema, "dashboard"),))
            yield self._exec

    def settled_bound(self, ex: Executor) -> int:
        """The highest ingest id no commit still to come can go below.

        PostgreSQL hands out ingest ids when a row is inserted, not when it commits: a
        writer's batch can become visible after a later id. When no transaction of this
        schema's writers is open in the same snapshot, every visible id is settled; else
        the bound is what was visible `SETTLE_SECONDS` ago (a writer's transaction never
        lives that long: its write deadline cuts it).

        Transaction ids are cluster-wide, so the snapshot also lists other databases' and
        other schemas' transactions; only this schema's writers in this database (their
        ``application_name``) hold the bound back. A transaction that ended between the
        snapshot and the read of ``pg_stat_activity`` is asked about in the commit log
        (``pg_xact_status``): ended, it holds nothing back; still running with no backend
        (a prepared transaction), it does, as an unknown writer would.
        """
        top, xip = ex(
            "SELECT (SELECT coalesce(max(ingest_id), 0) FROM actions), "
            "ARRAY(SELECT x::text FROM pg_snapshot_xip(pg_current_snapshot()) AS x)"
        )[0]
        top = int(top)
        state: dict[str, str] = dict(ex("SELECT key, value FROM agentgate_dashboard_state WHERE key LIKE 'settle_%%'"))
        bound = int(state.get("settle_bound", 0))
        open_xids = {int(x) % 2**32: str(x) for x in xip or ()}
        safe = True
        if open_xids:
            running = {
                int(x): (app, bool(here))
                for x, app, here in ex(
                    "SELECT backend_xid::text, application_name, datname = current_database() "
                    "FROM pg_stat_activity WHERE backend_xid IS NOT NULL"
                )
            }
            # The writers' application_name, as the server stores it (cut to 63 bytes).
            writer_app = f"agentgate-audit {self.schema or ''}".strip().encode()[:63].decode("utf-8", "ignore")
            if any(app == writer_app and here for x, (app, here) in running.items() if x in open_xids):
                safe = False
            else:
                unknown = [full for x, full in open_xids.items() if x not in running]
                if unknown:
                    statuses = ex("SELECT pg_xact_status(x::xid8) FROM unnest(%s::text[]) AS x", (unknown,))
                    safe = all(st in ("committed", "aborted") for (st,) in statuses)
        now = time.time()
        if safe:
            bound = max(bound, top)
            pending = (top, now)
        else:
            pmax, pat = int(state.get("settle_pending_max", 0)), float(state.get("settle_pending_at", now))
            if now - pat >= SETTLE_SECONDS:
                bound, pending = max(bound, pmax), (top, now)
            else:
                pending = (pmax, pat) if "settle_pending_max" in state else (top, now)
        for k, v in (("settle_bound", bound), ("settle_pending_max", pending[0]), ("settle_pending_at", pending[1])):
            ex(
                "INSERT INTO agentgate_dashboard_state (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (k, str(v)),
            )
        return bound

    def ensure_dashboard(self) -> None:
        """Create the audit tables (as a writer would), then the dashboard's tables and indexes, if missing."""
        version, name, statements, outside = dashboard_migrations("postgres")
        try:
            if self.schema:
                self._exec(f"CREATE SCHEMA IF NOT EXISTS {_ident(self.schema)}")
            migrate(self._conn, self.schema)
            if self._exec(f"SELECT 1 FROM {MIGRATIONS_TABLE} WHERE version = %s", (version,)):  # noqa: S608
                return
            key = _lock_key(self.schema, "dashboard-migrate")
            self._exec("SELECT pg_advisory_lock(%s)", (key,))
            try:
                with self._conn.transaction():
                    for stmt in statements:
                        self._exec(stmt)
                for stmt in outside:  # CREATE INDEX CONCURRENTLY cannot run in a transaction
                    self._exec(stmt)
                self._exec(
                    f"INSERT INTO {MIGRATIONS_TABLE} (version, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",  # noqa: S608
                    (version, name),
                )
            finally:
                self._exec("SELECT pg_advisory_unlock(%s)", (key,))
        except AuditError:
            raise
        except Exception as exc:
            raise AuditError(f"cannot prepare {redact_url(self.url)} for the dashboard: {exc}") from exc

    def violations(self) -> Iterator[dict[str, Any]]:
        """Every violation row."""
        for r in self._rows("SELECT * FROM violations ORDER BY created_at, id", ()):
            r["action_id"] = str(r["action_id"]) if r.get("action_id") is not None else None
            yield r
