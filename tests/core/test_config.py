"""agentgate.yaml loading: every problem at once, with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentgate import ConfigError
from agentgate.policy._config import load_config


def test_misspelt_key_and_wrong_type_are_both_reported_with_lines(tmp_path: Path) -> None:
    """A misspelt key and a wrong type in one file are both listed, each with its line and key path."""
    p = tmp_path / "agentgate.yaml"
    p.write_text("mode: enforce\nagents:\n  reporting_agent:\n    allowed_operation: [read]\n    max_rate: lots\n")
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    problems = {(pr.key, pr.line) for pr in ei.value.problems}
    assert ("agents.reporting_agent.allowed_operation", 4) in problems
    assert ("agents.reporting_agent.max_rate", 5) in problems
    text = str(ei.value)
    assert f"{p}:4" in text and "did you mean 'allowed_operations'" in text
    assert f"{p}:5" in text


def test_missing_file_and_bad_yaml_are_config_errors(tmp_path: Path) -> None:
    """A missing file and unparsable YAML raise ConfigError naming the file (and line)."""
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents:\n  a: [read\n")
    with pytest.raises(ConfigError) as ei:
        load_config(bad)
    assert ei.value.problems[0].file == str(bad) and ei.value.problems[0].line is not None


def test_unknown_tool_kind_and_top_level_key(tmp_path: Path) -> None:
    """Unknown tool kinds and unknown top-level keys are rejected."""
    p = tmp_path / "a.yaml"
    p.write_text("tools:\n  x: {kind: sqll}\nagentz: {}\n")
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    keys = {pr.key for pr in ei.value.problems}
    assert "tools.x.kind" in keys and "agentz" in keys


def test_shorthands_and_revision(tmp_path: Path) -> None:
    """audit/rate_limit/judge shorthands parse; the revision changes with the policy."""
    p = tmp_path / "a.yaml"
    p.write_text(
        "audit: memory://\nrate_limit: 5\njudge: gpt-4o-mini\nagents: {default: {allowed_operations: [read]}}\n"
    )
    c1 = load_config(p)
    assert c1.rate_limit is not None and c1.rate_limit.max_calls == 5
    assert c1.audit is not None and c1.audit.url == "memory://"
    assert c1.judge is not None and c1.judge.model == "gpt-4o-mini"
    p.write_text("agents: {default: {allowed_operations: [read, write]}}\n")
    assert load_config(p).revision() != c1.revision()
