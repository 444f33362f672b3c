"""``agentgate mcp-proxy [--config F] -- <server command...>``: a policy-enforcing MCP proxy.

stdio by default; ``--http-upstream URL`` proxies the Streamable HTTP transport instead.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

import click

from ._common import config_option, fail_usage, load_or_exit


@click.command("mcp-proxy", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@config_option
@click.option("--agent", "agent_id", default="", help="Agent id (selects its policy in the config).")
@click.option("--task", default="", help="What the agent behind this client is for (the judge reads it).")
@click.option(
    "--deny-as",
    type=click.Choice(["result", "error"]),
    default="result",
    show_default=True,
    help="Answer a denied call with a tool result marked isError (the model sees it) or a JSON-RPC error.",
)
@click.option(
    "--audit",
    default=None,
    help="Audit URL (default: the config's, then AGENTGATE_AUDIT_URL, then .agentgate/audit.db).",
)
@click.option(
    "--http-upstream",
    default=None,
    metavar="URL",
    help="Proxy the Streamable HTTP transport to this server origin (e.g. http://127.0.0.1:9000) instead of stdio.",
)
@click.option("--listen", default="127.0.0.1:8765", show_default=True, help="HOST:PORT the HTTP proxy listens on.")
@click.option(
    "--stop-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="On SIGTERM/SIGINT: seconds to wait for the server to exit before killing it.",
)
@click.option(
    "--log-level", default="WARNING", show_default=True, help="Log level of the proxy's messages (on stderr)."
)
@click.argument("server_command", nargs=-1, type=click.UNPROCESSED)
def command(
    config_path: str | None,
    agent_id: str,
    task: str,
    deny_as: str,
    audit: str | None,
    http_upstream: str | None,
    listen: str,
    stop_timeout: float,
    log_level: str,
    server_command: tuple[str, ...],
) -> None:
    """Run SERVER_COMMAND behind a proxy that checks every tools/call against the policy.

    Use it as the server command in an MCP client's configuration. stdout carries
    only the MCP protocol; the proxy's own messages go to stderr. With
    --http-upstream it serves the Streamable HTTP transport on --listen instead
    (point the client at http://HOST:PORT/<the server's path>).

    \b
    Example (Claude Desktop, claude_desktop_config.json):
      "command": "agentgate",
      "args": ["mcp-proxy", "--config", "/path/agentgate.yaml", "--",
               "npx", "-y", "@modelcontextprotocol/server-filesystem", "/tmp"]
    """
    import agentgate
    from agentgate._context import AgentContext
    from agentgate.integrations.mcp_proxy import run_http_proxy, run_proxy

    logging.basicConfig(stream=sys.stderr, level=log_level.upper(), format="agentgate mcp-proxy: %(message)s")
    if http_upstream is None and not server_command:
        fail_usage("give the server command after --, e.g. agentgate mcp-proxy -- python server.py")
    if http_upstream is not None and server_command:
        fail_usage("use either --http-upstream or a stdio server command, not both")
    host, _, port = listen.rpartition(":")
    if http_upstream is not None and (not host or not port.isdigit()):
        fail_usage(f"--listen must be HOST:PORT, not {listen!r}")
    cfg = load_or_exit(config_path)
    if audit is None:
        agentgate.protect_all(config=cfg, frameworks=[])
    else:
        agentgate.protect_all(config=cfg, frameworks=[], audit=audit)
    agent = AgentContext(agent_id=agent_id, task_id="mcp-proxy", task_description=task)
    code: int = 0
    try:
        if http_upstream is not None:
            # uvicorn handles SIGTERM/SIGINT itself; make the default SIGTERM exit through the finally.
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
            run_http_proxy(http_upstream, host=host, port=int(port), deny_as=deny_as, agent=agent)
        else:
            # A client stopping its server sends SIGTERM: the proxy stops the real server and
            # returns 143, and the finally below drains the audit trail.
            try:
                code = run_proxy(
                    server_command, deny_as=deny_as, agent=agent, handle_signals=True, stop_timeout=stop_timeout
                )
            except OSError as e:
                fail_usage(f"cannot start the server {server_command[0]!r}: {e}")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        agentgate.shutdown(10.0)
    sys.stdout.flush()
    sys.stderr.flush()
    # The stdin reader thread may still sit in a blocking read holding the buffer's
    # lock; a normal interpreter shutdown would abort on it. Everything is drained.
    os._exit(code)
