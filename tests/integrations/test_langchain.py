"""LangChain / LangGraph integration: tool calls are decided before the tool body runs.

Every test uses real langchain-core / langgraph objects and a scripted chat
model (no network). The destructive call is ``delete_records(table="users")``
inside ``scope(allowed_operations=["read"])``; each tool appends to a list when
its body runs, so "blocked" is checked as "the side effect never happened".
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool, Tool, tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import InjectedState, ToolNode

import agentgate
from agentgate import FirewallBlockedError, agent_context, scope
from agentgate.audit import AuditRecord, MemorySink
from agentgate.integrations import langchain as lc

READ_ONLY = {"allowed_operations": ["read"]}
DESTRUCTIVE = {"table": "users"}


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
def lc_protect() -> Iterator[Callable[..., _Audit]]:
    """``protect(on_block=...)`` patches LangChain through protect_all and returns its audit trail."""

    def protect(on_block: str = "raise") -> _Audit:
        audit = _Audit()
        assert agentgate.protect_all(audit=audit.sink, on_block=on_block, frameworks=["langchain"]) == ["langchain"]
        return audit

    lc.uninstall()
    yield protect
    lc.uninstall()


@pytest.fixture
def lc_audit(lc_protect: Callable[..., _Audit]) -> _Audit:
    """LangChain patched with the default ``on_block="raise"``."""
    return lc_protect()


# ------------------------------------------------------------------ tools

ran: list[tuple[str, Any]] = []


@pytest.fixture(autouse=True)
def _clear_side_effects() -> None:
    ran.clear()


@tool
def delete_records(table: str) -> str:
    """Delete every record of a table."""
    ran.append(("delete_records", table))
    return f"deleted {table}"


@tool
def read_records(table: str) -> str:
    """Read the records of a table."""
    ran.append(("read_records", table))
    return f"3 rows from {table}"


@tool("delete_records")
async def adelete_records(table: str) -> str:
    """Delete every record of a table (async)."""
    ran.append(("delete_records", table))
    return f"deleted {table}"


def _delete(table: str) -> str:
    ran.append(("delete_records", table))
    return f"deleted {table}"


structured_delete = StructuredTool.from_function(_delete, name="delete_records", description="Delete records.")


class DeleteRecordsTool(BaseTool):
    """A subclassed BaseTool with its own ``_run`` (inherits the default ``_arun``)."""

    name: str = "delete_records"
    description: str = "Delete every record of a table."

    def _run(self, table: str) -> str:
        ran.append(("delete_records", table))
        return f"deleted {table}"


def _tool_call(args: dict[str, Any], name: str = "delete_records", call_id: str = "call-1") -> dict[str, Any]:
    return {"type": "tool_call", "id": call_id, "name": name, "args": args}


SYNC_TOOLS = [delete_records, structured_delete, DeleteRecordsTool()]
ALL_TOOLS = [*SYNC_TOOLS, adelete_records]


class _ScriptedChat(GenericFakeChatModel):
    """A fake chat model that accepts ``bind_tools`` (create_react_agent needs it)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def _model(*tool_calls: dict[str, Any]) -> _ScriptedChat:
    calls = [{"name": c["name"], "args": c["args"], "id": c["id"]} for c in tool_calls]
    return _ScriptedChat(messages=iter([AIMessage(content="", tool_calls=calls), AIMessage(content="done")]))


def _react_agent(model: Any, tools: list[Any]) -> Any:
    from langgraph.prebuilt import create_react_agent

    with warnings.catch_warnings():  # moved to langchain.agents in LangGraph 1.0; still shipped and used
        warnings.simplefilter("ignore")
        return create_react_agent(model, tools)


# ------------------------------------------------------------- direct calls


@pytest.mark.parametrize("t", SYNC_TOOLS, ids=["@tool", "StructuredTool", "BaseTool-subclass"])
@pytest.mark.parametrize("as_tool_call", [False, True], ids=["args", "ToolCall"])
def test_sync_invoke_blocked_before_body_runs(lc_audit: _Audit, t: BaseTool, as_tool_call: bool) -> None:
    """``invoke`` (args or a ToolCall) of every sync tool shape raises and the body never runs."""
    payload = _tool_call(DESTRUCTIVE) if as_tool_call else DESTRUCTIVE
    with scope(**READ_ONLY), pytest.raises(FirewallBlockedError) as ei:
        t.invoke(payload)
    assert ran == []
    assert ei.value.verdict.policy_name == "scope.operation"
    assert lc_audit.decisions() == [("delete_records", "block")]


