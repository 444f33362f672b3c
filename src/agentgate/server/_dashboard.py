"""The dashboard page and the read-only audit endpoints it calls.

``GET /`` (the page), ``GET /api/actions``, ``GET /api/stats``, ``GET /api/verify``.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from importlib import resources
from typing import Any

from .._errors import AgentGateError
from ._common import MAX_LIMIT, ServerState, error, int_param, rows_for_api

_STATS_WINDOW = 50_000


def routes(state: ServerState) -> list[Any]:
    """The dashboard's routes over *state*'s audit trail."""
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    from ..audit import verify

    page = resources.files("agentgate.server").joinpath("dashboard.html").read_text(encoding="utf-8")

    def index(request: Request) -> Response:
        return HTMLResponse(page)

    def actions(request: Request) -> Response:
        q = request.query_params
        try:
            limit = min(int_param(request, "limit", 100) or 100, MAX_LIMIT)
            after = int_param(request, "after", None)
        except ValueError as e:
            return error(400, str(e))
        verdict = q.get("verdict") or None
        if verdict is not None and verdict not in ("allow", "block"):
            return error(400, "verdict must be allow or block")
        try:
            store = state.store()
        except AgentGateError as e:
            return error(503, f"audit trail unavailable: {e}")
        try:
            rows = rows_for_api(
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
            store = state.store()
        except AgentGateError as e:
            return error(503, f"audit trail unavailable: {e}")
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
            report = verify(state.audit)
        except AgentGateError as e:
            return error(503, f"audit trail unavailable: {e}")
        return JSONResponse(json.loads(json.dumps(_report_dict(report), default=str)))

    return [
        Route("/", index),
        Route("/api/actions", actions),
        Route("/api/stats", stats),
        Route("/api/verify", verify_chain),
    ]


def _report_dict(report: Any) -> dict[str, Any]:
    from dataclasses import asdict, is_dataclass

    d: dict[str, Any] = asdict(report) if is_dataclass(report) and not isinstance(report, type) else {}
    d["ok"] = bool(report.ok)
    first = getattr(report, "first", None)
    d["first"] = (
        asdict(first) if is_dataclass(first) and not isinstance(first, type) else (str(first) if first else None)
    )
    return d
