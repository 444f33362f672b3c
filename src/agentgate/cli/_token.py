"""``agentgate token``: API tokens of ``agentgate serve`` (create, list, revoke)."""

from __future__ import annotations

import datetime as _dt

import click

from .._errors import ConfigError
from ._common import config_option, dump_json, fail_usage, state_option, state_url_for


def _store(state_url: str | None, config_path: str | None) -> object:
    from ..server._tokens import TokenStore

    try:
        return TokenStore(state_url_for(state_url, config_path))
    except ConfigError as e:
        fail_usage(str(e))


def _when(ts: float | None) -> str:
    return "-" if ts is None else _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@click.group("token")
def command() -> None:
    """Create, list and revoke API tokens (stored hashed; roles viewer < approver < editor < admin, and agent)."""


@command.command("create")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["viewer", "approver", "editor", "admin", "agent"]),
    help="viewer reads; approver answers approvals; editor changes policies; admin all; agent only /v1/decide.",
)
@click.option("--name", required=True, help="Who or what holds it (recorded as who approved, in the audit trail).")
@click.option(
    "--agent",
    "agents",
    multiple=True,
    metavar="PATTERN",
    help="Bind an agent token to this agent id (a glob; repeatable): /v1/decide then refuses other agent ids.",
)
@click.option("--json", "as_json", is_flag=True, help="Print {id, name, role, agents, token}.")
@state_option
@config_option
def create(
    role: str, name: str, agents: tuple[str, ...], as_json: bool, state_url: str | None, config_path: str | None
) -> None:
    """Create a token and print it once (only its hash is kept)."""
    from ..server._tokens import TokenStore

    store = _store(state_url, config_path)
    assert isinstance(store, TokenStore)
    try:
        info, secret = store.create(name, role, agents)
    except ConfigError as e:
        fail_usage(str(e))
    finally:
        store.close()
    if as_json:
        click.echo(
            dump_json(
                {"id": info.id, "name": info.name, "role": info.role, "agents": list(info.agents), "token": secret}
            )
        )
        return
    click.echo(secret)
    click.echo(
        f"token {info.id} for {info.name} (role {info.role}"
        + (f", agents {', '.join(info.agents)}" if info.agents else "")
        + "); shown once, store it now. "
        "Send it as: Authorization: Bearer <token>",
        err=True,
    )


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@state_option
@config_option
def list_(as_json: bool, state_url: str | None, config_path: str | None) -> None:
    """List tokens (never their secrets), revoked ones marked."""
    from ..server._tokens import TokenStore

    store = _store(state_url, config_path)
    assert isinstance(store, TokenStore)
    try:
        rows = store.tokens()
    finally:
        store.close()
    if as_json:
        click.echo(
            dump_json(
                [
                    {
                        "id": t.id,
                        "name": t.name,
                        "role": t.role,
                        "agents": list(t.agents),
                        "created_at": t.created_at,
                        "revoked_at": t.revoked_at,
                    }
                    for t in rows
                ]
            )
        )
        return
    if not rows:
        click.echo("no tokens (agentgate serve runs in local mode on loopback)")
        return
    for t in rows:
        state = f"revoked {_when(t.revoked_at)}" if t.revoked_at else "active"
        bound = f"  agents {','.join(t.agents)}" if t.agents else ""
        click.echo(f"{t.id}  {t.role:<8}  {t.name:<24}  created {_when(t.created_at)}  {state}{bound}")


@command.command("revoke")
@click.argument("ident")
@state_option
@config_option
def revoke(ident: str, state_url: str | None, config_path: str | None) -> None:
    """Revoke the token with id IDENT (or every active token named IDENT); its browser sessions end too."""
    from ..server._tokens import TokenStore

    store = _store(state_url, config_path)
    assert isinstance(store, TokenStore)
    try:
        hits = store.revoke(ident)
    finally:
        store.close()
    if not hits:
        fail_usage(f"no active token with id or name {ident!r}")
    for t in hits:
        click.echo(f"revoked {t.id} ({t.name}, {t.role}); servers stop accepting it within 2 seconds")
