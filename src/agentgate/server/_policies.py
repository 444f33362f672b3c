"""Policy documents over HTTP, on the policy store (`agentgate.policy.store`).

``GET /v1/policies`` (the head and the history, ``limit``), ``GET /v1/policies/{revision}``
(a revision: 4+ hex digits, ``HEAD``, ``HEAD~N``; with its YAML text),
``GET /v1/policies/diff?a=REV&b=REV`` (unified diff, ``b`` defaults to the head),
``POST /v1/policies`` ``{"text": "<yaml>", "message": "why"}`` (push: validated with the real
loader first; an invalid document is 400 with every problem's file, line and key, and
nothing is stored), ``POST /v1/policies/rollback`` ``{"revision": "...", "message": "why"}``.
Reads need viewer, writes editor; the author of a push is the caller's token name.

When the server runs on a store (``agentgate serve --store URL``), `follow` makes its
decisions follow the head: each new head is validated and compiled off the request path
and swapped into `ServerState` in one assignment, so a request is decided entirely under
one revision. A store that cannot be reached keeps the policy in force (never the
permissive default) and ``/healthz`` says so.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from .._errors import AgentGateError, ConfigError, PolicyStoreError
from .._firewall import Firewall
from ._auth import principal
from ._common import MAX_LIMIT, ServerState, error, int_param, json_body

__all__ = ["OPENAPI_PATHS", "follow", "routes"]

logger = logging.getLogger("agentgate.server")


def problems_of(e: ConfigError) -> list[dict[str, Any]]:
    """A config error's problems as JSON (the shape of `PROBLEMS_SCHEMA`)."""
    return [{"file": p.file, "line": p.line, "key": p.key, "message": p.message} for p in e.problems]


def follow(state: ServerState, store: Any) -> Any:
    """Keep *state*'s firewalls on *store*'s head; returns the watch handle (close it on shutdown)."""
    status: dict[str, Any] = {"ok": True, "detail": "", "revision": None}
    lock = threading.Lock()

    def on_head(rev: Any) -> None:
        from ..policy.store import parse_document

        try:
            cfg = parse_document(rev.text, f"{rev.document}@{rev.revision}", rev.revision)
            cur = state.decider
            audit = cur.auditor if cur is not None and cur.auditor is not None else "none"
            new = Firewall(cfg, audit=audit)
            dry = Firewall(cfg, audit=None)
        except AgentGateError as e:  # an invalid head keeps the policy in force
            with lock:
                status.update(ok=False, detail=f"head {rev.revision} not applied: {e}")
            logger.warning("agentgate serve: policy head %s not applied: %s", rev.revision, e)
            return
        # One assignment each; a request reads state.decider once.
        state.config, state.firewall, state.decider = cfg, dry, new
        with lock:
            status.update(ok=True, detail="", revision=rev.revision)

    def on_status(ok: bool, detail: str) -> None:
        with lock:
            status.update(ok=ok, detail=detail)

    state.extra.setdefault("health", {})["policy_store"] = lambda: {"url": _redact(store.url), **status}
    return store.watch(on_head, on_status=on_status)


