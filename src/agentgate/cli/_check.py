"""``agentgate check TOOL ARGS_JSON``: decide one call from the command line."""

from __future__ import annotations

import json
import sys

import click

from .._call import ToolCall
from .._context import agent_context
from .._decision import VerdictType
from .._firewall import Firewall
from ._common import (
    EXIT_BLOCK,
    EXIT_OK,
    config_option,
    dump_json,
    fail_usage,
    findings_rows,
    load_or_exit,
    verdict_label,
    verdict_style,
)


@click.command("check")
@click.argument("tool")
@click.argument("arguments", default="{}", metavar="'{\"arg\": ...}'")
@config_option
@click.option(
    "--mode",
    type=click.Choice(["enforce", "monitor"]),
    envvar="AGENTGATE_MODE",
    show_envvar=True,
    default=None,
    help="Override the config's mode. In monitor mode a call the policy refuses is ALLOW with would_block "
    "(exit 0), as the firewall would let it run.",
)
@click.option("--agent", "agent_id", default="", help="Agent id (selects its policy in the config).")
@click.option("--task", default="", help="The agent's task, as the judge would see it.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@click.option("--audit", default="none", show_default=True, help="Record the decision to this audit URL.")
def command(
    tool: str,
    arguments: str,
    config_path: str | None,
    mode: str | None,
    agent_id: str,
    task: str,
    as_json: bool,
    audit: str,
) -> None:
    """Decide whether TOOL may run with ARGUMENTS (a JSON object).

    Exit status: 0 allowed, 1 blocked, 2 usage or configuration error.

    \b
    Example:
      agentgate check execute_sql '{"query": "DROP TABLE users"}'
    """
    try:
        args = json.loads(arguments)
    except json.JSONDecodeError as e:
        fail_usage(f"ARGUMENTS must be a JSON object: {e.msg} at position {e.pos}")
    if not isinstance(args, dict):
        fail_usage(f"ARGUMENTS must be a JSON object, not {type(args).__name__}")
    cfg = load_or_exit(config_path)
    fw = Firewall(cfg, mode=mode, audit=None if audit == "none" else audit)
    with agent_context(agent_id=agent_id, task_description=task):
        v = fw.evaluate(ToolCall(tool, args, framework="cli"))
    fw.shutdown(5.0)
    if as_json:
        click.echo(dump_json(v.to_dict()))
    else:
        from rich.console import Console
        from rich.table import Table

        con = Console()
        con.print(
            f"[{verdict_style(v)}]{verdict_label(v)}[/] {tool}  [dim]({v.latency_us:.0f} µs, tier {v.tier_used})[/]"
        )
        if v.policy_name:
            con.print(f"rule:   {v.policy_name}")
        con.print(f"reason: {v.reasoning}")
        if v.findings:
            t = Table("rule", "effect", "severity", "message", show_lines=False)
            for row in findings_rows(v):
                t.add_row(*row)
            con.print(t)
    sys.exit(EXIT_BLOCK if v.action is VerdictType.BLOCK else EXIT_OK)
