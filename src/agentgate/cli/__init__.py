"""The ``agentgate`` command.

Subcommands live one per module (``cli/_<name>.py``), each exporting a click
command or group named ``command``; `_SUBCOMMANDS` lists them.
"""

from __future__ import annotations

import importlib

import click

__all__ = ["cli", "main"]

_SUBCOMMANDS: tuple[str, ...] = ("eval", "check", "policy", "doctor", "demo", "mcp_proxy", "audit", "serve")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="agentgate")
def cli() -> None:
    """AgentGate: an action-level firewall for AI agents."""


for _name in _SUBCOMMANDS:
    cli.add_command(importlib.import_module(f"agentgate.cli._{_name}").command)


def main() -> None:
    """Entry point of the ``agentgate`` script."""
    cli(prog_name="agentgate")
