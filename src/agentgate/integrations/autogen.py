"""AutoGen 0.4+ (autogen-core / autogen-agentchat) and classic ag2: every tool call passes the firewall first.

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

Classic ag2 (the ``autogen`` package of ag2 0.x, ``ConversableAgent``): we patch
``ConversableAgent.execute_function`` / ``a_execute_function``, which every
reply path (``tool_calls`` and legacy ``function_call``, sync and async) uses;
calls are audited with framework ``ag2``. A block raises out of
``generate_reply`` / ``initiate_chat``; ``return_error`` hands the model ag2's
usual failed-function message instead. Beware ag2's own OpenTelemetry
instrumentation: it stores a bound ``execute_function`` on each instrumented
agent, so instrument *after* ``protect_all()``.

Not covered: ``McpWorkbench`` calls its MCP session without going through
``run_json`` (use the MCP integration for those servers); the ag2 1.x rewrite.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib.util
import os
import threading
import warnings
from collections.abc import AsyncGenerator, Callable, Coroutine, Mapping
from typing import Any, cast

from agentgate._decision import Verdict
from agentgate._errors import ConfigError, FirewallBlockedError

from ._common import aguard_call, guard_call, record_result
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

FRAMEWORK = "autogen"
#: The audit trail's ``framework`` for calls intercepted in classic ag2.
CLASSIC = "ag2"

#: Versions the tests in tests/integrations/test_autogen.py ran against.
TESTED_VERSIONS: dict[str, str] = _versions("autogen-core", "autogen-agentchat", "autogen-ext", "ag2")

_ON_BLOCK = ("raise", "return_error")

_lock = threading.Lock()
_saved: list[tuple[type, str, Any]] = []  # (class, attribute, original), restored last first
_state: dict[str, Any] = {"installed": False, "on_block": "raise"}


def available() -> bool:
    """True when autogen-core (0.4+) or classic ag2 (``autogen.ConversableAgent``) is importable."""
    return _has("autogen_core") or _has_classic()


def installed() -> bool:
    """True while the patches are in place."""
    return bool(_state["installed"])


def install(on_block: str = "raise") -> bool:
    """Patch AutoGen 0.4+ tools and, when present, classic ag2 function execution; idempotent.

    Args:
        on_block: ``"raise"`` or ``"return_error"`` (see the module docstring).
            A second call only updates this setting.

    Returns:
        False when neither autogen-core nor classic ag2 is installed.
    """
    if on_block not in _ON_BLOCK:
        raise ConfigError(f"on_block must be one of {_ON_BLOCK}, not {on_block!r}")
    if not available():
        return False
    with _lock:
        _state["on_block"] = on_block
        if _state["installed"]:
            return True
        try:
            if _has("autogen_core"):
                _patch_core()
            if _has_classic():
                _patch_classic()
        except BaseException:
            _restore()
            raise
        _state["installed"] = True
    return True


def uninstall() -> None:
    """Restore the original methods (no-op when not installed)."""
    with _lock:
        _restore()
        _state["installed"] = False
        _state["on_block"] = "raise"


def _restore() -> None:
    while _saved:
        cls, attr, original = _saved.pop()
        setattr(cls, attr, original)


def _patch(cls: type, attr: str, wrapper: Any) -> None:
    original = cls.__dict__[attr]
    wrapper.__doc__ = getattr(original, "__doc__", None)
    wrapper.__agentgate_original__ = original
    _saved.append((cls, attr, original))
    setattr(cls, attr, wrapper)


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _has_classic() -> bool:
    # ag2 0.x ships the classic API as the ``autogen`` package (not autogen-core's
    # ``autogen_core``). Look for the module on disk: find_spec of a submodule would
    # import ``autogen`` itself, which takes seconds.
    spec = importlib.util.find_spec("autogen")
    if spec is None or not spec.submodule_search_locations:
        return False
    return any(
        os.path.isfile(os.path.join(loc, "agentchat", "conversable_agent.py"))
        for loc in spec.submodule_search_locations
    )


# --------------------------------------------------------------- AutoGen 0.4+


def _patch_core() -> None:
    from autogen_core.tools import BaseStreamTool, BaseTool

    orig_run_json = BaseTool.run_json
    orig_stream = BaseStreamTool.run_json_stream

    async def run_json(self: Any, args: Mapping[str, Any], cancellation_token: Any, call_id: str | None = None) -> Any:
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

    _patch(BaseTool, "run_json", run_json)
    _patch(BaseStreamTool, "run_json_stream", run_json_stream)


# ---------------------------------------------------------------- classic ag2


_Outcome = tuple[bool, dict[str, Any]]  # ag2's (is_exec_success, function message)
_ExecFn = Callable[..., _Outcome]
_AExecFn = Callable[..., Coroutine[Any, Any, _Outcome]]


def _patch_classic() -> None:
    with warnings.catch_warnings():
        # ag2 0.14's import trips third-party deprecations (jsonschema.RefResolver) that
        # are no concern of the user who only called protect_all().
        warnings.simplefilter("ignore", DeprecationWarning)
        # By name: ag2 is optional and has no place in the type checker's world.
        conversable = importlib.import_module("autogen.agentchat.conversable_agent")
    agent_cls: type = conversable.ConversableAgent

    orig_exec: _ExecFn = agent_cls.__dict__["execute_function"]
    orig_aexec: _AExecFn = agent_cls.__dict__["a_execute_function"]

    def execute_function(
        self: Any, func_call: dict[str, Any], call_id: str | None = None, verbose: bool = False
    ) -> tuple[bool, dict[str, Any]]:
        name = func_call.get("name", "")
        if name not in self._function_map:  # nothing would run: ag2 answers "not found"
            return orig_exec(self, func_call, call_id=call_id, verbose=verbose)
        try:
            verdict = guard_call(name, func_call.get("arguments", "{}"), framework=CLASSIC, call_id=call_id)
        except FirewallBlockedError as exc:
            if _state["on_block"] == "return_error":
                return False, {"name": name, "role": "function", "content": _message(exc)}
            raise
        ok, out = orig_exec(self, func_call, call_id=call_id, verbose=verbose)
        if ok:
            record_result(verdict, out.get("content"))
        return ok, out

    def a_execute_function(
        self: Any, func_call: dict[str, Any], call_id: str | None = None, verbose: bool = False
    ) -> Coroutine[Any, Any, tuple[bool, dict[str, Any]]]:
        # Deliberately not ``async def``: ag2's *sync* reply runs this coroutine in a
        # helper thread that inherits neither our context (scope, agent) nor a way
        # to raise (it surfaces as ``KeyError: 'value'``). Without a running loop we
        # are on that path, so decide here, in the caller's thread, before any thread starts.
        name = func_call.get("name", "")
        if name not in self._function_map:
            return orig_aexec(self, func_call, call_id, verbose)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            try:
                verdict: Verdict | None = guard_call(
                    name, func_call.get("arguments", "{}"), framework=CLASSIC, call_id=call_id
                )
            except FirewallBlockedError as exc:
                if _state["on_block"] != "return_error":
                    raise
                return _refusal(name, _message(exc))
            return _run_classic(orig_aexec, self, func_call, call_id, verbose, verdict, contextvars.copy_context())
        return _run_classic(orig_aexec, self, func_call, call_id, verbose, None, contextvars.copy_context())

    _patch(agent_cls, "execute_function", execute_function)
    _patch(agent_cls, "a_execute_function", a_execute_function)


async def _refusal(name: str, text: str) -> tuple[bool, dict[str, Any]]:
    return False, {"name": name, "role": "function", "content": text}


async def _run_classic(
    orig: Any,
    agent: Any,
    func_call: dict[str, Any],
    call_id: str | None,
    verbose: bool,
    verdict: Verdict | None,
    ctx: contextvars.Context,
) -> tuple[bool, dict[str, Any]]:
    name = func_call.get("name", "")
    if verdict is None:
        # Decide in the context captured when the coroutine was made (the caller's scope).
        decide = aguard_call(name, func_call.get("arguments", "{}"), framework=CLASSIC, call_id=call_id)
        try:
            verdict = await asyncio.get_running_loop().create_task(decide, context=ctx)
        except FirewallBlockedError as exc:
            if _state["on_block"] == "return_error":
                return False, {"name": name, "role": "function", "content": _message(exc)}
            raise
    ok, out = await orig(agent, func_call, call_id=call_id, verbose=verbose)
    if ok:
        ctx.run(record_result, verdict, out.get("content"))
    return cast("tuple[bool, dict[str, Any]]", (ok, out))


#: Alias named in the issue ("has `unpatch()`").
unpatch = uninstall


def _message(exc: FirewallBlockedError) -> str:
    v = exc.verdict
    return f"AgentGate blocked this tool call ({v.policy_name}): {v.reasoning}"
