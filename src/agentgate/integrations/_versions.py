"""Which framework versions AgentGate was tested against, and whether an installed one is outside that.

The data lives in ``_tested.py``, generated from uv.lock by ``make lock``: CI installs exactly the
locked versions, so they are the tested ones. The supported range is the extra's lower bound up to
the locked release's minor version; a newer minor (or major) release is untested, not forbidden.
"""

from __future__ import annotations

import re

from ._tested import MINIMUM_VERSIONS, TESTED_VERSIONS

__all__ = ["out_of_range", "tested"]


def tested(*packages: str) -> dict[str, str]:
    """``{package: locked version}`` for the packages an integration depends on."""
    return {p: TESTED_VERSIONS[p] for p in packages if p in TESTED_VERSIONS}


def _key(version: str) -> tuple[int, ...]:
    # Release segment only: "1.2.3rc1" -> (1, 2, 3); pre-releases compare as their release.
    return tuple(int(p) for p in re.findall(r"\d+", version.split("+")[0])[:3])


def out_of_range(package: str, installed: str) -> str | None:
    """Why ``installed`` is outside the tested range of ``package``, or None when it is inside."""
    low, high = MINIMUM_VERSIONS.get(package), TESTED_VERSIONS.get(package)
    if low is not None and _key(installed) < _key(low):
        return f"{package} {installed} is older than the oldest supported {low}"
    if high is not None and _key(installed)[:2] > _key(high)[:2]:
        return f"{package} {installed} is newer than the tested {high} (untested: run `agentgate` with care)"
    return None
