"""Replay: decide the recorded calls again under a candidate policy and report what changes."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..._errors import AuditError, ConfigError, ConfigProblem
from .._config import Config
from ._candidate import candidate_firewall

__all__ = ["ReplayChange", "ReplayReport", "replay"]

#: Records of the firewall's own changes (``config.change``), not agent tool calls.
_INTERNAL_PREFIX = "agentgate."


@dataclass(frozen=True, slots=True)
class ReplayChange:
    """One recorded call the candidate decides differently."""

    created_at: str
    decision_id: str | None
    agent_id: str | None
    tool_name: str
    before: str
    after: str
    rule_before: str | None
    rule_after: str | None
    reason_after: str
    redacted: bool
    policy_revision: str | None

    @property
    def kind(self) -> str:
        """``before→after``, e.g. ``allow→block``."""
        return f"{self.before}→{self.after}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "created_at": self.created_at,
            "decision_id": self.decision_id,
            "agent_id": self.agent_id,
            "tool_name": self.tool_name,
            "before": self.before,
            "after": self.after,
            "change": self.kind,
            "rule_before": self.rule_before,
            "rule_after": self.rule_after,
            "reason_after": self.reason_after,
            "redacted": self.redacted,
            "policy_revision": self.policy_revision,
        }


@dataclass
class ReplayReport:
    """What a replay found: the changed verdicts and counts."""

    candidate_revision: str
    replayed: int = 0
    skipped: int = 0
    redacted: int = 0
    changes: list[ReplayChange] = field(default_factory=list)
    rule_changes: int = 0

    @property
    def summary(self) -> dict[str, int]:
        """Changed verdicts per kind (``allow→block``: 3 ...)."""
        return dict(sorted(Counter(c.kind for c in self.changes).items()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "candidate_revision": self.candidate_revision,
            "replayed": self.replayed,
            "unchanged": self.replayed - len(self.changes),
            "changed": len(self.changes),
            "rule_changes": self.rule_changes,
            "skipped": self.skipped,
            "redacted": self.redacted,
            "redacted_changed": sum(1 for c in self.changes if c.redacted),
            "summary": self.summary,
            "changes": [c.to_dict() for c in self.changes],
        }


def _tier1(row: Mapping[str, Any]) -> str:
    """What the recorded decision's tier 1 said: allow, block, or escalate (when tier 2 decided)."""
    if int(row.get("tier_used") or 1) >= 2:
        return "escalate"
    if row.get("would_block"):
        return "block"  # monitor mode: recorded as allowed, tier 1 blocked
    return str(row.get("verdict") or "")


def _rows_from_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    p = Path(path)
    try:
        fh = p.open(encoding="utf-8")
    except OSError as e:
        raise ConfigError([ConfigProblem(f"cannot read: {e.strerror}", str(p))]) from None
    with fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ConfigError([ConfigProblem(f"not a JSON line: {e.msg}", str(p), n)]) from None
            if not isinstance(row, dict) or "tool_name" not in row:
                raise ConfigError([ConfigProblem("not an audit record (no tool_name)", str(p), n)])
            yield row


def _rows_from_db(db: str | None, since: str | None) -> Iterator[dict[str, Any]]:
    from ...audit._resolve import open_store

    store = open_store(db)
    try:
        yield from store.actions(since=since)
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()


def replay(
    policy: Config | str | os.PathLike[str],
    *,
    db: str | None = None,
    jsonl: str | os.PathLike[str] | None = None,
    records: Iterable[Mapping[str, Any]] | None = None,
    since: str | datetime | None = None,
    limit: int | None = None,
    settings: Any = None,
) -> ReplayReport:
    """Decide the calls of an audit trail again under *policy*; return the verdicts that change.

    Args:
        policy: The candidate: a path, a `Config`, or ``<store URL>#<revision>``.
        db: The audit trail to read (SQLite path/URL or ``postgresql://``; default: the default trail).
        jsonl: Read records from this JSON Lines file instead (``audit export --format jsonl``).
        records: Or these record dicts (``AuditRecord.to_dict()`` form), e.g. from a dashboard.
        since: Only records created at or after this time: a `datetime` (naive = UTC) or the
            stored text form (``2026-12-07T10:00:00.000000Z``).
        limit: Replay at most this many calls (the oldest first).
        settings: Analyzer settings for the candidate (default: from the policy).

    Tier 1 is compared with tier 1: a recorded call that tier 2 (judge, approver) decided
    counts as ``escalate`` before. Arguments are as the trail recorded them — redacted where
    secret; changes on such records have ``redacted=True``.
    """
    if sum(x is not None for x in (jsonl, records)) > 1:
        raise ValueError("give at most one of jsonl= and records=")
    if isinstance(since, datetime):
        from ...audit._record import format_ts

        since = format_ts(since if since.tzinfo is not None else since.replace(tzinfo=UTC))
    fw = candidate_firewall(policy, settings=settings, rate_limits=False)
    report = ReplayReport(fw.policy_revision)
    if records is not None:
        rows: Iterable[Mapping[str, Any]] = records
    elif jsonl is not None:
        rows = _rows_from_jsonl(jsonl)
    else:
        rows = _rows_from_db(db, since)
    from ..._call import ToolCall
    from ..._context import AgentContext, _use_context

    agents: dict[tuple[str, str], AgentContext] = {}
    try:
        for row in rows:
            created = str(row.get("created_at") or "")
            if since is not None and created and created < since:
                continue
            tool = str(row.get("tool_name") or "")
            payload = row.get("payload")
            args = payload.get("arguments") if isinstance(payload, Mapping) else None
            if not tool or tool.startswith(_INTERNAL_PREFIX) or row.get("policy_name") == "config.change":
                continue
            if not isinstance(args, Mapping) or row.get("verdict") not in ("allow", "block"):
                report.skipped += 1  # arguments not recorded (a record of an error), or not a decision
                continue
            if limit is not None and report.replayed >= limit:
                break
            aid, tid = str(row.get("agent_id") or ""), str(row.get("task_id") or "")
            agent = agents.get((aid, tid))
            if agent is None:
                agent = agents[(aid, tid)] = AgentContext(
                    agent_id=aid, task_id=tid, user_id=str(row.get("user_id") or "")
                )
            call = ToolCall(tool, dict(args), framework=str(payload.get("framework") or "replay"))  # type: ignore[union-attr]
            with _use_context(agent):
                v = fw.evaluate_tier1(call)
            # History rules see the replayed sequence as the agent lived it (recorded outcome).
            agent.record_action(tool, dict(args), str(row.get("verdict")), str(row.get("decision_id") or ""))
            report.replayed += 1
            redacted = bool(row.get("redacted"))
            report.redacted += redacted
            before, after = _tier1(row), v.action.value
            rule_before, rule_after = row.get("policy_name") or None, v.policy_name or None
            if before == after:
                if before != "allow" and rule_before != rule_after:
                    report.rule_changes += 1
                continue
            report.changes.append(
                ReplayChange(
                    created, row.get("decision_id"), row.get("agent_id"), tool, before, after,
                    rule_before, rule_after, v.reasoning, redacted, row.get("policy_revision"),
                )
            )  # fmt: skip
    except AuditError:
        raise
    finally:
        fw.shutdown(1.0)
    return report
