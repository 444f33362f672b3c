"""``on_audit_failure``: what the firewall does when the audit trail cannot keep a record.

``allow`` (default): the decision stands; the loss is counted (``stats()['dropped']``),
logged at ERROR and raised from ``flush()``. ``block``: for deployments where an
action that is not recorded must not run, an ALLOW becomes a BLOCK (rule
``audit.unavailable``) while the writer reports records cannot be made durable (a
sink and its spool both failing, or records being dropped). The check is a few
attribute reads per decision; it reflects the trail's state when the decision is
made, so the batch being written at the moment a disk fills may still be lost.

At start, `startup_check` opens every sink and the spool directory once and says
what is not writable: a warning, or an `AuditError` under ``block``.
"""

from __future__ import annotations

import logging
from typing import Any

from agentgate._decision import Severity, Verdict, VerdictType
from agentgate._errors import AuditError

__all__ = ["AUDIT_UNAVAILABLE", "refuse_unrecorded", "startup_check"]

logger = logging.getLogger("agentgate.audit")

#: ``policy_name`` of a decision blocked because it could not be recorded.
AUDIT_UNAVAILABLE = "audit.unavailable"


def refuse_unrecorded(v: Verdict, auditor: Any) -> Verdict:
    """*v*, or a BLOCK when it allows an action the audit trail cannot record right now."""
    if v.action is not VerdictType.ALLOW or auditor is None:
        return v
    why = auditor.unavailable() if hasattr(auditor, "unavailable") else None
    if not why:
        return v
    return Verdict(
        VerdictType.BLOCK,
        v.tier_used,
        AUDIT_UNAVAILABLE,
        Severity.HIGH,
        f"the audit trail cannot record this action ({why}); on_audit_failure is 'block'",
        v.confidence,
        v.reversible,
        v.findings,
        v.decision_id,
        v.latency_us,
        v.policy_revision,
        v.mode,
        False,
        v.judge_model,
        v.judge_latency_ms,
        v.blast_radius,
        v.extra,
    )


def startup_check(auditor: Any, *, strict: bool) -> str:
    """Check that *auditor*'s targets and spool are writable; a line for the start-up log.

    Logs a WARNING per problem; raises `AuditError` listing them when *strict*
    (``on_audit_failure: block``).
    """
    if auditor is None or not getattr(auditor, "sinks", ()):
        return "audit: off"
    problems = auditor.preflight() if hasattr(auditor, "preflight") else []
    for p in problems:
        logger.warning("agentgate: %s; decisions will be spooled or lost until it is fixed", p)
    if problems and strict:
        raise AuditError("on_audit_failure is 'block' and the audit trail is not writable: " + "; ".join(problems))
    where = ", ".join(s.describe() for s in auditor.sinks)
    return f"audit: {where}" + (" (NOT WRITABLE, see warnings)" if problems else " (writable)")
