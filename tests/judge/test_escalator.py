"""The escalator: judge → on_judge_error, no judge → on_escalate, approvals; sync and async agree."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentgate._decision import VerdictType
from agentgate._errors import ConfigError
from agentgate._escalation import EscalationOutcome, EscalationRequest, Escalator
from agentgate.judge import ApprovalDecision, JudgeThresholds, StaticJudge

from .conftest import MakeReq


async def both(esc: Escalator, req: EscalationRequest) -> EscalationOutcome:
    """Resolve on both paths; they must agree; return the sync outcome."""
    sync = esc.resolve(req)
    out = await esc.aresolve(req)
    assert (sync.action, sync.policy_name, sync.tier_used) == (out.action, out.policy_name, out.tier_used)
    return sync


async def test_no_judge_blocks_by_default(make_req: MakeReq) -> None:
    """No judge and on_escalate unset: block, and the reason says why and what to configure."""
    out = await both(Escalator(), make_req())
    assert out.action is VerdictType.BLOCK
    assert out.policy_name == "escalation.no_judge"
    assert out.tier_used == 1
    assert "no judge configured" in out.reasoning
    assert "on_escalate='block'" in out.reasoning
    assert "sql.unknown_function" in out.reasoning


async def test_no_judge_allow_is_explicit(make_req: MakeReq) -> None:
    """on_escalate='allow' lets it run, and says so."""
    out = await both(Escalator(on_escalate="allow"), make_req())
    assert out.action is VerdictType.ALLOW
    assert "on_escalate='allow'" in out.reasoning


async def test_judge_answer_fields(make_req: MakeReq) -> None:
    """A judge verdict carries tier 2, model, latency, confidence, reversibility, blast radius, reasoning."""
    judge = StaticJudge(confidence=0.88, blast_radius="medium", reasoning="reads the report", model="m-1")
    out = await both(Escalator(judge), make_req())
    assert out.action is VerdictType.ALLOW
    assert (out.tier_used, out.judge_model, out.confidence, out.blast_radius) == (2, "m-1", 0.88, "medium")
    assert out.judge_latency_ms is not None
    assert "reads the report" in out.reasoning
    assert judge.calls == 2


async def test_thresholds_from_escalator(make_req: MakeReq) -> None:
    """Escalator(thresholds=...) decides with the given thresholds."""
    judge = StaticJudge(confidence=0.8)
    assert (await both(Escalator(judge), make_req())).action is VerdictType.ALLOW
    strict = Escalator(judge, thresholds=JudgeThresholds(min_confidence=0.9))
    assert (await both(strict, make_req())).action is VerdictType.BLOCK


@pytest.mark.parametrize(
    ("mode", "expected", "policy"),
    [("block", VerdictType.BLOCK, "judge.error"), ("allow", VerdictType.ALLOW, "judge.error_allowed")],
)
async def test_judge_error_modes(make_req: MakeReq, mode: str, expected: VerdictType, policy: str) -> None:
    """A failing judge: on_judge_error decides, the judge's error is in the reason."""
    out = await both(Escalator(StaticJudge(error="timeout after 0.30s"), on_judge_error=mode), make_req())
    assert out.action is expected
    assert out.policy_name == policy
    assert "timeout after 0.30s" in out.reasoning
    assert f"on_judge_error='{mode}'" in out.reasoning
    assert out.extra["judge"]["error"]


async def test_judge_crash_is_a_decision(make_req: MakeReq) -> None:
    """A custom judge that raises anything blocks (fail closed) instead of crashing the host."""

    class Broken:
        model = "broken"

        def judge(self, req: Any) -> Any:
            raise RuntimeError("boom")

        async def ajudge(self, req: Any) -> Any:
            raise RuntimeError("boom")

    out = await both(Escalator(Broken()), make_req())  # type: ignore[arg-type]
    assert out.action is VerdictType.BLOCK
    assert "RuntimeError: boom" in out.reasoning


