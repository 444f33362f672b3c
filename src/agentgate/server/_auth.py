"""Who may do what on ``agentgate serve``: tokens, roles, Host allowlist, CSRF.

Every request goes through `AuthMiddleware`, in this order:

1. **Host allowlist** (DNS rebinding): the ``Host`` header must name ``localhost``,
   ``127.0.0.1``, ``[::1]``, the address the server is bound to, or a name given with
   ``--allowed-host``; anything else is refused (421), so a page whose name was
   rebound to 127.0.0.1 cannot read or drive the server.
2. **CSRF** for requests that change state (every method but GET/HEAD/OPTIONS): a
   ``Sec-Fetch-Site`` other than ``same-origin``/``none`` and an ``Origin`` that is not
   the server's own are refused (403); a request authenticated by the browser session
   cookie must also carry ``X-CSRF-Token`` (from ``POST /login`` or ``GET /v1/session``);
   an unauthenticated one (local mode) must be ``Content-Type: application/json``,
   which a cross-site page cannot send without a CORS preflight this server never
   grants. Bearer-token requests carry no ambient credential and need neither.
3. **Authentication**: ``Authorization: Bearer agt_...`` (an API token), else the
   ``agentgate_session`` cookie (HttpOnly, SameSite=Strict, from ``POST /login``), else
   **local mode**: when the server is bound to a loopback address and no token was ever
   created, the request acts as ``admin`` (what ``agentgate serve`` on a laptop always
   did). Creating the first token ends local mode for good (revoking every token locks
   the server, it does not reopen it); a server bound elsewhere never has local mode
   and refuses to start without an active token (`check_bind`).
4. **Roles** (`ROLE_TABLE`, first match wins): ``POST /v1/decide`` needs ``agent`` (or
   admin), ``POST /api/check`` ``agent`` or ``viewer``, approvals writes ``approver``,
   policy writes ``editor``, any other read ``viewer``, any other write ``admin``
   (fail closed: a new write route is admin-only until it is listed).

For route modules (the dashboard's): `require` checks a role inside a handler and
`principal` returns who is calling::

    from agentgate.server._auth import principal, require

    async def approve(request):
        who = require(request, "approver")   # raises 401 / 403 (JSON {"error": ...})
        ...  who.name, who.role, who.via ("token" | "session" | "local")

``/healthz``, ``/login`` and ``/v1/openapi.json`` need no authentication (the Host
and CSRF checks still apply).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .._errors import ConfigError
from ._tokens import AGENT, ROLES, SESSION_TTL, TokenInfo, TokenStore, may_act_for, role_allows

__all__ = [
    "COOKIE",
    "ROLE_TABLE",
    "AuthMiddleware",
    "AuthSettings",
    "Principal",
    "check_bind",
    "is_loopback",
    "is_wildcard",
    "principal",
    "require",
]

COOKIE = "agentgate_session"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_WILDCARDS = frozenset({"0.0.0.0", "::"})  # noqa: S104 - recognised in order to demand --allowed-host
PUBLIC = frozenset({"/healthz", "/login", "/v1/openapi.json"})

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

#: (methods or None for any, path prefix, roles of which one is needed). First match wins.
ROLE_TABLE: tuple[tuple[frozenset[str] | None, str, tuple[str, ...]], ...] = (
    (frozenset({"POST"}), "/v1/decide", (AGENT,)),
    (frozenset({"POST"}), "/api/check", (AGENT, "viewer")),
    (frozenset({"POST"}), "/logout", (*ROLES, AGENT)),
    (frozenset({"POST"}), "/v1/approvals/", ("approver",)),
    (frozenset({"POST", "PUT", "DELETE"}), "/v1/policies", ("editor",)),
    (_SAFE, "/", ("viewer",)),
    (None, "/", ("admin",)),
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token's name and role, and how they authenticated."""

    name: str
    role: str
    via: str  # "token" | "session" | "local"
    token_id: str | None = None
    csrf: str | None = field(default=None, repr=False)
    #: The agent ids (glob patterns) a bound agent token decides for; empty: any.
    agents: tuple[str, ...] = ()

    def allows(self, *needed: str) -> bool:
        """Does this principal hold one of the *needed* roles (or a higher one)?"""
        return any(role_allows(self.role, n) for n in needed)

    def acting_for(self, agent_id: str) -> str:
        """The agent id a decision by this caller is made for: *agent_id*, or the one agent a
        token is bound to when the request names none; ``PermissionError`` when the token is
        bound to agents and *agent_id* is not one of them."""
        if not self.agents:
            return agent_id
        if not agent_id:
            if len(self.agents) == 1 and not any(c in self.agents[0] for c in "*?["):
                return self.agents[0]
            raise PermissionError(
                f"token {self.name} decides only for agents {', '.join(self.agents)}: name one in agent_id"
            )
        if not may_act_for(self.agents, agent_id):
            raise PermissionError(
                f"token {self.name} decides only for agents {', '.join(self.agents)}, not {agent_id!r}"
            )
        return agent_id


