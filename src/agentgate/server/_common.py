"""What every route module of ``agentgate serve`` shares: the app's state and small helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._firewall import Firewall
from ..policy._config import Config

if TYPE_CHECKING:
    from starlette.responses import JSONResponse

    from ..approvals import ApprovalQueue
    from ._auth import AuthSettings

#: Largest page a list endpoint returns.
MAX_LIMIT = 1000


@dataclass
class ServerState:
    """The state of one app: the audit trail it reads, the policy it decides with.

    Route modules (``_dashboard``, ``_core``, ``_decide``, ``_approvals`` and later ones)
    take this and return their Starlette routes, so each concern lives in its own module
    and ``create_app`` only composes them.

    Attributes:
        audit: The audit trail the dashboard reads (None: the default target).
        config: The policy in force.
        firewall: Decides dry runs (``/api/check``): records nothing.
        decider: Decides ``/v1/decide`` and records to the audit trail (None: not built yet).
            Replaced in one assignment when the policy store publishes a new head; a
            request reads it once, so it is decided entirely under one revision.
        auth: Tokens, loopback, allowed hosts (see `agentgate.server._auth`).
        approvals: The approval queue, or None when no state database could be opened
            (``approvals_error`` says why).
    """

    audit: str | None
    config: Config
    firewall: Firewall
    decider: Firewall | None = None
    auth: AuthSettings | None = None
    approvals: ApprovalQueue | None = None
    approvals_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def store(self) -> Any:
        """Open the audit store (the caller closes it)."""
        from ..audit import open_store

        return open_store(self.audit)


def rows_for_api(rows: Any) -> list[dict[str, Any]]:
    """Audit rows as JSON-safe dicts (datetimes as ISO text, bytes as hex)."""
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


def int_param(req: Any, name: str, default: int | None) -> int | None:
    """Query parameter *name* as an int; ``ValueError`` names the parameter when it is not one."""
    raw = req.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {raw!r}") from None


def html_page(filename: str) -> Any:
    """A route handler serving the packaged page *filename* (read once, when the routes are built)."""
    from importlib import resources

    from starlette.responses import HTMLResponse

    html = resources.files("agentgate.server").joinpath(filename).read_text(encoding="utf-8")

    def handler(request: Any) -> Any:
        return HTMLResponse(html)

    return handler


def error(status: int, msg: str) -> JSONResponse:
    """A JSON error response ``{"error": msg}``."""
    from starlette.responses import JSONResponse

    return JSONResponse({"error": msg}, status_code=status)


async def json_body(request: Any, limit: int = 1 << 20) -> Any:
    """The request's JSON body; ``ValueError`` with the reason when it is too large or not JSON."""
    import json

    raw = await request.body()
    if len(raw) > limit:
        raise ValueError(f"body larger than {limit} bytes")
    try:
        return json.loads(raw)
    except ValueError:
        raise ValueError("body must be JSON") from None
