"""LangChain / LangGraph: every tool call passes the firewall before the tool body runs.

The hook is ``langchain_core.tools.BaseTool.run`` / ``arun``: ``invoke`` calls
``run``, ``ainvoke`` calls ``arun``, LangGraph's ``ToolNode`` (and so
``create_react_agent``) calls ``invoke`` / ``ainvoke``. Patching ``_run`` /
``_arun`` instead (what agentgate-py 0.1.0 did) misses nearly everything,
because ``StructuredTool`` and ``Tool`` override them.

What the firewall sees is the model's raw argument dict with the injected
arguments (LangGraph ``state``, ``store``, ``runtime``, ``InjectedToolArg``)
stripped, so graph state never reaches the analyzers or the audit trail. A
plain string input (a single-input ``Tool``) is bound to the tool's one
argument name.

On a block:

* ``on_block="raise"`` (default): `FirewallBlockedError` propagates. LangGraph's
  ``ToolNode`` re-raises it with its default error handler, so
  ``graph.invoke`` fails with our error; ``ToolNode(handle_tool_errors=True)``
  turns it into an error ``ToolMessage`` instead.
* ``on_block="return_error"``: the tool returns an error ``ToolMessage``
  (``status="error"``) when it was called with a tool-call id, so the agent
  sees the refusal and can recover; a direct call gets the message string.

The tool's result is attached to the agent's history (`record_result`).

Delegation only narrows: a tool run inside a LangGraph subgraph whose node name has its
own entry under ``agents:`` is decided, inside ``agent_context(agent_id=...)``, as the
caller's sub-agent (each such enclosing node in turn, read from the run's
``langgraph_checkpoint_ns``), so every policy on the chain applies (`acting_as`).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Mapping
from typing import Any

from agentgate._errors import ConfigError, FirewallBlockedError

from ._common import acting_as, aguard_call, guard_call, record_result
from ._versions import tested as _versions

__all__ = [
    "FRAMEWORK",
    "TESTED_VERSIONS",
    "available",
    "install",
    "installed",
    "uninstall",
    "unpatch",
]

FRAMEWORK = "langchain"

#: Versions the tests in tests/integrations/test_langchain.py ran against.
TESTED_VERSIONS: dict[str, str] = _versions("langchain-core", "langgraph", "langgraph-prebuilt")

_ON_BLOCK = ("raise", "return_error")

_lock = threading.Lock()
_originals: dict[str, Any] = {}
_state: dict[str, Any] = {"installed": False, "on_block": "raise"}


def available() -> bool:
    """True when langchain-core is importable."""
    return importlib.util.find_spec("langchain_core") is not None


def installed() -> bool:
    """True while the patch is in place."""
    return bool(_state["installed"])


def install(on_block: str = "raise") -> bool:
    """Patch ``BaseTool.run`` / ``arun``; idempotent. False when langchain-core is absent.

    Args:
        on_block: ``"raise"`` (propagate `FirewallBlockedError`) or
            ``"return_error"`` (hand the model an error ``ToolMessage``).
            A second call only updates this setting.
    """
    if on_block not in _ON_BLOCK:
        raise ConfigError(f"on_block must be one of {_ON_BLOCK}, not {on_block!r}")
    if not available():
        return False
    from langchain_core.tools import BaseTool

    with _lock:
        _state["on_block"] = on_block
        if _state["installed"]:
            return True
        orig_run = BaseTool.run
        orig_arun = BaseTool.arun
        _originals["run"], _originals["arun"] = orig_run, orig_arun

        def run(self: BaseTool, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
            call_id = kwargs.get("tool_call_id")
            with acting_as(_graph_agents(kwargs)):
                try:
                    verdict = guard_call(self.name, _arguments(self, tool_input), framework=FRAMEWORK, call_id=call_id)
                except FirewallBlockedError as exc:
                    if _state["on_block"] == "return_error":
                        return _blocked_output(self.name, exc, call_id)
                    raise
                output = orig_run(self, tool_input, *args, **kwargs)
                record_result(verdict, _result_of(output))
                return output

        async def arun(self: BaseTool, tool_input: Any, *args: Any, **kwargs: Any) -> Any:
            call_id = kwargs.get("tool_call_id")
            with acting_as(_graph_agents(kwargs)):
                try:
                    verdict = await aguard_call(
                        self.name, _arguments(self, tool_input), framework=FRAMEWORK, call_id=call_id
                    )
                except FirewallBlockedError as exc:
                    if _state["on_block"] == "return_error":
                        return _blocked_output(self.name, exc, call_id)
                    raise
                output = await orig_arun(self, tool_input, *args, **kwargs)
                record_result(verdict, _result_of(output))
                return output

        run.__doc__, arun.__doc__ = orig_run.__doc__, orig_arun.__doc__
        run.__agentgate_original__ = orig_run  # type: ignore[attr-defined]
        arun.__agentgate_original__ = orig_arun  # type: ignore[attr-defined]
        BaseTool.run = run  # type: ignore[method-assign]
        BaseTool.arun = arun  # type: ignore[method-assign]
        _state["installed"] = True
    return True


def uninstall() -> None:
    """Restore the original ``BaseTool.run`` / ``arun`` (no-op when not installed)."""
    with _lock:
        if not _state["installed"]:
            return
        from langchain_core.tools import BaseTool

        BaseTool.run = _originals.pop("run")  # type: ignore[method-assign]
        BaseTool.arun = _originals.pop("arun")  # type: ignore[method-assign]
        _state["installed"] = False
        _state["on_block"] = "raise"


#: Alias named in the issue ("has `unpatch()`").
unpatch = uninstall


def _graph_agents(kwargs: Mapping[str, Any]) -> list[str]:
    """The LangGraph nodes enclosing this tool run, outermost first (``[]`` outside a graph).

    LangGraph names a task ``node:task-id`` and joins the enclosing graphs' with ``|`` in
    the run's metadata (``langgraph_checkpoint_ns``), e.g. ``billing:…|tools:…``.
    """
    meta = kwargs.get("metadata")
    if not isinstance(meta, Mapping):
        config = kwargs.get("config")
        meta = config.get("metadata") if isinstance(config, Mapping) else None
    ns = meta.get("langgraph_checkpoint_ns") if isinstance(meta, Mapping) else None
    if not isinstance(ns, str) or not ns:
        return []
    return [part.partition(":")[0] for part in ns.split("|")]


def _arguments(tool: Any, tool_input: Any) -> Any:
    """What the firewall analyzes: the model's arguments without injected values."""
    if isinstance(tool_input, dict):
        try:
            return tool._filter_injected_args(tool_input)
        except Exception:  # an exotic args_schema; keep every value rather than drop any
            return tool_input
    if isinstance(tool_input, str):
        # A single-input tool: bind the string to its one parameter name so the
        # analyzers see e.g. ``query=...`` rather than an anonymous ``input``.
        try:
            names = list(tool.args)
        except Exception:
            names = []
        if len(names) == 1:
            return {names[0]: tool_input}
    return tool_input


def _result_of(output: Any) -> Any:
    """The payload of a tool's output (a ``ToolMessage``'s content when wrapped)."""
    from langchain_core.messages import ToolMessage

    if isinstance(output, ToolMessage):
        return output.content
    return output


def _message(exc: FirewallBlockedError) -> str:
    v = exc.verdict
    return f"AgentGate blocked this tool call ({v.policy_name}): {v.reasoning}"


def _blocked_output(tool_name: str, exc: FirewallBlockedError, call_id: str | None) -> Any:
    """An error the agent can read: a ``ToolMessage`` for a model's call, else the text."""
    if call_id is None:
        return _message(exc)
    from langchain_core.messages import ToolMessage

    return ToolMessage(_message(exc), tool_call_id=call_id, name=tool_name, status="error")