LOCAL = Principal("local", "admin", "local")


def is_loopback(host: str) -> bool:
    """Is *host* (a bind address or name) loopback only? ``0.0.0.0`` and other names are not."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    """Is *host* the any-address (``0.0.0.0``, ``::``)?"""
    return host.strip().strip("[]") in _WILDCARDS


@dataclass(frozen=True)
class AuthSettings:
    """How the app authenticates.

    Attributes:
        tokens: The token store, or None (no tokens: local mode only).
        loopback: The server is bound to loopback, so local mode is allowed while no token exists.
        allowed_hosts: Extra names the ``Host`` header may carry (``"*"``: any; behind a proxy that checks it).
    """

    tokens: TokenStore | None = None
    loopback: bool = True
    allowed_hosts: frozenset[str] = frozenset()

    def host_allowed(self, host_header: str) -> bool:
        """Is this ``Host`` header one the server answers to?"""
        if "*" in self.allowed_hosts:
            return True
        h = host_header.strip().lower()
        if h.startswith("["):
            name = h[: h.find("]") + 1] if "]" in h else h
        else:
            name = h.rsplit(":", 1)[0] if h.count(":") == 1 else h
        name = name.rstrip(".")
        return bool(name) and (name in _LOOPBACK_NAMES or name in self.allowed_hosts)


def check_bind(host: str, settings: AuthSettings) -> None:
    """Refuse to serve on a non-loopback address without an active token, or without named hosts on a wildcard."""
    if is_loopback(host):
        return
    if settings.tokens is None or not settings.tokens.any_active():
        raise ConfigError(
            f"refusing to serve on {host}: it is not a loopback address and no API token exists, so anyone "
            "who can reach it could read the trail and approve calls. Create one first "
            "(agentgate token create --role admin --name you), or bind to 127.0.0.1."
        )
    h = host.strip().strip("[]")
    if h in _WILDCARDS and not settings.allowed_hosts:
        raise ConfigError(
            f"refusing to serve on {host} without --allowed-host: name the host names clients use "
            "(the Host header is checked against them, against DNS rebinding), or '*' behind a proxy that checks it"
        )


def principal(request: Any) -> Principal:
    """Who is calling (set by `AuthMiddleware`; `LOCAL` in an app built without it, e.g. in unit tests)."""
    p = request.scope.get("agentgate.principal")
    return p if isinstance(p, Principal) else LOCAL


def require(request: Any, *roles: str) -> Principal:
    """The caller, if they hold one of *roles*; else raise ``HTTPException`` 401 (nobody) or 403 (wrong role)."""
    from starlette.exceptions import HTTPException

    p = request.scope.get("agentgate.principal")
    if not isinstance(p, Principal):
        raise HTTPException(401, "authentication required")
    if not p.allows(*roles):
        raise HTTPException(403, f"{p.name} has role {p.role}; this needs {' or '.join(roles)}")
    return p


def needed_roles(method: str, path: str) -> tuple[str, ...]:
    """The roles of which one is needed for *method* on *path* (`ROLE_TABLE`)."""
    for methods, prefix, roles in ROLE_TABLE:
        if (methods is None or method in methods) and path.startswith(prefix):
            return roles
    return ("admin",)


class AuthMiddleware:
    """ASGI middleware applying the Host, CSRF, authentication and role checks (module docstring)."""

    def __init__(self, app: Any, settings: AuthSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        host = headers.get("host", "")
        if not self.settings.host_allowed(host):
            await _reply(send, 421, f"Host {host!r} is not one this server answers to (see --allowed-host)")
            return
        method = scope["method"]
        path = scope["path"]
        who, problem = await self._authenticate(headers)
        if problem is not None:
            await _reply(send, 401, problem, {"www-authenticate": "Bearer"})
            return
        if method not in _SAFE:
            refusal = _csrf_refusal(headers, host, who, path)
            if refusal is not None:
                await _reply(send, 403, refusal)
                return
        if path not in PUBLIC:
            if who is None:
                if method == "GET" and "text/html" in headers.get("accept", ""):
                    # A browser opening the dashboard: to the sign-in page rather than a JSON error.
                    await send({"type": "http.response.start", "status": 303, "headers": [(b"location", b"/login")]})
                    await send({"type": "http.response.body", "body": b""})
                    return
                await _reply(
                    send, 401, "authentication required (Authorization: Bearer <token>)", {"www-authenticate": "Bearer"}
                )
                return
            roles = needed_roles(method, path)
            if not who.allows(*roles):
                await _reply(send, 403, f"{who.name} has role {who.role}; {method} {path} needs {' or '.join(roles)}")
                return
        if who is not None:
            scope["agentgate.principal"] = who
        await self.app(scope, receive, send)

    async def _authenticate(self, headers: dict[str, str]) -> tuple[Principal | None, str | None]:
        import anyio.to_thread

        tokens = self.settings.tokens
        auth = headers.get("authorization")
        if auth is not None:
            scheme, _, secret = auth.partition(" ")
            if scheme.lower() != "bearer" or not secret.strip() or tokens is None:
                return None, "malformed or unusable Authorization header (use: Bearer <token>)"
            info = await anyio.to_thread.run_sync(tokens.verify, secret.strip())
            if info is None:
                return None, "unknown or revoked token"
            return _from(info, "token"), None
        sid = _cookie(headers.get("cookie", ""), COOKIE)
        if sid and tokens is not None:
            info = await anyio.to_thread.run_sync(tokens.session, sid)
            if info is not None:
                return _from(info, "session", TokenStore.csrf_for(sid)), None
        if self.settings.loopback and (tokens is None or not await anyio.to_thread.run_sync(tokens.auth_enabled)):
            return LOCAL, None
        return None, None


def _from(info: TokenInfo, via: str, csrf: str | None = None) -> Principal:
    return Principal(info.name, info.role, via, info.id, csrf, info.agents)


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


def _csrf_refusal(headers: dict[str, str], host: str, who: Principal | None, path: str) -> str | None:
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {site})"
    origin = headers.get("origin")
    if origin is not None and (origin == "null" or urlsplit(origin).netloc.lower() != host.lower()):
        return f"cross-origin request refused (Origin {origin!r} is not this server)"
    if who is not None and who.via == "session" and path != "/login":
        sent = headers.get("x-csrf-token", "")
        if not who.csrf or not hmac.compare_digest(sent.encode(), who.csrf.encode()):
            return "missing or wrong X-CSRF-Token (GET /v1/session gives it)"
    elif (who is None or who.via == "local") and path != "/login":
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return "a request without a token must be Content-Type: application/json"
    return None


async def _reply(send: Send, status: int, msg: str, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": msg}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------- routes


_LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>AgentGate: sign in</title>
<style>body{font:15px system-ui,sans-serif;max-width:28em;margin:4em auto}input{width:100%;padding:.4em}</style>
</head><body><h1>AgentGate</h1><form method="post" action="/login">
<label>API token<br><input name="token" type="password" autocomplete="off" autofocus></label>
<p><button type="submit">Sign in</button></p></form>
<p>Create a token with <code>agentgate token create --role viewer --name you</code>.</p></body></html>"""


