"""``agentgate serve``: the dashboard, the decision API and the management API."""

from __future__ import annotations

import click

from .._errors import ConfigError, MissingDependencyError
from ..policy._config import Config
from ._common import config_audit_url, config_option, fail_usage, load_or_exit, state_option


@click.command("serve")
@click.option(
    "--db",
    "audit",
    default=None,
    help="Audit trail to show and to record /v1/decide in (default: as the firewall: the config's audit:, "
    "AGENTGATE_AUDIT_URL, then .agentgate/audit.db).",
)
@config_option
@state_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to bind. Any non-loopback address needs an API token (agentgate token create).",
)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option(
    "--store",
    "policy_store",
    default=None,
    envvar="AGENTGATE_POLICY_STORE",
    show_envvar=True,
    help="A policy store (postgresql://..., file:///path.yaml): decisions follow its head, and /v1/policies "
    "pushes, diffs and rolls back its documents.",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    help="A name clients reach the server by (the Host header is checked, against DNS rebinding); repeatable. "
    "localhost, 127.0.0.1 and [::1] are always allowed; '*' allows any (behind a proxy that checks Host).",
)
def command(
    audit: str | None,
    config_path: str | None,
    state_url: str | None,
    host: str,
    port: int,
    allowed_hosts: tuple[str, ...],
    policy_store: str | None,
) -> None:
    """Serve the dashboard, the decision API (/v1/decide) and the management API."""
    store = None
    cfg: Config | None
    if policy_store is not None:
        from .._errors import PolicyStoreError
        from ..policy.store import open_policy_store

        store = open_policy_store(policy_store)
        try:
            head = store.head()
        except PolicyStoreError as e:
            # Never serve decisions under a policy we could not read.
            fail_usage(f"the policy store cannot be read: {e}")
        if head is not None:
            try:
                cfg = head.config()
            except ConfigError as e:
                fail_usage(f"the head of the policy store does not validate: {e}")
        else:
            cfg = load_or_exit(config_path)
            click.echo("the policy store is empty: serving the --config policy until a push", err=True)
    else:
        cfg = load_or_exit(config_path)
    configured = config_audit_url(cfg)
    if audit is None and configured is not None:
        # The dashboard shows one trail: the first the config names (the firewall writes to all).
        audit = configured if isinstance(configured, str) else configured[0]
    try:
        import uvicorn

        from ..server import create_app
    except (ImportError, MissingDependencyError):
        fail_usage("the server needs the server extra: pip install 'agentgate-action-firewall[server]'")
    try:
        app = create_app(audit, cfg, host=host, allowed_hosts=allowed_hosts, state_url=state_url, policy_store=store)
    except ConfigError as e:
        fail_usage(str(e))
    click.echo(f"AgentGate on http://{host}:{port}/  (audit: {audit or 'default'})")
    uvicorn.run(app, host=host, port=port, log_level="warning")
