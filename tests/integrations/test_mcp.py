"""MCP client side: every path to ``tools/call`` in the ``mcp`` SDK passes the firewall first.

The server is a real `MCPServer` (in-process, and as a stdio subprocess); its
tools write every run to a log file, so a blocked call is proven never to run.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters, types

import agentgate
from agentgate import FirewallBlockedError
from agentgate._context import agent_context
from agentgate.integrations import mcp as mcp_integration

from .conftest import AuditTap
from .servers.mcp_server import build_server

SERVER_SCRIPT = Path(__file__).parent / "servers" / "mcp_server.py"


@pytest.fixture
def mcp_log(tmp_path: Path) -> Path:
    """The file the MCP server's tools write their side effects to."""
    return tmp_path / "side-effects.log"


@pytest.fixture
def mcp_patched(oai_audit: AuditTap) -> Iterator[AuditTap]:
    """The MCP client hook installed for one test (removed afterwards)."""
    assert mcp_integration.install() is True
    yield oai_audit
    mcp_integration.uninstall()


def ran(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def find_blocked(exc: BaseException) -> FirewallBlockedError | None:
    """The FirewallBlockedError inside (possibly nested) exception groups."""
    if isinstance(exc, FirewallBlockedError):
        return exc
    for inner in getattr(exc, "exceptions", ()):
        found = find_blocked(inner)
        if found is not None:
            return found
    return None


def read_only() -> agentgate.scope:
    return agentgate.scope(allowed_operations=["read"])


async def test_client_call_tool_blocks_destructive_runs_benign_audits_both(
    mcp_patched: AuditTap, mcp_log: Path
) -> None:
    """mcp.Client.call_tool: the read runs (its result is recorded), the delete never reaches the server."""
    async with Client(build_server(mcp_log)) as client, agent_context(agent_id="files") as ctx:
        with read_only():
            ok = await client.call_tool("read_file", {"path": "/srv/report.txt"})
            with pytest.raises(FirewallBlockedError) as exc:
                await client.call_tool("delete_file", {"path": "/srv/users.db"})
    assert ok.is_error is False
    assert ran(mcp_log) == ["read_file:/srv/report.txt"]
    assert exc.value.tool_call is not None
    assert exc.value.tool_call.framework == "mcp"
    assert mcp_patched.decisions() == [("read_file", "allow"), ("delete_file", "block")]
    assert [(r.tool_name, r.result) for r in ctx.action_history] == [
        ("read_file", "contents of /srv/report.txt"),
        ("delete_file", None),
    ]


async def test_raw_send_request_path_is_hooked(mcp_patched: AuditTap, mcp_log: Path) -> None:
    """A hand-built CallToolRequest through session.send_request is decided too (a call_tool patch misses it)."""
    request = types.CallToolRequest(
        params=types.CallToolRequestParams(name="send_email", arguments={"to": "x@evil.io", "body": "hi"})
    )
    async with Client(build_server(mcp_log)) as client:
        with read_only(), pytest.raises(FirewallBlockedError):
            await client.session.send_request(request, types.CallToolResult)
    assert ran(mcp_log) == []
    assert mcp_patched.decisions() == [("send_email", "block")]


async def test_other_requests_pass_untouched(mcp_patched: AuditTap, mcp_log: Path) -> None:
    """tools/list and friends are not tool calls: nothing is decided or audited."""
    async with Client(build_server(mcp_log)) as client:
        with read_only():
            tools = await client.list_tools()
    assert {t.name for t in tools.tools} == {"read_file", "delete_file", "send_email"}
    assert mcp_patched.decisions() == []


async def test_stdio_subprocess_server_blocked_call_never_runs(mcp_patched: AuditTap, mcp_log: Path) -> None:
    """Over stdio to a real server process: the block surfaces (inside exception groups) and the server did nothing."""
    params = StdioServerParameters(command=sys.executable, args=[str(SERVER_SCRIPT), str(mcp_log)])
    with read_only():
        try:
            async with Client(params) as client:
                ok = await client.call_tool("read_file", {"path": "/a"})
                await client.call_tool("delete_file", {"path": "/b"})
        except BaseException as e:
            blocked = find_blocked(e)
        else:
            blocked = None
    assert blocked is not None
    assert ok.is_error is False
    assert ran(mcp_log) == ["read_file:/a"]


async def test_return_error_gives_the_model_an_error_result(oai_audit: AuditTap, mcp_log: Path) -> None:
    """on_block=return_error: the caller gets CallToolResult(isError=True) explaining the block; nothing ran."""
    mcp_integration.install(on_block="return_error")
    try:
        async with Client(build_server(mcp_log)) as client:
            with read_only():
                result = await client.call_tool("delete_file", {"path": "/srv/users.db"})
                raw = await client.session.send_request(
                    types.CallToolRequest(
                        params=types.CallToolRequestParams(name="delete_file", arguments={"path": "/x"})
                    ),
                    types.CallToolResult,
                )
    finally:
        mcp_integration.uninstall()
        mcp_integration.install()
        mcp_integration.uninstall()
    assert result.is_error is True
    assert "delete_file was blocked" in result.content[0].text  # type: ignore[union-attr]
    assert raw.is_error is True
    assert ran(mcp_log) == []
    assert oai_audit.decisions() == [("delete_file", "block")] * 2


async def test_benign_look_alike_is_allowed(mcp_patched: AuditTap, mcp_log: Path) -> None:
    """A read of a file named like a destructive tool is still a read and runs."""
    async with Client(build_server(mcp_log)) as client:
        with read_only():
            result = await client.call_tool("read_file", {"path": "/docs/delete_file.md"})
    assert result.is_error is False
    assert ran(mcp_log) == ["read_file:/docs/delete_file.md"]


async def test_install_is_idempotent_and_uninstall_restores(oai_audit: AuditTap, mcp_log: Path) -> None:
    """Two installs patch once; after uninstall calls go straight to the server."""
    from mcp.client.session import ClientSession

    original = ClientSession.send_request
    assert mcp_integration.install()
    assert mcp_integration.install()
    assert ClientSession.send_request.__wrapped__ is original  # type: ignore[attr-defined]
    mcp_integration.uninstall()
    assert ClientSession.send_request is original
    async with Client(build_server(mcp_log)) as client:
        with read_only():
            await client.call_tool("delete_file", {"path": "/x"})
    assert ran(mcp_log) == ["delete_file:/x"]
    assert oai_audit.decisions() == []


def test_contract_attributes() -> None:
    """The module exposes the integration contract."""
    assert mcp_integration.FRAMEWORK == "mcp"
    assert mcp_integration.available()
    assert set(mcp_integration.TESTED_VERSIONS) == {"mcp"}
    assert mcp_integration.unpatch is mcp_integration.uninstall