@pytest.mark.parametrize("t", ALL_TOOLS, ids=["@tool", "StructuredTool", "BaseTool-subclass", "@tool-async"])
@pytest.mark.parametrize("as_tool_call", [False, True], ids=["args", "ToolCall"])
async def test_async_ainvoke_blocked_before_body_runs(lc_audit: _Audit, t: BaseTool, as_tool_call: bool) -> None:
    """``ainvoke`` of every tool shape, sync bodies included (run in a worker thread), raises; no side effect."""
    payload = _tool_call(DESTRUCTIVE) if as_tool_call else DESTRUCTIVE
    with scope(**READ_ONLY), pytest.raises(FirewallBlockedError):
        await t.ainvoke(payload)
    assert ran == []
    assert lc_audit.decisions() == [("delete_records", "block")]


async def test_benign_call_runs_and_audit_holds_both(lc_audit: _Audit) -> None:
    """A read inside the same scope runs; the audit holds the allowed read and the blocked delete."""
    with scope(**READ_ONLY):
        assert read_records.invoke({"table": "users"}) == "3 rows from users"
        with pytest.raises(FirewallBlockedError):
            await delete_records.ainvoke(DESTRUCTIVE)
    assert ran == [("read_records", "users")]
    assert lc_audit.decisions() == [("read_records", "allow"), ("delete_records", "block")]
    read, delete = lc_audit.records
    assert (read.framework, read.payload["arguments"]) == ("langchain", {"table": "users"})
    assert delete.policy_name == "scope.operation"


def test_result_recorded_in_agent_history(lc_audit: _Audit) -> None:
    """The allowed call's result is attached to the agent's history; the blocked one has none."""
    with agent_context(agent_id="reporter") as ctx, scope(**READ_ONLY):
        read_records.invoke(_tool_call({"table": "sales"}, name="read_records"))
        with pytest.raises(FirewallBlockedError):
            delete_records.invoke(DESTRUCTIVE)
    history = [(r.tool_name, r.verdict, r.result) for r in ctx.action_history]
    assert history == [("read_records", "allow", "3 rows from sales"), ("delete_records", "block", None)]


def test_tool_call_id_reaches_the_firewall(lc_audit: _Audit) -> None:
    """The model's tool-call id is the audited call id (correlates audit rows with the transcript)."""
    read_records.invoke(_tool_call({"table": "users"}, name="read_records", call_id="call-xyz"))
    assert lc_audit.records[0].payload["call_id"] == "call-xyz"


def test_single_input_tool_binds_string_by_name(lc_audit: _Audit) -> None:
    """A classic single-input ``Tool`` called with a bare string is analyzed under its parameter name."""
    shell = Tool(name="run_shell", func=lambda cmd: ran.append(("run_shell", cmd)), description="Run a shell command.")
    shell.invoke("ls")
    assert lc_audit.records[0].payload["arguments"] == {"tool_input": "ls"}


# ---------------------------------------------------------------- LangGraph


def _tool_graph(tools: list[Any], **node_kwargs: Any) -> Any:
    g = StateGraph(MessagesState)
    g.add_node("tools", ToolNode(tools, **node_kwargs))
    g.add_edge(START, "tools")
    g.add_edge("tools", END)
    return g.compile()


def _state(*calls: dict[str, Any]) -> dict[str, Any]:
    return {"messages": [AIMessage(content="", tool_calls=[{k: c[k] for k in ("name", "args", "id")} for c in calls])]}


@pytest.mark.parametrize("t", ALL_TOOLS, ids=["@tool", "StructuredTool", "BaseTool-subclass", "@tool-async"])
async def test_toolnode_ainvoke_blocked(lc_audit: _Audit, t: BaseTool) -> None:
    """``ToolNode`` in a StateGraph (``ainvoke``) re-raises the block for every tool shape; no side effect."""
    graph = _tool_graph([t])
    with scope(**READ_ONLY), pytest.raises(FirewallBlockedError):
        await graph.ainvoke(_state(_tool_call(DESTRUCTIVE)))
    assert ran == []


@pytest.mark.parametrize("t", SYNC_TOOLS, ids=["@tool", "StructuredTool", "BaseTool-subclass"])
def test_toolnode_invoke_blocked(lc_audit: _Audit, t: BaseTool) -> None:
    """``ToolNode`` in a StateGraph (``invoke``) re-raises the block; no side effect."""
    graph = _tool_graph([t])
    with scope(**READ_ONLY), pytest.raises(FirewallBlockedError):
        graph.invoke(_state(_tool_call(DESTRUCTIVE)))
    assert ran == []