async def test_judge_error_ask_goes_to_approver(make_req: MakeReq) -> None:
    """on_judge_error='ask': the approver decides, and the reason keeps the judge's error."""
    esc = Escalator(StaticJudge(error="HTTP 500"), on_judge_error="ask", approver=lambda req: True)
    out = await both(esc, make_req())
    assert out.action is VerdictType.ALLOW
    assert out.policy_name == "judge.error.approved"
    assert "HTTP 500" in out.reasoning
    assert "approved by" in out.reasoning


@pytest.mark.parametrize(
    ("answer", "expected", "policy"),
    [
        (True, VerdictType.ALLOW, "escalation.approved"),
        (False, VerdictType.BLOCK, "escalation.denied"),
        (None, VerdictType.BLOCK, "escalation.no_answer"),
        (ApprovalDecision(True, "bob", "looks fine"), VerdictType.ALLOW, "escalation.approved"),
        ("yes", VerdictType.BLOCK, "escalation.no_answer"),
    ],
)
async def test_ask_with_callable(make_req: MakeReq, answer: Any, expected: VerdictType, policy: str) -> None:
    """on_escalate='ask': only an explicit yes allows; no, None, or a non-bool blocks."""
    out = await both(Escalator(on_escalate="ask", approver=lambda req: answer), make_req())
    assert out.action is expected
    assert out.policy_name == policy
    assert out.tier_used == 2
    assert out.extra["approval"]["approver"]


async def test_on_escalate_callable_is_the_approver(make_req: MakeReq) -> None:
    """A callable on_escalate (the v0 contract) is asked, with the request."""
    seen: list[str] = []

    def approve(req: EscalationRequest) -> bool:
        seen.append(req.call.tool_name)
        return True

    out = await both(Escalator(on_escalate=approve), make_req())
    assert out.action is VerdictType.ALLOW
    assert seen == ["execute_sql", "execute_sql"]


async def test_async_approver(make_req: MakeReq) -> None:
    """An async approver answers on the async path; on the sync path it cannot, and blocks."""

    async def approve(req: EscalationRequest) -> bool:
        await asyncio.sleep(0)
        return True

    esc = Escalator(on_escalate="ask", approver=approve)
    assert (await esc.aresolve(make_req())).action is VerdictType.ALLOW
    sync = esc.resolve(make_req())
    assert sync.action is VerdictType.BLOCK
    assert "async approver" in sync.reasoning


async def test_approver_exception_blocks(make_req: MakeReq) -> None:
    """An approver that raises blocks."""

    def approve(req: EscalationRequest) -> bool:
        raise OSError("pager down")

    out = await both(Escalator(on_escalate="ask", approver=approve), make_req())
    assert out.action is VerdictType.BLOCK
    assert "pager down" in out.reasoning


async def test_ask_without_approver_and_no_tty_blocks(make_req: MakeReq, monkeypatch: pytest.MonkeyPatch) -> None:
    """'ask' with no approver uses the console, which blocks when there is no terminal."""
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    out = await both(Escalator(on_escalate="ask"), make_req())
    assert out.action is VerdictType.BLOCK
    assert "no interactive terminal" in out.reasoning


def test_judge_first_even_with_ask(make_req: MakeReq) -> None:
    """With a judge, on_escalate does not apply: the judge decides and the approver is not asked."""
    asked: list[int] = []
    esc = Escalator(StaticJudge(consistent=False), on_escalate="ask", approver=lambda req: asked.append(1) or True)
    assert esc.resolve(make_req()).action is VerdictType.BLOCK
    assert asked == []


@pytest.mark.parametrize(
    "kw",
    [
        {"on_escalate": "maybe"},
        {"on_judge_error": "retry"},
        {"on_escalate": lambda r: True, "approver": lambda r: True},
        {"judge": object()},
        {"approver": 42},
    ],
)
def test_invalid_configuration(kw: dict[str, Any]) -> None:
    """Bad settings are a ConfigError at construction."""
    with pytest.raises(ConfigError):
        Escalator(**kw)
