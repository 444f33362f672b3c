"""AutoGen 0.4+ and classic ag2 integration: tool calls are decided before the tool runs.

AutoGen agents run against autogen-ext's scripted ``ReplayChatCompletionClient`` (no
network); classic ag2 agents get scripted ``tool_calls`` / ``function_call`` messages
(a registered reply function plays the model). The destructive call is ``delete_records(table="users")`` inside
``scope(allowed_operations=["read"])``. Inside an agent the workbench turns our
exception into an error ``ToolResult``: the model reads the refusal, the tool
body never runs, and the run completes.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import ToolCallExecutionEvent
from autogen_core import CancellationToken, FunctionCall
from autogen_core.models import CreateResult, ModelFamily, ModelInfo, RequestUsage
from autogen_core.tools import BaseStreamTool, BaseTool, FunctionTool, StaticWorkbench
from autogen_ext.models.replay import ReplayChatCompletionClient
from pydantic import BaseModel

import agentgate
from agentgate import FirewallBlockedError, agent_context, scope
from agentgate.audit import AuditRecord, MemorySink
from agentgate.integrations import autogen as ag

READ_ONLY = {"allowed_operations": ["read"]}
MODEL_INFO = ModelInfo(
    vision=False, function_calling=True, json_output=False, family=ModelFamily.UNKNOWN, structured_output=False
)

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
def autogen_protect() -> Iterator[Callable[..., _Audit]]:
    """``protect(on_block=...)`` patches AutoGen through protect_all and returns its audit trail."""

    def protect(on_block: str = "raise") -> _Audit:
        audit = _Audit()
        assert agentgate.protect_all(audit=audit.sink, on_block=on_block, frameworks=["autogen"]) == ["autogen"]
        return audit

    ag.uninstall()
    ran.clear()
    yield protect
    ag.uninstall()


@pytest.fixture
def autogen_audit(autogen_protect: Callable[..., _Audit]) -> _Audit:
    """AutoGen patched with the default ``on_block="raise"``."""
    return autogen_protect()


# ------------------------------------------------------------------ tools


def delete_records(table: str) -> str:
    """Delete every record of a table."""
    ran.append(("delete_records", table))
    return f"deleted {table}"


async def adelete_records(table: str) -> str:
    """Delete every record of a table (async)."""
    ran.append(("delete_records", table))
    return f"deleted {table}"


def read_records(table: str) -> str:
    """Read the records of a table."""
    ran.append(("read_records", table))
    return f"3 rows from {table}"


class TableArgs(BaseModel):
    table: str


class Deleted(BaseModel):
    deleted: str


class Progress(BaseModel):
    done: int


class DeleteRecordsTool(BaseTool[TableArgs, Deleted]):
    """A hand-written BaseTool subclass."""

    def __init__(self) -> None:
        super().__init__(TableArgs, Deleted, "delete_records", "Delete every record of a table.")

    async def run(self, args: TableArgs, cancellation_token: CancellationToken) -> Deleted:
        ran.append(("delete_records", args.table))
        return Deleted(deleted=args.table)


class StreamingDeleteTool(BaseStreamTool[TableArgs, Progress, Deleted]):
    """A streaming tool: reports progress, then the final result."""

    def __init__(self, name: str = "delete_records") -> None:
        super().__init__(TableArgs, Deleted, name, "Delete every record of a table, with progress.")

    async def run(self, args: TableArgs, cancellation_token: CancellationToken) -> Deleted:
        raise AssertionError("agents call run_json_stream on stream tools")

    async def run_stream(
        self, args: TableArgs, cancellation_token: CancellationToken
    ) -> AsyncGenerator[Progress | Deleted, None]:
        ran.append((self.name, args.table))
        yield Progress(done=50)
        yield Deleted(deleted=args.table)


def _delete_tools() -> list[Any]:
    return [
        FunctionTool(delete_records, description="Delete every record of a table."),
        FunctionTool(adelete_records, description="Delete every record of a table.", name="delete_records"),
        DeleteRecordsTool(),
        StreamingDeleteTool(),
    ]


DELETE_IDS = ["FunctionTool", "FunctionTool-async", "BaseTool-subclass", "BaseStreamTool"]


def _client(name: str, args: dict[str, Any]) -> ReplayChatCompletionClient:
    call = FunctionCall(id="call-1", name=name, arguments=json.dumps(args))
    usage = RequestUsage(prompt_tokens=0, completion_tokens=0)
    return ReplayChatCompletionClient(
        [CreateResult(finish_reason="function_calls", content=[call], usage=usage, cached=False), "done"],
        model_info=MODEL_INFO,
    )


def _agent(tool: Any, name: str = "delete_records", args: dict[str, Any] | None = None) -> AssistantAgent:
    client = _client(name, args if args is not None else {"table": "users"})
    return AssistantAgent("worker", model_client=client, tools=[tool], reflect_on_tool_use=True)


def _execution(messages: Any) -> Any:
    events = [m for m in messages if isinstance(m, ToolCallExecutionEvent)]
    assert len(events) == 1
    assert len(events[0].content) == 1
    return events[0].content[0]


async def _run(agent: AssistantAgent, how: str) -> list[Any]:
    if how == "run":
        return list((await agent.run(task="go")).messages)
    items = [item async for item in agent.run_stream(task="go")]
    return list(items[-1].messages)  # the final TaskResult


# ------------------------------------------------------------------- blocks


@pytest.mark.parametrize("how", ["run", "run_stream"])
@pytest.mark.parametrize("index", range(4), ids=DELETE_IDS)
async def test_agent_gets_error_result_and_tool_never_runs(autogen_audit: _Audit, index: int, how: str) -> None:
    """AssistantAgent ``run``/``run_stream``: the block is an error tool result; the body never ran."""
    tool = _delete_tools()[index]
    with scope(**READ_ONLY):
        messages = await _run(_agent(tool), how)
    result = _execution(messages)
    assert result.is_error
    assert "[AgentGate BLOCKED delete_records] scope.operation" in result.content
    assert messages[-1].content == "done"  # the model saw the refusal and answered
    assert ran == []
    assert autogen_audit.decisions() == [("delete_records", "block")]


async def test_team_runtime_keeps_scope_and_blocks(autogen_audit: _Audit) -> None:
    """In a ``RoundRobinGroupChat`` (agents run inside the team's runtime) the caller's scope still applies."""
    from autogen_agentchat.conditions import TextMentionTermination
    from autogen_agentchat.teams import RoundRobinGroupChat

    team = RoundRobinGroupChat([_agent(_delete_tools()[0])], termination_condition=TextMentionTermination("done"))
    with scope(**READ_ONLY):
        result = await team.run(task="go")
    assert _execution(result.messages).is_error
    assert ran == []
    assert autogen_audit.decisions() == [("delete_records", "block")]


async def test_benign_call_runs_and_audit_holds_both(autogen_audit: _Audit) -> None:
    """A read runs through the agent; the audit holds the allowed read and the blocked delete."""
    read = FunctionTool(read_records, description="Read the records of a table.")
    with scope(**READ_ONLY):
        ok = _execution(await _run(_agent(read, "read_records"), "run"))
        blocked = _execution(await _run(_agent(_delete_tools()[0]), "run"))
    assert (ok.is_error, ok.content) == (False, "3 rows from users")
    assert blocked.is_error
    assert ran == [("read_records", "users")]
    assert autogen_audit.decisions() == [("read_records", "allow"), ("delete_records", "block")]
    rec = autogen_audit.records[0]
    assert (rec.framework, rec.payload["call_id"], rec.payload["arguments"]) == (
        "autogen",
        "call-1",
        {"table": "users"},
    )
    assert autogen_audit.records[1].policy_name == "scope.operation"


@pytest.mark.parametrize("index", range(3), ids=DELETE_IDS[:3])
async def test_direct_run_json_raises(autogen_audit: _Audit, index: int) -> None:
    """Calling ``run_json`` directly raises FirewallBlockedError before the tool runs."""
    tool = _delete_tools()[index]
    with scope(**READ_ONLY), pytest.raises(FirewallBlockedError):
        await tool.run_json({"table": "users"}, CancellationToken(), call_id="c9")
    assert ran == []


async def test_direct_run_json_stream_raises_before_first_item(autogen_audit: _Audit) -> None:
    """``run_json_stream`` raises on the first ``__anext__``: no progress item, no side effect."""
    stream = StreamingDeleteTool().run_json_stream({"table": "users"}, CancellationToken())
    with scope(**READ_ONLY), pytest.raises(FirewallBlockedError):
        await stream.__anext__()
    assert ran == []


async def test_streaming_tool_benign_streams_every_item(autogen_audit: _Audit) -> None:
    """An allowed stream tool yields its progress and final items unchanged."""
    tool = StreamingDeleteTool(name="read_records")  # same body, a name the read-only scope allows
    with scope(**READ_ONLY):
        items = [i async for i in tool.run_json_stream({"table": "users"}, CancellationToken())]
    assert items == [Progress(done=50), Deleted(deleted="users")]
    assert ran == [("read_records", "users")]
    assert autogen_audit.decisions() == [("read_records", "allow")]


async def test_static_workbench_call_tool(autogen_audit: _Audit) -> None:
    """``StaticWorkbench.call_tool`` (the agent's path) returns an error result; nothing deleted."""
    async with StaticWorkbench([FunctionTool(delete_records, description="Delete.")]) as wb:
        with scope(**READ_ONLY):
            result = await wb.call_tool("delete_records", {"table": "users"})
    assert result.is_error
    assert "AgentGate BLOCKED" in result.to_text()
    assert ran == []


async def test_result_recorded_in_agent_history(autogen_audit: _Audit) -> None:
    """The allowed tool's return value is attached to the agent's history entry."""
    read = FunctionTool(read_records, description="Read the records of a table.")
    async with agent_context(agent_id="reporter") as ctx:
        await read.run_json({"table": "sales"}, CancellationToken())
    assert [(r.tool_name, r.verdict, r.result) for r in ctx.action_history] == [
        ("read_records", "allow", "3 rows from sales")
    ]


# ------------------------------------------------------- on_block="return_error"


async def test_return_error_direct_calls_get_text(autogen_protect: Callable[..., _Audit]) -> None:
    """``on_block="return_error"``: direct ``run_json``/``run_json_stream`` return the refusal, run nothing."""
    autogen_protect("return_error")
    with scope(**READ_ONLY):
        out = await DeleteRecordsTool().run_json({"table": "users"}, CancellationToken())
        streamed = [i async for i in StreamingDeleteTool().run_json_stream({"table": "users"}, CancellationToken())]
    assert out.startswith("AgentGate blocked this tool call (scope.operation)")
    assert len(streamed) == 1
    assert streamed[0].startswith("AgentGate blocked this tool call")
    assert ran == []


async def test_return_error_through_agent(autogen_protect: Callable[..., _Audit]) -> None:
    """Through an agent, ``return_error`` also hands the model the refusal and runs nothing."""
    autogen_protect("return_error")
    with scope(**READ_ONLY):
        result = _execution(await _run(_agent(_delete_tools()[0]), "run"))
    assert result.content.startswith("AgentGate blocked this tool call")
    assert ran == []


# ----------------------------------------------------------------- classic ag2


def _classic_agent() -> Any:
    """A classic ag2 ``ConversableAgent`` executing a sync and an async ``delete_records`` and a read."""
    with warnings.catch_warnings():  # ag2 0.14's import trips jsonschema's RefResolver deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        from autogen import ConversableAgent

    agent = ConversableAgent("executor", llm_config=False, human_input_mode="NEVER")
    agent.register_function(
        {"delete_records": delete_records, "delete_records_async": adelete_records, "read_records": read_records}
    )
    return agent


def _tool_calls_message(name: str, args: dict[str, Any]) -> dict[str, Any]:
    function = {"name": name, "arguments": json.dumps(args)}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "call-1", "type": "function", "function": function}],
    }


