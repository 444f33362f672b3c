"""Doctests in the package's modules run and pass."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import agentgate

_SKIP_PREFIXES = ("agentgate.integrations.", "agentgate.server", "agentgate.cli.__main__")


def _modules() -> list[str]:
    names = ["agentgate"]
    for info in pkgutil.walk_packages(agentgate.__path__, "agentgate."):
        if not info.name.startswith(_SKIP_PREFIXES):
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", _modules())
def test_module_doctests(name: str) -> None:
    """Every example in a module docstring produces what it shows."""
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
