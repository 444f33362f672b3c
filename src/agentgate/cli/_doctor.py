"""``agentgate doctor``: what is installed, what is patched, what it was tested against."""

from __future__ import annotations

import importlib
import importlib.metadata as md

import click

from .. import __version__ as agentgate_version
from .._errors import DISTRIBUTION


@click.command("doctor")
def command() -> None:
    """Show installed frameworks, which are patched, and the versions tested against."""
    from rich.console import Console
    from rich.table import Table

    from ..integrations import INTEGRATIONS
    from ..integrations._versions import out_of_range

    warnings: list[str] = []
    t = Table("framework", "installed", "patched", "tested against")
    for name in INTEGRATIONS:
        mod = importlib.import_module(f"agentgate.integrations.{name}")
        tested: dict[str, str] = getattr(mod, "TESTED_VERSIONS", {})
        versions = []
        for pkg in tested:
            try:
                installed = md.version(pkg)
                versions.append(f"{pkg} {installed}")
                why = out_of_range(pkg, installed)
                if why:
                    warnings.append(why)
            except md.PackageNotFoundError:
                continue
        t.add_row(
            mod.FRAMEWORK,
            ", ".join(versions) if versions else ("yes" if mod.available() else "no"),
            "yes" if mod.installed() else "no",
            ", ".join(f"{k} {v}" for k, v in tested.items()),
        )
    con = Console()
    con.print(f"agentgate {agentgate_version} (distribution {DISTRIBUTION})")
    con.print(t)
    for why in warnings:
        con.print(f"[yellow]warning: {why}[/]")
    if not any(importlib.import_module(f"agentgate.integrations.{n}").installed() for n in INTEGRATIONS):
        con.print("[dim]nothing patched in this process: call agentgate.protect_all() in your agent[/]")
