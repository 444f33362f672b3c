"""Who is acting, on what task, with what history: per thread and per asyncio task.

Context lives in `contextvars`, so two threads or two asyncio tasks never see
each other's agent identity or scopes. ``agent_context(...)`` and
``scope(...)`` push onto the current context and pop on exit. A ``scope()`` pushes
a *child* `AgentContext` (`AgentContext.child`): same identity, its own task
description and its own history (seeded with the enclosing history), so 100
asyncio tasks that each enter a scope never read each other's task or calls.

Threads and executors do not inherit `contextvars` by themselves: `propagate`
wraps a callable so it runs in a copy of the caller's context, and
``protect_all()`` installs `install_thread_propagation` so every
``threading.Thread`` started and every ``ThreadPoolExecutor`` task submitted (also
``loop.run_in_executor``) runs in the context it was started from.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

__all__ = [
    "ActionRecord",
    "AgentContext",
    "agent_context",
    "current_context",
    "get_context",
    "install_thread_propagation",
    "propagate",
    "uninstall_thread_propagation",
]

P = ParamSpec("P")
R = TypeVar("R")

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
    # What the provenance analyzer read from ``result`` (computed once, on first need).
    provenance: Any = field(default=None, repr=False, compare=False)
    # The listings of records in ``result`` (which one the user meant), read once likewise.
    listings: Any = field(default=None, repr=False, compare=False)


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
        parent: The nearest enclosing context with an agent id, when this one was entered
            inside it (a sub-agent, handoff or delegated run): its policy also applies here,
            so a child can only narrow what its parent may do.
    """

    agent_id: str = ""
    task_id: str = ""
    user_id: str = ""
    task_description: str = ""
    trusted_inputs: list[str] = field(default_factory=list)
    action_history: deque[ActionRecord] = field(default_factory=lambda: deque(maxlen=_HISTORY))
    metadata: dict[str, Any] = field(default_factory=dict)
    # The thread / asyncio task that installed this context, and how many calls it recorded:
    # a scope's calls are handed back to its enclosing context on exit only in that flow.
    _owner: tuple[int, int] = field(default=(0, 0), init=False, repr=False, compare=False)
    _recorded: int = field(default=0, init=False, repr=False, compare=False)
    # Bumped by record_result, and when a record holding a result leaves the rolling history:
    # tells indexes built over the recorded outputs (provenance) that they changed.
    _results: int = field(default=0, init=False, repr=False, compare=False)
    _initial_task: str = field(default="", init=False, repr=False, compare=False)
    parent: AgentContext | None = None

    def lineage(self) -> tuple[str, ...]:
        """Agent ids from the outermost delegating agent to this one (ids may repeat only once each)."""
        ids: list[str] = []
        cur: AgentContext | None = self
        while cur is not None:
            if cur.agent_id and cur.agent_id not in ids:
                ids.append(cur.agent_id)
            cur = cur.parent
        return tuple(reversed(ids))

    def record_action(
        self, tool_name: str, arguments: dict[str, Any], verdict: str, decision_id: str = ""
    ) -> ActionRecord:
        """Append a tool call to the rolling history and return its record."""
        rec = ActionRecord(tool_name, arguments, verdict, decision_id)
        h = self.action_history
        if len(h) == h.maxlen and h[0].result is not None:
            self._dropping(h[0])
        h.append(rec)
        self._recorded += 1
        return rec

    def _dropping(self, rec: ActionRecord) -> None:
        # An output leaves the rolling history: what was read from it no longer counts.
        self._results += 1
        hook = on_drop
        if hook is not None:
            try:
                hook(self, rec)
            except Exception:  # the index is rebuilt at the next decision instead
                logging.getLogger("agentgate").exception("agentgate provenance index update failed")

    def child(self, task_description: str = "", **identity: str) -> AgentContext:
        """A new context for a nested block (a ``scope()``): same identity, own task and history.

        The child's history starts as a copy of this one's (what the flow did before
        the block) and records only what happens inside it, so concurrent blocks
        under one parent never see each other's calls. Metadata is copied shallowly,
        without AgentGate's own bookkeeping keys (``agentgate.*``).
        """
        ctx = AgentContext(
            agent_id=identity.get("agent_id") or self.agent_id,
            task_id=identity.get("task_id") or self.task_id,
            user_id=identity.get("user_id") or self.user_id,
            task_description=task_description or self.task_description,
            trusted_inputs=list(self.trusted_inputs),
            action_history=deque(self.action_history, maxlen=_HISTORY),
            metadata={k: v for k, v in self.metadata.items() if not k.startswith("agentgate.")},
        )
        # Delegation lineage: a block under another agent id is that agent's sub-agent.
        ctx.parent = self if self.agent_id and ctx.agent_id != self.agent_id else self.parent
        ctx._owner = _flow()
        ctx._initial_task = ctx.task_description
        return ctx

    def merge_child(self, child: AgentContext) -> None:
        """Hand a finished child's calls back, when the child ran in the flow that owns this context.

        Sequential code sees what its scopes did (``get_context().action_history`` after a
        ``with scope():``); a scope entered in another task or thread that shares this
        context never writes into it, so concurrent tasks stay apart.
        """
        if child._owner != self._owner:
            return
        if child._recorded:
            n = min(child._recorded, len(child.action_history))
            h = self.action_history
            merged = list(child.action_history)[-n:]
            for rec in merged:
                if len(h) == h.maxlen and h[0].result is not None:
                    self._dropping(h[0])
                h.append(rec)
            if any(rec.result is not None for rec in merged):
                self._results += 1  # outputs read inside the block: indexes over this history are stale
            self._recorded += n
        # What an SDK hook learned inside the block (the user's words), not the scope's own task.
        if not self.task_description and child.task_description != child._initial_task:
            self.task_description = child.task_description
        for text in child.trusted_inputs:
            if text not in self.trusted_inputs:
                self.trusted_inputs.append(text)

    def record_result(self, decision_id: str, result: Any) -> None:
        """Attach a tool's result to the history entry of the call that produced it.

        The values in it are indexed here, when the tool has run, so that the next decision only
        looks them up (`on_result`: the provenance analyzer's indexer).
        """
        for rec in reversed(self.action_history):
            if rec.decision_id == decision_id:
                fresh = rec.result is None
                rec.result = result
                rec.provenance = None
                rec.listings = None
                self._results += 1
                hook = on_result
                if hook is not None:
                    try:
                        hook(self, rec, fresh)
                    except Exception:
                        rec.provenance = None
                return


