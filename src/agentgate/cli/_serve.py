"""``agentgate serve``: the dashboard and policy API."""

from __future__ import annotations

import click

from .._errors import MissingDependencyError
from ._common import config_audit_url, config_option, fail_usage, load_or_exit


@click.command("serve")
@click.option(
    "--db",
    "audit",
    default=None,
    help="Audit trail to show (default: as the firewall: the config's audit:, AGENTGATE_AUDIT_URL, "
    "then .agentgate/audit.db).",
)
@config_option
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface to bind (the server has no authentication)."
)
@click.option("--port", default=8765, show_default=True, type=int)
def command(audit: str | None, config_path: str | None, host: str, port: int) -> None:
    """Serve the dashboard (live decisions, findings, chain status) and the policy API."""
    cfg = load_or_exit(config_path)
    configured = config_audit_url(cfg)
    if audit is None and configured is not None:
        # The dashboard shows one trail: the first the config names (the firewall writes to all).
        audit = configured if isinstance(configured, str) else configured[0]
    try:
        import uvicorn

        from ..server import create_app
    except (ImportError, MissingDependencyError):
        fail_usage("the dashboard needs the server extra: pip install 'agentgate-action-firewall[server]'")
    click.echo(f"AgentGate dashboard on http://{host}:{port}/  (audit: {audit or 'default'})")
    uvicorn.run(create_app(audit, cfg), host=host, port=port, log_level="warning")
