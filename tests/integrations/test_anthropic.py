"""Anthropic SDK integration: the real SDK against a local server speaking the Messages protocol.

An agent loop (or the SDK's own beta tool runner) dispatches ``tool_use`` blocks
to Python functions that write to a side-effect log. A blocked call must raise
out of the SDK before anything can dispatch it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from anthropic import beta_async_tool, beta_tool

import agentgate
from agentgate import FirewallBlockedError
from agentgate._context import agent_context
from agentgate.integrations import anthropic as anth_integration

from .conftest import AuditTap
from .servers.llm_server import LLMServer, Turn

SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}
TOOLS = [{"name": n, "description": n, "input_schema": SCHEMA} for n in ("read_file", "delete_file")]
DESTROY = Turn(tool_calls=(("delete_file", {"path": "/srv/data/users.db"}),))
READ = Turn(tool_calls=(("read_file", {"path": "/srv/data/report.txt"}),))


class Tools:
    """The agent's tools; every call lands in ``log`` (the side effect)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []

    def __call__(self, name: str, args: dict[str, Any]) -> str:
        self.log.append((name, args["path"]))
        return f"contents of {args['path']}" if name == "read_file" else "deleted"


@pytest.fixture
def anth_patched(oai_audit: AuditTap) -> Iterator[AuditTap]:
    """The Anthropic hooks installed for one test (removed afterwards)."""
    assert anth_integration.install() is True
    yield oai_audit
    anth_integration.uninstall()


@pytest.fixture
def anth_client(oai_llm_server: LLMServer) -> anthropic.Anthropic:
    """A real Anthropic client pointed at the scripted server."""
    return anthropic.Anthropic(api_key="sk-ant-test", base_url=oai_llm_server.root_url, max_retries=0)


@pytest.fixture
def anth_aclient(oai_llm_server: LLMServer) -> anthropic.AsyncAnthropic:
    """A real async Anthropic client pointed at the scripted server."""
    return anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=oai_llm_server.root_url, max_retries=0)


def read_only() -> agentgate.scope:
    return agentgate.scope(allowed_operations=["read"])


def messages_loop(
    client: anthropic.Anthropic, tools: Tools, *, stream: bool = False, task: str = "Summarise the report"
) -> str | None:
    """A minimal Messages agent loop: run every tool_use block, send tool_result blocks back."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
    for _ in range(4):
        if stream:
            with client.messages.stream(
                model="scripted", max_tokens=100, system="Be brief.", messages=messages, tools=TOOLS
            ) as s:
                message = s.get_final_message()
        else:
            message = client.messages.create(
                model="scripted", max_tokens=100, system="Be brief.", messages=messages, tools=TOOLS
            )
        messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]})
        uses = [b for b in message.content if b.type == "tool_use"]
        if not uses:
            return "".join(b.text for b in message.content if b.type == "text")
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": b.id, "content": tools(b.name, b.input)} for b in uses
                ],
            }
        )
    return None


async def amessages_loop(client: anthropic.AsyncAnthropic, tools: Tools) -> None:
    """Async twin of `messages_loop`."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Summarise the report"}]
    for _ in range(4):
        message = await client.messages.create(model="scripted", max_tokens=100, messages=messages, tools=TOOLS)
        messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]})
        uses = [b for b in message.content if b.type == "tool_use"]
        if not uses:
            return
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": b.id, "content": tools(b.name, b.input)} for b in uses
                ],
            }
        )


@pytest.mark.parametrize("stream", [False, True], ids=["create", "messages.stream"])
def test_messages_block_destructive_run_benign_and_audit_both(
    anth_patched: AuditTap, anth_client: anthropic.Anthropic, oai_llm_server: LLMServer, stream: bool
) -> None:
    """The read runs and its tool_result is recorded; the injected delete raises before dispatch."""
    oai_llm_server.load(READ, DESTROY)
    tools = Tools()
    with agent_context(agent_id="files") as ctx, read_only(), pytest.raises(FirewallBlockedError) as exc:
        messages_loop(anth_client, tools, stream=stream)
    assert tools.log == [("read_file", "/srv/data/report.txt")]
    assert exc.value.tool_call is not None
    assert exc.value.tool_call.framework == "anthropic"
    assert exc.value.tool_call.arguments == {"path": "/srv/data/users.db"}
    assert anth_patched.decisions() == [("read_file", "allow"), ("delete_file", "block")]
    assert [r.result for r in ctx.action_history] == ["contents of /srv/data/report.txt", None]
    assert ctx.task_description == "Summarise the report"
    assert ctx.trusted_inputs == ["Be brief.", "Summarise the report"]


