"""The operational tables beside the audit trail: API tokens, sessions, the approval queue.

They live in a SQLite file or a PostgreSQL database (``?schema=name`` selects a
schema, created if missing), by default the audit trail's own database, so a laptop
needs nothing more and a fleet shares them through PostgreSQL. Tables are prefixed
``agentgate_`` and created on first use.

`StateDB` is one connection behind a lock, in autocommit: every write the callers
make is a single statement (an ``UPDATE ... WHERE status = 'pending'`` is the whole
approval protocol), so there are no multi-statement transactions to get wrong.
Placeholders are written ``?`` and rewritten to ``%s`` for psycopg.

>>> db = StateDB("sqlite:///:memory:")
>>> db.execute("CREATE TABLE t (x INTEGER)")
[]
>>> db.execute("INSERT INTO t VALUES (?)", (1,)); db.execute("SELECT x FROM t")
[]
[(1,)]
>>> db.close()
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from typing import Any

from ._errors import ConfigError, MissingDependencyError

__all__ = ["StateDB", "StateDBError", "default_state_url"]


class StateDBError(ConfigError):
    """The state database cannot be reached or used (translated from sqlite3 / psycopg errors)."""


def default_state_url(explicit: str | None = None, audit: str | None = None) -> str:
    """Where the operational tables live: *explicit*, else ``AGENTGATE_STATE_URL``, else the audit trail's database."""
    if explicit:
        return explicit
    env = os.environ.get("AGENTGATE_STATE_URL", "").strip()
    if env:
        return env
    from .audit import default_target

    target = audit or default_target()
    return target.split(",")[0].strip()


class StateDB:
    """One connection to the SQLite file or PostgreSQL database at *url* (thread-safe, autocommit)."""

    def __init__(self, url: str) -> None:
        from .audit._resolve import sqlite_path

        self.url = url
        self._lock = threading.Lock()
        path = sqlite_path(url) if url != "sqlite:///:memory:" else ":memory:"
        self.schema: str | None = None
        if path is not None:
            import sqlite3

            self.kind = "sqlite"
            if path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            try:
                self._conn: Any = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
                self._conn.execute("PRAGMA busy_timeout=30000")
                if path != ":memory:":
                    from .audit._sqlite import set_wal

                    set_wal(self._conn)
            except sqlite3.Error as e:
                raise StateDBError(f"cannot open the state database {path}: {e}") from None
            self._errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
        elif url.lower().startswith(("postgresql://", "postgres://")):
            self.kind = "postgres"
            self._conn = self._pg_connect()
        else:
            raise StateDBError(
                f"tokens and approvals need a sqlite or postgresql database, not {url!r} "
                "(set AGENTGATE_STATE_URL or pass --state)"
            )

    def _pg_connect(self) -> Any:
        try:
            import psycopg
        except ImportError:
            raise MissingDependencyError("psycopg", "postgres") from None
        from .audit._postgres import split_schema

        clean, self.schema = split_schema(self.url)
        self._pg_url = clean
        self._errors = (psycopg.Error,)
        try:
            conn = psycopg.connect(clean, autocommit=True, connect_timeout=10, application_name="agentgate-state")
            if self.schema:
                ident = '"' + self.schema.replace('"', '""') + '"'
                # Two processes creating the schema at once: the loser sees a duplicate key
                # even with IF NOT EXISTS; the schema is there either way.
                with contextlib.suppress(psycopg.errors.UniqueViolation):
                    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ident}")
                conn.execute(f"SET search_path TO {ident}, public")
        except psycopg.Error as e:
            raise StateDBError(f"cannot reach the state database: {type(e).__name__}: {e}") from None
        return conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; the rows it returns (empty for writes without RETURNING)."""
        return self._run(sql, params)[0]

    def write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one writing statement; how many rows it changed."""
        return self._run(sql, params)[1]

    def _run(self, sql: str, params: Sequence[Any]) -> tuple[list[tuple[Any, ...]], int]:
        if self.kind == "postgres":
            sql = sql.replace("?", "%s")
        with self._lock:
            try:
                cur = self._conn.execute(sql, tuple(params))
                rows = cur.fetchall() if cur.description is not None else []
                return [tuple(r) for r in rows], int(cur.rowcount)
            except self._errors as e:
                if self.kind == "postgres" and getattr(self._conn, "closed", False):
                    self._conn = self._pg_connect()  # the next call retries on a fresh connection
                raise StateDBError(f"state database error: {type(e).__name__}: {e}") from None

    def create_tables(self, ddl: Sequence[str]) -> None:
        """Run CREATE ... IF NOT EXISTS statements (``REAL`` becomes ``DOUBLE PRECISION`` on PostgreSQL)."""
        for stmt in ddl:
            if self.kind == "postgres":
                stmt = stmt.replace(" REAL", " DOUBLE PRECISION")
            try:
                self.execute(stmt)
            except StateDBError as e:
                # Two processes creating the same table at once: PostgreSQL may report a
                # duplicate type even with IF NOT EXISTS; the table is there either way.
                if self.kind != "postgres" or "UniqueViolation" not in str(e):
                    raise

    def close(self) -> None:
        """Close the connection."""
        # Closing a broken connection is not an error worth raising.
        with self._lock, contextlib.suppress(Exception):
            self._conn.close()
