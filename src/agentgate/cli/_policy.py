"""``agentgate policy validate FILE``: check an agentgate.yaml."""

from __future__ import annotations

import sys

import click

from .._errors import ConfigError
from ..policy._config import load_config


@click.group("policy")
def command() -> None:
    """Work with agentgate.yaml policy files."""


@command.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Validate FILE; list every problem with line and key. Exit 0 valid, 1 invalid."""
    try:
        cfg = load_config(file)
    except ConfigError as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    agents = ", ".join(cfg.agents) or "none"
    tools = ", ".join(cfg.tools) or "none"
    click.echo(f"{file}: valid (revision {cfg.revision()}; mode {cfg.mode}; agents: {agents}; tools: {tools})")
