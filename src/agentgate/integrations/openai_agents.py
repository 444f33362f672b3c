"""OpenAI Agents SDK: every ``FunctionTool`` call passes the firewall before it runs.

The runner invokes every function tool (``@function_tool`` sync and async, a
hand-built ``FunctionTool``, ``Agent.as_tool``, MCP tools converted to function
tools, the realtime session) through one private coroutine,
``agents.tool._invoke_function_tool_with_metadata(function_tool=, context=,
arguments=)``, where ``arguments`` is the model's raw JSON string before
validation. We wrap it in every loaded ``agents`` module that holds it (the run
loop imports it by name into ``agents.run_internal.tool_execution``).

Why not the alternatives: raising *inside* the tool function is swallowed by the
SDK's ``failure_error_function`` and the run continues; ``RunHooks.on_tool_start``
only fires where the hooks are passed to ``Runner.run``; wrapping each tool's
``on_invoke_tool`` misses tools built before the patch and defeats the SDK's
``isinstance(on_invoke_tool, ...)`` checks used by ``needs_approval``.

On a block:

* ``on_block="raise"`` (default): the run fails. The SDK wraps our error, so the
  caller gets ``agents.exceptions.UserError("Error running tool ...")`` whose
  ``__cause__`` is the `FirewallBlockedError`.
* ``on_block="return_error"``: the tool's output is the refusal text, which the
  model reads as the tool result and can recover from.

The interception point is private: `install` raises `AgentGateError` when a
version lacks it rather than leaving tools unguarded.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import threading
from collections.abc import Iterator
from typing import Any

from agentgate._errors import AgentGateError, ConfigError, FirewallBlockedError

from ._common import aguard_call, record_result
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

FRAMEWORK = "openai_agents"

#: Versions the tests in tests/integrations/test_openai_agents.py ran against.
TESTED_VERSIONS: dict[str, str] = _versions("openai-agents")

_HOOK = "_invoke_function_tool_with_metadata"
_ON_BLOCK = ("raise", "return_error")

_lock = threading.Lock()
_patched: list[tuple[Any, Any]] = []  # (module, original) pairs to restore
_state: dict[str, Any] = {"installed": False, "on_block": "raise"}


def available() -> bool:
    """True when the ``agents`` package (openai-agents) is importable."""
    return importlib.util.find_spec("agents") is not None


def installed() -> bool:
    """True while the patch is in place."""
    return bool(_state["installed"])


def install(on_block: str = "raise") -> bool:
    """Wrap the SDK's function-tool invocation; idempotent. False when the SDK is absent.

    Args:
        on_block: ``"raise"`` (the run fails with our error as the cause) or
            ``"return_error"`` (the model gets the refusal as the tool output).
            A second call only updates this setting.

    Raises:
        AgentGateError: The installed SDK has no known interception point.
    """
    if on_block not in _ON_BLOCK:
        raise ConfigError(f"on_block must be one of {_ON_BLOCK}, not {on_block!r}")
    if not available():
        return False
    import agents.tool as agents_tool

    # Import the run loop now so its by-name import of the hook is patched too.
    importlib.import_module("agents.run_internal.tool_execution")

    with _lock:
        _state["on_block"] = on_block
        if _state["installed"]:
            return True
        original = getattr(agents_tool, _HOOK, None)
        if original is None:
            raise AgentGateError(
                "openai-agents: agents.tool._invoke_function_tool_with_metadata not found; "
                f"AgentGate supports the versions in {TESTED_VERSIONS} (tool calls would run unguarded)"
            )
        result_type = agents_tool._FunctionToolInvocationResult

        async def guarded(*, function_tool: Any, context: Any, arguments: str, **kwargs: Any) -> Any:
            call_id = getattr(context, "tool_call_id", None)
            try:
                with _as_sub_agent(context):
                    verdict = await aguard_call(function_tool.name, arguments, framework=FRAMEWORK, call_id=call_id)
            except FirewallBlockedError as exc:
                if _state["on_block"] == "return_error":
                    # is_sdk_generated_error: the refusal is text, so the SDK must
                    # not validate it against the tool's output schema.
                    return result_type(_message(exc), is_sdk_generated_error=True)
                raise
            result = await original(function_tool=function_tool, context=context, arguments=arguments, **kwargs)
            record_result(verdict, getattr(result, "output", result))
            return result

        guarded.__doc__ = original.__doc__
        guarded.__agentgate_original__ = original  # type: ignore[attr-defined]
        # dict.copy() is atomic; iterating sys.modules races with imports in other threads.
        for name, module in sys.modules.copy().items():
            if (name == "agents" or name.startswith("agents.")) and getattr(module, _HOOK, None) is original:
                setattr(module, _HOOK, guarded)
                _patched.append((module, original))
        _state["installed"] = True
    return True


@contextlib.contextmanager
def _as_sub_agent(context: Any) -> Iterator[None]:
    """Delegation only narrows: inside ``agent_context(agent_id=...)``, a tool called by another
    SDK agent listed under ``agents:`` (after a handoff) is decided as the caller's sub-agent, so
    both policies apply (docs/policy.md, "Layers and delegation")."""
    from agentgate._context import agent_context, current_context

    outer = current_context()
    sdk_agent = getattr(getattr(context, "agent", None), "name", None)
    if outer is None or not outer.agent_id or not isinstance(sdk_agent, str):
        yield
        return
    # An SDK agent that has its own entry under agents: (other than the caller's) is a handoff
    # target or agent-as-tool acting for the caller; other SDK agents act as the caller itself.
    from agentgate._firewall import get_firewall

    if sdk_agent in outer.lineage() or sdk_agent not in get_firewall().config.agents:
        yield
        return
    with agent_context(agent_id=sdk_agent):
        yield


def uninstall() -> None:
    """Restore the original invocation coroutine everywhere it was replaced."""
    with _lock:
        while _patched:
            module, original = _patched.pop()
            setattr(module, _HOOK, original)
        _state["installed"] = False
        _state["on_block"] = "raise"


#: Alias named in the issue ("has `unpatch()`").
unpatch = uninstall


def _message(exc: FirewallBlockedError) -> str:
    v = exc.verdict
    return f"AgentGate blocked this tool call ({v.policy_name}): {v.reasoning}"
