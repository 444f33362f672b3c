"""The PostgreSQL store: a table of revisions, ``LISTEN/NOTIFY`` for change events.

URL: ``postgresql://user@host:5432/db?schema=agentgate_policy&document=default`` (both query
parameters optional; every other parameter goes to libpq). On first use the schema and table
are created (under an advisory lock, so many processes starting at once do not race)::

    <schema>.policy_revisions (document, seq, revision, digest, parent, author, message,
                               created_at, body)   primary key (document, seq)

A push runs in one transaction: lock the document (``pg_advisory_xact_lock``), read the head,
insert ``seq = head + 1``, ``pg_notify`` the schema's channel; the notification is delivered
at commit, so a listener never hears of a revision it cannot read. A watcher keeps one
connection in ``LISTEN``; when that connection fails it reports the outage, reconnects with
backoff, and reads the head on reconnecting (a push made during the outage is not missed).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..._errors import MissingDependencyError, PolicyStoreError
from ._base import (
    DEFAULT_DOCUMENT,
    REVISION_LENGTH,
    PolicyRevision,
    PolicyStore,
    StatusCallback,
    StoreWatch,
    WatchCallback,
    deliver,
    digest_of,
)

__all__ = ["DEFAULT_SCHEMA", "PostgresPolicyStore", "redact_url"]

DEFAULT_SCHEMA = "agentgate_policy"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,47}$")
#: Seconds to wait for a connection (a store that does not answer must not hang a process's start).
CONNECT_TIMEOUT = 5
#: How long the watcher waits for a notification before checking that its connection is alive.
HEARTBEAT = 1.0
#: Reconnect backoff bounds (seconds).
BACKOFF_MIN, BACKOFF_MAX = 0.2, 5.0


def redact_url(url: str) -> str:
    """*url* without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise MissingDependencyError("psycopg", "postgres") from None
    return psycopg


