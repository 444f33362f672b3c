"""Shadow mode: a candidate policy decides every live call beside the live one, never enforced."""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

from .._config import Config
from ._candidate import candidate_firewall

if TYPE_CHECKING:
    from ..._call import ToolCall
    from ..._decision import Verdict

__all__ = ["ShadowPolicy"]

logger = logging.getLogger("agentgate.policy.shadow")


class ShadowPolicy:
    """A candidate policy compared with the live decisions of a firewall.

    ``compare`` runs after the live decision (the live verdict is already fixed), at tier 1
    only, with the candidate's own counters. A difference is returned as a small dict the
    firewall stores in the verdict's ``extra["shadow"]`` (and so in the audit record's
    ``payload.shadow``): ``{"revision", "live", "verdict", "rule", "change"}``. A failure of
    the candidate is logged and counted, never raised into the live call.
    """

    def __init__(self, policy: Config | str | os.PathLike[str], *, settings: Any = None) -> None:
        self.source = policy.source if isinstance(policy, Config) else os.fspath(policy)
        self.firewall = candidate_firewall(policy, settings=settings)
        self.revision = self.firewall.policy_revision
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def compare(self, call: ToolCall, live: Verdict) -> dict[str, Any] | None:
        """The difference between *live* and the candidate's decision of *call*, or None when they agree."""
        try:
            sv = self.firewall.evaluate_tier1(call)
        except Exception:
            logger.exception("agentgate: shadow policy %s failed on %s", self.revision, call.tool_name)
            self._count("error")
            return None
        if live.tier_used >= 2:
            before = "escalate"
        elif live.would_block:
            before = "block"
        else:
            before = live.action.value
        after = sv.action.value
        rule = sv.policy_name or None
        if before == after and (after == "allow" or (live.policy_name or None) == rule):
            self._count("same")
            return None
        change = f"{before}→{after}" if before != after else "rule"
        self._count(change)
        return {"revision": self.revision, "live": before, "verdict": after, "rule": rule, "change": change}

    def _count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def stats(self) -> dict[str, Any]:
        """Decisions compared, and how many differed per kind (for metrics and health)."""
        with self._lock:
            counts = dict(self._counts)
        same, errors = counts.pop("same", 0), counts.pop("error", 0)
        return {
            "revision": self.revision,
            "source": self.source,
            "compared": same + sum(counts.values()),
            "differences": sum(counts.values()),
            "errors": errors,
            "by_change": dict(sorted(counts.items())),
        }
