"""Escalation: what happens to a call tier 1 could not decide.

Rule that holds on every path, sync and async: an ESCALATE is **never** silently
allowed. It is resolved by, in order:

1. the tier-2 judge, when one is configured: its answer becomes ALLOW or BLOCK
   under `JudgeThresholds`; when it fails (timeout, HTTP error, malformed JSON,
   refusal, any exception) ``on_judge_error`` decides: ``"block"`` (default),
   ``"allow"`` (explicit opt-in) or ``"ask"`` (a human, through the approver);
2. otherwise ``on_escalate``: ``"block"`` (default), ``"allow"`` (explicit opt-in,
   recorded in the reason), or ``"ask"`` with an approver (a callable given as
   ``on_escalate`` is the approver).

Asking a human ends in ALLOW only on an explicit yes; a no, an error or no answer
in time blocks. The reason of the outcome always says which of these decided.

The decision flow is written once (`_after_judge`, `_after_judge_error`,
`_without_judge`, `_after_approval`); `resolve` and `aresolve` only do the I/O.
The sync path uses the judge's and approver's sync methods, so it works on a
thread that is running an event loop.

>>> Escalator(on_escalate="sometimes")
Traceback (most recent call last):
...
agentgate._errors.ConfigError: invalid configuration:
  - <config>: on_escalate must be one of block, allow, ask or a callable, not 'sometimes'
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._call import ToolCall
from ._context import AgentContext
from ._decision import Finding, VerdictType
from ._errors import ConfigError, ConfigProblem, JudgeError
from .judge.approvers import ApprovalDecision, Approver, ApproverFunc, CallableApprover, ConsoleApprover
from .judge.base import Judge, JudgeResult, JudgeThresholds, decide
from .policy import EffectivePolicy

__all__ = ["ON_ESCALATE_CHOICES", "ON_JUDGE_ERROR_CHOICES", "EscalationOutcome", "EscalationRequest", "Escalator"]

ON_ESCALATE_CHOICES = ("block", "allow", "ask")
ON_JUDGE_ERROR_CHOICES = ("block", "allow", "ask")


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
    """Tier 2's decision (ALLOW or BLOCK, never ESCALATE).

    ``extra`` carries details for the audit trail: ``judge`` (cached, attempts,
    consistent, injection markers, error) and ``approval`` (approver, answer).
    """

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


@dataclass(frozen=True, slots=True)
class _Ask:
    """A step of the flow that needs a human: what to say before the answer, and the judge's context."""

    prefix: str
    policy_prefix: str
    judge_model: str | None = None
    judge_latency_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Escalator:
    """Resolves escalations according to the firewall's settings.

    Args:
        judge: The tier-2 judge (`agentgate.judge.build_judge`), or None.
        on_escalate: Without a judge: ``"block"`` (default), ``"allow"``, ``"ask"``,
            or a callable approver ``(EscalationRequest) -> bool``.
        on_judge_error: When the judge fails: ``"block"`` (default), ``"allow"``, ``"ask"``.
        approver: Who is asked for ``"ask"`` (`ConsoleApprover`, `WebhookApprover`,
            `CallableApprover`, or any callable). Default: a `ConsoleApprover`, which
            blocks when there is no terminal.
        thresholds: How judge answers become verdicts; default: the judge's own
            ``thresholds`` attribute, else `JudgeThresholds()`.
    """

    def __init__(
        self,
        judge: Judge | None = None,
        on_escalate: str | Callable[[EscalationRequest], Any] = "block",
        *,
        on_judge_error: str = "block",
        approver: Approver | ApproverFunc | None = None,
        thresholds: JudgeThresholds | None = None,
    ) -> None:
        problems = []
        if isinstance(on_escalate, str) and on_escalate not in ON_ESCALATE_CHOICES:
            problems.append(
                f"on_escalate must be one of {', '.join(ON_ESCALATE_CHOICES)} or a callable, not {on_escalate!r}"
            )
        if on_judge_error not in ON_JUDGE_ERROR_CHOICES:
            problems.append(
                f"on_judge_error must be one of {', '.join(ON_JUDGE_ERROR_CHOICES)}, not {on_judge_error!r}"
            )
        if callable(on_escalate) and approver is not None:
            problems.append("give the approver either as on_escalate=<callable> or as approver=, not both")
        if judge is not None and not (
            callable(getattr(judge, "judge", None)) and callable(getattr(judge, "ajudge", None))
        ):
            problems.append(f"judge must have judge() and ajudge() methods, not {type(judge).__name__}")
        if problems:
            raise ConfigError([ConfigProblem(p) for p in problems])
        self.judge = judge
        self.on_escalate = on_escalate
        self.on_judge_error = on_judge_error
        self.approver: Approver | None
        if callable(on_escalate) and not isinstance(on_escalate, str):
            self.approver = CallableApprover(on_escalate)
            self._mode = "ask"
        else:
            self.approver = _as_approver(approver)
            self._mode = on_escalate
        self.thresholds = thresholds or getattr(judge, "thresholds", None) or JudgeThresholds()
        self._sealed = True

    # Part of the firewall: ``escalator.on_escalate = "allow"`` from code inside the agent's
    # process would switch tier 2 off as surely as ``mode = "monitor"``.
    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_sealed", False):
            raise AttributeError(
                f"an Escalator is immutable after construction (tried to set {name!r}); use agentgate.reconfigure(...)"
            )
        object.__setattr__(self, name, value)

    def _get_approver(self) -> Approver:
        if self.approver is None:
            object.__setattr__(self, "approver", ConsoleApprover())
        assert self.approver is not None
        return self.approver

    # -- the decision flow (pure) -------------------------------------------------------

    def _after_judge(self, req: EscalationRequest, res: JudgeResult) -> EscalationOutcome:
        a = res.answer
        action, why = decide(a, self.thresholds, res.injection_markers)
        policy = "judge.injection" if res.injection_markers and action is VerdictType.BLOCK and a.consistent else None
        facts = (
            f"confidence {a.confidence:.2f}, blast radius {a.blast_radius}, {'reversible' if a.reversible else 'irreversible'}"
            + (", cached" if res.cached else "")
        )
        return EscalationOutcome(
            action,
            f"escalated ({_summary(req.findings)}); tier-2 judge {res.model}: {why} ({facts}): {a.reasoning}",
            policy or f"judge.{action.value}",
            tier_used=2,
            confidence=a.confidence,
            reversible=a.reversible,
            judge_model=res.model,
            judge_latency_ms=round(res.latency_ms, 3),
            blast_radius=a.blast_radius,
            extra={
                "judge": {
                    "consistent": a.consistent,
                    "cached": res.cached,
                    "attempts": res.attempts,
                    "injection_markers": list(res.injection_markers),
                }
            },
        )

    def _after_judge_error(self, req: EscalationRequest, exc: Exception, latency_ms: float) -> EscalationOutcome | _Ask:
        model = str(getattr(self.judge, "model", type(self.judge).__name__))
        msg = str(exc) or type(exc).__name__
        if isinstance(exc, JudgeError):
            error = msg if msg.startswith("judge ") else f"judge {model}: {msg}"
        else:  # a bug in a custom judge: still a decision, never a crash of the host
            error = f"judge {model} failed: {type(exc).__name__}: {msg}"
        head = f"escalated ({_summary(req.findings)}); {error}"
        extra = {"judge": {"error": error}}
        common: dict[str, Any] = {
            "tier_used": 2,
            "confidence": 0.0,
            "reversible": False,
            "judge_model": model,
            "judge_latency_ms": round(latency_ms, 3),
            "extra": extra,
        }
        if self.on_judge_error == "allow":
            return EscalationOutcome(
                VerdictType.ALLOW, head + "; on_judge_error='allow' lets it run", "judge.error_allowed", **common
            )
        if self.on_judge_error == "ask":
            return _Ask(head + "; on_judge_error='ask'", "judge.error", model, round(latency_ms, 3), extra)
        return EscalationOutcome(
            VerdictType.BLOCK,
            head + "; on_judge_error='block' blocks it",
            "judge.error",
            **common,
        )

    def _without_judge(self, req: EscalationRequest) -> EscalationOutcome | _Ask:
        why = _summary(req.findings)
        if self._mode == "allow":
            return EscalationOutcome(
                VerdictType.ALLOW,
                f"escalated ({why}); no judge configured and on_escalate='allow' lets it run",
                "escalation.allowed_by_config",
                tier_used=1,
            )
        if self._mode == "ask":
            return _Ask(f"escalated ({why}); no judge configured, on_escalate='ask'", "escalation")
        return EscalationOutcome(
            VerdictType.BLOCK,
            f"escalated ({why}); no judge configured, so on_escalate='block' blocks it"
            " (configure a judge, or set on_escalate to allow/ask)",
            "escalation.no_judge",
            tier_used=1,
        )

    def _after_approval(self, ask: _Ask, decision: ApprovalDecision, waited_ms: float) -> EscalationOutcome:
        if decision.approved is True:
            action, outcome, verb = VerdictType.ALLOW, "approved", "approved by"
        elif decision.approved is False:
            action, outcome, verb = VerdictType.BLOCK, "denied", "denied by"
        else:
            action, outcome, verb = VerdictType.BLOCK, "no_answer", "no answer from"
        reason = f"{ask.prefix}: {verb} {decision.approver}" + (f" ({decision.reason})" if decision.reason else "")
        if decision.approved is None:
            reason += "; blocked"
        extra = dict(ask.extra)
        extra["approval"] = {
            "approver": decision.approver,
            "approved": decision.approved,
            "reason": decision.reason,
            "waited_ms": round(waited_ms, 3),
        }
        return EscalationOutcome(
            action,
            reason,
            f"{ask.policy_prefix}.{outcome}",
            tier_used=2,
            confidence=1.0 if decision.approved is not None else 0.0,
            reversible=True,
            judge_model=ask.judge_model,
            judge_latency_ms=ask.judge_latency_ms,
            extra=extra,
        )

    # -- entry points (I/O only) --------------------------------------------------------

    def resolve(self, req: EscalationRequest) -> EscalationOutcome:
        """Decide an escalated call (sync; safe on a thread running an event loop)."""
        if self.judge is not None:
            start = time.monotonic()
            try:
                res = self.judge.judge(req)
            except Exception as exc:  # fail closed: any judge failure is a decision, not a crash
                step = self._after_judge_error(req, exc, (time.monotonic() - start) * 1000.0)
            else:
                return self._after_judge(req, res)
        else:
            step = self._without_judge(req)
        if isinstance(step, EscalationOutcome):
            return step
        start = time.monotonic()
        approver = self._get_approver()
        try:
            decision = approver.approve(req)
        except Exception as exc:
            decision = ApprovalDecision(None, getattr(approver, "name", "approver"), f"approver failed: {exc!r}")
        return self._after_approval(step, decision, (time.monotonic() - start) * 1000.0)

    async def aresolve(self, req: EscalationRequest) -> EscalationOutcome:
        """Decide an escalated call (async). Same decisions as `resolve`."""
        if self.judge is not None:
            start = time.monotonic()
            try:
                res = await self.judge.ajudge(req)
            except Exception as exc:
                step = self._after_judge_error(req, exc, (time.monotonic() - start) * 1000.0)
            else:
                return self._after_judge(req, res)
        else:
            step = self._without_judge(req)
        if isinstance(step, EscalationOutcome):
            return step
        start = time.monotonic()
        approver = self._get_approver()
        try:
            decision = await approver.aapprove(req)
        except Exception as exc:
            decision = ApprovalDecision(None, getattr(approver, "name", "approver"), f"approver failed: {exc!r}")
        return self._after_approval(step, decision, (time.monotonic() - start) * 1000.0)


def _as_approver(approver: Approver | ApproverFunc | None) -> Approver | None:
    if approver is None:
        return None
    if callable(getattr(approver, "approve", None)) and callable(getattr(approver, "aapprove", None)):
        return approver  # type: ignore[return-value]
    if callable(approver):
        return CallableApprover(approver)
    raise ConfigError(f"approver must have approve()/aapprove() or be a callable, not {type(approver).__name__}")
