"""Machinery shared by the model-SDK integrations (``openai``, ``anthropic``).

Those SDKs never run a tool themselves: they hand the agent loop a completion
that *proposes* tool calls, and the loop dispatches them. The firewall therefore
decides at the moment the proposal leaves the SDK (the response's ``parse()``
and the SSE stream iterator), so a blocked call never reaches the dispatcher.

Three things happen around each proposal:

* the request's user/system messages become the trusted task context of the
  current `AgentContext` (the judge and provenance rules read it);
* tool results the loop sends back in the next request (``role: tool``,
  ``function_call_output``, ``tool_result``) are attached to the history entry
  of the call that produced them;
* every proposed call is decided; blocks are collected so the caller either
  raises the first (``on_block="raise"``) or rewrites the completion.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from agentgate._context import get_context
from agentgate._decision import Verdict
from agentgate._errors import FirewallBlockedError

from ._common import aguard_call, guard_call

__all__ = [
    "ON_BLOCK_CHOICES",
    "Blocked",
    "ClassPatcher",
    "Decided",
    "Proposed",
    "adecide_all",
    "block_note",
    "check_on_block",
    "decide_all",
    "managed_elsewhere",
    "record_results",
    "refuse",
    "stash_trusted",
    "wrap_astream",
    "wrap_stream",
]

ON_BLOCK_CHOICES = ("raise", "return_error")

# How many call-id → decision-id links one context keeps while waiting for the
# loop to send the tool's result back; older ones are dropped (their result is
# simply not recorded).
_MAX_PENDING = 256
_MAX_TRUSTED = 32
_PENDING_KEY = "agentgate.pending_tool_results"


@dataclass(frozen=True, slots=True)
class Proposed:
    """One tool call a model proposed: name, raw arguments (dict or JSON text), id."""

    name: str
    arguments: Any
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class Blocked:
    """A proposed call the firewall refused, with the error it raised."""

    call: Proposed
    error: FirewallBlockedError


def check_on_block(on_block: str) -> str:
    """Validate an ``on_block`` argument (``raise`` or ``return_error``)."""
    if on_block not in ON_BLOCK_CHOICES:
        raise ValueError(f"on_block must be one of {ON_BLOCK_CHOICES}, not {on_block!r}")
    return on_block


class ClassPatcher:
    """Replace attributes on classes, remembering the originals (idempotent install/uninstall)."""

    __slots__ = ("_saved",)

    def __init__(self) -> None:
        self._saved: list[tuple[type[Any], str, Any]] = []

    @property
    def active(self) -> bool:
        """Whether any patch is in place."""
        return bool(self._saved)

    def patch(self, cls: type[Any], attr: str, make: Callable[[Any], Any]) -> None:
        """Set ``cls.attr = make(original)``; the original must be defined on *cls* itself."""
        original = cls.__dict__[attr]
        self._saved.append((cls, attr, original))
        setattr(cls, attr, make(original))

    def restore(self) -> None:
        """Put every original back, last patch first."""
        while self._saved:
            cls, attr, original = self._saved.pop()
            setattr(cls, attr, original)


# Agent frameworks that call the model SDKs themselves and have their own
# integration deciding each tool call where it runs: module prefix -> integration.
_FRAMEWORK_MODULES: tuple[tuple[str, str], ...] = (
    ("agents.", "openai_agents"),
    ("autogen_", "autogen"),
    ("autogen.", "autogen"),  # classic ag2 (ConversableAgent) is the ``autogen`` package
    ("langchain", "langchain"),
    ("langgraph", "langchain"),
    ("crewai", "crewai"),
)
_MAX_FRAMES = 96


def managed_elsewhere() -> bool:
    """Whether the SDK call comes from an agent framework whose own integration is installed.

    Such a framework's tool calls are decided where its tools run (with its own
    ``on_block`` handling); deciding the model's proposal as well would audit
    and rate-count every call twice. Without that integration the SDK hook is
    the only guard, and it decides.
    """
    prefixes = []
    for prefix, name in _FRAMEWORK_MODULES:
        mod = sys.modules.get(f"agentgate.integrations.{name}")
        installed = getattr(mod, "installed", None)
        if installed is not None and installed():
            prefixes.append(prefix)
    if not prefixes:
        return False
    wanted = tuple(prefixes)
    frame: FrameType | None = sys._getframe(1)
    for _ in range(_MAX_FRAMES):
        if frame is None:
            return False
        name = frame.f_globals.get("__name__", "")
        if isinstance(name, str) and name.startswith(wanted):
            return True
        frame = frame.f_back
    return False


def _pending() -> dict[str, str]:
    meta = get_context().metadata
    pending = meta.get(_PENDING_KEY)
    if not isinstance(pending, dict):
        pending = {}
        meta[_PENDING_KEY] = pending
    return pending


def _remember(call_id: str | None, decision_id: str) -> None:
    if not call_id or not decision_id:
        return
    pending = _pending()
    pending[call_id] = decision_id
    while len(pending) > _MAX_PENDING:
        del pending[next(iter(pending))]


def record_results(results: Iterable[tuple[str, Any]]) -> None:
    """Attach tool results (by call id) to the history entries of the calls that produced them."""
    pending: dict[str, str] | None = None
    for call_id, result in results:
        if pending is None:
            pending = _pending()
            if not pending:
                return
        decision_id = pending.pop(call_id, None)
        if decision_id is not None:
            get_context().record_result(decision_id, result)


def stash_trusted(task_texts: Sequence[str], other_texts: Sequence[str] = ()) -> None:
    """Record the user's messages as trusted context of the current agent.

    The first user message becomes ``task_description`` when none was set (an
    explicit ``agent_context(task=...)`` wins); every message joins
    ``trusted_inputs`` once. Agent loops resend the whole conversation on each
    turn, hence the de-duplication.
    """
    if not task_texts and not other_texts:
        return
    ctx = get_context()
    if not ctx.task_description:
        for text in task_texts:
            if text.strip():
                ctx.task_description = text.strip()
                break
    trusted = ctx.trusted_inputs
    for text in (*other_texts, *task_texts):
        text = text.strip()
        if text and text not in trusted:
            trusted.append(text)
    if len(trusted) > _MAX_TRUSTED:
        del trusted[: len(trusted) - _MAX_TRUSTED]


class Decided(list[Blocked]):
    """The blocked calls of a batch, in order (a list), plus the allowed ones with their verdicts."""

    allowed: list[tuple[Proposed, Verdict]]

    def __init__(self) -> None:
        super().__init__()
        self.allowed = []


def decide_all(calls: Iterable[Proposed], framework: str) -> Decided:
    """Decide every proposed call (all are audited); return the blocked ones in order."""
    out = Decided()
    for call in calls:
        try:
            verdict = guard_call(call.name, call.arguments, framework=framework, call_id=call.call_id)
        except FirewallBlockedError as exc:
            out.append(Blocked(call, exc))
            continue
        out.allowed.append((call, verdict))
        _remember(call.call_id, verdict.decision_id)
    return out


async def adecide_all(calls: Iterable[Proposed], framework: str) -> Decided:
    """Async twin of `decide_all`."""
    out = Decided()
    for call in calls:
        try:
            verdict = await aguard_call(call.name, call.arguments, framework=framework, call_id=call.call_id)
        except FirewallBlockedError as exc:
            out.append(Blocked(call, exc))
            continue
        out.allowed.append((call, verdict))
        _remember(call.call_id, verdict.decision_id)
    return out


def refuse(decided: Decided, framework: str) -> None:
    """Raise the first block of a batch whose allowed siblings will therefore never be handed over.

    Each allowed sibling was audited ALLOW a moment ago; since it will not run, a
    ``batch.withdrawn`` BLOCK record follows it in the trail (same call id, the
    reason names the sibling that was blocked) and its history entry becomes
    ``block``, so the trail and the history say what actually ran.
    """
    if not decided:
        return
    first = decided[0]
    if decided.allowed:
        _withdraw(decided.allowed, first, framework)
    raise first.error


def _withdraw(allowed: Sequence[tuple[Proposed, Verdict]], cause: Blocked, framework: str) -> None:
    from agentgate._decision import Severity, VerdictType
    from agentgate._firewall import _decision_id, get_firewall

    from ._common import _call

    fw = get_firewall()
    agent = get_context()
    ids = {v.decision_id for _, v in allowed}
    for rec in agent.action_history:
        if rec.decision_id in ids:
            rec.verdict = "block"
    if fw.auditor is None:
        return
    for call, verdict in allowed:
        withdrawn = Verdict(
            VerdictType.BLOCK,
            verdict.tier_used,
            "batch.withdrawn",
            Severity.LOW,
            f"allowed (decision {verdict.decision_id}) but never handed to the agent: {cause.call.name} "
            "in the same completion was blocked and the whole completion was refused",
            decision_id=_decision_id(),
            policy_revision=verdict.policy_revision,
            mode=verdict.mode,
        )
        try:
            fw.auditor.record(_call(call.name, call.arguments, framework, call.call_id), withdrawn, agent)
        except Exception:  # the audit must never crash the host; the writer counts its own failures
            logging.getLogger("agentgate").exception("agentgate audit enqueue failed")


def block_note(blocked: Sequence[Blocked]) -> str:
    """The text a model reads in place of the tool calls the firewall refused."""
    lines = []
    for b in blocked:
        v = b.error.verdict
        lines.append(
            f"[AgentGate] The tool call {b.call.name} was blocked by policy "
            f"({v.policy_name or 'firewall'}): {v.reasoning or 'not allowed'}. It did not run."
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------- streams


class StreamAccumulator(Protocol):
    """Assembles a provider's stream events into proposed calls as they complete."""

    def feed(self, item: Any) -> list[Proposed]:
        """Take one event; return the calls it completes (decided before it is handed over)."""
        ...

    def end(self) -> list[Proposed]:
        """The stream ended: calls still open (decided anyway; the loop may use them)."""
        ...


