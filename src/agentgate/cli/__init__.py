"""The ``agentgate`` command.

Subcommands live one per module (``cli/_<module>.py``), each exporting a click command or group
named ``command``. `SUBCOMMANDS` lists them with the one-line help ``agentgate --help`` shows, so
that ``--help`` (and every subcommand) imports only what it runs: importing all of them loads the
firewall, sqlglot, the judge and rich, about a second. A test keeps the lines equal to the
commands' own help.
"""

from __future__ import annotations

import importlib

import click

from .. import __version__

__all__ = ["SUBCOMMANDS", "cli", "main"]

#: name -> (module under agentgate.cli, the one-line help shown by ``agentgate --help``)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "approvals": ("_approvals", "List queued calls waiting for a human; approve or deny them (approver: queue)."),
    "audit": ("_audit", "Read, verify and export the audit trail."),
    "check": ("_check", "Decide whether TOOL may run with ARGUMENTS (a JSON object)."),
    "demo": ("_demo", "Show the firewall deciding a realistic agent session, live."),
    "doctor": (
        "_doctor",
        "Check the policy, audit target, judge and framework integrations; show what would be patched.",
    ),
    "eval": ("_eval", "Run the labelled adversarial eval suite and report precision, recall, F1 and FPR."),
    "mcp-proxy": (
        "_mcp_proxy",
        "Run SERVER_COMMAND behind a proxy that checks every tools/call against the policy.",
    ),
    "policy": ("_policy", "Work with agentgate.yaml policy files."),
    "replay": ("_replay", "Re-decide recorded calls under a candidate policy; print the verdicts that change."),
    "serve": ("_serve", "Serve the dashboard, the decision API (/v1/decide) and the management API."),
    "test": ("_test", "Run policy test files (calls and their expected verdicts) against a policy."),
    "token": (
        "_token",
        "Create, list and revoke API tokens (stored hashed; roles viewer < approver < editor < admin, and agent).",
    ),
}


class _LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = SUBCOMMANDS.get(cmd_name)
        if entry is None:
            return None
        command: click.Command = importlib.import_module(f"agentgate.cli.{entry[0]}").command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="agentgate")
def cli() -> None:
    """AgentGate: an action-level firewall for AI agents."""


def main() -> None:
    """Entry point of the ``agentgate`` script."""
    cli(prog_name="agentgate")
