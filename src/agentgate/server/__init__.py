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

from typing import Any

from .._errors import MissingDependencyError
from .._firewall import Firewall
from ..policy._config import Config
from ._common import ServerState

__all__ = ["create_app"]


def create_app(audit: str | None = None, config: Config | None = None) -> Any:
    """Build the ASGI app reading the audit trail at *audit* (default as `open_auditor`).

    The routes live in one module per concern (``_core``: health, policy, check;
    ``_dashboard``: the page and the audit endpoints); this only composes them.
    """
    try:
        from starlette.applications import Starlette
    except ImportError:
        raise MissingDependencyError("starlette", "server") from None

    from . import _core, _dashboard

    cfg = config if config is not None else Config.model_validate({})
    state = ServerState(audit=audit, config=cfg, firewall=Firewall(cfg, audit=None))
    return Starlette(routes=[*_core.routes(state), *_dashboard.routes(state)])