def _function_call_message(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "function_call": {"name": name, "arguments": json.dumps(args)}}


CLASSIC_MESSAGES = [
    ("tool_calls", "delete_records"),
    ("tool_calls", "delete_records_async"),  # sync reply: ag2 runs the coroutine in a helper thread
    ("function_call", "delete_records"),
    ("function_call", "delete_records_async"),
]
CLASSIC_IDS = ["tool_calls-sync", "tool_calls-async", "function_call-sync", "function_call-async"]


def _classic_message(kind: str, name: str) -> dict[str, Any]:
    build = _tool_calls_message if kind == "tool_calls" else _function_call_message
    return build(name, {"table": "users"})


@pytest.mark.parametrize(("kind", "name"), CLASSIC_MESSAGES, ids=CLASSIC_IDS)
def test_classic_sync_reply_raises(autogen_audit: _Audit, kind: str, name: str) -> None:
    """Classic ag2 ``generate_reply``: every reply path raises our error; the function never ran."""
    agent = _classic_agent()
    with scope(**READ_ONLY), pytest.raises(FirewallBlockedError) as ei:
        agent.generate_reply(messages=[_classic_message(kind, name)])
    assert ei.value.verdict.policy_name == "scope.operation"  # decided with the caller's scope
    assert ran == []
    assert [(r.tool_name, r.verdict, r.framework) for r in autogen_audit.records] == [(name, "block", "ag2")]


