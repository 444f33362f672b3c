"""``POST /v1/decide``: the decision point for agents that are not Python or not in-process.

The request names the call and who makes it; the answer is the verdict
(`Verdict.to_dict`), decided by the loaded policy and **recorded in the audit trail**
(unlike the dry run ``/api/check``), with ``framework`` ``api:<token name>``::

    {"tool": "send_email", "arguments": {"to": "bob@acme.com"},
     "agent_id": "mailer", "task_id": "run-42", "user_id": "u7", "task": "weekly digest",
     "scope": {"allowed_operations": ["read", "send"]},
     "history": [{"tool": "read_file", "arguments": {"path": "notes.txt"}, "verdict": "allow",
                  "result": "..."}]}

A token bound to agent ids (``agentgate token create --role agent --agent mailer``) decides
only for those: another ``agent_id`` is refused with 403, and a request naming none is made
for the token's one agent.

**Stateless per request**, so replicas behind a load balancer are interchangeable:

* what persists across calls lives where the in-process firewall already keeps it
  for a fleet: rate limits and ``history:`` rules (keyed by ``agent_id`` / ``task_id``)
  in the ``rate_limit.backend`` / ``history_backend`` (Redis); the audit trail in
  SQLite/PostgreSQL;
* the agent's recent calls and their results (what provenance rules and the judge
  read) are sent by the client in ``history`` (the last `MAX_HISTORY`); the server keeps
  no session, so a client that omits them is judged on this call alone;
* ``scope`` narrows the agent's policy for this call, exactly like ``agentgate.scope``
  (it can never widen it).

Escalations are resolved as in process: with ``approver: queue`` the request waits
for the human's answer (up to the approver's timeout), so give the HTTP client a
timeout longer than that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._call import ToolCall
from .._context import agent_context
from .._errors import ConfigError
from .._firewall import _scopes
from ..policy import make_scope
from ..policy._scope import SCOPE_DATA_KEYS
from ._auth import principal
from ._common import ServerState, error, json_body

__all__ = ["MAX_HISTORY", "parse_decide", "routes"]

#: Most history entries a request may carry (the in-process history keeps as many).
MAX_HISTORY = 50

_FIELDS = frozenset(
    {"tool", "arguments", "agent_id", "task_id", "user_id", "task", "scope", "history", "trusted_inputs"}
)


def parse_decide(body: Any) -> dict[str, Any]:
    """Validate a ``/v1/decide`` body; ``ValueError`` naming the first problem."""
    if not isinstance(body, dict):
        raise ValueError('body must be a JSON object {"tool": "...", "arguments": {...}}')
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(_FIELDS))}")
    tool = body.get("tool")
    if not isinstance(tool, str) or not tool.strip():
        raise ValueError("tool must be a non-empty string")
    args = body.get("arguments", {})
    if not isinstance(args, dict):
        raise ValueError("arguments must be an object")
    for key in ("agent_id", "task_id", "user_id", "task"):
        if key in body and not isinstance(body[key], str):
            raise ValueError(f"{key} must be a string")
    trusted = body.get("trusted_inputs", [])
    if not isinstance(trusted, list) or not all(isinstance(t, str) for t in trusted):
        raise ValueError("trusted_inputs must be a list of strings")
    scope = body.get("scope")
    if scope is not None:
        if not isinstance(scope, dict):
            raise ValueError("scope must be an object")
        bad = sorted(set(scope) - SCOPE_DATA_KEYS)
        if bad:
            raise ValueError(f"unknown scope field(s) {', '.join(bad)}; known: {', '.join(sorted(SCOPE_DATA_KEYS))}")
    history = body.get("history", [])
    if not isinstance(history, list):
        raise ValueError("history must be a list")
    if len(history) > MAX_HISTORY:
        raise ValueError(f"history holds {len(history)} entries; at most {MAX_HISTORY}")
    for i, h in enumerate(history):
        if not isinstance(h, dict) or not isinstance(h.get("tool"), str):
            raise ValueError(f'history[{i}] must be an object {{"tool": "...", "arguments": {{...}}}}')
        if not isinstance(h.get("arguments", {}), dict):
            raise ValueError(f"history[{i}].arguments must be an object")
        if h.get("verdict", "allow") not in ("allow", "block"):
            raise ValueError(f"history[{i}].verdict must be allow or block")
    return body


def _scope_policy(scope: Mapping[str, Any]) -> Any:
    try:
        return make_scope(name="api", **dict(scope))
    except TypeError as e:  # a field of the wrong type reaching make_scope
        raise ConfigError(f"scope: {e}") from None


def routes(state: ServerState) -> list[Any]:
    """``POST /v1/decide`` over *state*'s recording firewall."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def decide(request: Request) -> Response:
        fw = state.decider
        if fw is None:
            return error(503, "this server has no recording firewall")
        try:
            body = parse_decide(await json_body(request))
            layer = _scope_policy(body["scope"]) if body.get("scope") is not None else None
        except (ValueError, ConfigError) as e:
            return error(400, str(e))
        caller = principal(request)
        try:
            agent_id = caller.acting_for(body.get("agent_id", ""))
        except PermissionError as e:
            return error(403, str(e))
        ctx = agent_context(
            agent_id=agent_id,
            task_id=body.get("task_id", ""),
            user_id=body.get("user_id", ""),
            task=body.get("task", ""),
            trusted_inputs=list(body.get("trusted_inputs", [])),
        )
        with ctx as agent:
            for h in body.get("history", []):
                rec = agent.record_action(h["tool"], dict(h.get("arguments", {})), h.get("verdict", "allow"))
                rec.result = h.get("result")
            # The scope is set on this request's context only; scope() would also count an
            # open scope process-wide, which concurrent requests without one would notice.
            token = _scopes.set((layer,)) if layer is not None else None
            try:
                # framework names the token that asked, so the trail says which gateway decided what.
                who = caller.name
                v = await fw.evaluate_async(ToolCall(body["tool"], body.get("arguments", {}), framework=f"api:{who}"))
            except ConfigError as e:
                return error(400, str(e))
            finally:
                if token is not None:
                    _scopes.reset(token)
        return JSONResponse(v.to_dict())

    return [Route("/v1/decide", decide, methods=["POST"])]
