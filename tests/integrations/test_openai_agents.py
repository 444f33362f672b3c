"""OpenAI Agents SDK integration: every FunctionTool call is decided before the tool runs.

The agents run against the SDK's own scripted model (``agents.testing.ScriptedModel``)
and, once, against a local HTTP server speaking the Responses protocol through the
real ``openai`` client. No network. The destructive call is
``delete_records(table="users")`` inside ``scope(allowed_operations=["read"])``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from agents import Agent, FunctionTool, RunConfig, Runner, function_tool
from agents.exceptions import UserError
from agents.items import ToolCallOutputItem
from agents.testing import ScriptedModel, assistant_message, function_call

import agentgate
from agentgate import FirewallBlockedError, agent_context, scope
from agentgate.audit import AuditRecord, MemorySink
from agentgate.integrations import openai_agents as oa

READ_ONLY = {"allowed_operations": ["read"]}
RUN_CONFIG = RunConfig(tracing_disabled=True)

ran: list[tuple[str, Any]] = []


class _Audit:
    """The firewall's real audit trail (``agentgate.audit``), kept in a MemorySink."""

    def __init__(self) -> None:
        self.sink = MemorySink()

    @property
    def records(self) -> list[AuditRecord]:
        assert agentgate.flush(5.0), "audit writer did not drain"
        return list(self.sink.records)

    def decisions(self) -> list[tuple[str, str]]:
        return [(r.tool_name, r.verdict) for r in self.records]


@pytest.fixture
def agents_protect() -> Iterator[Callable[..., _Audit]]:
    """``protect(on_block=...)`` patches the Agents SDK through protect_all and returns its audit trail."""

    def protect(on_block: str = "raise") -> _Audit:
        audit = _Audit()
        assert agentgate.protect_all(audit=audit.sink, on_block=on_block, frameworks=["openai_agents"]) == [
            "openai_agents"
        ]
        return audit

    oa.uninstall()
    ran.clear()
    yield protect
    oa.uninstall()


@pytest.fixture
def agents_audit(agents_protect: Callable[..., _Audit]) -> _Audit:
    """The Agents SDK patched with the default ``on_block="raise"``."""
    return agents_protect()


# ------------------------------------------------------------------ tools
# All built at import time, i.e. before install(): the patch must still cover them.


@function_tool
def delete_records(table: str) -> str:
    """Delete every record of a table."""
    ran.append(("delete_records", table))
    return f"deleted {table}"


@function_tool(name_override="delete_records")
async def adelete_records(table: str) -> str:
    """Delete every record of a table (async)."""
    ran.append(("delete_records", table))
    return f"deleted {table}"


async def _invoke_delete(ctx: Any, arguments: str) -> str:
    table = json.loads(arguments)["table"]
    ran.append(("delete_records", table))
    return f"deleted {table}"


handmade_delete = FunctionTool(
    name="delete_records",
    description="Delete every record of a table.",
    params_json_schema={
        "type": "object",
        "properties": {"table": {"type": "string"}},
        "required": ["table"],
        "additionalProperties": False,
    },
    on_invoke_tool=_invoke_delete,
)


@function_tool
def read_records(table: str) -> str:
    """Read the records of a table."""
    ran.append(("read_records", table))
    return f"3 rows from {table}"


DELETE_TOOLS = [delete_records, adelete_records, handmade_delete]
DELETE_IDS = ["function_tool", "function_tool-async", "FunctionTool"]


def _agent(tool: FunctionTool, name: str, args: dict[str, Any]) -> tuple[Agent[Any], ScriptedModel]:
    model = ScriptedModel([[function_call(name, args, call_id="call-1")], [assistant_message("done")]])
    return Agent(name="worker", instructions="Do the task.", tools=[tool], model=model), model


def _delete_agent(tool: FunctionTool) -> Agent[Any]:
    return _agent(tool, "delete_records", {"table": "users"})[0]


async def _run(agent: Agent[Any], how: str) -> Any:
    if how == "run":
        return await Runner.run(agent, "go", run_config=RUN_CONFIG)
    streamed = Runner.run_streamed(agent, "go", run_config=RUN_CONFIG)
    async for _ in streamed.stream_events():
        pass
    return streamed


# ------------------------------------------------------------------- blocks


@pytest.mark.parametrize("how", ["run", "run_streamed"])
@pytest.mark.parametrize("tool", DELETE_TOOLS, ids=DELETE_IDS)
async def test_run_fails_with_our_error_as_cause(agents_audit: _Audit, tool: FunctionTool, how: str) -> None:
    """``Runner.run`` / ``run_streamed`` fail with UserError caused by FirewallBlockedError; the tool never ran."""
    with scope(**READ_ONLY), pytest.raises(UserError) as ei:
        await _run(_delete_agent(tool), how)
    assert isinstance(ei.value.__cause__, FirewallBlockedError)
    assert ei.value.__cause__.verdict.policy_name == "scope.operation"
    assert ran == []
    assert agents_audit.decisions() == [("delete_records", "block")]


