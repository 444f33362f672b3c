"""Approvals that resume: escalated calls wait in a durable queue until a human answers.

With ``on_escalate: ask`` and ``approver: queue`` (or ``QueueApprover()`` in code), an
escalated call becomes a row in ``agentgate_approvals`` (SQLite or PostgreSQL: by
default the audit trail's database, else ``approver.url`` / ``AGENTGATE_STATE_URL``)
and the agent waits — a thread blocks, an asyncio task awaits without blocking its
event loop — until someone approves or denies it (``POST /v1/approvals/{id}/approve``,
``agentgate approvals approve ID --reason ...``, the dashboard) or the timeout passes.

Rules:

* **One row per call.** Parallel tool calls of one completion are separate rows,
  answered independently.
* **Answered once.** Approve, deny and expire are each one ``UPDATE ... WHERE
  status = 'pending'``: the first wins, a second answer is refused (409), and an agent
  whose timeout passes expires its row itself, so a late "approve" cannot run a call
  that was already blocked.
* **Only an explicit yes runs the call.** Deny, timeout, an unreachable database and
  any error are blocks (``approved=None`` from the approver), with the reason.
* **Audited with who and why.** The blocked or allowed call's own audit record carries
  ``extra.approval`` (``approver: queue:<name>``, the reason, the wait); the server and
  the CLI also write an ``agentgate.approval`` record when someone answers.
* **Waiting without busy loops.** A waiter sleeps on an event: woken at once by an
  answer given in the same process, by PostgreSQL ``LISTEN/NOTIFY`` across processes,
  and otherwise re-reads its row with exponential backoff (50 ms doubling to 2 s), the
  only way to learn of an answer written to SQLite by another process.
"""

from __future__ import annotations

from ._approver import QueueApprover, build_approver, record_answer
from ._queue import Approval, ApprovalError, ApprovalQueue

__all__ = ["Approval", "ApprovalError", "ApprovalQueue", "QueueApprover", "build_approver", "record_answer"]
