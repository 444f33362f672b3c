"""The Analyzer protocol and the per-call analysis context.

An analyzer is any callable ``(call, ctx) -> Sequence[Finding]``. The default
chain is plain data (`DEFAULT_ANALYZERS` in ``agentgate.analyzers``); pass your own
tuple to ``Firewall(analyzers=...)`` to extend or replace it::

    def no_friday_deploys(call, ctx):
        if ctx.classification.operation == "deploy" and time.localtime().tm_wday == 4:
            return [Finding("custom.friday", Severity.MEDIUM, Effect.BLOCK, "no deploys on Friday")]
        return ()

    Firewall(analyzers=(*DEFAULT_ANALYZERS, no_friday_deploys))

Analyzers must be pure and fast (microseconds): no network I/O except the HTTP
analyzer's cached, time-bounded DNS resolution. They never raise for bad input;
an analyzer that crashes is turned into an ESCALATE finding by the firewall
(``analyzer.error``), never into an allow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._call import ToolCall, ToolSpec
from .._context import AgentContext
from .._decision import Finding
from ..policy import EffectivePolicy

if TYPE_CHECKING:
    from .classify import Classification

__all__ = [
    "Analyzer",
    "AnalyzerSettings",
    "BudgetExceeded",
    "Context",
    "Resource",
    "Target",
    "make_context",
    "note_side_input",
]


@dataclass(frozen=True, slots=True)
class Target:
    """A string an analyzer should examine.

    Attributes:
        argument: Dotted path of the argument (``query``, ``body.url``, ``cmds[1]``).
        value: The string.
        source: Why it is a target: ``spec`` (declared by the user), ``name`` (the
            tool or argument name says so) or ``sniff`` (the value looks like it).
            Analyzers are stricter with ``spec``/``name`` targets: an unparsable
            SQL string in a SQL tool escalates, a sniffed one that does not parse
            is just text.
    """

    argument: str
    value: str
    source: str


@dataclass(frozen=True, slots=True)
class Resource:
    """A resource a call touches, checked against the scope.

    ``kind`` picks the matching rules: ``path``, ``url``, ``host``, ``table``,
    ``email``, ``account``, ``generic``; ``sql`` marks SQL text whose tables the SQL
    analyzer extracts.
    """

    argument: str
    value: str
    kind: str


@dataclass(frozen=True, slots=True)
class AnalyzerSettings:
    """Knobs analyzers read. Set from agentgate.yaml (``analyzers:``) or ``Firewall(settings=...)``.

    Attributes:
        resolve_dns: Resolve host names and check every address (SSRF). On by default.
        dns_timeout: Seconds to wait for a resolution before escalating.
        dns_cache_ttl: Seconds a resolution is reused.
        sql_dialect: Default sqlglot dialect (per-tool ``dialect`` wins).
        allow_private_networks: CIDRs the HTTP analyzer may reach despite being private
            (an internal API the agent is meant to use).
        sensitive_paths: Extra globs the file analyzer treats as sensitive.
        resolver: ``(host, timeout) -> list of IP strings``; replaces the system
            resolver (tests, the eval suite, custom DNS). Raise ``OSError`` for
            "does not resolve".
        time_budget_ms: CPU time tier 1 may spend on one call (classification and every
            analyzer). Past it the call escalates (``tier1.budget``) instead of being
            decided on a part of the analysis. ``None`` turns the budget off. Checked
            between analyzers and inside long loops, on calls with more than
            ``budget_min_chars`` characters of arguments: smaller calls cannot exceed it
            (every pattern is linear-time) and are spared the clock reads.
        budget_min_chars: Argument size from which the budget is enforced.
        extra: Settings for user analyzers.
    """

    resolve_dns: bool = True
    dns_timeout: float = 1.0
    dns_cache_ttl: float = 60.0
    sql_dialect: str | None = None
    allow_private_networks: tuple[str, ...] = ()
    sensitive_paths: tuple[str, ...] = ()
    resolver: Callable[[str, float], list[str]] | None = None
    time_budget_ms: float | None = 50.0
    budget_min_chars: int = 2048
    extra: Mapping[str, Any] = field(default_factory=dict)


class BudgetExceeded(Exception):  # noqa: N818 - a signal between an analyzer and the firewall, not an error
    """Raised by `Context.check_budget` when the call's tier-1 time budget is spent.

    Analyzers let it propagate; the firewall turns it into a ``tier1.budget`` escalation.
    """


class Context:
    """Everything an analyzer may read about the call being decided.

    Attributes:
        call: The ToolCall.
        agent: Who is acting (identity, task, history).
        policy: The effective policy (agent policy ∩ active scopes).
        classification: Kind, operation, resources and per-analyzer targets.
        settings: Analyzer settings.
        scratch: Per-call memo shared by analyzers (e.g. parsed SQL), so work done
            once is not repeated.
    """

    __slots__ = (
        "agent",
        "call",
        "chain",
        "classification",
        "deadline",
        "depth",
        "policy",
        "scratch",
        "settings",
        "spec_for",
    )

    def __init__(
        self,
        call: ToolCall,
        agent: AgentContext,
        policy: EffectivePolicy,
        classification: Classification,
        settings: AnalyzerSettings,
        # Positional too: the firewall builds one per decision, and keywords bind measurably slower.
        spec_for: Callable[[str], ToolSpec | None] | None = None,
        chain: Sequence[Analyzer] | None = None,
        deadline: int | None = None,
        depth: int = 0,
    ) -> None:
        self.call = call
        self.agent = agent
        self.policy = policy
        self.classification = classification
        self.settings = settings
        self.scratch: dict[str, Any] = {}
        #: The registered spec of a tool name (the firewall's ``register_tools``), for carried calls.
        self.spec_for = spec_for
        #: The analyzer chain deciding this call; a carried call is decided by the same one.
        self.chain = chain
        #: ``time.thread_time_ns()`` past which the budget is spent, or None (no budget).
        self.deadline = deadline
        #: How many dispatcher calls this call is nested in.
        self.depth = depth

    def over_budget(self) -> bool:
        """Whether this call's tier-1 CPU budget is spent (False when it has none)."""
        return self.deadline is not None and time.thread_time_ns() > self.deadline

    def check_budget(self) -> None:
        """Raise `BudgetExceeded` when the budget is spent: call it inside long loops."""
        if self.deadline is not None and time.thread_time_ns() > self.deadline:
            raise BudgetExceeded

    def targets(self, kind: str) -> tuple[Target, ...]:
        """The strings to analyze as *kind* (``sql``, ``file``, ``http``, ``shell``)."""
        return self.classification.targets.get(kind, ())

    def resources(self, kind: str | None = None) -> tuple[Resource, ...]:
        """The call's resources, optionally only those of one *kind*."""
        res = self.classification.resources
        if kind is None or not res:  # most calls name no resource: skip building a tuple
            return res
        return tuple(r for r in res if r.kind == kind)


