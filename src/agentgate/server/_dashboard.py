"""The dashboard: its pages, its assets and the read-only audit endpoints they call.

Pages (HTML): ``GET /`` (decisions), ``GET /decisions/{id}`` (one decision).
Assets: ``GET /static/{name}`` (plain CSS and JS shipped in the package: no CDN).

=========================  ================================================================
``GET /api/actions``       one page of decisions: filters (see `agentgate.audit._query`),
                           ``sort`` (newest, oldest, slowest, fastest), ``cursor`` (from the
                           previous page's ``next``), ``limit`` (1-1000, default 50)
``GET /api/actions/{id}``  one decision (record id or decision id): the row, its findings,
                           its place in the hash chain, the agent's earlier actions in the task
``GET /api/stats``         counts, breakdowns and a timeline of the decisions the filters select
``GET /api/verify``        chain verification from the last checkpoint (``full=1``: everything)
``GET /api/export``        the filtered decisions as ``format=csv`` or ``jsonl``, streamed
``GET /api/events``        server-sent events: ``ready`` (the stream's starting point),
                           ``decision`` (id = ingest id; resumable with ``Last-Event-ID``;
                           without one, from the newest record on), ``stats`` when new
                           decisions arrived, ``problem`` when the trail cannot be read
=========================  ================================================================

A bad parameter is a 400 naming it; a trail that cannot be read is a 503; a trail that
does not exist yet is an empty answer with ``"empty": true`` (the page says how to start
one). The server writes only its own tables (the hourly rollup and the verification
checkpoints, see `agentgate.audit._stats` and `agentgate.audit._checkpoint`), never a record.
"""

from __future__ import annotations

import csv
import io
import json
import queue
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from .._errors import AgentGateError
from ..audit._query import ActionFilter, FilterError, encode_cursor, parse_filter, parse_limit, parse_sort
from ._common import MAX_LIMIT, ServerState, error, html_page, rows_for_api

__all__ = ["routes"]

EMPTY_HINT = "no audit trail yet: run an agent with protect_all()"
_STATIC = {
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "manage.js": "text/javascript; charset=utf-8",
}
_PAGES = {"decisions": "dashboard.html", "decision": "decision.html"}
_TICK = 0.5  # how often a live stream looks for new decisions (one indexed query)
_HEARTBEAT = 15.0
_EXPORT_COLUMNS = (
    "created_at",
    "decision_id",
    "id",
    "agent_id",
    "task_id",
    "user_id",
    "tool_name",
    "arguments",
    "verdict",
    "would_block",
    "policy_name",
    "rules",
    "severity",
    "tier_used",
    "judge_model",
    "reasoning",
    "policy_revision",
    "mode",
    "latency_us",
    "writer_id",
    "seq",
    "hash",
)


class NoTrailError(Exception):
    """The audit database does not exist yet."""


