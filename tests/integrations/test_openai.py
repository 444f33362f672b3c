"""OpenAI SDK integration: the real SDK against a local server speaking its protocol.

Each test runs an agent loop that dispatches the model's tool calls to Python
functions writing to a side-effect log. A blocked call must raise out of the SDK
before the loop can dispatch it: the log stays empty and the audit holds the block.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from typing import Any

import openai
import pytest

import agentgate
from agentgate import FirewallBlockedError
from agentgate._context import agent_context, get_context
from agentgate.integrations import openai as oai_integration

from .conftest import AuditTap
from .servers.llm_server import LLMServer, Turn

TOOLS = [
    {
        "type": "function",
        "function": {"name": n, "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}},
    }
    for n in ("read_file", "delete_file")
]
STRICT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": n,
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
                "additionalProperties": False,
            },
        },
    }
    for n in ("read_file", "delete_file")
]
RESP_TOOLS = [
    {"type": "function", "name": n, "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}
    for n in ("read_file", "delete_file")
]
DESTROY = Turn(tool_calls=(("delete_file", {"path": "/srv/data/users.db"}),))
READ = Turn(tool_calls=(("read_file", {"path": "/srv/data/report.txt"}),))


class Tools:
    """The agent's tools; every call lands in ``log`` (the side effect)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []

    def __call__(self, name: str, arguments: str | dict[str, Any]) -> str:
        args = json.loads(arguments) if isinstance(arguments, str) else arguments
        self.log.append((name, args["path"]))
        return f"contents of {args['path']}" if name == "read_file" else "deleted"


@pytest.fixture
def oai_patched(oai_audit: AuditTap) -> Iterator[AuditTap]:
    """The OpenAI hooks installed for one test (removed afterwards)."""
    assert oai_integration.install() is True
    yield oai_audit
    oai_integration.uninstall()


@pytest.fixture
def oai_client(oai_llm_server: LLMServer) -> openai.OpenAI:
    """A real OpenAI client pointed at the scripted server."""
    return openai.OpenAI(api_key="sk-test", base_url=oai_llm_server.base_url, max_retries=0)


@pytest.fixture
def oai_aclient(oai_llm_server: LLMServer) -> openai.AsyncOpenAI:
    """A real async OpenAI client pointed at the scripted server."""
    return openai.AsyncOpenAI(api_key="sk-test", base_url=oai_llm_server.base_url, max_retries=0)


def chat_loop(client: openai.OpenAI, tools: Tools, task: str = "Summarise the report", turns: int = 4) -> str | None:
    """A minimal chat-completions agent loop: dispatch every proposed call, send results back."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a file assistant."},
        {"role": "user", "content": task},
    ]
    for _ in range(turns):
        msg = client.chat.completions.create(model="scripted", messages=messages, tools=TOOLS).choices[0].message
        messages.append(msg.model_dump(exclude_none=True))
        if not msg.tool_calls:
            return msg.content
        for tc in msg.tool_calls:
            messages.append(
                {"role": "tool", "tool_call_id": tc.id, "content": tools(tc.function.name, tc.function.arguments)}
            )
    return None


async def achat_loop(client: openai.AsyncOpenAI, tools: Tools, turns: int = 4) -> str | None:
    """Async twin of `chat_loop`."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Summarise the report"}]
    for _ in range(turns):
        msg = (
            (await client.chat.completions.create(model="scripted", messages=messages, tools=TOOLS)).choices[0].message
        )
        messages.append(msg.model_dump(exclude_none=True))
        if not msg.tool_calls:
            return msg.content
        for tc in msg.tool_calls:
            messages.append(
                {"role": "tool", "tool_call_id": tc.id, "content": tools(tc.function.name, tc.function.arguments)}
            )
    return None


def drain(stream: Any, see: Any = None) -> None:
    """Iterate a stream to its end, showing each item to *see*."""
    for item in stream:
        if see is not None:
            see(item)


async def adrain(stream: Any, see: Any = None) -> None:
    """Async twin of `drain`."""
    async for item in stream:
        if see is not None:
            see(item)


def read_only() -> agentgate.scope:
    return agentgate.scope(allowed_operations=["read"])


# -- chat completions, plain ---------------------------------------------------------