def test_toolnode_injected_state_is_stripped(lc_audit: _Audit) -> None:
    """Graph state injected by ToolNode reaches the tool but not the firewall or the audit trail."""
    seen: list[int] = []

    @tool
    def count_messages(table: str, state: Annotated[dict[str, Any], InjectedState]) -> str:
        """Count messages."""
        seen.append(len(state["messages"]))
        return "ok"

    _tool_graph([count_messages]).invoke(_state(_tool_call({"table": "users"}, name="count_messages")))
    assert seen == [1]
    assert lc_audit.records[0].payload["arguments"] == {"table": "users"}


def test_toolnode_handle_tool_errors_gives_model_the_refusal(lc_audit: _Audit) -> None:
    """With ``handle_tool_errors=True`` the block becomes an error ToolMessage; the body still never runs."""
    graph = _tool_graph([delete_records], handle_tool_errors=True)
    with scope(**READ_ONLY):
        out = graph.invoke(_state(_tool_call(DESTRUCTIVE)))
    msg = out["messages"][-1]
    assert isinstance(msg, ToolMessage)
    assert msg.status == "error"
    assert "AgentGate BLOCKED" in str(msg.content)
    assert ran == []


def test_create_react_agent_invoke_blocked_and_benign_runs(lc_audit: _Audit) -> None:
    """``create_react_agent`` + scripted model: the delete raises, a read runs, the audit holds both."""
    with scope(**READ_ONLY):
        out = _react_agent(_model(_tool_call({"table": "users"}, name="read_records")), [read_records]).invoke(
            {"messages": [("user", "read users")]}
        )
        assert out["messages"][-1].content == "done"
        agent = _react_agent(_model(_tool_call(DESTRUCTIVE)), [delete_records])
        with pytest.raises(FirewallBlockedError):
            agent.invoke({"messages": [("user", "delete users")]})
    assert ran == [("read_records", "users")]
    assert lc_audit.decisions() == [("read_records", "allow"), ("delete_records", "block")]


async def test_create_react_agent_ainvoke_blocked(lc_audit: _Audit) -> None:
    """``create_react_agent().ainvoke`` with an async tool raises the block; no side effect."""
    agent = _react_agent(_model(_tool_call(DESTRUCTIVE)), [adelete_records])
    with scope(**READ_ONLY), pytest.raises(FirewallBlockedError):
        await agent.ainvoke({"messages": [("user", "delete users")]})
    assert ran == []


# ------------------------------------------------ delegation (LangGraph subgraphs)


def _parent_graph(node: str, child: Any) -> Any:
    """A parent graph whose one node *node* is the compiled *child* graph (or a function running it)."""
    g = StateGraph(MessagesState)
    g.add_node(node, child)
    g.add_edge(START, node)
    g.add_edge(node, END)
    return g.compile()


def _sub_agent(table: str, name: str = "billing") -> Any:
    """A compiled ReAct subgraph whose model deletes *table*."""
    from langgraph.prebuilt import create_react_agent

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_react_agent(_model(_tool_call({"table": table})), [delete_records], name=name)


@pytest.mark.parametrize("use_async", [False, True], ids=["invoke", "ainvoke"])
async def test_subgraph_call_outside_parent_scope_never_runs(lc_audit: _Audit, use_async: bool) -> None:
    """A compiled subgraph node's agent is held to the scope its parent graph runs under."""
    graph = _parent_graph("worker", _sub_agent("users"))
    inp = {"messages": [("user", "clean up")]}
    with scope(**READ_ONLY), pytest.raises(FirewallBlockedError):
        await graph.ainvoke(inp) if use_async else graph.invoke(inp)
    assert ran == []
    assert lc_audit.decisions() == [("delete_records", "block")]


def test_subgraph_scope_wider_than_parent_cannot_widen(lc_audit: _Audit) -> None:
    """A subgraph node that opens a scope allowing delete still cannot delete under a read-only parent."""
    sub = _sub_agent("users")

    def worker(state: dict[str, Any]) -> Any:
        with scope(allowed_operations=["read", "delete"], allowed_resources=["users"]):
            return sub.invoke(state)

    with scope(**READ_ONLY), pytest.raises(FirewallBlockedError) as ei:
        _parent_graph("worker", worker).invoke({"messages": [("user", "clean up")]})
    assert ei.value.verdict.policy_name == "scope.operation"
    assert ran == []


