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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._call import ToolCall
from .._context import AgentContext
from .._decision import Finding
from ..policy import EffectivePolicy

if TYPE_CHECKING:
    from .classify import Classification

__all__ = ["Analyzer", "AnalyzerSettings", "Context", "Resource", "Target", "make_context"]


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
        extra: Settings for user analyzers.
    """

    resolve_dns: bool = True
    dns_timeout: float = 1.0
    dns_cache_ttl: float = 60.0
    sql_dialect: str | None = None
    allow_private_networks: tuple[str, ...] = ()
    sensitive_paths: tuple[str, ...] = ()
    resolver: Callable[[str, float], list[str]] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


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

    __slots__ = ("agent", "call", "classification", "policy", "scratch", "settings")

    def __init__(
        self,
        call: ToolCall,
        agent: AgentContext,
        policy: EffectivePolicy,
        classification: Classification,
        settings: AnalyzerSettings,
    ) -> None:
        self.call = call
        self.agent = agent
        self.policy = policy
        self.classification = classification
        self.settings = settings
        self.scratch: dict[str, Any] = {}

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