def _redact(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def routes(state: ServerState, store: Any) -> list[Any]:
    """Policy routes over *store*."""
    import anyio.to_thread
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def listing(request: Request) -> Response:
        try:
            limit = min(int_param(request, "limit", 50) or 50, MAX_LIMIT)
        except ValueError as e:
            return error(400, str(e))
        try:
            head = await anyio.to_thread.run_sync(store.head)
            hist = await anyio.to_thread.run_sync(store.history, limit)
        except PolicyStoreError as e:
            return error(503, str(e))
        return JSONResponse(
            {
                "head": head.to_dict() if head is not None else None,
                "in_force": state.decider.policy_revision if state.decider is not None else None,
                "history": [h.to_dict() for h in hist],
            }
        )

    async def one(request: Request) -> Response:
        try:
            rev = await anyio.to_thread.run_sync(store.get, request.path_params["revision"])
        except PolicyStoreError as e:
            return error(404, str(e))
        return JSONResponse(rev.to_dict(text=True))

    async def diff(request: Request) -> Response:
        a = request.query_params.get("a")
        if not a:
            return error(400, "give a=REVISION (and optionally b=REVISION; default the head)")
        b = request.query_params.get("b") or None
        try:
            text = await anyio.to_thread.run_sync(store.diff, a, b)
        except PolicyStoreError as e:
            return error(404, str(e))
        return JSONResponse({"a": a, "b": b or "HEAD", "diff": text})

    async def push(request: Request) -> Response:
        try:
            body = await json_body(request)
        except ValueError as e:
            return error(400, str(e))
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return error(400, 'body must be {"text": "<agentgate.yaml>", "message": "why"}')
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            return error(400, "message must say why the policy changes")
        who = principal(request).name
        try:
            rev = await anyio.to_thread.run_sync(
                lambda: store.push(body["text"], author=who, message=message, source="pushed document")
            )
        except ConfigError as e:
            return JSONResponse({"error": str(e), "problems": problems_of(e)}, status_code=400)
        except PolicyStoreError as e:
            return error(503, str(e))
        return JSONResponse(rev.to_dict(), status_code=201)

    async def rollback(request: Request) -> Response:
        try:
            body = await json_body(request)
        except ValueError as e:
            return error(400, str(e))
        if not isinstance(body, dict) or not isinstance(body.get("revision"), str):
            return error(400, 'body must be {"revision": "...", "message": "why"}')
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            return error(400, "message must say why the policy is rolled back")
        who = principal(request).name
        try:
            rev = await anyio.to_thread.run_sync(lambda: store.rollback(body["revision"], author=who, message=message))
        except ConfigError as e:
            return JSONResponse({"error": str(e), "problems": problems_of(e)}, status_code=400)
        except PolicyStoreError as e:
            return error(404 if "no revision" in str(e) or "bad revision" in str(e) else 503, str(e))
        return JSONResponse(rev.to_dict(), status_code=201)

    return [
        Route("/v1/policies", listing),
        Route("/v1/policies", push, methods=["POST"]),
        Route("/v1/policies/diff", diff),
        Route("/v1/policies/rollback", rollback, methods=["POST"]),
        Route("/v1/policies/{revision}", one),
    ]


_REV = {"$ref": "#/components/schemas/PolicyRevision"}
_E = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
#: One problem of a document that does not validate (file, line, key, message).
PROBLEMS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "file": {"type": ["string", "null"]},
            "line": {"type": ["integer", "null"]},
            "key": {"type": ["string", "null"]},
            "message": {"type": "string"},
        },
    },
}
_INVALID = {
    "description": "invalid document: every problem with file, line and key; nothing stored",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}, "problems": PROBLEMS_SCHEMA},
            }
        }
    },
}


def json_request_body(*fields: str) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a JSON object whose *fields* are all required strings."""
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": list(fields),
                    "properties": {f: {"type": "string"} for f in fields},
                }
            }
        },
    }


OPENAPI_SCHEMAS: dict[str, Any] = {
    "PolicyRevision": {
        "type": "object",
        "properties": {
            "revision": {"type": "string", "description": "first 12 hex digits of the SHA-256 of the text"},
            "seq": {"type": "integer"},
            "author": {"type": "string"},
            "message": {"type": "string"},
            "created_at": {"type": "string"},
            "parent": {"type": ["string", "null"]},
            "document": {"type": "string"},
            "text": {"type": "string", "description": "the YAML (GET /v1/policies/{revision} only)"},
        },
    }
}

OPENAPI_PATHS: dict[str, Any] = {
    "/v1/policies": {
        "get": {
            "summary": "The head, the revision in force here, and the history (newest first)",
            "description": "Role: viewer.",
            "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "default": 50}}],
            "responses": {"200": {"description": "head and history"}, "503": _E},
        },
        "post": {
            "summary": "Push a new policy document (validated before it is stored)",
            "description": "Role: editor. The author is the caller's token name.",
            "requestBody": json_request_body("text", "message"),
            "responses": {
                "201": {"description": "the new head", "content": {"application/json": {"schema": _REV}}},
                "400": _INVALID,
                "503": _E,
            },
        },
    },
    "/v1/policies/diff": {
        "get": {
            "summary": "Unified diff of the YAML from revision a to b (default the head)",
            "description": "Role: viewer.",
            "parameters": [
                {"name": "a", "in": "query", "required": True, "schema": {"type": "string"}},
                {"name": "b", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": {"200": {"description": "the diff"}, "400": _E, "404": _E},
        }
    },
    "/v1/policies/rollback": {
        "post": {
            "summary": "Make an earlier revision's text the head again (a new history entry)",
            "description": "Role: editor.",
            "requestBody": json_request_body("revision", "message"),
            "responses": {
                "201": {"description": "the new head", "content": {"application/json": {"schema": _REV}}},
                "400": _INVALID,
                "404": _E,
            },
        }
    },
    "/v1/policies/{revision}": {
        "get": {
            "summary": "One revision with its YAML text (4+ hex digits, HEAD, HEAD~N)",
            "description": "Role: viewer.",
            "parameters": [{"name": "revision", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {
                "200": {"description": "the revision", "content": {"application/json": {"schema": _REV}}},
                "404": _E,
            },
        }
    },
}
