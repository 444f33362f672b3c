"""The approval queue over HTTP (rules in `agentgate.approvals`).

``GET /v1/approvals`` (``status``: pending (default), approved, denied, expired, all;
``limit``), ``GET /v1/approvals/{id}``, ``POST /v1/approvals/{id}/approve`` and
``.../deny`` with ``{"reason": "..."}`` (role approver). The answer is recorded with the
caller's token name as who, and written to the audit trail as ``agentgate.approval``.
"""

from __future__ import annotations

from typing import Any

from .._errors import AgentGateError
from ..approvals import ApprovalError, record_answer
from ._auth import principal
from ._common import MAX_LIMIT, ServerState, error, int_param, json_body

_STATUSES = ("pending", "approved", "denied", "expired", "all")


def routes(state: ServerState) -> list[Any]:
    """Approval routes over *state*'s queue."""
    import anyio.to_thread
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def unavailable() -> Response:
        return error(503, f"approval queue unavailable: {state.approvals_error or 'not configured'}")

    async def listing(request: Request) -> Response:
        q = state.approvals
        if q is None:
            return unavailable()
        status = request.query_params.get("status", "pending")
        if status not in _STATUSES:
            return error(400, f"status must be one of {', '.join(_STATUSES)}")
        try:
            limit = min(int_param(request, "limit", 100) or 100, MAX_LIMIT)
        except ValueError as e:
            return error(400, str(e))
        try:
            rows = await anyio.to_thread.run_sync(q.list, None if status == "all" else status, limit)
        except AgentGateError as e:
            return error(503, str(e))
        return JSONResponse({"approvals": [a.to_dict() for a in rows], "count": len(rows)})

    async def one(request: Request) -> Response:
        q = state.approvals
        if q is None:
            return unavailable()
        try:
            a = await anyio.to_thread.run_sync(q.get, request.path_params["id"])
        except AgentGateError as e:
            return error(503, str(e))
        if a is None:
            return error(404, f"no approval {request.path_params['id']!r}")
        return JSONResponse(a.to_dict())

    async def approve(request: Request) -> Response:
        return await answer(request, True)

    async def deny(request: Request) -> Response:
        return await answer(request, False)

    async def answer(request: Request, approved: bool) -> Response:
        q = state.approvals
        if q is None:
            return unavailable()
        try:
            body = await json_body(request)
        except ValueError as e:
            return error(400, str(e))
        reason = body.get("reason") if isinstance(body, dict) else None
        if not isinstance(reason, str) or not reason.strip():
            return error(400, 'body must be {"reason": "..."}: every answer says why')
        who = principal(request).name
        try:
            a = await anyio.to_thread.run_sync(q.decide, request.path_params["id"], approved, who, reason)
        except ApprovalError as e:
            return error(e.status, str(e))
        except AgentGateError as e:
            return error(503, str(e))
        fw = state.decider
        record_answer(
            fw.auditor if fw is not None else None,
            a,
            policy_revision=fw.policy_revision if fw is not None else "",
            mode=fw.mode if fw is not None else "enforce",
        )
        return JSONResponse(a.to_dict())

    return [
        Route("/v1/approvals", listing),
        Route("/v1/approvals/{id}", one),
        Route("/v1/approvals/{id}/approve", approve, methods=["POST"]),
        Route("/v1/approvals/{id}/deny", deny, methods=["POST"]),
    ]
