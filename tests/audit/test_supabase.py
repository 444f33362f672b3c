"""Supabase over REST, against a local server that speaks PostgREST's protocol."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from agentgate._decision import VerdictType
from agentgate.audit import open_auditor, verify

from .conftest import GITHUB_TOKEN, decision

KEY = "service-role-key"


class PostgRest:
    """Tables in memory; POST with on_conflict + ignore-duplicates, GET with eq/gt/gte filters, order, limit, offset."""

    def __init__(self) -> None:
        self.tables: dict[str, list[dict[str, Any]]] = {"actions": [], "violations": []}
        self.down = False
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._next = 0
        self._lock = threading.Lock()

    def post(self, table: str, query: dict[str, str], headers: dict[str, str], body: list[dict[str, Any]]) -> int:
        with self._lock:
            rows = self.tables[table]
            ids = {r["id"] for r in rows}
            for r in body:
                if r["id"] in ids:
                    if "ignore-duplicates" not in headers.get("prefer", "") or query.get("on_conflict") != "id":
                        return 409
                    continue
                self._next += 1
                rows.append(dict(r, ingest_id=self._next) if table == "actions" else dict(r))
                ids.add(r["id"])
        return 201

    def get(self, table: str, query: list[tuple[str, str]]) -> list[dict[str, Any]]:
        rows = list(self.tables[table])
        limit, offset = None, 0
        for k, v in query:
            if k == "limit":
                limit = int(v)
            elif k == "offset":
                offset = int(v)
            elif k == "order":
                for part in reversed(v.split(",")):
                    col, _, rest = part.partition(".")
                    desc = rest.startswith("desc")
                    rows.sort(
                        key=lambda r, c=col: (r.get(c) is not None, r.get(c) if r.get(c) is not None else 0),
                        reverse=desc,
                    )
            elif k != "select":
                op, _, val = v.partition(".")
                if op == "eq":
                    rows = [r for r in rows if str(r.get(k)) == val]
                elif op == "gt":
                    rows = [r for r in rows if r.get(k) is not None and r[k] > int(val)]
                elif op == "gte":
                    rows = [r for r in rows if r.get(k) is not None and str(r[k]) >= val]
        rows = rows[offset:]
        return rows if limit is None else rows[:limit]


def _handler(db: PostgRest) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a: Any) -> None:
            pass

        def _reply(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _route(self) -> tuple[str, str] | None:
            parts = urlsplit(self.path)
            db.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
            if self.headers.get("apikey") != KEY or self.headers.get("Authorization") != f"Bearer {KEY}":
                self._reply(401, b'{"message":"Invalid API key"}')
                return None
            if not parts.path.startswith("/rest/v1/") or parts.path[9:] not in db.tables:
                self._reply(404, b"{}")
                return None
            return parts.path[9:], parts.query

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            route = self._route()
            if route is None:
                return
            if db.down:
                self._reply(503, b'{"message":"unavailable"}')
                return
            status = db.post(
                route[0], dict(parse_qsl(route[1])), {k.lower(): v for k, v in self.headers.items()}, json.loads(body)
            )
            self._reply(status)

        def do_GET(self) -> None:
            route = self._route()
            if route is not None:
                self._reply(200, json.dumps(db.get(route[0], parse_qsl(route[1]))).encode())

    return H


@pytest.fixture
def postgrest() -> Iterator[tuple[PostgRest, str]]:
    """A PostgREST look-alike on a free local port: ``(state, base_url)``."""
    db = PostgRest()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(db))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield db, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_seed_env_vars_select_supabase_and_records_land(
    postgrest: tuple[PostgRest, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SUPABASE_URL + SUPABASE_KEY (no AGENTGATE_AUDIT_URL) send records to /rest/v1/actions with the apikey."""
    db, base = postgrest
    monkeypatch.delenv("AGENTGATE_AUDIT_URL")
    monkeypatch.setenv("SUPABASE_URL", base)
    monkeypatch.setenv("SUPABASE_KEY", KEY)
    w = open_auditor(spool_dir=tmp_path)
    for i in range(25):
        w.record(
            *decision(i, action=VerdictType.BLOCK if i == 3 else VerdictType.ALLOW, args={"q": f"x {GITHUB_TOKEN}"})
        )
    assert w.flush(10)
    w.shutdown()
    assert len(db.tables["actions"]) == 25
    assert len(db.tables["violations"]) == 1
    posts = [r for r in db.requests if r[0] == "POST"]
    assert posts[0][1] == "/rest/v1/actions?on_conflict=id"
    assert "resolution=ignore-duplicates" in posts[0][2]["prefer"]
    assert GITHUB_TOKEN not in json.dumps(db.tables)
    report = verify(f"supabase+{base}")
    assert report.ok
    assert report.records == 25


def test_outage_spools_and_replays_in_order(
    postgrest: tuple[PostgRest, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP 503 for a while: records wait in the spool and arrive in order once the API is back."""
    db, base = postgrest
    monkeypatch.setenv("SUPABASE_KEY", KEY)
    w = open_auditor(f"supabase+{base}", spool_dir=tmp_path, batch_size=20, flush_interval=0.01)
    for i in range(50):
        w.record(*decision(i))
    assert w.flush(10)
    db.down = True
    for i in range(50, 150):
        w.record(*decision(i))
    assert not w.flush(0.5)
    assert w.stats()["spooled"] == 100
    db.down = False
    assert w.flush(15)
    w.shutdown()
    assert [r["decision_id"] for r in db.tables["actions"]] == [f"d-{i}" for i in range(150)]
    assert verify(f"supabase+{base}").ok


def test_wrong_key_is_an_error_not_a_silent_loss(postgrest: tuple[PostgRest, str], tmp_path: Path) -> None:
    """A rejected key keeps the records in the spool and counts errors."""
    db, base = postgrest
    w = open_auditor(f"supabase+{base}", spool_dir=tmp_path, supabase_key="wrong", flush_interval=0.01)
    w.record(*decision(0))
    assert not w.flush(0.5)
    st = w.stats()
    assert st["errors"] >= 1
    assert st["spooled"] == 1
    assert db.tables["actions"] == []
    w.shutdown(1.0)
    assert list(tmp_path.rglob("*.jsonl"))


def test_start_up_check_reaches_the_project_with_the_key(postgrest: tuple[PostgRest, str]) -> None:
    """SupabaseSink.check() passes against the project and fails on a wrong key or a missing table."""
    from agentgate._errors import AuditError
    from agentgate.audit._supabase import SupabaseSink

    db, base = postgrest
    SupabaseSink(base, KEY).check()
    with pytest.raises(AuditError, match="401"):
        SupabaseSink(base, "wrong-key").check()
    del db.tables["violations"]
    with pytest.raises(AuditError, match="404"):
        SupabaseSink(base, KEY).check()