@pytest.mark.parametrize(("kind", "name"), CLASSIC_MESSAGES, ids=CLASSIC_IDS)
async def test_classic_async_reply_raises(autogen_audit: _Audit, kind: str, name: str) -> None:
    """Classic ag2 ``a_generate_reply``: every reply path raises our error; the function never ran."""
    agent = _classic_agent()
    with scope(**READ_ONLY), pytest.raises(FirewallBlockedError):
        await agent.a_generate_reply(messages=[_classic_message(kind, name)])
    assert ran == []


def test_classic_chat_blocked_and_benign_runs(autogen_audit: _Audit) -> None:
    """A scripted two-agent ``initiate_chat``: the read runs, the delete raises; the audit holds both."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from autogen import ConversableAgent

    script = [
        _tool_calls_message("read_records", {"table": "users"}),
        _tool_calls_message("delete_records", {"table": "users"}),
    ]
    assistant = ConversableAgent("assistant", llm_config=False, human_input_mode="NEVER")
    assistant.register_reply([ConversableAgent, None], lambda *a, **k: (True, script.pop(0) if script else "TERMINATE"))
    executor = _classic_agent()
    with scope(**READ_ONLY), pytest.raises(FirewallBlockedError):
        executor.initiate_chat(assistant, message="tidy the users table", max_turns=3, silent=True)
    assert ran == [("read_records", "users")]
    assert [(r.tool_name, r.verdict, r.framework) for r in autogen_audit.records] == [
        ("read_records", "allow", "ag2"),
        ("delete_records", "block", "ag2"),
    ]


async def test_classic_return_error_hands_model_the_refusal(autogen_protect: Callable[..., _Audit]) -> None:
    """``on_block="return_error"``: the tool response carries the refusal (sync and async replies); nothing ran."""
    autogen_protect("return_error")
    agent = _classic_agent()
    with scope(**READ_ONLY):
        sync_reply = agent.generate_reply(messages=[_classic_message("tool_calls", "delete_records_async")])
        async_reply = await agent.a_generate_reply(messages=[_classic_message("tool_calls", "delete_records")])
    for reply in (sync_reply, async_reply):
        assert isinstance(reply, dict)
        assert reply["tool_responses"][0]["content"].startswith("AgentGate blocked this tool call (scope.operation)")
    assert ran == []


def test_classic_result_recorded_in_agent_history(autogen_audit: _Audit) -> None:
    """An allowed classic call's content is attached to the agent's history, also via the helper thread."""
    agent = _classic_agent()
    with agent_context(agent_id="reporter") as ctx:
        agent.execute_function({"name": "read_records", "arguments": json.dumps({"table": "sales"})}, call_id="c1")
    assert [(r.tool_name, r.verdict, r.result) for r in ctx.action_history] == [
        ("read_records", "allow", "3 rows from sales")
    ]


# ---------------------------------------------------------- install contract


async def test_install_is_idempotent_and_uninstall_restores() -> None:
    """A second install wraps nothing twice; uninstall restores the methods and stops guarding."""
    classic = type(_classic_agent())
    orig, orig_stream = BaseTool.run_json, BaseStreamTool.run_json_stream
    orig_exec, orig_aexec = classic.execute_function, classic.a_execute_function
    try:
        assert ag.install()
        assert ag.install()
        assert BaseTool.run_json.__agentgate_original__ is orig  # type: ignore[attr-defined]
        assert BaseStreamTool.run_json_stream.__agentgate_original__ is orig_stream  # type: ignore[attr-defined]
        assert classic.execute_function.__agentgate_original__ is orig_exec
        assert classic.a_execute_function.__agentgate_original__ is orig_aexec
    finally:
        ag.unpatch()
    assert not ag.installed()
    assert (BaseTool.run_json, BaseStreamTool.run_json_stream) == (orig, orig_stream)
    assert (classic.execute_function, classic.a_execute_function) == (orig_exec, orig_aexec)
    ran.clear()
    with scope(**READ_ONLY):
        await DeleteRecordsTool().run_json({"table": "users"}, CancellationToken())  # unguarded again
    assert ran == [("delete_records", "users")]


def test_contract_attributes() -> None:
    """The module exposes the integration contract protect_all relies on."""
    assert ag.FRAMEWORK == "autogen"
    assert ag.available()
    assert "autogen-core" in ag.TESTED_VERSIONS
    assert ag.unpatch is ag.uninstall
    with pytest.raises(agentgate.ConfigError):
        ag.install(on_block="ignore")
