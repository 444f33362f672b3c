"""Who is acting, on what task, with what history: per thread and per asyncio task.

Context lives in `contextvars`, so two threads or two asyncio tasks never see
each other's agent identity or scopes. ``agent_context(...)`` and
``scope(...)`` push onto the current context and pop on exit; nothing shared is
ever mutated.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

__all__ = ["ActionRecord", "AgentContext", "agent_context", "current_context", "get_context"]

_HISTORY = 50


@dataclass(slots=True)
class ActionRecord:
    """One past tool call in an agent's history (what the judge and provenance rules read).

    ``result`` is filled in by integrations that see the tool's output.
    """

    tool_name: str
    arguments: dict[str, Any]
    verdict: str
    decision_id: str = ""
    at: float = field(default_factory=time.time)
    result: Any = None


@dataclass(slots=True)
class AgentContext:
    """Identity and history of one agent execution.

    Attributes:
        agent_id: Selects the agent policy in agentgate.yaml (``default`` when empty).
        task_id: The run this call belongs to.
        user_id: The human on whose behalf the agent acts.
        task_description: The user's task in words (trusted; the judge reads it).
        trusted_inputs: Further trusted text (e.g. the user's messages).
        action_history: The last 50 tool calls with their verdicts (and results).
        metadata: Anything else the caller attaches.
    """

    agent_id: str = ""
    task_id: str = ""
    user_id: str = ""
    task_description: str = ""
    trusted_inputs: list[str] = field(default_factory=list)
    action_history: deque[ActionRecord] = field(default_factory=lambda: deque(maxlen=_HISTORY))
    metadata: dict[str, Any] = field(default_factory=dict)

    def record_action(
        self, tool_name: str, arguments: dict[str, Any], verdict: str, decision_id: str = ""
    ) -> ActionRecord:
        """Append a tool call to the rolling history and return its record."""
        rec = ActionRecord(tool_name, arguments, verdict, decision_id)
        self.action_history.append(rec)
        return rec

    def record_result(self, decision_id: str, result: Any) -> None:
        """Attach a tool's result to the history entry of the call that produced it."""
        for rec in reversed(self.action_history):
            if rec.decision_id == decision_id:
                rec.result = result
                return


# The implicit context used when no agent_context() is active. One per
# thread/task would lose history across calls of a plain script, so the default
# is created lazily per context and stored back into the ContextVar.
_current: ContextVar[AgentContext | None] = ContextVar("agentgate_agent_context", default=None)


def current_context() -> AgentContext | None:
    """The active AgentContext, or None outside any ``agent_context``."""
    return _current.get()


def get_context() -> AgentContext:
    """The active AgentContext, creating an anonymous one for this context if needed."""
    ctx = _current.get()
    if ctx is None:
        ctx = AgentContext()
        _current.set(ctx)
    return ctx


class agent_context:  # noqa: N801 - seed API spells it in lower case, like a function
    """Set who is acting for a block of code (``with`` or ``async with``).

    >>> with agent_context(agent_id="report-bot", task_id="run-42") as ctx:
    ...     get_context().agent_id
    'report-bot'

    ``agent_id`` selects the agent's policy in agentgate.yaml. Missing ids are
    generated for ``task_id``; ``agent_id`` stays empty (the ``default`` policy).
    """

    __slots__ = ("_ctx", "_tokens")

    def __init__(
        self,
        agent_id: str = "",
        task_id: str = "",
        user_id: str = "",
        task_description: str = "",
        *,
        task: str = "",
        trusted_inputs: list[str] | None = None,
        **metadata: Any,
    ) -> None:
        self._ctx = AgentContext(
            agent_id=agent_id,
            task_id=task_id or f"task-{uuid.uuid4().hex[:8]}",
            user_id=user_id,
            task_description=task_description or task,
            trusted_inputs=list(trusted_inputs or ()),
            metadata=metadata,
        )
        self._tokens: list[Token[AgentContext | None]] = []

    @property
    def context(self) -> AgentContext:
        """The AgentContext this manager installs."""
        return self._ctx

    def __enter__(self) -> AgentContext:
        self._tokens.append(_current.set(self._ctx))
        return self._ctx

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        _current.reset(self._tokens.pop())

    async def __aenter__(self) -> AgentContext:
        return self.__enter__()

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(et, ev, tb)


@contextmanager
def _use_context(ctx: AgentContext) -> Iterator[AgentContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
