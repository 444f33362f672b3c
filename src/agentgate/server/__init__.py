"""The dashboard, the decision API and the management API (``agentgate serve``; the ``server`` extra).

The endpoints and the role each needs are listed in docs/api.md; each route module's
docstring lists its own: ``_core``, ``_dashboard`` (the decisions pages and their reads),
``_manage`` (the approvals and policy pages), ``_decide``, ``_approvals``, ``_policies``,
``_auth``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from .._errors import AgentGateError, MissingDependencyError
from .._firewall import Firewall
from ..policy._config import Config
from ._common import ServerState

__all__ = ["create_app"]


def create_app(
    audit: str | None = None,
    config: Config | None = None,
    *,
    host: str = "127.0.0.1",
    allowed_hosts: Sequence[str] = (),
    state_url: str | None = None,
    tokens: Any = None,
    decider: Firewall | None = None,
    policy_store: Any = None,
) -> Any:
    """Build the ASGI app reading the audit trail at *audit* (default as `open_auditor`).

    Args:
        audit: The trail the dashboard reads and ``/v1/decide`` writes (None: the config's, else the default).
        config: The policy (None: the built-in defaults).
        host: The address the server will bind: loopback allows local mode, any other
            address needs a token (`agentgate.server._auth.check_bind` raises `ConfigError`).
        allowed_hosts: Names the ``Host`` header may carry besides the loopback ones (``"*"``: any).
        state_url: Where tokens, sessions and approvals live (default ``AGENTGATE_STATE_URL``,
            else the audit trail's database).
        tokens: A `TokenStore` to use instead of opening one at *state_url*.
        decider: The recording firewall of ``/v1/decide`` (default: one built from *config*
            writing to *audit*).
        policy_store: A policy store (`agentgate.policy.store.open_policy_store`): adds the
            ``/v1/policies`` routes, and decisions follow the store's head (`_policies.follow`).

    The routes live in one module per concern (``_core``, ``_dashboard``, ``_decide``,
    ``_approvals``, ``_manage``, ``_auth``); this only composes them behind `AuthMiddleware`.
    """
    try:
        from starlette.applications import Starlette
        from starlette.exceptions import HTTPException
        from starlette.middleware import Middleware
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response
    except ImportError:
        raise MissingDependencyError("starlette", "server") from None

    from .._statedb import default_state_url
    from . import _approvals, _auth, _core, _dashboard, _decide, _manage
    from ._tokens import TokenStore

    cfg = config if config is not None else Config.model_validate({})
    state_db = default_state_url(state_url, audit)
    if tokens is None:
        try:
            tokens = TokenStore(state_db)
        except AgentGateError:
            tokens = None  # no database for tokens: local mode only, and check_bind refuses other addresses
    names = {h.strip().lower() for h in allowed_hosts if h.strip()}
    if not _auth.is_loopback(host) and not _auth.is_wildcard(host):
        names.add(host.strip().lower())
    auth = _auth.AuthSettings(tokens=tokens, loopback=_auth.is_loopback(host), allowed_hosts=frozenset(names))
    _auth.check_bind(host, auth)

    queue, queue_error = None, None
    try:
        from ..approvals import ApprovalQueue

        qurl = cfg.approver.url if cfg.approver is not None and cfg.approver.url else state_db
        queue = ApprovalQueue(qurl)
    except AgentGateError as e:
        queue_error = str(e)
    if decider is None:
        decider = Firewall(cfg) if audit is None else Firewall(cfg, audit=audit)
    state = ServerState(
        audit=audit,
        config=cfg,
        firewall=Firewall(cfg, audit=None),
        decider=decider,
        auth=auth,
        approvals=queue,
        approvals_error=queue_error,
    )

    extra_routes: list[Any] = []
    watch: Any = None
    state.extra["openapi_paths"] = _manage.OPENAPI_PATHS
    if policy_store is not None:
        from . import _policies

        extra_routes = _policies.routes(state, policy_store)
        state.extra["openapi_paths"] = {**_policies.OPENAPI_PATHS, **_manage.OPENAPI_PATHS}
        state.extra["openapi_schemas"] = _policies.OPENAPI_SCHEMAS
        watch = _policies.follow(state, policy_store)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        yield
        import anyio.to_thread

        if watch is not None:
            await anyio.to_thread.run_sync(watch.close)
        current = state.decider
        await anyio.to_thread.run_sync(current.shutdown if current is not None else decider.shutdown, 10.0)
        for res in (queue, tokens):
            if res is not None:
                res.close()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    from ..telemetry.prometheus import metrics_route

    return Starlette(
        routes=[
            *_core.routes(state),
            *_dashboard.routes(state),
            *_decide.routes(state),
            *_approvals.routes(state),
            *_manage.routes(state, policy_store),
            *_auth.routes(auth),
            *extra_routes,
            metrics_route(),
        ],
        middleware=[Middleware(_auth.AuthMiddleware, settings=auth)],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
