"""protect_all() states its configuration: no silent "no judge", no silent policy swap."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import agentgate
from agentgate import ConfigError, FirewallBlockedError, scope


@pytest.fixture(autouse=True)
def _unprotect() -> object:
    yield None
    agentgate.unprotect_all()


def test_judge_model_without_a_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """judge_model= with no key or base URL anywhere fails at start instead of running without a judge."""
    with pytest.raises(ConfigError, match="no API key"):
        agentgate.protect_all(judge_model="gpt-4o-mini", audit="none", frameworks=[])
    monkeypatch.setenv("AGENTGATE_JUDGE_MODEL", "gpt-4o-mini")
    with pytest.raises(ConfigError, match="gpt-4o-mini"):
        agentgate.protect_all(audit="none", frameworks=[])


def test_judge_model_with_a_key_or_url_builds_the_judge() -> None:
    """The benign twin: a model with a key (or a local base URL) gives a judge."""
    agentgate.protect_all(judge_model="gpt-4o-mini", judge_api_key="k", audit="none", frameworks=[])
    assert agentgate.get_firewall().judge is not None
    agentgate.protect_all(judge_model="local", judge_base_url="http://127.0.0.1:9/v1", audit="none", frameworks=[])
    assert agentgate.get_firewall().judge is not None


def test_no_judge_requested_means_no_judge() -> None:
    """Without a model, key or URL there is no judge and no error (on_escalate decides)."""
    agentgate.protect_all(audit="none", frameworks=[])
    assert agentgate.get_firewall().judge is None


def test_second_protect_all_without_config_keeps_the_loaded_policy(tmp_path: Path) -> None:
    """A later protect_all() with no config keeps the first one's policy, not the permissive default."""
    cfg = tmp_path / "agentgate.yaml"
    cfg.write_text("agents:\n  default:\n    allowed_operations: [read]\n")
    agentgate.protect_all(cfg, audit="none", frameworks=[])
    revision = agentgate.get_firewall().policy_revision
    agentgate.protect_all(audit="none", frameworks=[])
    assert agentgate.get_firewall().policy_revision == revision

    @agentgate.guard
    def delete_file(path: str) -> None:
        return None

    with pytest.raises(FirewallBlockedError):
        delete_file("/tmp/x")


def test_second_protect_all_with_another_config_replaces_and_logs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A different config replaces the policy explicitly: logged at WARNING with both revisions."""
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("agents:\n  default:\n    allowed_operations: [read]\n")
    b.write_text("agents:\n  default:\n    allowed_operations: [read, delete]\n")
    agentgate.protect_all(a, audit="none", frameworks=[])
    old = agentgate.get_firewall().policy_revision
    with caplog.at_level(logging.INFO, logger="agentgate"):
        agentgate.protect_all(b, audit="none", frameworks=[])
    new = agentgate.get_firewall().policy_revision
    assert old != new
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"policy {old} -> {new}" in m for m in warnings), warnings
    with scope():
        pass  # the new policy is the one in force
    assert agentgate.get_firewall().policy["default"].allowed_operations == ("read", "delete")
