"""`import agentgate` and `agentgate --help` load only what they need (the heavy parts load on first use)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import agentgate
from agentgate.cli import SUBCOMMANDS, cli

HEAVY = (
    "sqlglot",
    "pydantic",
    "asyncio",
    "yaml",
    "rich",
    "agentgate._firewall",
    "agentgate.judge",
    "agentgate.analyzers",
)


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport json, sys; print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_import_loads_nothing_heavy() -> None:
    """`import agentgate` loads none of sqlglot, pydantic, asyncio, yaml, rich, the firewall or the judge."""
    assert _loaded_after("import agentgate") == []


def test_help_loads_nothing_heavy() -> None:
    """`agentgate --help` imports no subcommand module and none of the heavy dependencies."""
    code = "import sys; sys.argv = ['agentgate', '--help']\nfrom agentgate.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass"
    assert _loaded_after(code) == []


def test_public_names_resolve_on_first_use() -> None:
    """Every name in __all__ resolves; PolicyEngine is Firewall; an unknown name is an AttributeError."""
    for name in agentgate.__all__:
        assert getattr(agentgate, name) is not None, name
    assert agentgate.PolicyEngine is agentgate.Firewall
    assert set(agentgate.__all__) <= set(dir(agentgate))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = agentgate.nope  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_help_lines_match_the_commands(name: str) -> None:
    """The one-line help `agentgate --help` shows without importing is the command's own, and the name matches."""
    cmd = cli.get_command(None, name)  # type: ignore[arg-type]
    assert cmd is not None and cmd.name == name
    assert SUBCOMMANDS[name][1] == cmd.get_short_help_str(limit=300)


def test_version_and_unknown_command() -> None:
    """--version prints the package version; an unknown subcommand is a usage error."""
    r = CliRunner()
    assert r.invoke(cli, ["--version"]).output.strip() == f"agentgate, version {agentgate.__version__}"
    res = r.invoke(cli, ["nope"])
    assert res.exit_code == 2 and "No such command 'nope'" in res.output
