"""MCP client side: every ``tools/call`` a Python MCP client sends passes the firewall first.

The hook is ``mcp.client.session.ClientSession.send_request``, filtered on the
``tools/call`` method. Patching ``call_tool`` alone would miss a direct
``send_request(CallToolRequest(...))``; ``mcp.Client.call_tool`` and
``ClientSessionGroup`` go through the session too (verified for mcp 2.3; the
1.x line wraps requests in a ``ClientRequest`` root model, handled as well).

A denied call is never sent to the server. By default `FirewallBlockedError`
propagates (inside ``async with stdio_client(...)`` it arrives wrapped in
``ExceptionGroup``\\ s, as any error there does). With
``install(on_block="return_error")`` the caller instead gets a
``CallToolResult`` with ``isError: true`` and a text saying what was blocked
and why, which is what a model reads as a tool error.

The result of an allowed call is recorded in the agent's history (text
content, or the structured content) for the provenance rules.

For MCP clients that are not Python programs (Claude Desktop, Cursor, ...), use
the stdio proxy: ``agentgate mcp-proxy -- <server command>`` (`mcp_proxy`).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from typing import Any

from agentgate._errors import FirewallBlockedError

from ._common import aguard_call, record_result
from ._sdk_hooks import Blocked, ClassPatcher, Proposed, block_note, check_on_block
from ._versions import tested as _versions

__all__ = [
    "FRAMEWORK",
    "TESTED_VERSIONS",
    "available",
    "blocked_result",
    "install",
    "installed",
    "result_text",
    "uninstall",
    "unpatch",
]

FRAMEWORK = "mcp"
TESTED_VERSIONS: dict[str, str] = _versions("mcp")

_patcher = ClassPatcher()
_settings: dict[str, str] = {"on_block": "raise"}


def available() -> bool:
    """Whether the ``mcp`` package is importable."""
    return importlib.util.find_spec("mcp") is not None


def installed() -> bool:
    """Whether the hook is in place."""
    return _patcher.active


def install(on_block: str = "raise") -> bool:
    """Hook ``ClientSession.send_request`` (idempotent). False when ``mcp`` is not installed.

    Args:
        on_block: ``"raise"`` (default) raises `FirewallBlockedError`;
            ``"return_error"`` returns an ``isError`` tool result instead.
    """
    _settings["on_block"] = check_on_block(on_block)
    if _patcher.active:
        return True
    if not available():
        return False
    from mcp.client.session import ClientSession

    _patcher.patch(ClientSession, "send_request", _wrap_send_request)
    return True


def uninstall() -> None:
    """Restore ``ClientSession.send_request``."""
    _patcher.restore()


unpatch = uninstall


def blocked_result(error: FirewallBlockedError, tool_name: str) -> dict[str, Any]:
    """The JSON of the ``CallToolResult`` a model sees for a blocked call (``isError: true``)."""
    note = block_note([Blocked(Proposed(tool_name, {}), error)])
    v = error.verdict
    return {
        "content": [{"type": "text", "text": note}],
        "isError": True,
        # Required from protocol 2026-07-28 on; older clients drop fields of later revisions.
        "resultType": "complete",
        "_meta": {"agentgate": {"decision_id": v.decision_id, "rule": v.policy_name, "severity": v.severity.value}},
    }


def result_text(result: Any) -> Any:
    """What a tool returned, for the agent's history: joined text content, else structured content."""
    content = getattr(result, "content", None)
    if content is None and isinstance(result, dict):
        content = result.get("content")
    texts = []
    for block in content or ():
        text = block.get("text") if isinstance(block, dict) else getattr(block, "text", None)
        if isinstance(text, str):
            texts.append(text)
    if texts:
        return "\n".join(texts)
    structured = getattr(result, "structured_content", None)
    if structured is None and isinstance(result, dict):
        structured = result.get("structuredContent")
    return structured


def _tool_call(request: Any) -> tuple[str, Any] | None:
    """``(name, arguments)`` when *request* is a tools/call, else None."""
    req = getattr(request, "root", request)  # mcp 1.x: ClientRequest(root=CallToolRequest)
    if getattr(req, "method", None) != "tools/call":
        return None
    params = getattr(req, "params", None)
    if isinstance(params, dict):
        return str(params.get("name")), params.get("arguments") or {}
    return str(getattr(params, "name", "")), getattr(params, "arguments", None) or {}


def _as_result(result_type: Any, raw: dict[str, Any]) -> Any:
    validate = getattr(result_type, "validate_python", None)
    if validate is not None:  # a TypeAdapter (mcp 2.x call_tool)
        return validate(raw)
    return result_type.model_validate(raw)


def _wrap_send_request(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def send_request(self: Any, request: Any, result_type: Any, *args: Any, **kwargs: Any) -> Any:
        call = _tool_call(request)
        if call is None:
            return await original(self, request, result_type, *args, **kwargs)
        name, arguments = call
        try:
            verdict = await aguard_call(name, arguments, framework=FRAMEWORK)
        except FirewallBlockedError as exc:
            if _settings["on_block"] == "return_error":
                return _as_result(result_type, blocked_result(exc, name))
            raise
        result = await original(self, request, result_type, *args, **kwargs)
        record_result(verdict, result_text(result))
        return result

    return send_request
