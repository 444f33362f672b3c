"""Helpers for testing code protected by AgentGate.

>>> from agentgate.testing import capture_decisions
>>> import agentgate
>>> with capture_decisions() as fw:
...     fw.evaluate(agentgate.ToolCall("read_file", {"path": "reports/q3.csv"})).allowed
True

* `capture_decisions` — a fresh default firewall auditing into memory for the block;
  ``fw.auditor`` holds the records.
* `MemorySink` — the in-memory audit sink (``Firewall(audit=MemorySink())``).
* `StaticJudge` — a tier-2 judge with a fixed answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._firewall import Firewall, set_firewall
from .audit import MemorySink
from .judge import StaticJudge

__all__ = ["MemorySink", "StaticJudge", "capture_decisions"]


@contextmanager
def capture_decisions(**firewall_kwargs: Any) -> Iterator[Firewall]:
    """Install a fresh default firewall that audits to memory; restore the previous one after."""
    firewall_kwargs.setdefault("audit", MemorySink())
    fw = Firewall(**firewall_kwargs)
    prev = set_firewall(fw)
    try:
        yield fw
    finally:
        fw.shutdown(5.0)
        if prev is not None:
            set_firewall(prev)