def test_chat_create_blocks_destructive_call_before_dispatch(
    oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """A proposed delete_file outside a read-only scope raises from create(); the tool never runs."""
    oai_llm_server.load(DESTROY)
    tools = Tools()
    with read_only(), pytest.raises(FirewallBlockedError) as exc:
        chat_loop(oai_client, tools)
    assert tools.log == []
    assert exc.value.tool_call is not None
    assert exc.value.tool_call.framework == "openai"
    assert exc.value.tool_call.arguments == {"path": "/srv/data/users.db"}
    assert oai_patched.decisions() == [("delete_file", "block")]


def test_chat_create_lets_benign_call_run_and_records_its_result(
    oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """A read inside the read-only scope runs; its result lands in the agent's history on the next turn."""
    oai_llm_server.load(READ, Turn(text="The report says hello."))
    tools = Tools()
    with agent_context(agent_id="files"), read_only():
        assert chat_loop(oai_client, tools) == "The report says hello."
        history = list(get_context().action_history)
    assert tools.log == [("read_file", "/srv/data/report.txt")]
    assert oai_patched.decisions() == [("read_file", "allow")]
    assert [(r.tool_name, r.verdict, r.result) for r in history] == [
        ("read_file", "allow", "contents of /srv/data/report.txt")
    ]


def test_chat_audit_holds_allowed_and_blocked(
    oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """An injected delete after a benign read: the read ran, the delete did not, both are audited."""
    oai_llm_server.load(READ, DESTROY)
    tools = Tools()
    with read_only(), pytest.raises(FirewallBlockedError):
        chat_loop(oai_client, tools)
    assert tools.log == [("read_file", "/srv/data/report.txt")]
    assert oai_patched.decisions() == [("read_file", "allow"), ("delete_file", "block")]


def test_chat_blocked_call_hidden_among_allowed_ones_blocks_the_whole_completion(
    oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """Parallel calls: one destructive call among reads stops the completion; the trail says the reads never ran."""
    oai_llm_server.load(
        Turn(tool_calls=(("read_file", {"path": "a"}), ("delete_file", {"path": "b"}), ("read_file", {"path": "c"})))
    )
    tools = Tools()
    with read_only(), pytest.raises(FirewallBlockedError):
        chat_loop(oai_client, tools)
    assert tools.log == []
    records = oai_patched.records()
    assert [(r.tool_name, r.verdict, r.policy_name) for r in records[3:]] == [
        ("read_file", "block", "batch.withdrawn"),
        ("read_file", "block", "batch.withdrawn"),
    ]
    assert oai_patched.decisions()[:3] == [("read_file", "allow"), ("delete_file", "block"), ("read_file", "allow")]
    assert "delete_file" in (records[3].reasoning or "") and records[3].decision_id != records[0].decision_id


def test_chat_benign_look_alike_is_allowed(
    oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """A read whose path merely mentions deletion is still a read, and runs."""
    oai_llm_server.load(
        Turn(tool_calls=(("read_file", {"path": "/srv/notes/delete_file-howto.txt"}),)), Turn(text="ok")
    )
    tools = Tools()
    with read_only():
        assert chat_loop(oai_client, tools) == "ok"
    assert tools.log == [("read_file", "/srv/notes/delete_file-howto.txt")]


async def test_chat_async_create_blocks(
    oai_patched: AuditTap, oai_aclient: openai.AsyncOpenAI, oai_llm_server: LLMServer
) -> None:
    """The async client is hooked too: the blocked call never reaches the async loop's dispatcher."""
    oai_llm_server.load(READ, DESTROY)
    tools = Tools()
    with read_only(), pytest.raises(FirewallBlockedError):
        await achat_loop(oai_aclient, tools)
    assert tools.log == [("read_file", "/srv/data/report.txt")]
    assert oai_patched.decisions() == [("read_file", "allow"), ("delete_file", "block")]


def test_chat_parse_raw_and_streaming_response_paths_are_hooked(
    oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """chat.completions.parse, with_raw_response…parse() and with_streaming_response all raise on a block."""
    msgs = [{"role": "user", "content": "clean up"}]
    with read_only():
        oai_llm_server.load(DESTROY)
        with pytest.raises(FirewallBlockedError):
            oai_client.chat.completions.parse(model="scripted", messages=msgs, tools=STRICT_TOOLS)
        oai_llm_server.load(DESTROY)
        raw = oai_client.chat.completions.with_raw_response.create(model="scripted", messages=msgs, tools=TOOLS)
        with pytest.raises(FirewallBlockedError):
            raw.parse()
        oai_llm_server.load(DESTROY)
        with (
            oai_client.chat.completions.with_streaming_response.create(
                model="scripted", messages=msgs, tools=TOOLS
            ) as resp,
            pytest.raises(FirewallBlockedError),
        ):
            resp.parse()
    assert oai_patched.decisions() == [("delete_file", "block")] * 3


async def test_chat_async_raw_response_is_hooked(
    oai_patched: AuditTap, oai_aclient: openai.AsyncOpenAI, oai_llm_server: LLMServer
) -> None:
    """The async client's with_raw_response (a sync parse() in this SDK) still decides."""
    oai_llm_server.load(DESTROY)
    with read_only():
        raw = await oai_aclient.chat.completions.with_raw_response.create(
            model="scripted", messages=[{"role": "user", "content": "x"}], tools=TOOLS
        )
        with pytest.raises(FirewallBlockedError):
            raw.parse()


def test_chat_parse_twice_decides_once(
    oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """A response parsed twice (the SDK caches it) is audited once."""
    oai_llm_server.load(READ)
    with read_only():
        raw = oai_client.chat.completions.with_raw_response.create(
            model="scripted", messages=[{"role": "user", "content": "x"}], tools=TOOLS
        )
        raw.parse()
        raw.parse()
    assert oai_patched.decisions() == [("read_file", "allow")]


# -- streaming chat -----------------------------------------------------------------


def stream_loop(client: openai.OpenAI, tools: Tools, seen: list[Any]) -> None:
    """A streaming agent loop: assemble deltas itself, dispatch once finish_reason arrives."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Summarise the report"}]
    for _ in range(4):
        calls: dict[int, dict[str, str]] = {}
        finished = None
        for chunk in client.chat.completions.create(model="scripted", messages=messages, tools=TOOLS, stream=True):
            seen.append(chunk)
            for choice in chunk.choices:
                for d in choice.delta.tool_calls or ():
                    slot = calls.setdefault(d.index, {"id": "", "name": "", "args": ""})
                    slot["id"] = d.id or slot["id"]
                    if d.function and d.function.name:
                        slot["name"] = d.function.name
                    if d.function and d.function.arguments:
                        slot["args"] += d.function.arguments
                finished = choice.finish_reason or finished
        if finished != "tool_calls":
            return
        messages.append(
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["args"]}}
                    for c in calls.values()
                ],
            }
        )
        for c in calls.values():
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": tools(c["name"], c["args"])})


def test_chat_stream_withholds_the_completing_chunk(
    oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """stream=True: the arguments arrive in deltas; the block happens before the finish chunk is handed over."""
    oai_llm_server.load(DESTROY)
    tools, seen = Tools(), []
    with read_only(), pytest.raises(FirewallBlockedError):
        stream_loop(oai_client, tools, seen)
    assert tools.log == []
    arg_deltas = [
        c for c in seen if c.choices and c.choices[0].delta.tool_calls and not c.choices[0].delta.tool_calls[0].id
    ]
    assert len(arg_deltas) >= 2  # the call really arrived in pieces
    assert all(c.choices[0].finish_reason is None for c in seen if c.choices)
    assert oai_patched.decisions() == [("delete_file", "block")]


def test_chat_stream_benign_call_passes_every_chunk(
    oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """An allowed streamed call is handed over whole (finish chunk and usage chunk included) and runs."""
    oai_llm_server.load(READ, Turn(text="fine"))
    tools, seen = Tools(), []
    with read_only():
        stream_loop(oai_client, tools, seen)
    assert tools.log == [("read_file", "/srv/data/report.txt")]
    assert any(c.choices and c.choices[0].finish_reason == "tool_calls" for c in seen)
    assert oai_patched.decisions() == [("read_file", "allow")]


async def test_chat_async_stream_blocks(
    oai_patched: AuditTap, oai_aclient: openai.AsyncOpenAI, oai_llm_server: LLMServer
) -> None:
    """AsyncStream: the block raises while iterating, before the finish chunk."""
    oai_llm_server.load(DESTROY)
    finishes: list[str | None] = []
    with read_only():
        stream = await oai_aclient.chat.completions.create(
            model="scripted", messages=[{"role": "user", "content": "x"}], tools=TOOLS, stream=True
        )
        with pytest.raises(FirewallBlockedError):
            await adrain(stream, lambda chunk: finishes.extend(c.finish_reason for c in chunk.choices))
    assert finishes
    assert "tool_calls" not in finishes


def test_chat_stream_helper_blocks(oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer) -> None:
    """The chat.completions.stream() helper is fed by the hooked stream and raises too."""
    oai_llm_server.load(DESTROY)
    with (
        read_only(),
        pytest.raises(FirewallBlockedError),
        oai_client.chat.completions.stream(
            model="scripted", messages=[{"role": "user", "content": "x"}], tools=TOOLS
        ) as s,
    ):
        s.get_final_completion()


def test_chat_deltas_without_finish_reason_are_decided_at_end_of_stream() -> None:
    """A stream cut before finish_reason still has its assembled call decided (end-of-stream fallback)."""
    from openai.types.chat import ChatCompletionChunk

    acc = oai_integration._ChatDeltas()
    parts = ['{"pa', 'th": "/x"', "}"]
    chunks = [
        ChatCompletionChunk.model_validate(
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": None,
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    **(
                                        {"id": "call_9", "function": {"name": "delete_file", "arguments": ""}}
                                        if i == 0
                                        else {"function": {"arguments": parts[i - 1]}}
                                    ),
                                }
                            ]
                        },
                    }
                ],
            }
        )
        for i in range(4)
    ]
    assert [acc.feed(c) for c in chunks] == [[], [], [], []]
    (call,) = acc.end()
    assert (call.name, call.arguments, call.call_id) == ("delete_file", '{"path": "/x"}', "call_9")
    assert acc.end() == []


# -- Responses API --------------------------------------------------------------------


def responses_loop(client: openai.OpenAI, tools: Tools, stream: bool = False) -> str | None:
    """A Responses-API agent loop: function_call items in, function_call_output items back."""
    items: list[Any] = [{"role": "user", "content": "Summarise the report"}]
    for _ in range(4):
        if stream:
            with client.responses.stream(
                model="scripted", input=items, tools=RESP_TOOLS, instructions="Be brief."
            ) as s:
                for _event in s:
                    pass
                resp = s.get_final_response()
        else:
            resp = client.responses.create(model="scripted", input=items, tools=RESP_TOOLS, instructions="Be brief.")
        calls = [o for o in resp.output if o.type == "function_call"]
        if not calls:
            return resp.output_text
        for c in calls:
            items.append({"type": "function_call", "call_id": c.call_id, "name": c.name, "arguments": c.arguments})
            items.append({"type": "function_call_output", "call_id": c.call_id, "output": tools(c.name, c.arguments)})
    return None


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream-helper"])
def test_responses_blocks_destructive_and_runs_benign(
    oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer, stream: bool
) -> None:
    """Responses API: the read runs (result recorded), the injected delete raises before dispatch."""
    oai_llm_server.load(READ, DESTROY)
    tools = Tools()
    with agent_context(agent_id="resp") as ctx, read_only(), pytest.raises(FirewallBlockedError):
        responses_loop(oai_client, tools, stream=stream)
    assert tools.log == [("read_file", "/srv/data/report.txt")]
    assert oai_patched.decisions() == [("read_file", "allow"), ("delete_file", "block")]
    assert [r.result for r in ctx.action_history] == ["contents of /srv/data/report.txt", None]
    assert ctx.trusted_inputs == ["Be brief.", "Summarise the report"]


def test_responses_raw_stream_blocks_at_arguments_done(
    oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """create(stream=True): deltas pass, the block raises before function_call_arguments.done is handed over."""
    oai_llm_server.load(DESTROY)
    kinds: list[str] = []
    with read_only():
        stream = oai_client.responses.create(model="scripted", input="clean up", tools=RESP_TOOLS, stream=True)
        with pytest.raises(FirewallBlockedError):
            drain(stream, lambda event: kinds.append(event.type))
    assert "response.function_call_arguments.delta" in kinds
    assert "response.function_call_arguments.done" not in kinds
    assert "response.output_item.done" not in kinds
    assert oai_patched.decisions() == [("delete_file", "block")]


async def test_responses_async_create_and_stream_block(
    oai_patched: AuditTap, oai_aclient: openai.AsyncOpenAI, oai_llm_server: LLMServer
) -> None:
    """Async Responses: create() and create(stream=True) both raise on the destructive call."""
    with read_only():
        oai_llm_server.load(DESTROY)
        with pytest.raises(FirewallBlockedError):
            await oai_aclient.responses.create(model="scripted", input="clean up", tools=RESP_TOOLS)
        oai_llm_server.load(DESTROY)
        stream = await oai_aclient.responses.create(model="scripted", input="clean up", tools=RESP_TOOLS, stream=True)
        with pytest.raises(FirewallBlockedError):
            async for _event in stream:
                pass
    assert oai_patched.decisions() == [("delete_file", "block")] * 2


def test_responses_client_executed_builtin_items_are_decided() -> None:
    """local_shell / shell / apply_patch items become calls with the command or patch as arguments."""
    local = oai_integration._item_call(
        {
            "type": "local_shell_call",
            "call_id": "c1",
            "action": {"type": "exec", "command": ["bash", "-lc", "rm -rf /"], "env": {}},
        }
    )
    shell = oai_integration._item_call(
        {"type": "shell_call", "call_id": "c2", "action": {"commands": ["ls", "rm -rf ~"]}}
    )
    patch = oai_integration._item_call(
        {"type": "apply_patch_call", "call_id": "c3", "operation": {"type": "delete_file", "path": "/etc/passwd"}}
    )
    hosted = oai_integration._item_call({"type": "web_search_call", "id": "ws"})
    assert local is not None
    assert local.name == "local_shell"
    assert local.arguments["command"] == "bash -lc 'rm -rf /'"
    assert shell is not None
    assert shell.arguments == {"command": "ls\nrm -rf ~"}
    assert patch is not None
    assert patch.arguments == {"type": "delete_file", "path": "/etc/passwd"}
    assert hosted is None


# -- on_block="return_error", trusted context, install/uninstall -------------------------


def test_return_error_rewrites_the_completion_for_the_model(
    oai_audit: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """on_block=return_error: the allowed sibling runs, the blocked call comes back to the model as a refusing tool result."""
    oai_integration.install(on_block="return_error")
    try:
        oai_llm_server.load(
            Turn(
                text="Cleaning up.", tool_calls=(("delete_file", {"path": "/srv/x"}), ("read_file", {"path": "/srv/y"}))
            ),
            Turn(text="ok"),
        )
        tools = Tools()
        with read_only():
            answer = chat_loop(oai_client, tools)
    finally:
        oai_integration.uninstall()
        oai_integration.install()  # back to the default for later tests
        oai_integration.uninstall()
    assert tools.log == [("read_file", "/srv/y")]
    assert answer == "ok"  # the loop went on to the model's next turn
    assert oai_audit.decisions() == [("delete_file", "block"), ("read_file", "allow")]  # what ran, and what did not
    sent = oai_llm_server.script.requests[1]["messages"]
    assistant = sent[2]
    assert assistant["content"] == "Cleaning up."
    assert sorted(tc["function"]["name"] for tc in assistant["tool_calls"]) == ["delete_file", "read_file"]
    by_id = {tc["id"]: tc["function"]["name"] for tc in assistant["tool_calls"]}
    results = {by_id[m["tool_call_id"]]: m["content"] for m in sent[3:] if m["role"] == "tool"}
    assert results["read_file"] == "contents of /srv/y"
    assert results["delete_file"].startswith("[AgentGate] This tool call was blocked by policy (")
    assert "scope.operation" in results["delete_file"] and results["delete_file"].endswith("It did not run.")
    assert len([m for m in sent if m["role"] == "tool"]) == 2  # every call answered exactly once


async def test_return_error_async_keeps_allowed_siblings(
    oai_audit: AuditTap, oai_aclient: openai.AsyncOpenAI, oai_llm_server: LLMServer
) -> None:
    """The async client: same split, the refusal arrives as the blocked call's tool result."""
    oai_integration.install(on_block="return_error")
    try:
        oai_llm_server.load(
            Turn(tool_calls=(("read_file", {"path": "/srv/a"}), ("delete_file", {"path": "/srv/b"}))), Turn(text="ok")
        )
        tools = Tools()
        async with agentgate.scope(allowed_operations=["read"]):
            answer = await achat_loop(oai_aclient, tools)
    finally:
        oai_integration.uninstall()
        oai_integration.install()
        oai_integration.uninstall()
    assert tools.log == [("read_file", "/srv/a")] and answer == "ok"
    sent = oai_llm_server.script.requests[1]["messages"]
    assert [m.get("tool_call_id") is not None for m in sent if m["role"] == "tool"] == [True, True]
    assert any("blocked by policy" in m["content"] for m in sent if m["role"] == "tool")


def test_return_error_responses_api_answers_the_blocked_call(
    oai_audit: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """Responses API: the allowed call runs; the next input carries the blocked call and its refusal output."""
    oai_integration.install(on_block="return_error")
    try:
        oai_llm_server.load(
            Turn(tool_calls=(("read_file", {"path": "/srv/r"}), ("delete_file", {"path": "/srv/d"}))), Turn(text="ok")
        )
        tools = Tools()
        with read_only():
            answer = responses_loop(oai_client, tools)
    finally:
        oai_integration.uninstall()
        oai_integration.install()
        oai_integration.uninstall()
    assert tools.log == [("read_file", "/srv/r")] and answer == "ok"
    assert oai_audit.decisions() == [("read_file", "allow"), ("delete_file", "block")]
    sent = oai_llm_server.script.requests[1]["input"]
    calls = {i["call_id"]: i["name"] for i in sent if i.get("type") == "function_call"}
    outputs = {calls[i["call_id"]]: i["output"] for i in sent if i.get("type") == "function_call_output"}
    assert sorted(outputs) == ["delete_file", "read_file"]
    assert "blocked by policy" in outputs["delete_file"]


def test_return_error_with_only_blocked_calls_turns_into_a_text_answer(
    oai_audit: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """When every proposed call is blocked, the completion becomes a plain answer (finish_reason stop)."""
    oai_integration.install(on_block="return_error")
    try:
        oai_llm_server.load(DESTROY)
        with read_only():
            completion = oai_client.chat.completions.create(
                model="scripted", messages=[{"role": "user", "content": "x"}], tools=TOOLS
            )
    finally:
        oai_integration.uninstall()
        oai_integration.install()
        oai_integration.uninstall()
    choice = completion.choices[0]
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    assert "[AgentGate]" in (choice.message.content or "")


def test_user_and_system_messages_become_trusted_context_but_tool_output_does_not(
    oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """The task comes from the user's message; a tool result (possibly injected text) is never trusted."""
    oai_llm_server.load(READ, Turn(text="done"))
    tools = Tools()
    with agent_context(agent_id="a"):
        chat_loop(oai_client, tools, task="Summarise report.txt for Alice")
        ctx = get_context()
        assert ctx.task_description == "Summarise report.txt for Alice"
        assert ctx.trusted_inputs == ["You are a file assistant.", "Summarise report.txt for Alice"]
    with agent_context(agent_id="b", task="Explicit task"):
        oai_llm_server.load(Turn(text="hi"))
        chat_loop(oai_client, tools, task="from the chat")
        assert get_context().task_description == "Explicit task"


def test_install_is_idempotent_and_uninstall_restores(
    oai_audit: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """Two installs patch once; after uninstall the SDK is untouched (the call is no longer decided)."""
    from openai._response import APIResponse

    original = APIResponse.parse
    assert oai_integration.install()
    assert oai_integration.install()
    assert oai_integration.installed()
    assert APIResponse.parse.__wrapped__ is original
    oai_integration.uninstall()
    assert not oai_integration.installed()
    assert APIResponse.parse is original
    oai_llm_server.load(DESTROY, Turn(text="done"))
    tools = Tools()
    with read_only():
        chat_loop(oai_client, tools)
    assert tools.log == [("delete_file", "/srv/data/users.db")]
    assert oai_audit.decisions() == []


def test_contract_attributes() -> None:
    """The module exposes the integration contract."""
    assert oai_integration.FRAMEWORK == "openai"
    assert oai_integration.available()
    assert set(oai_integration.TESTED_VERSIONS) == {"openai"}
    assert oai_integration.unpatch is oai_integration.uninstall
    with pytest.raises(ValueError, match="on_block"):
        oai_integration.install(on_block="ignore")


def test_calls_from_a_framework_with_its_own_integration_are_left_to_it(
    oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """An SDK call made from inside openai-agents is decided by that integration only (no double audit)."""
    from agentgate.integrations import openai_agents

    def ask() -> Any:
        return oai_client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "x"}])

    # The same code, running as a module of the agents package (as the Agents SDK's model classes do).
    namespace = {
        "ask": types.FunctionType(
            ask.__code__, {**ask.__globals__, "__name__": "agents.models.fake"}, "ask", None, ask.__closure__
        )
    }
    with read_only():
        oai_llm_server.load(DESTROY)
        with pytest.raises(FirewallBlockedError):  # the agents integration is not installed: we decide
            namespace["ask"]()
        assert openai_agents.install()
        try:
            oai_llm_server.load(DESTROY)
            completion = namespace["ask"]()
        finally:
            openai_agents.uninstall()
    assert completion.choices[0].message.tool_calls is not None
    assert oai_patched.decisions() == [("delete_file", "block")]


def test_openai_demo_blocks_the_injected_actions_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """agentgate demo --agent openai: the injected DROP and exfiltration are blocked, the task email is sent."""
    import io

    from rich.console import Console

    from agentgate.demo_openai import run_openai_demo

    monkeypatch.setenv("AGENTGATE_AUDIT_URL", "memory://")
    out = io.StringIO()
    assert run_openai_demo(Console(file=out, width=200), real=True) == 0  # no key: the scripted model is used
    text = out.getvalue()
    assert "scripted model" in text
    assert text.count("BLOCKED") == 2
    assert "run_sql(query=" not in text.split("Tool bodies that actually ran:")[1]
    assert not oai_integration.installed()


def test_raw_response_parsed_to_a_dict_is_still_decided(
    oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """with_raw_response…parse(to=dict) cannot slip a destructive call past the hook."""
    oai_llm_server.load(DESTROY)
    with read_only():
        raw = oai_client.chat.completions.with_raw_response.create(
            model="scripted", messages=[{"role": "user", "content": "x"}], tools=TOOLS
        )
        with pytest.raises(FirewallBlockedError):
            raw.parse(to=dict)
    assert oai_patched.decisions() == [("delete_file", "block")]


def test_malformed_and_escaped_arguments_are_still_analyzed(
    oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """Obfuscated: JSON-escaped argument text decodes to the same call; a non-JSON argument string is analyzed whole."""
    from agentgate.integrations._common import parse_arguments

    escaped = '{"p\\u0061th": "/srv/\\u0075sers.db"}'
    assert parse_arguments(escaped)[0] == {"path": "/srv/users.db"}
    assert parse_arguments('{"command": "rm -rf /"')[0] == {"input": '{"command": "rm -rf /"'}
    oai_llm_server.load(DESTROY)
    with read_only(), pytest.raises(FirewallBlockedError) as exc:
        oai_client.chat.completions.create(model="scripted", messages=[{"role": "user", "content": "x"}], tools=TOOLS)
    assert exc.value.tool_call is not None
    assert exc.value.tool_call.raw_payload == '{"path": "/srv/data/users.db"}'


def _chunk(tool_delta: dict[str, Any] | None = None, finish: str | None = None, choice: int = 0) -> Any:
    from openai.types.chat import ChatCompletionChunk

    delta = {"tool_calls": [tool_delta]} if tool_delta else {}
    return ChatCompletionChunk.model_validate(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": choice, "finish_reason": finish, "delta": delta}],
        }
    )


def test_chat_deltas_after_finish_are_decided_again() -> None:
    """Arguments that keep streaming after the decision reopen the call: it is decided again, in full."""
    acc = oai_integration._ChatDeltas()
    acc.feed(_chunk({"index": 0, "id": "c1", "function": {"name": "run_shell", "arguments": '{"command": "ls'}}))
    (first,) = acc.feed(_chunk(finish="tool_calls"))
    assert first.arguments == '{"command": "ls'
    acc.feed(_chunk({"index": 0, "function": {"arguments": '; rm -rf /"}'}}))
    (again,) = acc.end()
    assert again.arguments == '{"command": "ls; rm -rf /"}'


def test_chat_deltas_split_name_is_decided_under_every_reading() -> None:
    """A tool name streamed in fragments is decided as joined (the SDK's reading) and as each fragment."""
    acc = oai_integration._ChatDeltas()
    acc.feed(_chunk({"index": 0, "id": "c1", "function": {"name": "read_", "arguments": ""}}))
    acc.feed(_chunk({"index": 0, "function": {"name": "file_then_delete_file", "arguments": '{"path": "/x"}'}}))
    names = [c.name for c in acc.feed(_chunk(finish="tool_calls"))]
    assert names == ["read_file_then_delete_file", "read_", "file_then_delete_file"]


def test_chat_deltas_choices_are_kept_apart() -> None:
    """n>1: each choice's calls are assembled and decided on that choice's finish_reason."""
    acc = oai_integration._ChatDeltas()
    acc.feed(
        _chunk({"index": 0, "id": "a", "function": {"name": "read_file", "arguments": '{"path": "/a"}'}}, choice=0)
    )
    acc.feed(
        _chunk({"index": 0, "id": "b", "function": {"name": "delete_file", "arguments": '{"path": "/b"}'}}, choice=1)
    )
    assert [c.name for c in acc.feed(_chunk(finish="tool_calls", choice=1))] == ["delete_file"]
    assert [c.name for c in acc.feed(_chunk(finish="tool_calls", choice=0))] == ["read_file"]


def test_responses_item_differing_from_its_streamed_arguments_is_decided_again() -> None:
    """Responses stream: a done item whose name differs from what was decided (no `added` event) is re-decided."""
    from openai.types.responses import ResponseFunctionCallArgumentsDoneEvent, ResponseOutputItemDoneEvent

    acc = oai_integration._ResponseEvents()
    done_args = ResponseFunctionCallArgumentsDoneEvent.model_validate(
        {
            "type": "response.function_call_arguments.done",
            "item_id": "fc_1",
            "output_index": 0,
            "sequence_number": 1,
            "arguments": '{"path": "/x"}',
        }
    )
    (first,) = acc.feed(done_args)
    assert first.name == "function_call"  # the name was never announced
    item_done = ResponseOutputItemDoneEvent.model_validate(
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "sequence_number": 2,
            "item": {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "delete_file",
                "arguments": '{"path": "/x"}',
                "status": "completed",
            },
        }
    )
    (again,) = acc.feed(item_done)
    assert again.name == "delete_file"
    assert acc.feed(item_done) == []


# -- Assistants API (threads / runs) -------------------------------------------------------


def assistants_loop(client: openai.OpenAI, tools: Tools, *, stream: bool = False) -> None:
    """The Assistants tool loop: a run waits for tool outputs, the loop submits them."""
    client.beta.threads.messages.create("thread_1", role="user", content="Summarise the report")
    if stream:
        with client.beta.threads.runs.stream(thread_id="thread_1", assistant_id="asst_1") as s:
            s.until_done()
            run = s.get_final_run()
    else:
        run = client.beta.threads.runs.create(thread_id="thread_1", assistant_id="asst_1")
    for _ in range(4):
        if run.status != "requires_action" or run.required_action is None:
            return
        outputs = [
            {"tool_call_id": tc.id, "output": tools(tc.function.name, tc.function.arguments)}
            for tc in run.required_action.submit_tool_outputs.tool_calls
        ]
        run = client.beta.threads.runs.submit_tool_outputs(run.id, thread_id="thread_1", tool_outputs=outputs)  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_assistants_run_blocks_destructive_and_records_results(
    oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """Assistants API: a run requiring a read runs it; the injected delete raises before the loop sees it."""
    oai_llm_server.load(READ, DESTROY)
    tools = Tools()
    with agent_context(agent_id="asst") as ctx, read_only(), pytest.raises(FirewallBlockedError):
        assistants_loop(oai_client, tools)
    assert tools.log == [("read_file", "/srv/data/report.txt")]
    assert oai_patched.decisions() == [("read_file", "allow"), ("delete_file", "block")]
    assert [r.result for r in ctx.action_history] == ["contents of /srv/data/report.txt", None]
    assert ctx.task_description == "Summarise the report"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_assistants_run_stream_blocks_at_requires_action(
    oai_patched: AuditTap, oai_client: openai.OpenAI, oai_llm_server: LLMServer
) -> None:
    """Assistants streaming: the thread.run.requires_action event is withheld when a call is blocked."""
    oai_llm_server.load(DESTROY)
    tools = Tools()
    with read_only(), pytest.raises(FirewallBlockedError):
        assistants_loop(oai_client, tools, stream=True)
    assert tools.log == []
    assert oai_patched.decisions() == [("delete_file", "block")]