@pytest.mark.parametrize("tool", DELETE_TOOLS, ids=DELETE_IDS)
def test_run_sync_blocked(agents_audit: _Audit, tool: FunctionTool) -> None:
    """``Runner.run_sync`` fails the same way; the tool never ran."""
    with scope(**READ_ONLY), pytest.raises(UserError) as ei:
        Runner.run_sync(_delete_agent(tool), "go", run_config=RUN_CONFIG)
    assert isinstance(ei.value.__cause__, FirewallBlockedError)
    assert ran == []


def test_benign_call_runs_and_audit_holds_both(agents_audit: _Audit) -> None:
    """A read runs and the run finishes; the audit holds the allowed read and the blocked delete."""
    with scope(**READ_ONLY):
        result = Runner.run_sync(
            _agent(read_records, "read_records", {"table": "users"})[0], "go", run_config=RUN_CONFIG
        )
        assert result.final_output == "done"
        with pytest.raises(UserError):
            Runner.run_sync(_delete_agent(delete_records), "go", run_config=RUN_CONFIG)
    assert ran == [("read_records", "users")]
    assert agents_audit.decisions() == [("read_records", "allow"), ("delete_records", "block")]
    rec = agents_audit.records[0]
    assert (rec.framework, rec.payload["call_id"], rec.payload["arguments"]) == (
        "openai_agents",
        "call-1",
        {"table": "users"},
    )
    assert agents_audit.records[1].policy_name == "scope.operation"


async def test_result_recorded_in_agent_history(agents_audit: _Audit) -> None:
    """The allowed tool's output is attached to the agent's history entry for that call."""
    async with agent_context(agent_id="reporter") as ctx:
        await Runner.run(_agent(read_records, "read_records", {"table": "sales"})[0], "go", run_config=RUN_CONFIG)
    assert [(r.tool_name, r.verdict, r.result) for r in ctx.action_history] == [
        ("read_records", "allow", "3 rows from sales")
    ]


def test_copied_tool_is_still_guarded(agents_audit: _Audit) -> None:
    """``copy.copy(tool)`` (the SDK copies tools per run in places) goes through the same guard."""
    with scope(**READ_ONLY), pytest.raises(UserError):
        Runner.run_sync(_delete_agent(copy.copy(delete_records)), "go", run_config=RUN_CONFIG)
    assert ran == []


def test_agent_as_tool_inner_call_blocked(agents_audit: _Audit) -> None:
    """A tool called by a sub-agent exposed with ``Agent.as_tool`` is decided too."""
    inner, _ = _agent(delete_records, "delete_records", {"table": "users"})
    outer_model = ScriptedModel(
        [[function_call("lookup_agent", {"input": "look users up"}, call_id="outer-1")], [assistant_message("done")]]
    )
    outer = Agent(
        name="boss",
        tools=[inner.as_tool(tool_name="lookup_agent", tool_description="Looks tables up.")],
        model=outer_model,
    )
    with scope(**READ_ONLY):
        # The sub-agent's run fails with our error; the SDK's default failure handler of the
        # agent-tool turns that into an error output for the outer model, whose run goes on.
        result = Runner.run_sync(outer, "go", run_config=RUN_CONFIG)
    assert result.final_output == "done"
    outputs = [str(i.output) for i in result.new_items if isinstance(i, ToolCallOutputItem)]
    assert len(outputs) == 1
    assert "error" in outputs[0].lower()
    assert ran == []
    assert agents_audit.decisions() == [("lookup_agent", "allow"), ("delete_records", "block")]


# ------------------------------------------------------- on_block="return_error"


@pytest.mark.parametrize("how", ["run", "run_streamed"])
async def test_return_error_hands_model_the_refusal(agents_protect: Callable[..., _Audit], how: str) -> None:
    """``on_block="return_error"``: the model reads the refusal as the tool output and the run completes."""
    agents_protect("return_error")
    agent, model = _agent(delete_records, "delete_records", {"table": "users"})
    with scope(**READ_ONLY):
        result = await _run(agent, how)
    assert result.final_output == "done"
    outputs = [i.output for i in result.new_items if isinstance(i, ToolCallOutputItem)]
    assert len(outputs) == 1
    assert outputs[0].startswith("AgentGate blocked this tool call (scope.operation)")
    # The refusal is what the model was sent on its next turn.
    second_input = json.dumps(model.calls[1].input, default=str)
    assert "AgentGate blocked this tool call" in second_input
    assert ran == []


# --------------------------------------------------- a real provider protocol


