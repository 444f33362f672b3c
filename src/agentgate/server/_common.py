"""What every route module of ``agentgate serve`` shares: the app's state and small helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._firewall import Firewall
from ..policy._config import Config

if TYPE_CHECKING:
    from starlette.responses import JSONResponse

#: Largest page a list endpoint returns.
MAX_LIMIT = 1000


@dataclass(frozen=True)
class ServerState:
    """The state of one app: the audit trail it reads, the policy it decides with.

    Route modules (``_dashboard``, ``_core`` and later ones) take this and return their
    Starlette routes, so each concern lives in its own module and ``create_app`` only
    composes them.
    """

    audit: str | None
    config: Config
    firewall: Firewall

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


def error(status: int, msg: str) -> JSONResponse:
    """A JSON error response ``{"error": msg}``."""
    from starlette.responses import JSONResponse

    return JSONResponse({"error": msg}, status_code=status)
