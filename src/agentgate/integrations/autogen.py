"""AutoGen 0.4+ (autogen-core / autogen-agentchat): every tool call passes the firewall first.

``AssistantAgent`` runs tools through a workbench (``StaticWorkbench`` /
``StaticStreamWorkbench``), which calls ``tool.run_json(args, token, call_id)``,
or ``tool.run_json_stream(...)`` for streaming tools (``AgentTool``,
``TeamTool``). ``args`` is the mapping parsed from the model's JSON, before
validation. We patch both on the classes that define them,
``autogen_core.tools.BaseTool`` and ``BaseStreamTool``. ``FunctionTool``
overrides ``run`` but not ``run_json``, so a ``run`` patch would miss it.

On a block:

* ``on_block="raise"`` (default): `FirewallBlockedError` propagates from
  ``run_json`` / ``run_json_stream``. Inside an agent, the workbench turns it
  into ``ToolResult(is_error=True)`` carrying our message: the model sees the
  refusal and the run goes on (raising past the workbench is not an option:
  an exception escaping ``_execute_tool_call`` leaves the run hanging).
* ``on_block="return_error"``: the tool returns the refusal text instead of
  raising, for callers that drive tools directly.

Not covered: ``McpWorkbench`` calls its MCP session without going through
``run_json`` (use the MCP integration for those servers).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from agentgate._errors import ConfigError, FirewallBlockedError

from ._common import aguard_call, record_result

__all__ = [
    "FRAMEWORK",
    "TESTED_VERSIONS",
    "available",
    "install",
    "installed",
    "uninstall",
    "unpatch",
]

FRAMEWORK = "autogen"

#: Versions the tests in tests/integrations/test_autogen.py ran against.
TESTED_VERSIONS: dict[str, str] = {"autogen-core": "0.7.5", "autogen-agentchat": "0.7.5", "autogen-ext": "0.7.5"}

_ON_BLOCK = ("raise", "return_error")

_lock = threading.Lock()
_originals: dict[str, Any] = {}
_state: dict[str, Any] = {"installed": False, "on_block": "raise"}


def available() -> bool:
    """True when autogen-core is importable."""
    return importlib.util.find_spec("autogen_core") is not None


def installed() -> bool:
    """True while the patch is in place."""
    return bool(_state["installed"])


def install(on_block: str = "raise") -> bool:
    """Patch ``BaseTool.run_json`` and ``BaseStreamTool.run_json_stream``; idempotent.

    Args:
        on_block: ``"raise"`` or ``"return_error"`` (see the module docstring).
            A second call only updates this setting.

    Returns:
        False when autogen-core is not installed.
    """
    if on_block not in _ON_BLOCK:
        raise ConfigError(f"on_block must be one of {_ON_BLOCK}, not {on_block!r}")
    if not available():
        return False
    from autogen_core.tools import BaseStreamTool, BaseTool

    with _lock:
        _state["on_block"] = on_block
        if _state["installed"]:
            return True
        orig_run_json = BaseTool.run_json
        orig_stream = BaseStreamTool.run_json_stream
        _originals["run_json"], _originals["run_json_stream"] = orig_run_json, orig_stream

        async def run_json(
            self: Any, args: Mapping[str, Any], cancellation_token: Any, call_id: str | None = None
        ) -> Any:
            try:
                verdict = await aguard_call(self.name, args, framework=FRAMEWORK, call_id=call_id)
            except FirewallBlockedError as exc:
                if _state["on_block"] == "return_error":
                    return _message(exc)
                raise
            result = await orig_run_json(self, args, cancellation_token, call_id=call_id)
            record_result(verdict, result)
            return result

        async def run_json_stream(
            self: Any, args: Mapping[str, Any], cancellation_token: Any, call_id: str | None = None
        ) -> AsyncGenerator[Any, None]:
            # Decided before the first item: nothing of the tool runs on a block.
            try:
                verdict = await aguard_call(self.name, args, framework=FRAMEWORK, call_id=call_id)
            except FirewallBlockedError as exc:
                if _state["on_block"] == "return_error":
                    yield _message(exc)
                    return
                raise
            last: Any = None
            async for item in orig_stream(self, args, cancellation_token, call_id=call_id):
                last = item
                yield item
            record_result(verdict, last)

        run_json.__doc__, run_json_stream.__doc__ = orig_run_json.__doc__, orig_stream.__doc__
        run_json.__agentgate_original__ = orig_run_json  # type: ignore[attr-defined]
        run_json_stream.__agentgate_original__ = orig_stream  # type: ignore[attr-defined]
        BaseTool.run_json = run_json  # type: ignore[method-assign]
        BaseStreamTool.run_json_stream = run_json_stream  # type: ignore[method-assign]
        _state["installed"] = True
    return True


def uninstall() -> None:
    """Restore the original methods (no-op when not installed)."""
    with _lock:
        if not _state["installed"]:
            return
        from autogen_core.tools import BaseStreamTool, BaseTool

        BaseTool.run_json = _originals.pop("run_json")  # type: ignore[method-assign]
        BaseStreamTool.run_json_stream = _originals.pop("run_json_stream")  # type: ignore[method-assign]
        _state["installed"] = False
        _state["on_block"] = "raise"


#: Alias named in the issue ("has `unpatch()`").
unpatch = uninstall


def _message(exc: FirewallBlockedError) -> str:
    v = exc.verdict
    return f"AgentGate blocked this tool call ({v.policy_name}): {v.reasoning}"
