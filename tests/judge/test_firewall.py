"""End to end: the firewall escalates, the judge (real SDK, local server) decides, the audit row records tier 2."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

import agentgate
from agentgate._call import ToolCall
from agentgate._decision import Effect, Finding, Severity, VerdictType
from agentgate._errors import FirewallBlockedError
from agentgate.analyzers import DEFAULT_ANALYZERS
from agentgate.judge import build_judge
from agentgate.testing import MemorySink

from .servers import BLOCK, FakeLLM, Reply, answer_json


def escalate_udf(call: ToolCall, ctx: Any) -> Sequence[Finding]:
    """A tier-1 rule that cannot decide calls to user-defined SQL functions."""
    q = str(call.arguments.get("query", ""))
    if "udf_" in q:
        return [Finding("test.udf", Severity.MEDIUM, Effect.ESCALATE, "calls a user-defined function", "udf_", "query")]
    return []


def firewall(llm: FakeLLM, **kw: Any) -> tuple[agentgate.Firewall, MemorySink]:
    sink = MemorySink()
    judge = build_judge("gpt-test", base_url=llm.openai_url, **kw)
    return agentgate.Firewall(analyzers=(*DEFAULT_ANALYZERS, escalate_udf), judge=judge, audit=sink), sink


def test_judge_allow_is_audited_as_tier_2(llm: FakeLLM) -> None:
    """An escalated call allowed by the judge: verdict and audit row carry tier 2, model, latency, confidence, reasoning."""
    llm.reset(Reply(answer_json(confidence=0.91, reasoning="the udf only formats amounts")))
    fw, sink = firewall(llm)
    v = fw.evaluate(ToolCall("execute_sql", {"query": "SELECT udf_fmt(amount) FROM sales"}))
    assert v.action is VerdictType.ALLOW
    assert v.tier_used == 2
    assert v.judge_model == "gpt-test"
    assert v.confidence == pytest.approx(0.91)
    assert "formats amounts" in v.reasoning
    fw.flush(5.0)
    row = sink.records[-1]
    assert (row.tier_used, row.judge_model, row.verdict) == (2, "gpt-test", "allow")
    assert row.judge_latency_ms is not None
    assert row.judge_latency_ms > 0
    assert row.confidence == pytest.approx(0.91)
    assert "formats amounts" in (row.reasoning or "")
    fw.shutdown(5.0)


async def test_judge_block_async(llm: FakeLLM) -> None:
    """The async path: the judge blocks, the audit row says so."""
    llm.reset(Reply(BLOCK))
    fw, sink = firewall(llm)
    v = await fw.evaluate_async(ToolCall("execute_sql", {"query": "SELECT udf_wipe() FROM sales"}))
    assert v.action is VerdictType.BLOCK
    assert v.tier_used == 2
    assert v.policy_name == "judge.block"
    fw.flush(5.0)
    assert sink.records[-1].verdict == "block"
    fw.shutdown(5.0)


async def test_sync_guarded_tool_from_async_code_uses_the_judge(llm: FakeLLM) -> None:
    """A sync @guard tool called inside a running event loop is judged (sync client, no asyncio.run) and blocked."""
    llm.reset(Reply(BLOCK))
    fw, _ = firewall(llm)
    ran: list[str] = []

    @agentgate.guard(firewall=fw)
    def execute_sql(query: str) -> str:
        ran.append(query)
        return "ok"

    with pytest.raises(FirewallBlockedError, match=r"judge\.block"):
        execute_sql("SELECT udf_wipe() FROM sales")
    assert ran == []
    assert execute_sql("SELECT 1") == "ok"  # tier 1 allows without asking the judge
    assert len(llm.requests) == 1
    fw.shutdown(5.0)


def test_judge_timeout_blocks_through_the_firewall(llm: FakeLLM) -> None:
    """A judge that times out blocks the call (on_judge_error default), with the reason in the verdict."""
    llm.reset(Reply(delay=1.0))
    fw, _ = firewall(llm, timeout=0.3)
    v = fw.evaluate(ToolCall("execute_sql", {"query": "SELECT udf_x() FROM t"}))
    assert v.action is VerdictType.BLOCK
    assert "timeout" in v.reasoning
    assert v.tier_used == 2
    fw.shutdown(5.0)
