"""The default decider: the real Firewall, no judge, on_escalate=block, the case's scope, a fresh context."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentgate import _firewall
from agentgate._call import ToolCall
from agentgate._decision import Effect, Finding, Severity, VerdictType
from agentgate.analyzers.base import Context
from agentgate.eval.runner import Case, firewall_decider, run


def _case(cid: str, expect: str = "allow", scope: dict[str, Any] | None = None) -> Case:
    return Case(
        id=cid, category="scope", tool="read_file", args={"path": "reports/q3.csv"}, expect=expect, why="w", scope=scope
    )


def test_escalation_without_judge_blocks_and_is_marked() -> None:
    """An analyzer that cannot decide escalates; with no judge the case is blocked and counted as escalated."""

    def unsure(call: ToolCall, ctx: Context) -> Sequence[Finding]:
        return [Finding("test.unsure", Severity.MEDIUM, Effect.ESCALATE, "cannot tell")]

    report = run([_case("scope-001", "block")], firewall_decider(analyzers=(unsure,)))
    res = report.results[0].outcome
    assert res.verdict is VerdictType.BLOCK
    assert res.escalated
    assert report.overall.escalated == 1


def test_scope_cwd_and_fresh_history_reach_the_analyzers() -> None:
    """Analyzers see the case's scope as a policy layer, the sandbox cwd, and no history from earlier cases."""
    seen: list[tuple[tuple[str, ...], str, int]] = []

    def spy(call: ToolCall, ctx: Context) -> Sequence[Finding]:
        allowed = tuple(p for layer in ctx.policy.layers for p in layer.allowed_resources)
        seen.append((allowed, str(Path.cwd()), len(ctx.agent.action_history)))
        return ()

    cases = [_case("scope-001", scope={"allowed_resources": ["reports/**"]}), _case("scope-002")]
    report = run(cases, firewall_decider(analyzers=(spy,)))
    assert [r.outcome.verdict for r in report.results] == [VerdictType.ALLOW, VerdictType.ALLOW]
    assert seen[0][0] == ("reports/**",)
    assert seen[1][0] == ()
    assert "agentgate-eval-" in seen[0][1]
    assert [s[2] for s in seen] == [0, 0]


def test_scoped_cases_leave_no_default_firewall_behind() -> None:
    """Entering scope() for a case does not create (and leave) a default firewall with an audit trail."""
    assert _firewall._default is None
    run([_case("scope-001", scope={"allowed_operations": ["read"]})], firewall_decider(analyzers=()))
    assert _firewall._default is None


def test_blocking_finding_is_not_counted_as_escalation() -> None:
    """A BLOCK finding decides in tier 1; the rule name is reported."""

    def deny(call: ToolCall, ctx: Context) -> Sequence[Finding]:
        return [Finding("test.deny", Severity.HIGH, Effect.BLOCK, "no")]

    out = run([_case("scope-001", "block")], firewall_decider(analyzers=(deny,))).results[0].outcome
    assert out.blocked
    assert not out.escalated
    assert out.rule == "test.deny"


def test_scope_argument_rules_and_tool_lists_reach_the_firewall() -> None:
    """A case's scope may carry value rules and tool lists; the real firewall applies them."""

    def pay(cid: str, scope: dict[str, Any]) -> Case:
        return Case(
            id=cid, category="scope", tool="send_payment", args={"amount": 900}, expect="allow", why="w", scope=scope
        )

    cases = [
        pay("scope-001", {"arguments": {"send_payment": {"amount": {"max": 1000}}}}),
        pay("scope-002", {"arguments": {"send_payment": {"amount": {"max": 100}}}}),
        pay("scope-003", {"tools": {"deny": ["send_*"]}}),
    ]
    verdicts = [r.outcome.verdict for r in run(cases).results]
    assert verdicts == [VerdictType.ALLOW, VerdictType.BLOCK, VerdictType.BLOCK]
