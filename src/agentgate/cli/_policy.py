"""``agentgate policy``: validate an agentgate.yaml, print its JSON Schema, explain a decision."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from .._errors import ConfigError
from ..policy._config import Config, load_config
from ._common import EXIT_BLOCK, EXIT_OK, dump_json, fail_usage, load_or_exit


@click.group("policy")
def command() -> None:
    """Work with agentgate.yaml policy files."""


@command.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print {valid, problems: [{file, line, key, message}]}.")
def validate(file: str, as_json: bool) -> None:
    """Validate FILE; list every problem with line and key. Exit 0 valid, 1 invalid."""
    try:
        cfg = load_config(file)
    except ConfigError as e:
        if as_json:
            problems = [{"file": p.file, "line": p.line, "key": p.key, "message": p.message} for p in e.problems]
            click.echo(dump_json({"valid": False, "file": file, "problems": problems}))
        else:
            click.echo(str(e), err=True)
        sys.exit(1)
    if as_json:
        click.echo(
            dump_json(
                {
                    "valid": True,
                    "file": file,
                    "revision": cfg.revision(),
                    "agents": sorted(cfg.agents),
                    "tools": sorted(cfg.tools),
                    "operations": cfg.operations,
                    "problems": [],
                }
            )
        )
        return
    agents = ", ".join(cfg.agents) or "none"
    tools = ", ".join(cfg.tools) or "none"
    click.echo(f"{file}: valid (revision {cfg.revision()}; mode {cfg.mode}; agents: {agents}; tools: {tools})")


@command.command("schema")
def schema() -> None:
    """Print the JSON Schema of agentgate.yaml (for editors: yaml-language-server, VS Code)."""
    doc: dict[str, Any] = Config.model_json_schema(by_alias=True)
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = "agentgate.yaml"
    doc.get("properties", {}).pop("source", None)
    click.echo(json.dumps(doc, indent=2, sort_keys=True))


@command.command("explain")
@click.argument("tool")
@click.argument("arguments", default="{}", metavar="'{\"arg\": ...}'")
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False), help="agentgate.yaml to apply.")
@click.option("--agent", "agent_id", default="", help="Agent id (selects its policy in the config).")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
def explain(tool: str, arguments: str, config_path: str | None, agent_id: str, as_json: bool) -> None:
    """Show how TOOL(ARGUMENTS) is classified and which layer and rule decide it (tier 1, no judge).

    Exit status: 0 allowed, 1 blocked or escalated, 2 usage or configuration error.
    """
    from .._call import ToolCall
    from .._context import agent_context
    from .._decision import VerdictType
    from .._firewall import Firewall

    try:
        args = json.loads(arguments)
    except json.JSONDecodeError as e:
        fail_usage(f"ARGUMENTS must be a JSON object: {e.msg} at position {e.pos}")
    if not isinstance(args, dict):
        fail_usage(f"ARGUMENTS must be a JSON object, not {type(args).__name__}")
    cfg = load_or_exit(config_path)
    fw = Firewall(cfg, audit=None)
    call = ToolCall(tool, args, framework="cli")
    with agent_context(agent_id=agent_id) as agent:
        ctx = fw._context(call, agent)
        v = fw.evaluate_tier1(call)
    cls = ctx.classification
    layers = [
        {"name": lay.name, "summary": ctx.policy.describe().split(" ∩ ")[i]} for i, lay in enumerate(ctx.policy.layers)
    ]
    deciding = [f for f in v.findings if f.effect.value != "info"]
    out = {
        "tool": tool,
        "agent": agent_id or None,
        "verdict": v.action.value,
        "rule": v.policy_name or None,
        "reason": v.reasoning,
        "classification": {
            "kind": cls.kind,
            "operation": cls.operation,
            "operation_from": cls.operation_source,
            "resources": [{"argument": r.argument, "kind": r.kind, "value": r.value} for r in cls.resources],
        },
        "layers": layers,
        "findings": [
            {"rule": f.rule_id, "effect": f.effect.value, "severity": f.severity.value, "message": f.message}
            for f in v.findings
        ],
    }
    if as_json:
        click.echo(dump_json(out))
    else:
        click.echo(f"{v.action.value.upper()} {tool}" + (f"  (rule {v.policy_name})" if v.policy_name else ""))
        click.echo(f"  reason:     {v.reasoning}")
        click.echo(f"  kind:       {cls.kind}")
        click.echo(f"  operation:  {cls.operation or 'unknown'} (from {cls.operation_source})")
        for r in cls.resources:
            click.echo(f"  resource:   {r.argument} = {r.value!r} ({r.kind})")
        click.echo("  layers:     " + (ctx.policy.describe() if layers else "none (no agent policy, no scope)"))
        for f in deciding:
            click.echo(f"  {f.effect.value:<9} {f.rule_id}: {f.message}")
    sys.exit(EXIT_OK if v.action is VerdictType.ALLOW else EXIT_BLOCK)