class PostgresPolicyStore(PolicyStore):
    """Policy documents in PostgreSQL (see the module docstring)."""

    def __init__(self, url: str, *, schema: str | None = None, document: str | None = None) -> None:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        schema = schema or query.pop("schema", None) or DEFAULT_SCHEMA
        document = document or query.pop("document", None) or DEFAULT_DOCUMENT
        query.pop("schema", None)
        query.pop("document", None)
        if not _NAME.match(schema):
            raise PolicyStoreError(f"schema name {schema!r}: letters, digits and _ only (at most 48)")
        if not document or len(document) > 200:
            raise PolicyStoreError("a document name is 1 to 200 characters")
        query.setdefault("connect_timeout", str(CONNECT_TIMEOUT))
        query.setdefault("application_name", f"agentgate-policy:{schema}")
        self._conninfo = urlunsplit(parts._replace(query=urlencode(query)))
        self.schema = schema
        self.document = document
        self.channel = f"{schema}_changes"
        shown = urlunsplit(parts._replace(query=urlencode({"schema": schema, "document": document})))
        self.url = redact_url(shown)
        self._conn: Any = None
        self._lock = threading.Lock()
        self._ready = False

    # ---------------------------------------------------------- connection

    def _connect(self) -> Any:
        psycopg = _psycopg()
        try:
            return psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.Error as e:
            raise PolicyStoreError(f"{self.url}: cannot connect: {_first_line(e)}") from None

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        psycopg = _psycopg()
        with self._lock:
            if self._conn is None or self._conn.closed or not self._alive():
                # The server dropped a connection that sat idle (restart, pg_terminate_backend):
                # open a new one rather than fail this operation.
                self._conn = self._connect()
            try:
                if not self._ready:
                    self._create(self._conn)
                    self._ready = True
                with self._conn.cursor() as cur:
                    yield cur
            except psycopg.Error as e:
                # A broken connection is dropped; the next call reconnects.
                conn, self._conn = self._conn, None
                with contextlib.suppress(Exception):  # already failing; the original error is reported
                    conn.close()
                raise PolicyStoreError(f"{self.url}: {_first_line(e)}") from None

    def _alive(self) -> bool:
        psycopg = _psycopg()
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            with contextlib.suppress(Exception):
                self._conn.close()
            return False
        return True

    def _create(self, conn: Any) -> None:
        from psycopg import sql

        s = sql.Identifier(self.schema)
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"agentgate-policy-schema:{self.schema}",))
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
            cur.execute(
                sql.SQL(
                    """CREATE TABLE IF NOT EXISTS {}.policy_revisions (
                        document text NOT NULL,
                        seq bigint NOT NULL,
                        revision text NOT NULL,
                        digest text NOT NULL,
                        parent text,
                        author text NOT NULL,
                        message text NOT NULL,
                        created_at timestamptz NOT NULL DEFAULT now(),
                        body text NOT NULL,
                        PRIMARY KEY (document, seq))"""
                ).format(s)
            )

    def close(self) -> None:
        """Close the store's connection (watches have their own and are closed by their handles)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    # ---------------------------------------------------------- reading

    _COLUMNS = "revision, seq, body, author, message, created_at, parent, document, digest"

    def _row(self, row: Any) -> PolicyRevision:
        revision, seq, body, author, message, created_at, parent, document, digest = row
        if digest_of(body) != digest:
            raise PolicyStoreError(f"{self.url}: revision {revision} (seq {seq}) does not match its recorded hash")
        return PolicyRevision(revision, int(seq), body, author, message, created_at, parent, document)

    def _select(self, tail: str, params: tuple[Any, ...]) -> list[PolicyRevision]:
        from psycopg import sql

        q = sql.SQL("SELECT {} FROM {}.policy_revisions WHERE document = %s {}").format(
            sql.SQL(self._COLUMNS), sql.Identifier(self.schema), sql.SQL(tail)
        )
        with self._cursor() as cur:
            cur.execute(q, (self.document, *params))
            rows = cur.fetchall()
        return [self._row(r) for r in rows]

    def _head(self) -> PolicyRevision | None:
        rows = self._select("ORDER BY seq DESC LIMIT 1", ())
        return rows[0] if rows else None

    def _entries(self, limit: int | None) -> list[PolicyRevision]:
        if limit is None:
            return self._select("ORDER BY seq DESC", ())
        return self._select("ORDER BY seq DESC LIMIT %s", (limit,))

    def documents(self) -> list[str]:
        """Names of every document in this schema (each has its own history)."""
        from psycopg import sql

        with self._cursor() as cur:
            cur.execute(
                sql.SQL("SELECT DISTINCT document FROM {}.policy_revisions ORDER BY 1").format(
                    sql.Identifier(self.schema)
                )
            )
            return [r[0] for r in cur.fetchall()]

    # ---------------------------------------------------------- writing

    def _append(self, text: str, author: str, message: str) -> PolicyRevision:
        from psycopg import sql

        table = sql.SQL("{}.policy_revisions").format(sql.Identifier(self.schema))
        digest = digest_of(text)
        with self._cursor() as cur, cur.connection.transaction():
            cur.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"agentgate-policy:{self.schema}:{self.document}",)
            )
            cur.execute(
                sql.SQL("SELECT {} FROM {} WHERE document = %s ORDER BY seq DESC LIMIT 1").format(
                    sql.SQL(self._COLUMNS), table
                ),
                (self.document,),
            )
            row = cur.fetchone()
            head = self._row(row) if row is not None else None
            if head is not None and head.digest == digest:
                return head
            cur.execute(
                sql.SQL(
                    "INSERT INTO {} (document, seq, revision, digest, parent, author, message, body) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {}"
                ).format(table, sql.SQL(self._COLUMNS)),
                (
                    self.document,
                    (head.seq if head else 0) + 1,
                    digest[:REVISION_LENGTH],
                    digest,
                    head.revision if head else None,
                    author,
                    message,
                    text,
                ),
            )
            new = self._row(cur.fetchone())
            cur.execute("SELECT pg_notify(%s, %s)", (self.channel, f"{self.document}\n{new.seq}\n{new.revision}"))
        return new

    # ---------------------------------------------------------- watching

    def _watch(
        self, w: StoreWatch, callback: WatchCallback, on_status: StatusCallback, since: tuple[int, str] | None
    ) -> None:
        from psycopg import sql

        psycopg = _psycopg()
        reader = PostgresPolicyStore.__new__(PostgresPolicyStore)
        reader.__dict__.update(self.__dict__)
        reader._conn, reader._lock = None, threading.Lock()

        def run() -> None:
            seen = since
            backoff = BACKOFF_MIN
            ok: bool | None = None
            while not w.closed:
                conn = None
                try:
                    conn = self._connect()
                    if not reader._ready:
                        self._create(conn)
                        reader._ready = True
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    # Read the head only once listening: a push between the two is then heard.
                    head = reader._head()
                    if ok is not True:
                        w.connected, w.error, ok = True, None, True
                        on_status(True, "")
                    backoff = BACKOFF_MIN
                    if head is not None and (head.seq, head.revision) != seen:
                        seen = (head.seq, head.revision)
                        deliver(callback, head)
                    while not w.closed:
                        heard = False
                        for n in conn.notifies(timeout=HEARTBEAT, stop_after=1):
                            heard = heard or n.payload.split("\n", 1)[0] == self.document
                        if w._stop.is_set():
                            break
                        if not heard:
                            conn.execute("SELECT 1")  # a dead server must not look like a quiet one
                            continue
                        head = reader._head()
                        if head is not None and (head.seq, head.revision) != seen:
                            seen = (head.seq, head.revision)
                            deliver(callback, head)
                except (psycopg.Error, PolicyStoreError, OSError) as e:
                    err = _first_line(e)
                    if ok is not False and not w.closed:
                        w.connected, w.error, ok = False, f"{self.url}: {err}", False
                        on_status(False, f"{self.url}: {err}")
                    reader.close()
                finally:
                    if conn is not None:
                        with contextlib.suppress(Exception):  # closing a broken connection
                            conn.close()
                if not w.closed:
                    w._stop.wait(backoff)
                    backoff = min(BACKOFF_MAX, backoff * 2)
            reader.close()

        w._start(run, f"agentgate-policy-watch:{self.schema}/{self.document}")


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]