def test_tool_result_text_is_never_trusted(
    anth_patched: AuditTap, anth_client: anthropic.Anthropic, oai_llm_server: LLMServer
) -> None:
    """Text inside tool_result blocks (where injections arrive) stays out of the trusted inputs."""
    oai_llm_server.load(READ, Turn(text="done"))
    tools = Tools()
    with agent_context(agent_id="files") as ctx, read_only():
        messages_loop(anth_client, tools)
    assert "contents of /srv/data/report.txt" not in ctx.trusted_inputs


def test_benign_look_alike_is_allowed(
    anth_patched: AuditTap, anth_client: anthropic.Anthropic, oai_llm_server: LLMServer
) -> None:
    """A read whose path mentions deletion is still a read, and runs."""
    oai_llm_server.load(Turn(tool_calls=(("read_file", {"path": "/docs/how-to-delete_file.md"}),)), Turn(text="ok"))
    tools = Tools()
    with read_only():
        assert messages_loop(anth_client, tools) == "ok"
    assert tools.log == [("read_file", "/docs/how-to-delete_file.md")]


async def test_async_create_blocks(
    anth_patched: AuditTap, anth_aclient: anthropic.AsyncAnthropic, oai_llm_server: LLMServer
) -> None:
    """The async client is hooked: the read runs, the delete never does."""
    oai_llm_server.load(READ, DESTROY)
    tools = Tools()
    with read_only(), pytest.raises(FirewallBlockedError):
        await amessages_loop(anth_aclient, tools)
    assert tools.log == [("read_file", "/srv/data/report.txt")]
    assert anth_patched.decisions() == [("read_file", "allow"), ("delete_file", "block")]


def drain(stream: Any, see: Any) -> None:
    """Iterate a stream to its end, showing each event to *see*."""
    for event in stream:
        see(event)


async def adrain(stream: Any, see: Any) -> None:
    """Async twin of `drain`."""
    async for event in stream:
        see(event)


def test_raw_stream_withholds_content_block_stop(
    anth_patched: AuditTap, anth_client: anthropic.Anthropic, oai_llm_server: LLMServer
) -> None:
    """create(stream=True): input_json deltas pass, the block raises before content_block_stop is handed over."""
    oai_llm_server.load(DESTROY)
    kinds: list[str] = []
    with read_only():
        stream = anth_client.messages.create(
            model="scripted", max_tokens=100, messages=[{"role": "user", "content": "x"}], tools=TOOLS, stream=True
        )
        with pytest.raises(FirewallBlockedError):
            drain(stream, lambda e: kinds.append(e.type))
    assert kinds.count("content_block_delta") >= 2
    assert "content_block_stop" not in kinds
    assert anth_patched.decisions() == [("delete_file", "block")]


async def test_async_stream_and_stream_helper_block(
    anth_patched: AuditTap, anth_aclient: anthropic.AsyncAnthropic, oai_llm_server: LLMServer
) -> None:
    """AsyncStream and the async messages.stream() helper both raise on the destructive call."""
    msgs = [{"role": "user", "content": "x"}]
    kinds: list[str] = []
    with read_only():
        oai_llm_server.load(DESTROY)
        stream = await anth_aclient.messages.create(
            model="scripted", max_tokens=100, messages=msgs, tools=TOOLS, stream=True
        )
        with pytest.raises(FirewallBlockedError):
            await adrain(stream, lambda e: kinds.append(e.type))
        oai_llm_server.load(DESTROY)
        async with anth_aclient.messages.stream(model="scripted", max_tokens=100, messages=msgs, tools=TOOLS) as s:
            with pytest.raises(FirewallBlockedError):
                await s.get_final_message()
    assert "content_block_stop" not in kinds
    assert anth_patched.decisions() == [("delete_file", "block")] * 2


def test_raw_response_and_beta_create_are_hooked(
    anth_patched: AuditTap, anth_client: anthropic.Anthropic, oai_llm_server: LLMServer
) -> None:
    """with_raw_response…parse() and beta.messages.create decide too."""
    msgs = [{"role": "user", "content": "x"}]
    with read_only():
        oai_llm_server.load(DESTROY)
        raw = anth_client.messages.with_raw_response.create(
            model="scripted", max_tokens=100, messages=msgs, tools=TOOLS
        )
        with pytest.raises(FirewallBlockedError):
            raw.parse()
        oai_llm_server.load(DESTROY)
        with pytest.raises(FirewallBlockedError):
            anth_client.beta.messages.create(model="scripted", max_tokens=100, messages=msgs, tools=TOOLS)
    assert anth_patched.decisions() == [("delete_file", "block")] * 2


def runner_tools(tools: Tools) -> list[Any]:
    @beta_tool
    def read_file(path: str) -> str:
        """Read a file."""
        return tools("read_file", {"path": path})

    @beta_tool
    def delete_file(path: str) -> str:
        """Delete a file."""
        return tools("delete_file", {"path": path})

    return [read_file, delete_file]


def run_runner(runner: Any) -> None:
    """Drive a tool runner to its end (it runs the tools itself), reading streamed events as they come."""
    for message in runner:
        if hasattr(message, "__iter__"):
            for _event in message:
                pass


