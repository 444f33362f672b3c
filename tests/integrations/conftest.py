"""Fixtures for the integration tests (prefixes: ``oai_``, ``anth_``, ``mcp_`` …)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .servers.llm_server import LLMServer


class AuditTap:
    """The default firewall's audit trail, kept in memory (the real writer and `MemorySink`)."""

    def __init__(self, config: Any = None) -> None:
        from agentgate._firewall import Firewall
        from agentgate.audit import MemorySink

        self.sink = MemorySink()
        self.firewall = Firewall(config, audit=self.sink)

    def records(self) -> list[Any]:
        """Every stored `AuditRecord`, after draining the writer."""
        assert self.firewall.flush(10.0)
        return list(self.sink.records)

    def decisions(self) -> list[tuple[str, str]]:
        """``(tool name, verdict)`` of every audited decision, in order."""
        return [(r.tool_name, r.verdict) for r in self.records()]


@pytest.fixture(scope="session")
def oai_llm_server() -> Iterator[LLMServer]:
    """One scripted OpenAI/Anthropic-protocol server for the whole session (tests reload its script)."""
    server = LLMServer().start()
    yield server
    server.stop()


@pytest.fixture
def oai_audit() -> AuditTap:
    """A fresh default firewall (no config) whose audited decisions the test can read."""
    from agentgate._firewall import set_firewall

    tap = AuditTap()
    set_firewall(tap.firewall)  # the root conftest shuts it down after the test
    return tap
