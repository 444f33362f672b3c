"""``agentgate approvals``: list the approval queue, approve or deny a queued call."""

from __future__ import annotations

import datetime as _dt
import getpass
import json

import click

from .._errors import AgentGateError, ConfigError
from ._common import config_audit_url, config_option, dump_json, fail_usage, load_or_exit, state_option, state_url_for


def _queue(state_url: str | None, config_path: str | None) -> object:
    from ..approvals import ApprovalQueue

    cfg = load_or_exit(config_path)
    url = cfg.approver.url if cfg is not None and cfg.approver is not None and cfg.approver.url else None
    try:
        return ApprovalQueue(state_url or url or state_url_for(None, config_path))
    except ConfigError as e:
        fail_usage(str(e))


@click.group("approvals")
def command() -> None:
    """List queued calls waiting for a human; approve or deny them (approver: queue)."""


@command.command("list")
@click.option(
    "--status",
    default="pending",
    show_default=True,
    type=click.Choice(["pending", "approved", "denied", "expired", "all"]),
)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print the approvals as JSON (the call's arguments included).")
@state_option
@config_option
def list_(status: str, limit: int, as_json: bool, state_url: str | None, config_path: str | None) -> None:
    """List approvals, newest first."""
    from ..approvals import ApprovalQueue

    q = _queue(state_url, config_path)
    assert isinstance(q, ApprovalQueue)
    try:
        rows = q.list(None if status == "all" else status, limit)
    except AgentGateError as e:
        fail_usage(str(e))
    finally:
        q.close()
    if as_json:
        click.echo(dump_json([a.to_dict() for a in rows]))
        return
    if not rows:
        click.echo(f"no {status if status != 'all' else ''} approvals".replace("  ", " "))
        return
    for a in rows:
        when = _dt.datetime.fromtimestamp(a.created_at, _dt.UTC).strftime("%H:%M:%SZ")
        args = json.dumps(a.payload.get("arguments", {}), default=str, ensure_ascii=False)
        if len(args) > 80:
            args = args[:77] + "..."
        line = f"{a.id}  {a.status:<8}  {when}  {a.agent_id or 'default':<12}  {a.tool}  {args}"
        if a.decided_by:
            line += f"  [{a.decided_by}: {a.reason}]"
        click.echo(line)


def _answer(
    ident: str, approved: bool, reason: str, who: str | None, state_url: str | None, config_path: str | None
) -> None:
    from ..approvals import ApprovalError, ApprovalQueue, record_answer

    if not reason.strip():
        fail_usage("--reason must say why")
    q = _queue(state_url, config_path)
    assert isinstance(q, ApprovalQueue)
    by = who or f"cli:{getpass.getuser()}"
    try:
        a = q.decide(ident, approved, by, reason)
    except ApprovalError as e:
        fail_usage(str(e))
    except AgentGateError as e:
        fail_usage(str(e))
    finally:
        q.close()
    # The answer is written to the audit trail too (who, why), where the config sends it.
    from ..audit import open_auditor

    cfg = load_or_exit(config_path)
    audit = config_audit_url(cfg)
    try:
        auditor = open_auditor(audit)
    except AgentGateError as e:
        click.echo(f"agentgate: warning: the answer is stored but could not be audited: {e}", err=True)
    else:
        record_answer(auditor, a, policy_revision=cfg.revision() if cfg is not None else "")
        auditor.shutdown(10.0)
    click.echo(f"{a.status} {a.id} ({a.tool} for agent {a.agent_id or 'default'}) by {by}: {reason}")


_reason = click.option("--reason", required=True, help="Why (recorded with the answer and in the audit trail).")
_who = click.option("--as", "who", default=None, help="Who answers (default cli:<login name>).")


@command.command("approve")
@click.argument("ident")
@_reason
@_who
@state_option
@config_option
def approve(ident: str, reason: str, who: str | None, state_url: str | None, config_path: str | None) -> None:
    """Let the queued call IDENT run."""
    _answer(ident, True, reason, who, state_url, config_path)


@command.command("deny")
@click.argument("ident")
@_reason
@_who
@state_option
@config_option
def deny(ident: str, reason: str, who: str | None, state_url: str | None, config_path: str | None) -> None:
    """Block the queued call IDENT."""
    _answer(ident, False, reason, who, state_url, config_path)
