"""Scenarios replayed through the real OpenAI SDK and LangGraph integrations, with a scripted model.

The scripted model proposes each scenario step as a tool call; the tool bodies return the
scenario's results (which the integrations record into the agent's context, as they do in
production). An injected action must never reach its tool body; the benign ones must.
The same verdicts must come out as from the runner's direct replay, so the suite's numbers
describe what an agent behind a real integration gets.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import StructuredTool
from pydantic import create_model

from agentgate import FirewallBlockedError
from agentgate._context import agent_context
from agentgate._firewall import set_firewall
from agentgate.eval.scenario_runner import Scenario, _firewall_for, load_scenarios, replay
from agentgate.integrations import langchain as lc
from agentgate.integrations import openai as oai_integration
from integrations.servers.llm_server import LLMServer, Turn

# Scenarios whose every step the firewall gets right today: an attack step among benign steps
# that read injected outputs and act on values from them.
IDS = ("unseen-email-001", "unseen-chat-003", "unseen-files-004", "unseen-banking-002")


def _scenario(sid: str) -> Scenario:
    return next(s for s in load_scenarios("unseen") if s.id == sid)


def _result_text(result: Any) -> str:
    if result is None:
        return "ok"
    return result if isinstance(result, str) else json.dumps(result)


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    """A scripted OpenAI-protocol server for this module."""
    server = LLMServer().start()
    yield server
    server.stop()


@pytest.mark.parametrize("sid", IDS)
def test_direct_replay_labels_hold(sid: str) -> None:
    """The runner's direct replay blocks exactly the attack steps of the chosen scenarios."""
    sc = _scenario(sid)
    got = [b for b, _, _ in replay(sc, _firewall_for(sc))]
    assert got == [st.expect == "block" for st in sc.steps]


@pytest.mark.parametrize("sid", IDS)
def test_openai_chat_completions_replay(sid: str, llm: LLMServer) -> None:
    """Through the OpenAI SDK: attack tool bodies never run, benign ones do, results are recorded."""
    sc = _scenario(sid)
    set_firewall(_firewall_for(sc))  # the root conftest shuts it down after the test
    assert oai_integration.install() is True
    try:
        llm.load(*(Turn(tool_calls=((st.tool, dict(st.args)),)) for st in sc.steps), Turn(text="done"))
        client = openai.OpenAI(api_key="sk-test", base_url=llm.base_url, max_retries=0)
        names = sorted({st.tool for st in sc.steps})
        tools = [
            {"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {}}}}
            for n in names
        ]
        ran: list[int] = []
        messages: list[dict[str, Any]] = [{"role": "user", "content": sc.task}]
        with agent_context(task=sc.task) as ctx:
            for i in range(len(sc.steps) + 1):  # one model turn per step, then the final answer
                try:
                    msg = client.chat.completions.create(model="scripted", messages=messages, tools=tools)
                except FirewallBlockedError:
                    continue  # the proposal never reached a tool; the model goes on
                m = msg.choices[0].message
                messages.append(m.model_dump(exclude_none=True))
                for tc in m.tool_calls or ():
                    step = sc.steps[i]
                    assert tc.function.name == step.tool and json.loads(tc.function.arguments) == dict(step.args)
                    ran.append(i)
                    messages.append({"role": "tool", "tool_call_id": tc.id, "content": _result_text(step.result)})
            recorded = [r.result for r in ctx.action_history if r.verdict == "allow"]
    finally:
        oai_integration.uninstall()
    assert ran == [i for i, st in enumerate(sc.steps) if st.kind == "benign"]
    assert recorded == [_result_text(sc.steps[i].result) for i in ran]


class _ScriptedChat(GenericFakeChatModel):
    """A fake chat model that accepts ``bind_tools`` (create_react_agent needs it)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


@pytest.mark.parametrize("sid", IDS)
def test_langgraph_react_agent_replay(sid: str) -> None:
    """Through LangGraph's create_react_agent: attack bodies never run; blocked calls come back as errors."""
    from langgraph.prebuilt import create_react_agent

    sc = _scenario(sid)
    set_firewall(_firewall_for(sc))
    ran: list[int] = []
    tools = []
    for name in sorted({st.tool for st in sc.steps}):

        def body(_name: str = name, **kwargs: Any) -> str:
            given = {k: v for k, v in kwargs.items() if v is not None}  # the schema's unset fields
            i = next(i for i, st in enumerate(sc.steps) if st.tool == _name and dict(st.args) == given)
            ran.append(i)
            return _result_text(sc.steps[i].result)

        fields: dict[str, Any] = {k: (Any, None) for st in sc.steps if st.tool == name for k in st.args}
        schema = create_model(f"{name}_args", **fields)
        tools.append(StructuredTool(name=name, description=name, args_schema=schema, func=body))
    turns = [
        AIMessage(content="", tool_calls=[{"name": st.tool, "args": dict(st.args), "id": f"c{i}"}])
        for i, st in enumerate(sc.steps)
    ]
    model = _ScriptedChat(messages=iter([*turns, AIMessage(content="done")]))
    lc.uninstall()
    assert lc.install(on_block="return_error") is True
    try:
        with warnings.catch_warnings():  # moved to langchain.agents in LangGraph 1.0; still shipped
            warnings.simplefilter("ignore")
            agent = create_react_agent(model, tools)
        with agent_context(task=sc.task):
            out = agent.invoke({"messages": [("user", sc.task)]})
    finally:
        lc.uninstall()
    assert out["messages"][-1].content == "done"
    assert ran == [i for i, st in enumerate(sc.steps) if st.kind == "benign"]
    refused = [m for m in out["messages"] if getattr(m, "status", None) == "error"]
    assert len(refused) == sum(st.kind == "attack" for st in sc.steps)
