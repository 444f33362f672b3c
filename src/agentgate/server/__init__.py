"""The dashboard and the policy API (``agentgate serve``; the ``server`` extra).

Endpoints (JSON unless noted):

=====================  ========================================================
``GET /``              the dashboard (HTML): live decisions, filters, findings, chain status
``GET /api/actions``   recent decisions; ``agent``, ``task``, ``tool``, ``verdict``, ``since``,
                       ``after`` (ingest id, for polling), ``limit`` (default 100, max 1000)
``GET /api/stats``     counts by verdict / agent / rule, p50/p99 decision latency
``GET /api/verify``    recompute the tamper-evident chain; the first broken record, if any
``GET /api/policy``    the policy in force (agentgate.yaml as loaded) and its revision
``POST /api/check``    ``{"tool": ..., "arguments": {...}, "agent_id": ...}`` → the verdict, dry run
``GET /healthz``       liveness
=====================  ========================================================

The server only reads the audit trail; agents write it. ``POST /api/check`` decides
with the loaded policy but records nothing (``audit=None``), so the dashboard can be
exposed to reviewers without letting them write the trail. Bind it to localhost or
put it behind your SSO proxy: it has no authentication of its own.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from importlib import resources
from typing import Any

from .._call import ToolCall
from .._context import agent_context
from .._errors import AgentGateError, ConfigError, MissingDependencyError
from .._firewall import Firewall
from ..policy._config import Config

__all__ = ["create_app"]

_MAX_LIMIT = 1000
_STATS_WINDOW = 50_000


def _rows_for_api(rows: Any) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        d = dict(r)
        for k, v in list(d.items()):
            if hasattr(v, "isoformat"):
                d[k] = v.isoformat()
            elif isinstance(v, (bytes, memoryview)):
                d[k] = bytes(v).hex()
            elif not isinstance(v, (str, int, float, bool, list, dict, type(None))):
                d[k] = str(v)
        out.append(d)
    return out


def create_app(audit: str | None = None, config: Config | None = None) -> Any:
    """Build the ASGI app reading the audit trail at *audit* (default as `open_auditor`)."""
    try:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import HTMLResponse, JSONResponse, Response
        from starlette.routing import Route
    except ImportError:
        raise MissingDependencyError("starlette", "server") from None

    from ..audit import open_store, verify

    cfg = config if config is not None else Config.model_validate({})
    firewall = Firewall(cfg, audit=None)
    page = resources.files("agentgate.server").joinpath("dashboard.html").read_text(encoding="utf-8")

    def _store() -> Any:
        return open_store(audit)

    def _int(req: Request, name: str, default: int | None) -> int | None:
        raw = req.query_params.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{name} must be an integer, not {raw!r}") from None

    def _error(status: int, msg: str) -> JSONResponse:
        return JSONResponse({"error": msg}, status_code=status)

    def index(request: Request) -> Response:
        return HTMLResponse(page)

    def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    def actions(request: Request) -> Response:
        q = request.query_params
        try:
            limit = min(_int(request, "limit", 100) or 100, _MAX_LIMIT)
            after = _int(request, "after", None)
        except ValueError as e:
            return _error(400, str(e))
        verdict = q.get("verdict") or None
        if verdict is not None and verdict not in ("allow", "block"):
            return _error(400, "verdict must be allow or block")
        try:
            store = _store()
        except AgentGateError as e:
            return _error(503, f"audit trail unavailable: {e}")
        try:
            rows = _rows_for_api(
                store.actions(
                    agent=q.get("agent") or None,
                    task=q.get("task") or None,
                    tool=q.get("tool") or None,
                    verdict=verdict,
                    since=q.get("since") or None,
                    after=after,
                    limit=limit,
                    newest_first=True,
                )
            )
        finally:
            store.close()
        return JSONResponse({"actions": rows, "count": len(rows)})

    def stats(request: Request) -> Response:
        try:
            store = _store()
        except AgentGateError as e:
            return _error(503, f"audit trail unavailable: {e}")
        by_verdict: Counter[str] = Counter()
        by_agent: Counter[str] = Counter()
        by_rule: Counter[str] = Counter()
        lat: list[float] = []
        would_block = 0
        try:
            for r in store.actions(limit=_STATS_WINDOW, newest_first=True):
                by_verdict[str(r.get("verdict"))] += 1
                by_agent[str(r.get("agent_id") or "-")] += 1
                if r.get("policy_name"):
                    by_rule[str(r["policy_name"])] += 1
                if r.get("would_block"):
                    would_block += 1
                v = r.get("latency_us")
                if isinstance(v, (int, float)):
                    lat.append(float(v))
        finally:
            store.close()
        lat.sort()

        def pct(q: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None

        return JSONResponse(
            {
                "total": sum(by_verdict.values()),
                "window": _STATS_WINDOW,
                "by_verdict": dict(by_verdict),
                "by_agent": dict(by_agent.most_common(20)),
                "by_rule": dict(by_rule.most_common(20)),
                "would_block": would_block,
                "latency_us": {
                    "p50": pct(0.5),
                    "p99": pct(0.99),
                    "mean": round(statistics.fmean(lat), 1) if lat else None,
                },
            }
        )

    def verify_chain(request: Request) -> Response:
        try:
            report = verify(audit)
        except AgentGateError as e:
            return _error(503, f"audit trail unavailable: {e}")
        return JSONResponse(json.loads(json.dumps(_report_dict(report), default=str)))

    def policy(request: Request) -> Response:
        return JSONResponse(
            {
                "revision": firewall.policy_revision,
                "source": cfg.source,
                "policy": cfg.model_dump(mode="json", exclude={"source"}),
            }
        )

    async def check(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "body must be JSON")
        if not isinstance(body, dict) or not isinstance(body.get("tool"), str):
            return _error(400, 'body must be {"tool": "...", "arguments": {...}}')
        args = body.get("arguments", {})
        if not isinstance(args, dict):
            return _error(400, "arguments must be an object")
        with agent_context(agent_id=str(body.get("agent_id") or ""), task_description=str(body.get("task") or "")):
            try:
                v = await firewall.evaluate_async(ToolCall(body["tool"], args, framework="api"))
            except ConfigError as e:
                return _error(400, str(e))
        return JSONResponse(v.to_dict())

    return Starlette(
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            Route("/api/actions", actions),
            Route("/api/stats", stats),
            Route("/api/verify", verify_chain),
            Route("/api/policy", policy),
            Route("/api/check", check, methods=["POST"]),
        ]
    )


def _report_dict(report: Any) -> dict[str, Any]:
    from dataclasses import asdict, is_dataclass

    d: dict[str, Any] = asdict(report) if is_dataclass(report) and not isinstance(report, type) else {}
    d["ok"] = bool(report.ok)
    first = getattr(report, "first", None)
    d["first"] = (
        asdict(first) if is_dataclass(first) and not isinstance(first, type) else (str(first) if first else None)
    )
    return d
