"""Evaluating the policy's call rules, history rules and escape hatches for one decision.

* `call_rule_findings` — refusal of unlisted agents, per-agent tool lists and value
  rules (rule ids ``policy.unknown_agent``, ``policy.tool``, ``policy.argument``; all BLOCK).
* `HistoryEngine` — history rules against a `HistoryStore` (``policy.history_after``,
  ``policy.history_limit`` BLOCK; ``policy.history_first_time`` ESCALATE;
  ``policy.history_unavailable`` ESCALATE when the store fails).
* `apply_overrides` — suppressions (``suppress:``) and severity/effect overrides
  (``overrides:``), each recorded in the verdict's ``extra["suppressed"]`` /
  ``extra["overridden"]`` and so in the audit record. The policy's own rules
  (``scope.*``, ``policy.*``) cannot be suppressed: change the scope instead.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .._decision import Effect, Finding, Severity
from ._history import HistoryStore, new_member
from ._resources import match_pattern
from ._rules import check_tools, check_values, number

if TYPE_CHECKING:
    from ..analyzers.base import Context

__all__ = ["HistoryEngine", "Override", "Pending", "Suppression", "apply_overrides", "call_rule_findings"]

logger = logging.getLogger("agentgate")

#: Rules an escape hatch may not touch: the policy's own verdicts.
PROTECTED_PREFIXES = ("scope.", "policy.")


def call_rule_findings(ctx: Context) -> list[Finding]:
    """Findings of the stateless call rules of every layer (refusal, tool lists, value rules)."""
    out: list[Finding] = []
    call = ctx.call
    for lay in ctx.policy.layers:
        if lay.refuse:
            out.append(Finding("policy.unknown_agent", Severity.HIGH, Effect.BLOCK, lay.refuse, ctx.agent.agent_id))
            continue
        if lay.tools.allow or lay.tools.deny:
            msg = check_tools(lay.tools, call.tool_name)
            if msg:
                out.append(Finding("policy.tool", Severity.HIGH, Effect.BLOCK, f"{msg} ({lay.name})", call.tool_name))
        if lay.value_rules:
            for msg in check_values(lay.value_rules, call.tool_name, call.arguments):
                out.append(
                    Finding("policy.argument", Severity.HIGH, Effect.BLOCK, f"{msg} ({lay.name})", call.tool_name)
                )
    return out


# ------------------------------------------------------------------------ history


class Pending:
    """What one decision must do to the history store once its verdict is known."""

    __slots__ = ("flags", "remember", "reservations")

    def __init__(self) -> None:  # one per decision under history rules: plain lists, no factories
        self.flags: list[str] = []
        self.reservations: list[tuple[str, str]] = []
        self.remember: list[tuple[str, str]] = []

    def __bool__(self) -> bool:
        return bool(self.flags or self.reservations or self.remember)


def _norm_value(v: Any) -> str:
    return "".join(str(v).split()).lower()


class HistoryEngine:
    """Evaluates history rules for a decision, then settles it (see ``_history``)."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store

    def check(self, ctx: Context, findings: Sequence[Finding]) -> tuple[list[Finding], Pending]:
        """Findings of every history rule in force, and what to record if the call is allowed."""
        out: list[Finding] = []
        pending = Pending()
        cls = ctx.classification
        tool, op, res = ctx.call.tool_name, cls.operation, cls.resources
        # Most calls reach here with no finding at all (an allowed call).
        rule_ids = [f.rule_id for f in findings] if findings else ()
        blocked = any(f.effect is Effect.BLOCK for f in findings) if findings else False
        try:
            a = ctx.agent
            for lay in ctx.policy.layers:
                for rule in lay.history:
                    key = f"a|{a.agent_id}|{rule.key}" if rule.per == "agent" else f"t|{a.task_id}|{rule.key}"
                    if rule.form == "after":
                        assert rule.forbid is not None
                        if rule.forbid.matches(tool, op, res, rule_ids) and self.store.flagged(key):
                            why = f": {rule.text}" if rule.text else ""
                            out.append(
                                Finding(
                                    "policy.history_after",
                                    Severity.HIGH,
                                    Effect.BLOCK,
                                    f"{tool!r} is forbidden after an earlier call in this task ({lay.name}){why}",
                                    tool,
                                )
                            )
                            blocked = True
                        if rule.when.matches(tool, op, res, rule_ids):
                            pending.flags.append(key)
                    elif rule.form == "limit" and rule.when.matches(tool, op, res, rule_ids):
                        amount = Decimal(0)
                        if rule.sum_arg is not None:
                            n = number(ctx.call.arguments.get(rule.sum_arg))
                            if n is None or n < 0:
                                out.append(
                                    Finding(
                                        "policy.history_limit",
                                        Severity.HIGH,
                                        Effect.BLOCK,
                                        f"cannot read {rule.sum_arg!r} as an amount, so the budget of {lay.name} "
                                        "cannot be checked",
                                        tool,
                                        rule.sum_arg,
                                    )
                                )
                                blocked = True
                                continue
                            amount = n
                        if blocked:
                            continue  # the call will not run: reserve nothing
                        member = new_member()
                        ok, calls, total = self.store.reserve(
                            key, member, amount, rule.window, rule.max_calls, rule.max_sum
                        )
                        if ok:
                            pending.reservations.append((key, member))
                        else:
                            span = f"in {rule.window:g} s" if rule.window else "in this task"
                            what = (
                                f"{calls} calls already {span} (max {rule.max_calls})"
                                if rule.max_calls is not None and calls + 1 > rule.max_calls
                                else f"{rule.sum_arg} {total} already {span} + {amount} exceeds {rule.max_sum}"
                            )
                            out.append(
                                Finding(
                                    "policy.history_limit",
                                    Severity.HIGH,
                                    Effect.BLOCK,
                                    f"budget of {lay.name} reached: {what}",
                                    tool,
                                )
                            )
                            blocked = True
                    elif rule.form == "first_time" and rule.when.matches(tool, op, res, rule_ids):
                        for arg in rule.arguments:
                            v = ctx.call.arguments.get(arg)
                            if v is None or v == "":
                                continue
                            norm = _norm_value(v)
                            if not self.store.seen(key, norm):
                                out.append(
                                    Finding(
                                        "policy.history_first_time",
                                        Severity.MEDIUM,
                                        Effect.ESCALATE,
                                        f"{arg}={str(v)[:60]!r} was never used before by this agent ({lay.name})",
                                        str(v)[:120],
                                        arg,
                                    )
                                )
                                pending.remember.append((key, norm))
        except Exception as e:  # the store is down: never allow unseen
            logger.warning("agentgate history store failed: %s", e)
            self.settle(pending, allowed=False)
            return [
                *out,
                Finding(
                    "policy.history_unavailable",
                    Severity.HIGH,
                    Effect.ESCALATE,
                    f"history rules cannot be checked ({type(e).__name__}: {e})",
                ),
            ], Pending()
        return out, pending

    def settle(self, pending: Pending, allowed: bool) -> None:
        """Record an allowed call's facts, or release a refused call's reservations."""
        if not pending:
            return
        try:
            if allowed:
                for key in pending.flags:
                    self.store.flag(key)
                for key, value in pending.remember:
                    self.store.remember(key, value)
            else:
                for key, member in pending.reservations:
                    self.store.release(key, member)
        except Exception:
            logger.exception("agentgate history store failed while recording a decision")