async def test_blocked_with_openai_responses_model_over_http(agents_audit: _Audit, oai_llm_server: Any) -> None:
    """With the real ``openai`` client against a local Responses-protocol server: blocked, benign ran."""
    from agents import OpenAIResponsesModel
    from openai import AsyncOpenAI

    from .servers.llm_server import Turn

    client = AsyncOpenAI(base_url=oai_llm_server.base_url, api_key="test-key", max_retries=0)
    model = OpenAIResponsesModel(model="scripted", openai_client=client)
    agent = Agent(name="worker", tools=[read_records, delete_records], model=model)
    oai_llm_server.load(
        Turn(tool_calls=(("read_records", {"table": "users"}),)),
        Turn(text="read done"),
        Turn(tool_calls=(("delete_records", {"table": "users"}),)),
    )
    try:
        with scope(**READ_ONLY):
            assert (await Runner.run(agent, "read", run_config=RUN_CONFIG)).final_output == "read done"
            with pytest.raises(UserError) as ei:
                await Runner.run(agent, "delete", run_config=RUN_CONFIG)
    finally:
        await client.close()
    assert isinstance(ei.value.__cause__, FirewallBlockedError)
    assert ran == [("read_records", "users")]
    assert agents_audit.decisions() == [("read_records", "allow"), ("delete_records", "block")]


# ---------------------------------------------------------- install contract


def test_install_is_idempotent_and_uninstall_restores() -> None:
    """A second install wraps nothing twice; uninstall restores the SDK's coroutine everywhere."""
    import agents.run_internal.tool_execution as run_loop
    import agents.tool as agents_tool

    original = agents_tool._invoke_function_tool_with_metadata
    try:
        assert oa.install()
        assert oa.install()
        for module in (agents_tool, run_loop):
            assert module._invoke_function_tool_with_metadata.__agentgate_original__ is original
    finally:
        oa.unpatch()
    assert not oa.installed()
    assert agents_tool._invoke_function_tool_with_metadata is original
    assert run_loop._invoke_function_tool_with_metadata is original
    with scope(**READ_ONLY):
        Runner.run_sync(_delete_agent(delete_records), "go", run_config=RUN_CONFIG)  # unguarded again
    assert ran[-1] == ("delete_records", "users")


def test_missing_interception_point_refuses_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """An SDK version without the hook makes install fail loudly instead of leaving tools unguarded."""
    import agents.tool as agents_tool

    monkeypatch.delattr(agents_tool, "_invoke_function_tool_with_metadata")
    with pytest.raises(agentgate.AgentGateError, match="unguarded"):
        oa.install()
    assert not oa.installed()


def test_contract_attributes() -> None:
    """The module exposes the integration contract protect_all relies on."""
    assert oa.FRAMEWORK == "openai_agents"
    assert oa.available()
    assert "openai-agents" in oa.TESTED_VERSIONS
    assert oa.unpatch is oa.uninstall
    with pytest.raises(agentgate.ConfigError):
        oa.install(on_block="ignore")


def _handoff_run(table: str) -> Any:
    billing = Agent(
        name="billing",
        tools=[delete_records],
        model=ScriptedModel(
            [[function_call("delete_records", {"table": table}, call_id="b-1")], [assistant_message("ok")]]
        ),
    )
    triage = Agent(
        name="triage",
        handoffs=[billing],
        model=ScriptedModel([[function_call("transfer_to_billing", {}, call_id="t-1")]]),
    )
    with agent_context(agent_id="triage"):
        return Runner.run_sync(triage, "clean up", run_config=RUN_CONFIG)


def test_handoff_decides_under_both_agents_policies(tmp_path: Any) -> None:
    """After a handoff the receiving agent acts as triage's sub-agent: only what both allow runs."""
    policy = tmp_path / "agentgate.yaml"
    policy.write_text(
        "agents:\n"
        "  triage: {allowed_operations: [read, delete], allowed_resources: [invoices, users]}\n"
        "  billing: {allowed_operations: [read, delete], allowed_resources: [invoices, payments]}\n"
    )
    oa.uninstall()
    ran.clear()
    audit = _Audit()
    agentgate.protect_all(config=str(policy), audit=audit.sink, frameworks=["openai_agents"])
    try:
        for table in ("users", "payments"):  # one refused by billing's own policy, one by its parent's
            with pytest.raises(UserError) as ei:
                _handoff_run(table)
            assert isinstance(ei.value.__cause__, FirewallBlockedError)
        assert ran == []
        assert _handoff_run("invoices").final_output == "ok"
        assert ran == [("delete_records", "invoices")]
        assert [d for d in audit.decisions() if d[0] == "delete_records"] == [
            ("delete_records", "block"),
            ("delete_records", "block"),
            ("delete_records", "allow"),
        ]
    finally:
        oa.uninstall()
