"""CrewAI: every tool call, on both execution paths, passes the firewall first.

CrewAI runs tools on two paths: native function calling (the executor calls
``tool.run(**args)`` from its ``available_functions``) and ReAct text parsing
(``ToolUsage`` calls ``CrewStructuredTool.invoke``). Both consult CrewAI's
global ``before_tool_call`` hooks first, and a hook that returns ``False``
truly stops the call: the tool body never runs and the agent reads a refusal.
That is our hook (``crewai.hooks.register_before_tool_call_hook``).

Two properties of CrewAI's dispatcher shape this module:

* A hook that raises anything other than ``HookAborted`` is **ignored and the
  tool runs** (fail-open). So our hook never raises: a block, and any internal
  error while deciding, returns ``False``.
* Exceptions never reach the caller of ``Crew.kickoff`` from either path, so
  ``on_block`` makes no difference here: the agent always gets the refusal as
  the tool result and can recover. An ``after_tool_call`` hook replaces
  CrewAI's generic "blocked by hook" text with our reason, and records allowed
  calls' raw results into the agent's history.

Hooks registered *after* `install` run after ours and could rewrite the
arguments we approved: call ``protect_all()`` after registering your own hooks.

Delegation only narrows. While a crew member's tool runs (CrewAI's "Delegate work to
coworker" runs the coworker's whole task inside it), that member is recorded as acting;
a tool call made inside by another member is decided, inside
``agent_context(agent_id=...)``, as the sub-agent of each acting member whose role has
an entry under ``agents:``, and then as the calling member's (`acting_as`), so the
coworker can do only what every agent on the chain may do.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections import OrderedDict
from contextvars import ContextVar, Token
from typing import Any

from agentgate._decision import Verdict
from agentgate._errors import ConfigError, FirewallBlockedError

from ._common import acting_as, guard_call, record_result
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

FRAMEWORK = "crewai"

#: Versions the tests in tests/integrations/test_crewai.py ran against (in .venv-crewai).
TESTED_VERSIONS: dict[str, str] = _versions("crewai")

_ON_BLOCK = ("raise", "return_error")
_MAX_PENDING = 1024

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_state: dict[str, Any] = {"installed": False, "on_block": "raise"}

# Before-hook outcome per in-flight call, keyed by the identity of the
# ``tool_input`` dict CrewAI passes to both hooks of the same call. The dict is
# kept alive in the entry so its id cannot be reused while pending. An allowed
# call also keeps the token that marked its agent as acting (reset by the after hook).
_Outcome = Verdict | str
_pending: OrderedDict[int, tuple[object, _Outcome, Token[tuple[str, ...]] | None]] = OrderedDict()

# Roles of the crew members whose tool is running in this flow, outermost first.
_acting: ContextVar[tuple[str, ...]] = ContextVar("agentgate_crewai_acting", default=())
_pending_lock = threading.Lock()


def available() -> bool:
    """True when crewai is importable."""
    return importlib.util.find_spec("crewai") is not None


def installed() -> bool:
    """True while our hooks are registered (``clear_all_global_hooks()`` removes them)."""
    if not _state["installed"]:
        return False
    from crewai.hooks import get_after_tool_call_hooks, get_before_tool_call_hooks

    return _before_tool_call in get_before_tool_call_hooks() and _after_tool_call in get_after_tool_call_hooks()


def install(on_block: str = "raise") -> bool:
    """Register the firewall's before/after tool-call hooks; idempotent. False without crewai.

    Args:
        on_block: Accepted for the common contract; CrewAI never propagates a
            tool exception, so both values hand the agent the refusal.
    """
    if on_block not in _ON_BLOCK:
        raise ConfigError(f"on_block must be one of {_ON_BLOCK}, not {on_block!r}")
    if not available():
        return False
    from crewai.hooks import (
        get_after_tool_call_hooks,
        get_before_tool_call_hooks,
        register_after_tool_call_hook,
        register_before_tool_call_hook,
    )

    with _lock:
        _state["on_block"] = on_block
        # Re-register a hook someone cleared: installed() must mean protected.
        if _before_tool_call not in get_before_tool_call_hooks():
            register_before_tool_call_hook(_before_tool_call)
        if _after_tool_call not in get_after_tool_call_hooks():
            register_after_tool_call_hook(_after_tool_call)
        _state["installed"] = True
    return True


def uninstall() -> None:
    """Unregister our hooks (no-op when not installed)."""
    with _lock:
        if not _state["installed"]:
            return
        from crewai.hooks import unregister_after_tool_call_hook, unregister_before_tool_call_hook

        unregister_before_tool_call_hook(_before_tool_call)
        unregister_after_tool_call_hook(_after_tool_call)
        _state["installed"] = False
        _state["on_block"] = "raise"
        with _pending_lock:
            _pending.clear()


#: Alias named in the issue ("has `unpatch()`").
unpatch = uninstall


def _before_tool_call(context: Any) -> bool | None:
    """CrewAI ``before_tool_call`` hook: ``False`` stops the call, ``None`` lets it run."""
    tool_input = context.tool_input
    try:
        role = getattr(getattr(context, "agent", None), "role", None)
        chain = _acting.get()
        if isinstance(role, str) and role and (not chain or chain[-1] != role):
            chain = (*chain, role)
        with acting_as(chain):
            verdict = guard_call(str(context.tool_name), tool_input, framework=FRAMEWORK)
    except FirewallBlockedError as exc:
        _remember(tool_input, _message(exc))
        return False
    except Exception as exc:
        # CrewAI would swallow this and run the tool: block instead (never fail open).
        _log.exception("AgentGate could not decide CrewAI tool call %r; blocking it", context.tool_name)
        _remember(tool_input, f"AgentGate could not decide this tool call, so it was blocked: {exc}")
        return False
    # Until the after hook, tools that other members call inside this one act for this chain.
    _remember(tool_input, verdict, _acting.set(chain))
    return None


def _after_tool_call(context: Any) -> str | None:
    """CrewAI ``after_tool_call`` hook: our refusal text on a block; record the result otherwise."""
    with _pending_lock:
        entry = _pending.pop(id(context.tool_input), None)
    if entry is None or entry[0] is not context.tool_input:
        return None
    outcome, token = entry[1], entry[2]
    if token is not None:
        try:
            _acting.reset(token)
        except ValueError:  # set in another context (a thread hop): drop this member only
            _acting.set(token.old_value if token.old_value is not Token.MISSING else ())
    if isinstance(outcome, str):
        return outcome
    try:
        record_result(outcome, context.raw_tool_result)
    except Exception:  # history is best effort; never break the agent's run over it
        _log.exception("AgentGate could not record the result of %r", context.tool_name)
    return None


def _remember(tool_input: object, outcome: _Outcome, token: Token[tuple[str, ...]] | None = None) -> None:
    with _pending_lock:
        _pending[id(tool_input)] = (tool_input, outcome, token)
        while len(_pending) > _MAX_PENDING:  # calls whose after-hook never ran
            _pending.popitem(last=False)


def _message(exc: FirewallBlockedError) -> str:
    v = exc.verdict
    return f"Tool execution blocked by AgentGate ({v.policy_name}): {v.reasoning}"