# ----------------------------------------------------------------- escape hatches


@dataclass(frozen=True, slots=True)
class Suppression:
    """Turn one rule's findings into INFO for one tool and/or resource, for a stated reason."""

    rule: str
    reason: str
    tool: str | None = None
    resource: str | None = None
    layer: str = "config"

    def applies(self, f: Finding, tool: str, resources: Sequence[tuple[str, str]]) -> bool:
        """Does this suppression cover finding *f* of a call of *tool* touching *resources*?

        With ``resource:``, the call must name at least one resource and every one of
        them must match: ``DROP TABLE tmp_a, users`` is not covered by ``tmp_*``.
        """
        if not (f.rule_id == self.rule or fnmatch.fnmatchcase(f.rule_id, self.rule)):
            return False
        if self.tool is not None and not (tool == self.tool or fnmatch.fnmatchcase(tool, self.tool)):
            return False
        if self.resource is not None:
            return bool(resources) and all(match_pattern(self.resource, v, k) for v, k in resources)
        return True


@dataclass(frozen=True, slots=True)
class Override:
    """Change one rule's severity and/or effect, for a stated reason."""

    rule: str
    reason: str
    severity: Severity | None = None
    effect: Effect | None = None
    layer: str = "config"


def apply_overrides(
    findings: list[Finding],
    tool: str,
    resources: Sequence[tuple[str, str]],
    suppressions: Sequence[Suppression],
    overrides: Sequence[Override],
) -> tuple[list[Finding], list[dict[str, str]], list[dict[str, str]]]:
    """Apply escape hatches; returns (findings, suppressed records, overridden records).

    *resources* are the call's ``(value, kind)`` pairs (arguments and SQL tables).
    """
    suppressed: list[dict[str, str]] = []
    overridden: list[dict[str, str]] = []
    out: list[Finding] = []
    for f in findings:
        if f.rule_id.startswith(PROTECTED_PREFIXES) or f.effect is Effect.INFO:
            out.append(f)
            continue
        sup = next((s for s in suppressions if s.applies(f, tool, resources)), None)
        if sup is not None:
            suppressed.append(
                {
                    "rule": f.rule_id,
                    "tool": tool,
                    "evidence": (f.evidence or "")[:120],
                    "reason": sup.reason,
                    "by": sup.layer,
                }
            )
            out.append(
                Finding(
                    f.rule_id,
                    f.severity,
                    Effect.INFO,
                    f"suppressed ({sup.reason}): {f.message}",
                    f.evidence,
                    f.argument,
                )
            )
            continue
        ov = next((o for o in overrides if o.rule == f.rule_id or fnmatch.fnmatchcase(f.rule_id, o.rule)), None)
        if ov is not None:
            sev = ov.severity or f.severity
            eff = ov.effect or f.effect
            overridden.append(
                {
                    "rule": f.rule_id,
                    "tool": tool,
                    "from": f"{f.effect.value}/{f.severity.value}",
                    "to": f"{eff.value}/{sev.value}",
                    "reason": ov.reason,
                    "by": ov.layer,
                }
            )
            out.append(Finding(f.rule_id, sev, eff, f.message, f.evidence, f.argument))
            continue
        out.append(f)
    return out, suppressed, overridden