#: The analyzer signature.
Analyzer = Callable[[ToolCall, Context], Sequence[Finding]]


def make_context(
    call: ToolCall,
    *,
    policy: EffectivePolicy | None = None,
    agent: AgentContext | None = None,
    settings: AnalyzerSettings | None = None,
) -> Context:
    """Build a Context for *call* outside the firewall (tests, custom tooling)."""
    from .classify import classify

    return Context(
        call, agent or AgentContext(), policy or EffectivePolicy(), classify(call), settings or AnalyzerSettings()
    )


#: Long texts are scanned in windows of this many characters, overlapping by `WINDOW_OVERLAP`
#: (longer than any single finding: a PEM key, a hidden comment), with a budget check between
#: windows, so no single pattern run on a megabyte holds the call past its budget.
WINDOW = 16_384
WINDOW_OVERLAP = 4_096


def windows(text: str, ctx: Context | None = None) -> Iterator[tuple[int, str]]:
    """``(offset, window)`` over *text*; checks *ctx*'s budget before every window after the first."""
    if len(text) <= WINDOW:
        yield 0, text
        return
    step = WINDOW - WINDOW_OVERLAP
    for start in range(0, len(text) - WINDOW_OVERLAP, step):
        if start and ctx is not None:
            ctx.check_budget()
        yield start, text[start : start + WINDOW]


def budget_finding(ctx: Context, analyzer: object) -> Finding:
    """The ``tier1.budget`` escalation for a call whose budget ran out at *analyzer*."""
    from .._decision import Effect, Severity

    name = getattr(analyzer, "__name__", type(analyzer).__name__)
    ms = ctx.settings.time_budget_ms
    return Finding(
        "tier1.budget",
        Severity.MEDIUM,
        Effect.ESCALATE,
        f"tier-1 analysis spent its {ms:g} ms budget (at {name}, {ctx.call.walk().chars} characters of arguments); "
        "the rest of the call was not analyzed",
    )


def budget_deadline(call: ToolCall, settings: AnalyzerSettings) -> int | None:
    """The ``thread_time_ns`` deadline of *call*'s tier-1 budget, or None when it is not enforced.

    CPU time of the deciding thread, not wall time: waiting on DNS or being descheduled
    on a busy machine does not spend it; only work does.
    """
    if settings.time_budget_ms is None:
        return None
    start = time.thread_time_ns()  # before the walk: reading 20,000 arguments is part of the call's cost
    if call.walk().chars < settings.budget_min_chars:
        return None
    return start + int(settings.time_budget_ms * 1_000_000)


# Per thread: whether the analysis running here read state outside the call.
_side = threading.local()


def note_side_input() -> None:
    """Say that the analysis running on this thread read state outside the call's arguments.

    The file system (symlinks, existence), the working directory, ``$HOME``, DNS or the clock: an
    answer that relied on one of them may differ for the same arguments a moment later, so the
    firewall does not reuse it for an identical call (``agentgate._memo``). Call it from any
    analyzer code that reads such state; it costs one attribute store.
    """
    _side.seen = True


def side_inputs_begin() -> bool:
    """Start watching for `note_side_input` on this thread; returns the state to restore."""
    prev = bool(getattr(_side, "seen", False))
    _side.seen = False
    return prev


def side_inputs_end(prev: bool) -> bool:
    """Whether `note_side_input` was called since `side_inputs_begin`; restores the outer state."""
    seen = bool(getattr(_side, "seen", False))
    _side.seen = prev or seen
    return seen
