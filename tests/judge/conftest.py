"""Fixtures for the judge tests: one fake LLM server per session, request builders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agentgate._call import ToolCall
from agentgate._context import AgentContext
from agentgate._decision import Effect, Finding, Severity
from agentgate._escalation import EscalationRequest
from agentgate.policy import EffectivePolicy, ScopePolicy

from .servers import FakeLLM

MakeReq = Callable[..., EscalationRequest]


@pytest.fixture(scope="session")
def _llm_server() -> Iterator[FakeLLM]:
    server = FakeLLM()
    yield server
    server.stop()


@pytest.fixture
def llm(_llm_server: FakeLLM) -> FakeLLM:
    """The fake OpenAI/Anthropic server, with an empty script and the cautious model."""
    _llm_server.reset()
    return _llm_server


@pytest.fixture
def make_req() -> MakeReq:
    """Build an EscalationRequest: ``make_req(tool, args, task=..., operation=..., history=[...])``."""

    def make(
        tool: str = "execute_sql",
        args: dict[str, Any] | None = None,
        *,
        task: str = "Summarize last month's sales from the sales_data table",
        operation: str | None = "read",
        kind: str = "sql",
        findings: tuple[Finding, ...] | None = None,
        history: list[tuple[str, dict[str, Any], str, Any]] | None = None,
        revision: str = "rev-1",
        agent_id: str = "report-bot",
    ) -> EscalationRequest:
        agent = AgentContext(agent_id=agent_id, task_id="run-42", user_id="alice", task_description=task)
        for name, a, verdict, result in history or []:
            rec = agent.record_action(name, a, verdict)
            rec.result = result
        if findings is None:
            findings = (
                Finding("sql.unknown_function", Severity.MEDIUM, Effect.ESCALATE, "calls an unknown function", "f()"),
            )
        policy = EffectivePolicy((ScopePolicy(task=task, allowed_resources=("sales_data",), name="report-bot"),))
        return EscalationRequest(
            call=ToolCall(tool, args if args is not None else {"query": "SELECT f(amount) FROM sales_data"}),
            agent=agent,
            policy=policy,
            findings=findings,
            operation=operation,
            kind=kind,
            policy_revision=revision,
        )

    return make
