"""Health, the policy in force, the dry-run check endpoint, the OpenAPI description.

``GET /healthz``, ``GET /api/policy``, ``POST /api/check``, ``GET /v1/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from .._call import ToolCall
from .._context import agent_context
from .._errors import ConfigError
from ._auth import principal
from ._common import ServerState, error


def routes(state: ServerState) -> list[Any]:
    """Health, policy and check routes over *state*'s firewall."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    # state.config / state.firewall are read per request: a policy store swaps them.

    def healthz(request: Request) -> Response:
        # For load balancers: no token needed, so nothing here reveals the policy or the trail.
        decider = state.decider
        audit: dict[str, Any] = {"configured": decider is not None and decider.auditor is not None}
        if decider is not None and decider.auditor is not None:
            try:
                st = decider.auditor.stats()
                audit.update({k: st.get(k) for k in ("pending", "spooled", "dropped", "errors", "written")})
                audit["ok"] = not st.get("dropped") and not st.get("spooled")
            except Exception as e:  # health must answer even when the writer is broken
                audit.update({"ok": False, "error": f"{type(e).__name__}: {e}"})
        auth = state.auth
        mode = "none"
        if auth is not None:
            try:
                mode = "tokens" if auth.tokens is not None and auth.tokens.auth_enabled() else "local"
            except Exception:
                mode = "unknown (token store unreachable)"
        return JSONResponse(
            {
                "ok": True,
                "policy_revision": (decider or state.firewall).policy_revision,
                "mode": (decider or state.firewall).mode,
                "audit": audit,
                "approvals": {"ok": state.approvals is not None, "error": state.approvals_error},
                "auth": mode,
                **{k: v() for k, v in state.extra.get("health", {}).items()},
            }
        )

    def openapi(request: Request) -> Response:
        from ._openapi import document

        return JSONResponse(document(state.extra.get("openapi_paths"), state.extra.get("openapi_schemas")))

    def policy(request: Request) -> Response:
        cfg, firewall = state.config, state.firewall
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
        firewall = state.firewall
        try:  # a token bound to agents dry-runs only their calls, as it decides only theirs
            agent_id = principal(request).acting_for(str(body.get("agent_id") or ""))
        except PermissionError as e:
            return error(403, str(e))
        with agent_context(agent_id=agent_id, task_description=str(body.get("task") or "")):
            try:
                v = await firewall.evaluate_async(ToolCall(body["tool"], args, framework="api"))
            except ConfigError as e:
                return error(400, str(e))
        return JSONResponse(v.to_dict())

    return [
        Route("/healthz", healthz),
        Route("/api/policy", policy),
        Route("/api/check", check, methods=["POST"]),
        Route("/v1/openapi.json", openapi),
    ]
