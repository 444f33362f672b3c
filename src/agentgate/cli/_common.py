"""Shared CLI plumbing: loading config with clean errors, rendering verdicts."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from .._decision import Verdict, VerdictType
from .._errors import ConfigError
from ..policy._config import Config, load_config

EXIT_OK, EXIT_BLOCK, EXIT_USAGE = 0, 1, 2


def fail_usage(msg: str) -> NoReturn:
    """Print *msg* to stderr and exit 2 (usage or configuration error)."""
    click.echo(f"agentgate: error: {msg}", err=True)
    sys.exit(EXIT_USAGE)


def load_or_exit(path: str | None) -> Config | None:
    """Load *path* as agentgate.yaml, exiting 2 with every problem listed when invalid."""
    if path is None:
        return None
    try:
        return load_config(path)
    except ConfigError as e:
        fail_usage(str(e))


#: ``--config`` as every subcommand that applies a policy declares it: AGENTGATE_CONFIG is its default,
#: as it is for ``protect_all()``.
config_option = click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="AGENTGATE_CONFIG",
    show_envvar=True,
    help="agentgate.yaml to apply.",
)


def config_audit_url(cfg: Config | None) -> str | list[str] | None:
    """The ``audit:`` target a loaded config names, if any."""
    return cfg.audit.url if cfg is not None and cfg.audit is not None else None


_STYLE = {VerdictType.ALLOW: "bold green", VerdictType.BLOCK: "bold red", VerdictType.ESCALATE: "bold yellow"}


def verdict_style(v: Verdict) -> str:
    """Rich style for a verdict's action."""
    if v.would_block:
        return "bold yellow"
    return _STYLE[v.action]


def verdict_label(v: Verdict) -> str:
    """ALLOW / BLOCK / ESCALATE, or WOULD BLOCK in monitor mode."""
    return "WOULD BLOCK" if v.would_block else v.action.value.upper()


def findings_rows(v: Verdict) -> list[tuple[str, str, str, str]]:
    """(rule, effect, severity, message) rows for a table."""
    return [(f.rule_id, f.effect.value, f.severity.value, f.message) for f in v.findings]


def dump_json(obj: Any) -> str:
    """Stable JSON for --json outputs."""
    import json

    return json.dumps(obj, indent=2, sort_keys=True, default=str)


#: ``--state`` as the commands that use tokens and approvals declare it.
state_option = click.option(
    "--state",
    "state_url",
    default=None,
    envvar="AGENTGATE_STATE_URL",
    show_envvar=True,
    help="Database of tokens and approvals (sqlite/postgresql URL); default: the audit trail's database.",
)


def state_url_for(state_url: str | None, config_path: str | None) -> str:
    """The state database for a command: ``--state``, else the config's audit database, else the default audit's."""
    from .._statedb import default_state_url

    cfg = load_or_exit(config_path)
    audit = config_audit_url(cfg)
    return default_state_url(state_url, audit if isinstance(audit, str) or audit is None else audit[0])
