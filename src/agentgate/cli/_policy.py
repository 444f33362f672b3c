"""``agentgate policy``: validate, schema, explain; and the policy store: push, pull, history, diff, rollback."""

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


# ------------------------------------------------------------------ the policy store


def _store_target(store: str | None) -> str:
    import os

    if store:
        return store
    cfg = os.environ.get("AGENTGATE_CONFIG")
    return cfg or "agentgate.yaml"


store_option = click.option(
    "--store",
    "-s",
    "store",
    envvar="AGENTGATE_POLICY_STORE",
    show_envvar=True,
    help="The policy store: postgresql://...?schema=S&document=D, file:///path/agentgate.yaml or a path "
    "(default: AGENTGATE_CONFIG, then ./agentgate.yaml).",
)


def _open_store(store: str | None) -> Any:
    """The store, as a context manager (its connection is closed however the command ends)."""
    from ..policy.store import open_policy_store

    return open_policy_store(_store_target(store))


def _store_call(fn: Any) -> Any:
    """Run a store operation; a store or validation failure is a clean message and exit status."""
    from .._errors import MissingDependencyError, PolicyStoreError

    try:
        return fn()
    except ConfigError as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    except (PolicyStoreError, MissingDependencyError) as e:
        click.echo(f"agentgate: error: {e}", err=True)
        sys.exit(EXIT_STORE)


#: Exit status when the store cannot be reached or has no such revision.
EXIT_STORE = 3


def _default_author() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _line(r: Any) -> str:
    seq = f"#{r.seq}" if r.seq else "(unrecorded)"
    when = r.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{r.revision}  {seq:<6} {when}  {r.author or '-'}: {r.message}"


@command.command("push")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--message", "-m", required=True, help="Why this change (recorded with the revision).")
@click.option("--author", default=None, help="Who (default: user@host).")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print the new revision as JSON.")
def push(file: str, message: str, author: str | None, store: str | None, as_json: bool) -> None:
    """Validate FILE and store it as the new head of the policy store (every subscribed process reloads).

    Exit status: 0 stored (or unchanged), 1 invalid document (nothing stored), 2 usage error, 3 store error.
    """
    from pathlib import Path

    from ..policy._load import decode_config

    try:
        text = decode_config(Path(file).read_bytes(), file)
    except ConfigError as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    with _open_store(store) as s:
        before = _store_call(s.head)
        rev = _store_call(lambda: s.push(text, author=author or _default_author(), message=message, source=file))
    unchanged = before is not None and before.seq == rev.seq and before.revision == rev.revision
    if as_json:
        click.echo(dump_json({**rev.to_dict(), "unchanged": unchanged, "store": s.url}))
    elif unchanged:
        click.echo(f"unchanged: {s.url} already has {rev.revision} at its head")
    else:
        click.echo(f"pushed {rev.revision} (#{rev.seq}, parent {rev.parent or 'none'}) to {s.url}")


@command.command("pull")
@click.argument("revision", required=False)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the document here (default: stdout).")
@store_option
def pull(revision: str | None, output: str | None, store: str | None) -> None:
    """Print (or write with -o) the document at REVISION (default: the head; HEAD~N, or 4+ hex digits)."""
    with _open_store(store) as s:
        rev = _store_call(lambda: s.get(revision))
    if output:
        from pathlib import Path

        Path(output).write_text(rev.text, encoding="utf-8")
        click.echo(f"wrote {rev.revision} to {output}", err=True)
    else:
        click.echo(rev.text, nl=False)


@command.command("history")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True, help="Newest N entries.")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
def history(limit: int, store: str | None, as_json: bool) -> None:
    """List the store's revisions, newest first: revision, #seq, time, author, message."""
    with _open_store(store) as s:
        entries = _store_call(lambda: s.history(limit))
    if as_json:
        click.echo(dump_json([e.to_dict() for e in entries]))
        return
    if not entries:
        click.echo(f"{s.url}: no revisions yet", err=True)
    for e in entries:
        click.echo(_line(e))


@command.command("diff")
@click.argument("a")
@click.argument("b", required=False)
@store_option
def diff(a: str, b: str | None, store: str | None) -> None:
    """Unified diff of the YAML from revision A to B (default: the head). Exit 0 same, 1 different."""
    with _open_store(store) as s:
        out = _store_call(lambda: s.diff(a, b))
    click.echo(out, nl=False)
    sys.exit(1 if out else 0)


@command.command("rollback")
@click.argument("revision")
@click.option("--message", "-m", required=True, help="Why (recorded with the new revision).")
@click.option("--author", default=None, help="Who (default: user@host).")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print the new revision as JSON.")
def rollback(revision: str, message: str, author: str | None, store: str | None, as_json: bool) -> None:
    """Make REVISION's document the head again (a new history entry; the old text is re-validated)."""
    with _open_store(store) as s:
        rev = _store_call(lambda: s.rollback(revision, author=author or _default_author(), message=message))
    if as_json:
        click.echo(dump_json({**rev.to_dict(), "store": s.url}))
    else:
        click.echo(f"rolled back: {rev.revision} is the head again (#{rev.seq}, parent {rev.parent}) in {s.url}")
