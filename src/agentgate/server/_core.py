"""Liveness, the policy in force, and the dry-run check endpoint.

``GET /healthz``, ``GET /api/policy``, ``POST /api/check``.
"""

from __future__ import annotations

from typing import Any

from .._call import ToolCall
from .._context import agent_context
from .._errors import ConfigError
from ._common import ServerState, error


def routes(state: ServerState) -> list[Any]:
    """Health, policy and check routes over *state*'s firewall."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    cfg, firewall = state.config, state.firewall

    def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

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
            return error(400, "body must be JSON")
        if not isinstance(body, dict) or not isinstance(body.get("tool"), str):
            return error(400, 'body must be {"tool": "...", "arguments": {...}}')
        args = body.get("arguments", {})
        if not isinstance(args, dict):
            return error(400, "arguments must be an object")
        with agent_context(agent_id=str(body.get("agent_id") or ""), task_description=str(body.get("task") or "")):
            try:
                v = await firewall.evaluate_async(ToolCall(body["tool"], args, framework="api"))
            except ConfigError as e:
                return error(400, str(e))
        return JSONResponse(v.to_dict())

    return [
        Route("/healthz", healthz),
        Route("/api/policy", policy),
        Route("/api/check", check, methods=["POST"]),
    ]