def test_subgraph_named_agent_is_the_callers_sub_agent(tmp_path: Any) -> None:
    """A subgraph node listed under ``agents:`` decides as the caller's sub-agent: only what both allow runs."""
    policy = tmp_path / "agentgate.yaml"
    policy.write_text(
        "agents:\n"
        "  triage: {allowed_operations: [read, delete], allowed_resources: [invoices, users]}\n"
        "  billing: {allowed_operations: [read, delete], allowed_resources: [invoices, payments]}\n"
    )
    lc.uninstall()
    audit = _Audit()
    agentgate.protect_all(config=str(policy), audit=audit.sink, frameworks=["langchain"])
    try:
        # users: refused by billing's own policy (triage alone would allow it); payments: by its parent's.
        for table in ("users", "payments"):
            with agent_context(agent_id="triage"), pytest.raises(FirewallBlockedError):
                _parent_graph("billing", _sub_agent(table)).invoke({"messages": [("user", "clean up")]})
        assert ran == []
        with agent_context(agent_id="triage") as ctx:
            _parent_graph("billing", _sub_agent("invoices")).invoke({"messages": [("user", "clean up")]})
        assert ran == [("delete_records", "invoices")]
        assert [r.agent_id for r in audit.records] == ["billing", "billing", "billing"]
        assert ctx.agent_id == "triage"
    finally:
        lc.uninstall()


# ------------------------------------------------------- on_block="return_error"


@pytest.mark.parametrize("use_async", [False, True], ids=["invoke", "ainvoke"])
async def test_return_error_lets_agent_recover(lc_protect: Callable[..., _Audit], use_async: bool) -> None:
    """``on_block="return_error"``: the model gets an error ToolMessage, the run completes, nothing is deleted."""
    tap = lc_protect("return_error")
    agent = _react_agent(_model(_tool_call(DESTRUCTIVE)), [delete_records])
    with scope(**READ_ONLY):
        inp = {"messages": [("user", "delete users")]}
        out = await agent.ainvoke(inp) if use_async else agent.invoke(inp)
    tool_msg = out["messages"][-2]
    assert isinstance(tool_msg, ToolMessage)
    assert tool_msg.status == "error"
    assert tool_msg.tool_call_id == "call-1"
    assert "AgentGate blocked this tool call (scope.operation)" in str(tool_msg.content)
    assert out["messages"][-1].content == "done"
    assert ran == []
    assert tap.decisions() == [("delete_records", "block")]


def test_return_error_direct_call_returns_text(lc_protect: Callable[..., _Audit]) -> None:
    """A direct call without a tool-call id gets the refusal text instead of an exception."""
    lc_protect("return_error")
    with scope(**READ_ONLY):
        out = delete_records.invoke(DESTRUCTIVE)
    assert out.startswith("AgentGate blocked this tool call")
    assert ran == []


# ---------------------------------------------------------- install contract


def test_install_is_idempotent_and_uninstall_restores() -> None:
    """A second install wraps nothing twice; uninstall restores the original methods and stops guarding."""
    orig_run, orig_arun = BaseTool.run, BaseTool.arun
    try:
        assert lc.install()
        assert lc.install()
        assert lc.installed()
        assert BaseTool.run.__agentgate_original__ is orig_run  # type: ignore[attr-defined]
        assert BaseTool.arun.__agentgate_original__ is orig_arun  # type: ignore[attr-defined]
    finally:
        lc.unpatch()
    assert not lc.installed()
    assert (BaseTool.run, BaseTool.arun) == (orig_run, orig_arun)
    with scope(**READ_ONLY):
        delete_records.invoke(DESTRUCTIVE)  # unguarded again: proves uninstall really restored
    assert ran == [("delete_records", "users")]


def test_install_rejects_unknown_on_block() -> None:
    """A typo in ``on_block`` is a configuration error, not a silent default."""
    with pytest.raises(agentgate.ConfigError):
        lc.install(on_block="ignore")
    assert not lc.installed()


def test_contract_attributes() -> None:
    """The module exposes the integration contract protect_all relies on."""
    assert lc.FRAMEWORK == "langchain"
    assert lc.available()
    assert "langchain-core" in lc.TESTED_VERSIONS
    assert lc.unpatch is lc.uninstall