class StorePool:
    """Open, dashboard-ready stores, reused across requests (one per concurrent request)."""

    def __init__(self, target: str | None) -> None:
        self.target = target
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._prepared = False
        self._lock = threading.Lock()

    def acquire(self) -> Any:
        """An idle store, or a new one. Raises `NoTrailError` or an `AgentGateError`."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        from ..audit._resolve import default_target, sqlite_path

        t = default_target() if self.target is None else self.target
        path = sqlite_path(t)
        if path is not None and not Path(path).exists():
            raise NoTrailError(path)
        from ..audit import open_store

        store = open_store(t)
        if not hasattr(store, "ensure_dashboard"):
            store.close()
            raise AgentGateError(
                f"the dashboard reads SQLite or PostgreSQL; for {t!r} give the project's postgresql:// URL"
            )
        with self._lock:
            if not self._prepared:
                try:
                    store.ensure_dashboard()
                except BaseException:
                    store.close()
                    raise
                self._prepared = True
        return store

    def release(self, store: Any, *, broken: bool = False) -> None:
        """Give *store* back (closed instead when *broken* or when enough are idle)."""
        if broken or self._idle.qsize() >= 4:
            store.close()
        else:
            self._idle.put(store)

    def close(self) -> None:
        """Close every idle store."""
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


def _with_store(pool: StorePool, fn: Any, empty: dict[str, Any]) -> Any:
    """Run ``fn(store)`` with a pooled store; JSON errors for bad parameters and unreadable trails."""
    from starlette.responses import JSONResponse

    try:
        store = pool.acquire()
    except NoTrailError:
        return JSONResponse({**empty, "empty": True, "hint": EMPTY_HINT})
    except AgentGateError as e:
        return error(503, f"audit trail unavailable: {e}")
    broken = False
    try:
        return fn(store)
    except FilterError as e:
        return error(400, str(e))
    except AgentGateError as e:
        broken = True
        return error(503, f"audit trail unavailable: {e}")
    finally:
        pool.release(store, broken=broken)


def _arguments(row: dict[str, Any]) -> Any:
    p = row.get("payload")
    return p.get("arguments", {}) if isinstance(p, dict) else {}


def _export_row(r: dict[str, Any]) -> dict[str, Any]:
    rules = sorted({str(f.get("rule_id")) for f in r.get("findings") or [] if isinstance(f, dict) and f.get("rule_id")})
    d = {c: r.get(c) for c in _EXPORT_COLUMNS}
    d["arguments"] = json.dumps(_arguments(r), sort_keys=True, ensure_ascii=False)
    d["rules"] = " ".join(rules)
    return d


def routes(state: ServerState) -> list[Any]:
    """The dashboard's routes over *state*'s audit trail."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    from ..audit._checkpoint import chain_position, verify_full, verify_incremental
    from ..audit._stats import filtered_stats

    pool = StorePool(state.audit)
    pkg = resources.files("agentgate.server")

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return error(404, f"no asset {name!r}")
        body = pkg.joinpath("static", name).read_bytes()
        return Response(body, media_type=_STATIC[name], headers={"Cache-Control": "no-cache"})

    def actions(request: Request) -> Response:
        q = request.query_params
        try:
            f = parse_filter(q)
            limit = parse_limit(q, 50, MAX_LIMIT)
            sort = parse_sort(q)
        except FilterError as e:
            return error(400, str(e))

        def run(store: Any) -> Response:
            pg = store.page(f, sort=sort, cursor=q.get("cursor") or None, limit=limit)
            rows = rows_for_api(pg.rows)
            return JSONResponse({"actions": rows, "count": len(rows), "next": pg.next_cursor, "filter": f.to_params()})

        return _with_store(pool, run, {"actions": [], "count": 0, "next": None})  # type: ignore[no-any-return]

    def action(request: Request) -> Response:
        key = request.path_params["key"]

        def run(store: Any) -> Response:
            row = store.get_action(key)
            if row is None:
                return error(404, f"no decision {key!r} in the audit trail")
            chain = chain_position(store, row)
            same_task = row.get("task_id") is not None
            hf = ActionFilter(agent=row.get("agent_id"), task=row.get("task_id"))
            earlier = store.page(hf, sort="newest", cursor=encode_cursor("newest", row), limit=50)
            problems = _problems_of(store, str(row["id"]))
            return JSONResponse(
                {
                    "action": rows_for_api([row])[0],
                    "arguments": _arguments(row),
                    "chain": json.loads(json.dumps(chain, default=str)),
                    "problems": problems,
                    "history": {"same_task": same_task, "actions": rows_for_api(earlier.rows[::-1])},
                }
            )

        return _with_store(pool, run, {"action": None})  # type: ignore[no-any-return]

    def stats(request: Request) -> Response:
        try:
            f = parse_filter(request.query_params)
        except FilterError as e:
            return error(400, str(e))
        return _with_store(  # type: ignore[no-any-return]
            pool, lambda store: JSONResponse(filtered_stats(store, f)), {"total": 0, "by_verdict": {}}
        )

    def verify_chain(request: Request) -> Response:
        full = request.query_params.get("full", "") not in ("", "0", "false")

        def run(store: Any) -> Response:
            return JSONResponse(
                json.loads(json.dumps((verify_full if full else verify_incremental)(store), default=str))
            )

        return _with_store(pool, run, {"ok": True, "records": 0, "problems": []})  # type: ignore[no-any-return]

    def export(request: Request) -> Response:
        q = request.query_params
        fmt = q.get("format") or "csv"
        if fmt not in ("csv", "jsonl"):
            return error(400, f"format must be csv or jsonl, not {fmt!r}")
        try:
            f = parse_filter(q)
        except FilterError as e:
            return error(400, str(e))
        try:
            store = pool.acquire()
        except NoTrailError:
            store = None
        except AgentGateError as e:
            return error(503, f"audit trail unavailable: {e}")

        def body() -> Iterator[str]:
            if fmt == "csv":
                buf = io.StringIO()
                w = csv.DictWriter(buf, fieldnames=_EXPORT_COLUMNS, extrasaction="ignore")
                w.writeheader()
                yield buf.getvalue()
            if store is None:
                return
            broken = True
            try:
                for r in store.iter_filtered(f):
                    if fmt == "csv":
                        buf = io.StringIO()
                        csv.DictWriter(buf, fieldnames=_EXPORT_COLUMNS).writerow(_export_row(r))
                        yield buf.getvalue()
                    else:
                        yield json.dumps(rows_for_api([r])[0], ensure_ascii=False, sort_keys=True) + "\n"
                broken = False
            finally:
                pool.release(store, broken=broken)

        media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
        name = f"agentgate-decisions.{fmt}"
        return StreamingResponse(
            body(), media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    async def events(request: Request) -> Response:
        import anyio
        from starlette.concurrency import run_in_threadpool

        q = request.query_params
        try:
            f = parse_filter({k: v for k, v in q.items() if k != "after"})
            resume = request.headers.get("last-event-id") or q.get("after")
            last = int(resume) if resume not in (None, "") else None
        except FilterError as e:
            return error(400, str(e))
        except ValueError:
            return error(400, "Last-Event-ID (or after) must be an ingest id")

        def newest() -> int:
            store = pool.acquire()
            try:
                rows = store.page(ActionFilter(), limit=1).rows
                return int(rows[0]["ingest_id"]) if rows else 0
            finally:
                pool.release(store)

        def fetch(after: int) -> list[dict[str, Any]]:
            store = pool.acquire()
            broken = True
            try:
                rows: list[dict[str, Any]] = store.page(_after(f, after), sort="oldest", limit=200).rows
                broken = False
                return rows
            finally:
                pool.release(store, broken=broken)

        async def stream() -> Any:
            nonlocal last
            yield "retry: 2000\n\n"
            idle = 0.0
            ready = False
            while True:
                try:
                    if last is None:
                        last = await run_in_threadpool(newest)
                    if not ready:  # from here on, every decision after `upto` will be sent
                        yield f"event: ready\ndata: {json.dumps({'upto': last})}\n\n"
                        ready = True
                    rows = await run_in_threadpool(fetch, last)
                except NoTrailError:
                    rows = []
                    last = None
                except AgentGateError as e:
                    yield f"event: problem\ndata: {json.dumps({'error': f'audit trail unavailable: {e}'})}\n\n"
                    rows = []
                for r in rows_for_api(rows):
                    last = int(r["ingest_id"])
                    yield f"id: {last}\nevent: decision\ndata: {json.dumps(r, ensure_ascii=False)}\n\n"
                if rows:
                    yield f"event: stats\ndata: {json.dumps({'upto': last})}\n\n"
                    idle = 0.0
                else:
                    idle += _TICK
                    if idle >= _HEARTBEAT:
                        yield ": keep-alive\n\n"
                        idle = 0.0
                await anyio.sleep(_TICK)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return [
        Route("/", html_page(_PAGES["decisions"])),
        Route("/decisions/{key}", html_page(_PAGES["decision"])),
        Route("/static/{name}", static),
        Route("/api/actions", actions),
        Route("/api/actions/{key}", action),
        Route("/api/stats", stats),
        Route("/api/verify", verify_chain),
        Route("/api/export", export),
        Route("/api/events", events),
    ]


def _after(f: ActionFilter, after: int) -> ActionFilter:
    from dataclasses import replace

    return replace(f, after=after)


def _problems_of(store: Any, record_id: str) -> list[dict[str, Any]]:
    sql = f"SELECT kind, message, found_at FROM agentgate_verify_problems WHERE record_id = {store.sql_dialect.ph}"  # noqa: S608
    return [
        {"kind": r["kind"], "message": r["message"], "found_at": r["found_at"]} for r in store._rows(sql, [record_id])
    ]