#: Called with the context, the history record whose result was just recorded, and whether the
#: record had no result before (set by the provenance analyzer, which reads the output's values then
#: and adds them to its index, instead of on the next decision).
on_result: Callable[[AgentContext, ActionRecord, bool], Any] | None = None
#: Called with the context and the oldest record, holding a result, just before it leaves the history.
on_drop: Callable[[AgentContext, ActionRecord], Any] | None = None


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
        ctx._owner = _flow()
        _current.set(ctx)
    return ctx


def _flow() -> tuple[int, int]:
    """(thread, asyncio task) identity of the code running now."""
    aio = sys.modules.get("asyncio")  # no asyncio imported: no event loop can be running
    task = aio.current_task() if aio is not None and aio._get_running_loop() is not None else None
    return threading.get_ident(), id(task) if task is not None else 0


class agent_context:  # noqa: N801 - seed API spells it in lower case, like a function
    """Set who is acting for a block of code (``with`` or ``async with``).

    >>> with agent_context(agent_id="report-bot", task_id="run-42") as ctx:
    ...     get_context().agent_id
    'report-bot'

    ``agent_id`` selects the agent's policy in agentgate.yaml. Missing ids are
    generated for ``task_id``; ``agent_id`` stays empty (the ``default`` policy).
    """

    __slots__ = ("_ctx", "_task_given", "_tokens")

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
        self._task_given = bool(task_id)
        self._tokens: list[Token[AgentContext | None]] = []

    @property
    def context(self) -> AgentContext:
        """The AgentContext this manager installs."""
        return self._ctx

    def __enter__(self) -> AgentContext:
        if self._ctx._owner == (0, 0):
            self._ctx._owner = _flow()
        outer = _current.get()
        if outer is not None and outer is not self._ctx:
            # Delegation: a context entered inside an agent's is its sub-agent. The parent's
            # policy keeps applying (policy_for intersects the lineage) and the task, with its
            # budgets, is shared unless the caller names another.
            self._ctx.parent = outer if outer.agent_id else outer.parent
            if not self._task_given and outer.task_id:
                self._ctx.task_id = outer.task_id
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


# ------------------------------------------------------------------ threads


def propagate(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap *fn* so it runs in a copy of the caller's context (agent, scopes) wherever it is called.

    For threads and pools ``protect_all()`` does not patch (a process-wide pool created
    by a C extension, a callback handed to a library's own worker)::

        pool.apply_async(agentgate.propagate(tool), args)

    The context is captured when ``propagate`` is called, as ``asyncio.to_thread`` does.
    """
    ctx = contextvars.copy_context()

    @functools.wraps(fn)
    def run_in_context(*args: P.args, **kwargs: P.kwargs) -> R:
        # A Context can be entered by one thread at a time: each call runs in its own copy.
        return ctx.copy().run(fn, *args, **kwargs)

    return run_in_context


_originals: dict[str, Any] = {}
_patch_lock = threading.Lock()


def _thread_start(self: threading.Thread) -> None:
    ctx = contextvars.copy_context()
    run = self.run
    # An instance attribute, not a class patch: subclasses that override run() are covered too.
    self.run = functools.partial(ctx.run, run)  # type: ignore[method-assign]
    _originals["Thread.start"](self)


def _pool_submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
    ctx = contextvars.copy_context()
    return _originals["ThreadPoolExecutor.submit"](self, ctx.run, fn, *args, **kwargs)  # type: ignore[no-any-return]


def install_thread_propagation() -> bool:
    """Make threads and ``ThreadPoolExecutor`` tasks run in the context they were started from.

    Patches ``threading.Thread.start`` and ``ThreadPoolExecutor.submit`` (which
    ``executor.map`` and ``loop.run_in_executor`` use), the way OpenTelemetry's
    threading instrumentation does: the caller's context is copied at start/submit
    and the target runs inside the copy. Idempotent; returns False when already installed.
    """
    with _patch_lock:
        if _originals:
            return False
        _originals["Thread.start"] = threading.Thread.start
        _originals["ThreadPoolExecutor.submit"] = ThreadPoolExecutor.submit
        threading.Thread.start = _thread_start  # type: ignore[method-assign]
        ThreadPoolExecutor.submit = _pool_submit  # type: ignore[method-assign,assignment]
        return True


def uninstall_thread_propagation() -> None:
    """Undo `install_thread_propagation`."""
    with _patch_lock:
        if not _originals:
            return
        threading.Thread.start = _originals.pop("Thread.start")  # type: ignore[method-assign]
        ThreadPoolExecutor.submit = _originals.pop("ThreadPoolExecutor.submit")  # type: ignore[method-assign]
