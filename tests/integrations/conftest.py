"""Fixtures for the integration tests (prefixes: ``oai_``, ``anth_``, ``mcp_`` …)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .servers.llm_server import LLMServer


class AuditTap:
    """Stands in for the firewall's auditor and keeps every record it is handed."""

    def __init__(self) -> None:
        self.records: list[tuple[Any, Any]] = []

    def record(self, call: Any, verdict: Any, agent: Any) -> None:
        self.records.append((call, verdict))

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def shutdown(self, timeout: float | None = None) -> None:
        return None

    def decisions(self) -> list[tuple[str, str]]:
        """``(tool name, verdict)`` of every recorded decision, in order."""
        return [(c.tool_name, v.action.value) for c, v in self.records]


@pytest.fixture(scope="session")
def oai_llm_server() -> Iterator[LLMServer]:
    """One scripted OpenAI/Anthropic-protocol server for the whole session (tests reload its script)."""
    server = LLMServer().start()
    yield server
    server.stop()


@pytest.fixture
def oai_audit() -> AuditTap:
    """A fresh default firewall (no config) whose audited decisions the test can read."""
    from agentgate._firewall import Firewall, set_firewall

    fw = Firewall(audit="none")
    tap = AuditTap()
    fw.auditor = tap
    set_firewall(fw)  # the root conftest drops it after the test
    return tap
