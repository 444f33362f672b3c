"""``agentgate mcp-proxy [--config F] -- <server command...>``: a policy-enforcing MCP stdio proxy."""

from __future__ import annotations

import logging
import sys

import click

from ._common import fail_usage, load_or_exit


@click.command("mcp-proxy", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False), help="agentgate.yaml to enforce.")
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
    "--log-level", default="WARNING", show_default=True, help="Log level of the proxy's messages (on stderr)."
)
@click.argument("server_command", nargs=-1, type=click.UNPROCESSED, required=True)
def command(
    config_path: str | None,
    agent_id: str,
    task: str,
    deny_as: str,
    audit: str | None,
    log_level: str,
    server_command: tuple[str, ...],
) -> None:
    """Run SERVER_COMMAND behind a proxy that checks every tools/call against the policy.

    Use it as the server command in an MCP client's configuration. stdout carries
    only the MCP protocol; the proxy's own messages go to stderr.

    \b
    Example (Claude Desktop, claude_desktop_config.json):
      "command": "agentgate",
      "args": ["mcp-proxy", "--config", "/path/agentgate.yaml", "--",
               "npx", "-y", "@modelcontextprotocol/server-filesystem", "/tmp"]
    """
    import agentgate
    from agentgate._context import AgentContext
    from agentgate.integrations.mcp_proxy import run_proxy

    logging.basicConfig(stream=sys.stderr, level=log_level.upper(), format="agentgate mcp-proxy: %(message)s")
    if not server_command:
        fail_usage("give the server command after --, e.g. agentgate mcp-proxy -- python server.py")
    cfg = load_or_exit(config_path)
    if audit is None:
        agentgate.protect_all(config=cfg, frameworks=[])
    else:
        agentgate.protect_all(config=cfg, frameworks=[], audit=audit)
    agent = AgentContext(agent_id=agent_id, task_id="mcp-proxy", task_description=task)
    try:
        code = run_proxy(server_command, deny_as=deny_as, agent=agent)
    finally:
        agentgate.shutdown(10.0)
    sys.exit(code)
