"""Supabase over its REST API (PostgREST), with agentgate-py 0.1.0's ``SUPABASE_URL``/``SUPABASE_KEY``.

Each batch is one ``POST /rest/v1/actions`` with a JSON array (and one for
``violations``), ``Prefer: resolution=ignore-duplicates`` so a replayed batch
stores nothing twice. The same spool and retry rules as PostgreSQL apply.

REST cannot run DDL: apply the schema once with ``agentgate audit schema``
(paste it into Supabase's SQL editor). For high throughput, point the audit at
Supabase's direct PostgreSQL URL instead (``postgresql://postgres:...@db.<ref>.supabase.co:5432/postgres``):
that path uses COPY and is several times faster than REST.

Only the standard library is used (``http.client``), with one kept-alive
connection per writer thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from agentgate._errors import AuditError, ConfigError

from ._record import ACTION_COLUMNS, normalize_row
from ._sink import Sink

__all__ = ["SupabaseSink", "SupabaseStore"]

_TIMEOUT = 10.0


class _Rest:
    """A minimal PostgREST client on one persistent connection."""

    def __init__(self, url: str, key: str | None) -> None:
        key = key or os.environ.get("SUPABASE_KEY", "")
        if not key:
            raise ConfigError("Supabase audit needs SUPABASE_KEY (the service-role key)")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"not a Supabase URL: {url!r}")
        self.url = f"{parts.scheme}://{parts.netloc}"
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._base = parts.path.rstrip("/") + "/rest/v1"
        self._headers = {"apikey": key, "Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> bytes:
        h = dict(self._headers)
        h.update(headers or {})
        for attempt in (1, 2):  # a kept-alive connection the server closed fails once; retry on a fresh one
            conn = self._conn
            if conn is None:
                cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
                conn = self._conn = cls(self._host, self._port, timeout=_TIMEOUT)
            try:
                conn.request(method, self._base + path, body=body, headers=h)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if attempt == 2:
                    raise AuditError(f"supabase {method} {path} failed: {exc}") from exc
                continue
            if resp.status >= 300:
                raise AuditError(f"supabase {method} {path}: HTTP {resp.status}: {data[:300]!r}")
            return data
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def _body(rows: Sequence[dict[str, Any]], cols: Sequence[str]) -> bytes:
    return json.dumps([{c: r.get(c) for c in cols} for r in rows], ensure_ascii=False, separators=(",", ":")).encode()


class SupabaseSink(Sink):
    """Writes batches through Supabase's REST API (see module docstring)."""

    def __init__(self, url: str, key: str | None = None) -> None:
        self._rest = _Rest(url, key)
        self.spool_key = "supabase-" + hashlib.sha256(self._rest.url.encode()).hexdigest()[:12]

    def write(self, rows: Sequence[dict[str, Any]], violations: Sequence[dict[str, Any]]) -> None:
        """POST the actions, then the violations; duplicates (a replay) are ignored by the server."""
        prefer = {"Prefer": "resolution=ignore-duplicates,return=minimal"}
        self._rest.request("POST", "/actions?on_conflict=id", _body(rows, ACTION_COLUMNS), prefer)
        if violations:
            cols = ("id", "action_id", "created_at", "severity", "details")
            self._rest.request("POST", "/violations?on_conflict=id", _body(violations, cols), prefer)

    def close(self) -> None:
        """Close the HTTP connection."""
        self._rest.close()

    def check(self) -> None:
        """Read zero rows of both tables on a connection of its own: the project answers, the key is
        accepted and the tables exist (REST cannot test the INSERT grant without inserting)."""
        rest = _Rest(self._rest.url, self._rest._headers["apikey"])
        try:
            for table in ("actions", "violations"):
                rest.request("GET", f"/{table}?select=id&limit=0")
        finally:
            rest.close()

    def after_fork(self) -> None:
        """Forget the parent's socket."""
        self._rest._conn = None

    def describe(self) -> str:
        """The project URL (never the key)."""
        return f"supabase {self._rest.url}"


class SupabaseStore:
    """Reads the audit tables through PostgREST (pages of 1000 rows)."""

    dialect = "supabase"
    _PAGE = 1000

    def __init__(self, url: str, key: str | None = None) -> None:
        self._rest = _Rest(url, key)

    def close(self) -> None:
        """Close the HTTP connection."""
        self._rest.close()

    def _pages(self, table: str, query: list[str], limit: int | None) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            n = self._PAGE if limit is None else min(self._PAGE, limit - offset)
            if n <= 0:
                return
            q = "&".join([*query, f"limit={n}", f"offset={offset}"])
            page = json.loads(self._rest.request("GET", f"/{table}?{q}"))
            yield from page
            if len(page) < n:
                return
            offset += len(page)

    def actions(
        self,
        *,
        agent: str | None = None,
        task: str | None = None,
        tool: str | None = None,
        verdict: str | None = None,
        since: str | None = None,
        after: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Action rows matching the filters, in storage order."""
        q = ["select=*", "order=ingest_id." + ("desc" if newest_first else "asc")]
        for col, val in (("agent_id", agent), ("task_id", task), ("tool_name", tool), ("verdict", verdict)):
            if val is not None:
                q.append(f"{col}=eq.{quote(val, safe='')}")
        if since is not None:
            q.append(f"created_at=gte.{quote(since, safe='')}")
        if after is not None:
            q.append(f"ingest_id=gt.{int(after)}")
        return (normalize_row(r) for r in self._pages("actions", q, limit))

    def chain_rows(self) -> Iterator[dict[str, Any]]:
        """Every action row, by writer and chain position (unchained rows first)."""
        q = ["select=*", "order=writer_id.asc.nullsfirst,seq.asc,ingest_id.asc"]
        return (normalize_row(r) for r in self._pages("actions", q, None))

    def violations(self) -> Iterator[dict[str, Any]]:
        """Every violation row."""
        for r in self._pages("violations", ["select=*", "order=created_at.asc,id.asc"], None):
            yield normalize_row(r)
