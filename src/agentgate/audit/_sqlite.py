"""SQLite: the zero-configuration default (``.agentgate/audit.db``).

WAL mode, ``synchronous=NORMAL`` (a committed batch survives a crash of the
process; only a power loss can take the last batches), a 30 s busy timeout and
one ``BEGIN IMMEDIATE`` transaction per batch: several processes can write the
same file at once, each waiting its turn for the write lock. Each writer keeps
its own chain (``writer_id``, ``seq``), so no writer needs another's chain head.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import operator
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from agentgate._errors import AuditError

from ._query import SQLITE, Executor, SqlStore
from ._record import ACTION_COLUMNS, VIOLATION_COLUMNS, dumps, normalize_row
from ._schema import ADDED_COLUMNS, MIGRATIONS_TABLE, dashboard_migrations, sqlite_migrations
from ._sink import Sink

__all__ = ["SqliteSink", "SqliteStore", "connect_sqlite"]

_BUSY_MS = 30_000
_JSON_COLS = frozenset({"payload", "findings", "details"})
_BOOL_COLS = frozenset({"would_block", "redacted"})


def _dumps(value: Any) -> str:
    return str(dumps(value))


def set_wal(conn: sqlite3.Connection, timeout: float = 30.0) -> None:
    """Put *conn*'s database in WAL mode, retrying while another connection holds it.

    Switching a new file to WAL needs an exclusive lock, and SQLite answers "database is locked"
    at once (without the busy handler) when another process opening the same new file holds a
    lock that could deadlock with it: two agents starting together on a fresh trail. Retry until
    the file is in WAL mode or *timeout* seconds pass.
    """
    import time

    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            if mode is None or str(mode[0]).lower() == "wal" or ":memory:" in str(mode[0]):
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        if time.monotonic() >= deadline:
            raise sqlite3.OperationalError(f"could not switch the database to WAL mode within {timeout:g}s: locked")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def connect_sqlite(path: str | Path, *, create: bool = True) -> sqlite3.Connection:
    """Open *path* in WAL mode with the schema migrated (``create=False``: must exist)."""
    p = Path(path)
    if not create and not p.exists():
        raise AuditError(f"no audit database at {p}")
    try:
        if create:
            p.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(p), timeout=_BUSY_MS / 1000, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
        set_wal(conn, _BUSY_MS / 1000)
        conn.execute("PRAGMA synchronous=NORMAL")
        migrate(conn)
    except sqlite3.Error as exc:
        raise AuditError(f"cannot open audit database {p}: {exc}") from exc
    return conn


def migrate(conn: sqlite3.Connection) -> list[int]:
    """Apply the missing migrations in one ``BEGIN IMMEDIATE`` transaction; returns the versions applied."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY, name TEXT, "
            "applied_at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')))"
        )
        done = {r[0] for r in conn.execute(f"SELECT version FROM {MIGRATIONS_TABLE}")}  # noqa: S608 - constant name
        applied = []
        for version, name, statements in sqlite_migrations():
            if version in done:
                continue
            if version == 2:
                have = {r[1] for r in conn.execute("PRAGMA table_info(actions)")}
                for col, _pg, lite in ADDED_COLUMNS:
                    if col not in have:
                        conn.execute(f"ALTER TABLE actions ADD COLUMN {col} {lite}")
            for stmt in statements:
                conn.execute(stmt)
            conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} (version, name) VALUES (?, ?)", (version, name))  # noqa: S608
            applied.append(version)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied


def _encode(row: dict[str, Any], cols: Sequence[str]) -> tuple[Any, ...]:
    out = []
    for c in cols:
        v = row.get(c)
        if c in _JSON_COLS and v is not None:
            v = _dumps(v)
        elif c in _BOOL_COLS and v is not None:
            v = int(bool(v))
        out.append(v)
    return tuple(out)


_P, _F = ACTION_COLUMNS.index("payload"), ACTION_COLUMNS.index("findings")
_values = operator.itemgetter(*ACTION_COLUMNS)


def _encode_action(row: dict[str, Any]) -> Sequence[Any]:
    pre = row.get("_json")
    if pre is None:  # a row read back from a spool file
        return _encode(row, ACTION_COLUMNS)
    out = list(_values(row))  # booleans need no conversion: sqlite3 stores bool as 0/1
    out[_P], out[_F] = pre
    return out