def _raise_first(decided: Decided, framework: str) -> None:
    # Part of the call was already streamed out; a stream cannot be rewritten, so always raise.
    refuse(decided, framework)


def wrap_stream(
    original: Callable[..., Iterator[Any]],
    accumulator: Callable[[], StreamAccumulator],
    observe: Callable[[Any], None],
    framework: str,
) -> Callable[..., Iterator[Any]]:
    """Patch for an SDK's ``Stream.__stream__``: decide each call before the event completing it is yielded."""

    @functools.wraps(original)
    def __stream__(self: Any) -> Iterator[Any]:  # noqa: N807 - the SDK's name
        observe(getattr(self, "_options", None))
        acc = accumulator()
        inner = original(self)
        if managed_elsewhere():
            yield from inner
            return
        try:
            for item in inner:
                ready = acc.feed(item)
                if ready:
                    _raise_first(decide_all(ready, framework), framework)
                yield item
            ready = acc.end()
            if ready:
                _raise_first(decide_all(ready, framework), framework)
        finally:
            inner.close()  # type: ignore[attr-defined]

    return __stream__


def wrap_astream(
    original: Callable[..., AsyncIterator[Any]],
    accumulator: Callable[[], StreamAccumulator],
    observe: Callable[[Any], None],
    framework: str,
) -> Callable[..., AsyncIterator[Any]]:
    """Async twin of `wrap_stream` for ``AsyncStream.__stream__``."""

    @functools.wraps(original)
    async def __stream__(self: Any) -> AsyncIterator[Any]:  # noqa: N807 - the SDK's name
        observe(getattr(self, "_options", None))
        acc = accumulator()
        inner = original(self)
        if managed_elsewhere():
            async for item in inner:
                yield item
            return
        try:
            async for item in inner:
                ready = acc.feed(item)
                if ready:
                    _raise_first(await adecide_all(ready, framework), framework)
                yield item
            ready = acc.end()
            if ready:
                _raise_first(await adecide_all(ready, framework), framework)
        finally:
            await inner.aclose()  # type: ignore[attr-defined]

    return __stream__
