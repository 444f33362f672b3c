"""`QueueApprover`: the `Approver` that queues a call and waits for the answer."""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from .._errors import AgentGateError, ConfigError
from ..judge.approvers import ApprovalDecision, approval_payload
from ._queue import Approval, ApprovalQueue

if TYPE_CHECKING:
    from .._escalation import EscalationRequest

__all__ = ["QueueApprover", "build_approver", "record_answer"]

logger = logging.getLogger("agentgate.approvals")


class QueueApprover:
    """Puts each escalated call in the durable approval queue and waits for a human's answer.

    Args:
        url: The state database (SQLite file or ``postgresql://``); default
            ``AGENTGATE_STATE_URL``, else the audit trail's database.
        timeout: Seconds to wait (default 300); then the call is blocked and its row expired.

    The queue is opened on first use, so a firewall configured with it starts even
    while the database is down; a call that then cannot be queued is blocked.
    """

    name = "queue"

    def __init__(self, url: str | None = None, timeout: float = 300.0) -> None:
        if timeout <= 0:
            raise ConfigError(f"approval timeout must be > 0 seconds, not {timeout!r}")
        self.url = url
        self.timeout = float(timeout)
        self._queue: ApprovalQueue | None = None
        self._lock = threading.Lock()

    @property
    def queue(self) -> ApprovalQueue:
        """The queue (opened on first use)."""
        if self._queue is None:
            with self._lock:
                if self._queue is None:
                    from .._statedb import default_state_url

                    self._queue = ApprovalQueue(default_state_url(self.url))
        return self._queue

    def approve(self, req: EscalationRequest) -> ApprovalDecision:
        """Queue *req* and block this thread until it is answered or the timeout passes."""
        try:
            a = self.queue.submit(approval_payload(req), self.timeout)
            return self._decision(self.queue.wait(a.id, self.timeout))
        except AgentGateError as e:
            return ApprovalDecision(None, self.name, f"the approval queue failed: {e}")

    async def aapprove(self, req: EscalationRequest) -> ApprovalDecision:
        """Queue *req* and await the answer; the event loop keeps running meanwhile."""
        import asyncio

        try:
            queue = await asyncio.to_thread(lambda: self.queue)
            a = await asyncio.to_thread(queue.submit, approval_payload(req), self.timeout)
            return self._decision(await queue.await_answer(a.id, self.timeout))
        except AgentGateError as e:
            return ApprovalDecision(None, self.name, f"the approval queue failed: {e}")

    def _decision(self, a: Approval) -> ApprovalDecision:
        if a.status == "approved":
            return ApprovalDecision(True, f"queue:{a.decided_by}", f"{a.reason} (approval {a.id})")
        if a.status == "denied":
            return ApprovalDecision(False, f"queue:{a.decided_by}", f"{a.reason} (approval {a.id})")
        return ApprovalDecision(None, self.name, f"no answer within {self.timeout:g}s (approval {a.id} expired)")


def build_approver(spec: Any, audit_url: str | None = None) -> Any:
    """The approver an ``approver:`` config entry names (`ApproverModel`), or None for the console default."""
    if spec is None or spec.kind == "console":
        if spec is not None:
            from ..judge.approvers import ConsoleApprover

            return ConsoleApprover(spec.timeout if spec.timeout is not None else 60.0)
        return None
    from .._statedb import default_state_url

    url = spec.url or os.environ.get("AGENTGATE_STATE_URL") or None
    if url is None and audit_url is not None:
        url = default_state_url(None, audit_url)
    return QueueApprover(url, spec.timeout if spec.timeout is not None else 300.0)


def record_answer(auditor: Any, a: Approval, *, policy_revision: str = "", mode: str = "enforce") -> None:
    """Write an ``agentgate.approval`` record (who answered what, and why) to *auditor*'s trail."""
    from .._call import ToolCall
    from .._context import AgentContext
    from .._decision import Severity, Verdict, VerdictType
    from .._firewall import _decision_id

    if auditor is None:
        return
    call = ToolCall(
        "agentgate.approval",
        {"approval_id": a.id, "tool": a.tool, "status": a.status, "by": a.decided_by, "reason": a.reason},
        "agentgate",
    )
    verdict = Verdict(
        VerdictType.ALLOW,
        2,
        f"approval.{a.status}",
        Severity.MEDIUM,
        f"approval {a.id} ({a.tool} for agent {a.agent_id or 'default'}) {a.status} by {a.decided_by}: {a.reason}",
        decision_id=_decision_id(),
        policy_revision=policy_revision,
        mode=mode,
    )
    agent = AgentContext(agent_id=a.agent_id, task_id=a.task_id, user_id=str(a.decided_by or ""))
    try:
        auditor.record(call, verdict, agent)
    except Exception:  # the audit never crashes the caller; the writer counts its own failures
        logger.exception("agentgate: could not audit the answer to approval %s", a.id)