_INSERT_ACTIONS = (
    f"INSERT OR IGNORE INTO actions ({', '.join(ACTION_COLUMNS)}) VALUES ({', '.join('?' * len(ACTION_COLUMNS))})"  # noqa: S608
)
_INSERT_VIOLATIONS = f"INSERT OR IGNORE INTO violations ({', '.join(VIOLATION_COLUMNS)}) VALUES (?, ?, ?, ?, ?)"  # noqa: S608


class SqliteSink(Sink):
    """Writes batches into a SQLite file (see module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).absolute()  # opened later, in the writer thread: a chdir must not move it
        self.spool_key = "sqlite-" + hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:12]
        self._conn: sqlite3.Connection | None = None

    def open(self) -> None:
        """Create the file and migrate it."""
        if self._conn is None:
            self._conn = connect_sqlite(self.path)

    def write(self, rows: Sequence[dict[str, Any]], violations: Sequence[dict[str, Any]]) -> None:
        """One ``BEGIN IMMEDIATE`` transaction per batch; ids already stored are skipped."""
        if self._conn is None:
            self.open()
        conn = self._conn
        assert conn is not None
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_INSERT_ACTIONS, [_encode_action(r) for r in rows])
                if violations:
                    conn.executemany(_INSERT_VIOLATIONS, [_encode(v, VIOLATION_COLUMNS) for v in violations])
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise AuditError(f"sqlite write to {self.path} failed: {exc}") from exc

    def close(self) -> None:
        """Close the connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def check(self) -> None:
        """Create and migrate the file if needed, then take and release the write lock on a connection of its own."""
        conn = connect_sqlite(self.path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise AuditError(f"cannot write {self.path}: {exc}") from exc
        finally:
            conn.close()

    def after_fork(self) -> None:
        """Drop the parent's connection (SQLite connections must not cross a fork)."""
        self._conn = None

    def describe(self) -> str:
        """``sqlite:///<path>``."""
        return f"sqlite:///{self.path}"


class SqliteStore(SqlStore):
    """Reads an audit database for the CLI and `verify` (streams; never loads the table at once)."""

    dialect = "sqlite"
    sql_dialect = SQLITE
    _select = "SELECT rowid AS ingest_id, * FROM actions"
    _order_col = "rowid"
    _ph = "?"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn = connect_sqlite(self.path, create=False)
        self._conn.row_factory = sqlite3.Row

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def _rows(self, sql: str, params: Sequence[Any]) -> Iterator[dict[str, Any]]:
        try:
            for r in self._conn.execute(sql, params):
                yield normalize_row(dict(r))
        except sqlite3.Error as exc:
            raise AuditError(f"reading audit records from {self.path} failed: {exc}") from exc

    def chain_rows(self) -> Iterator[dict[str, Any]]:
        """Every action row, by writer and chain position (unchained rows first)."""
        return self._rows("SELECT rowid AS ingest_id, * FROM actions ORDER BY writer_id, seq, rowid", ())

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return [tuple(r) for r in self._conn.execute(sql, params)]
        except sqlite3.Error as exc:
            raise AuditError(f"audit database {self.path}: {exc}") from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Executor]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``: one writer at a time, dashboards and agents alike."""
        self._exec("BEGIN IMMEDIATE")
        try:
            yield self._exec
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise
        self._exec("COMMIT")

    def settled_bound(self, ex: Executor) -> int:
        """The highest rowid: SQLite commits one writer at a time, so rowids become visible in order."""
        return int(ex("SELECT coalesce(max(rowid), 0) FROM actions")[0][0])

    def ensure_dashboard(self) -> None:
        """Create the dashboard's tables and indexes if missing."""
        version, name, statements, _ = dashboard_migrations("sqlite")
        with self.transaction() as ex:
            if ex(f"SELECT 1 FROM {MIGRATIONS_TABLE} WHERE version = ?", (version,)):  # noqa: S608
                return
            for stmt in statements:
                ex(stmt)
            ex(f"INSERT INTO {MIGRATIONS_TABLE} (version, name) VALUES (?, ?)", (version, name))  # noqa: S608

    def violations(self) -> Iterator[dict[str, Any]]:
        """Every violation row."""
        for r in self._conn.execute("SELECT * FROM violations ORDER BY rowid"):
            d = dict(r)
            d["details"] = json.loads(d["details"]) if isinstance(d.get("details"), str) else d.get("details")
            d["created_at"] = (
                normalize_row({"created_at": d["created_at"]})["created_at"] if d.get("created_at") else None
            )
            yield d