def routes(settings: AuthSettings) -> list[Any]:
    """``GET/POST /login``, ``POST /logout``, ``GET /v1/session``."""
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
    from starlette.routing import Route

    from ._common import error

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return HTMLResponse(_LOGIN_PAGE)
        tokens = settings.tokens
        if tokens is None:
            return error(400, "this server has no token store: there is nothing to sign in with")
        raw = await request.body()
        form = request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        try:
            if form:
                secret = (parse_qs(raw.decode("utf-8", "replace")).get("token") or [""])[0]
            else:
                body = json.loads(raw or b"null")
                secret = body.get("token", "") if isinstance(body, dict) else ""
        except ValueError:
            return error(400, 'body must be JSON {"token": "agt_..."} or a form with token=')
        import anyio.to_thread

        info = await anyio.to_thread.run_sync(tokens.verify, str(secret).strip())
        if info is None:
            return error(401, "unknown or revoked token")
        sid = await anyio.to_thread.run_sync(tokens.create_session, info)
        out: Response = (
            RedirectResponse("/", status_code=303)
            if form
            else JSONResponse({"name": info.name, "role": info.role, "csrf": TokenStore.csrf_for(sid)})
        )
        out.set_cookie(
            COOKIE,
            sid,
            max_age=SESSION_TTL,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return out

    async def logout(request: Request) -> Response:
        sid = request.cookies.get(COOKIE)
        if sid and settings.tokens is not None:
            import anyio.to_thread

            await anyio.to_thread.run_sync(settings.tokens.end_session, sid)
        out = JSONResponse({"ok": True})
        out.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return out

    def session(request: Request) -> Response:
        p = principal(request)
        return JSONResponse({"name": p.name, "role": p.role, "via": p.via, "csrf": p.csrf})

    return [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/v1/session", session),
    ]