@pytest.mark.parametrize(
    ("stream", "eager"), [(False, False), (True, False), (True, True)], ids=["plain", "stream", "eager"]
)
def test_beta_tool_runner_never_runs_the_blocked_tool(
    anth_patched: AuditTap, anth_client: anthropic.Anthropic, oai_llm_server: LLMServer, stream: bool, eager: bool
) -> None:
    """The SDK's own tool runner executes @beta_tool functions: the read runs, the delete does not."""
    oai_llm_server.load(READ, DESTROY, Turn(text="done"))
    tools = Tools()
    with read_only():
        runner = anth_client.beta.messages.tool_runner(
            model="scripted",
            max_tokens=100,
            messages=[{"role": "user", "content": "tidy up"}],
            tools=runner_tools(tools),
            stream=stream,
            **({"run_tools_eagerly": True} if eager else {}),
        )
        with pytest.raises(FirewallBlockedError):
            run_runner(runner)
    assert tools.log == [("read_file", "/srv/data/report.txt")]
    assert anth_patched.decisions() == [("read_file", "allow"), ("delete_file", "block")]


async def test_async_beta_tool_runner_never_runs_the_blocked_tool(
    anth_patched: AuditTap, anth_aclient: anthropic.AsyncAnthropic, oai_llm_server: LLMServer
) -> None:
    """The async tool runner with async tools: the delete never runs."""
    tools = Tools()

    @beta_async_tool
    async def delete_file(path: str) -> str:
        """Delete a file."""
        return tools("delete_file", {"path": path})

    oai_llm_server.load(DESTROY, Turn(text="done"))
    with read_only():
        runner = anth_aclient.beta.messages.tool_runner(
            model="scripted", max_tokens=100, messages=[{"role": "user", "content": "tidy up"}], tools=[delete_file]
        )
        with pytest.raises(FirewallBlockedError):
            await runner.until_done()
    assert tools.log == []


def test_return_error_rewrites_the_message(
    oai_audit: AuditTap, anth_client: anthropic.Anthropic, oai_llm_server: LLMServer
) -> None:
    """on_block=return_error: the blocked tool_use is replaced by a text block; the loop ends cleanly."""
    anth_integration.install(on_block="return_error")
    try:
        oai_llm_server.load(Turn(text="Tidying.", tool_calls=(("delete_file", {"path": "/x"}),)))
        with read_only():
            message = anth_client.messages.create(
                model="scripted", max_tokens=100, messages=[{"role": "user", "content": "x"}], tools=TOOLS
            )
    finally:
        anth_integration.uninstall()
        anth_integration.install()
        anth_integration.uninstall()
    assert [b.type for b in message.content] == ["text", "text"]
    assert "delete_file was blocked" in message.content[1].text  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"


def test_stream_assembler_handles_malformed_and_empty_inputs() -> None:
    """Malformed streamed JSON is decided as raw text; a block with no deltas keeps its start input."""
    from anthropic.types import RawContentBlockDeltaEvent, RawContentBlockStartEvent, RawContentBlockStopEvent

    acc = anth_integration._Blocks()
    start = RawContentBlockStartEvent.model_validate(
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "t1", "name": "run_shell", "input": {}},
        }
    )
    bad = RawContentBlockDeltaEvent.model_validate(
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"command": "rm -rf /'},
        }
    )
    stop = RawContentBlockStopEvent.model_validate({"type": "content_block_stop", "index": 0})
    assert acc.feed(start) == []
    assert acc.feed(bad) == []
    (call,) = acc.feed(stop)
    assert call.arguments == '{"command": "rm -rf /'
    acc.feed(start)
    (empty,) = acc.feed(stop)
    assert empty.arguments == {}


def test_install_is_idempotent_and_uninstall_restores(
    oai_audit: AuditTap, anth_client: anthropic.Anthropic, oai_llm_server: LLMServer
) -> None:
    """Two installs patch once; after uninstall nothing is decided and the tool runs."""
    from anthropic._response import APIResponse

    original = APIResponse.parse
    assert anth_integration.install()
    assert anth_integration.install()
    assert APIResponse.parse.__wrapped__ is original  # type: ignore[attr-defined]
    anth_integration.uninstall()
    assert APIResponse.parse is original
    assert not anth_integration.installed()
    oai_llm_server.load(DESTROY, Turn(text="done"))
    tools = Tools()
    with read_only():
        messages_loop(anth_client, tools)
    assert tools.log == [("delete_file", "/srv/data/users.db")]
    assert oai_audit.decisions() == []


def test_contract_attributes() -> None:
    """The module exposes the integration contract."""
    assert anth_integration.FRAMEWORK == "anthropic"
    assert anth_integration.available()
    assert set(anth_integration.TESTED_VERSIONS) == {"anthropic"}
    assert anth_integration.unpatch is anth_integration.uninstall
