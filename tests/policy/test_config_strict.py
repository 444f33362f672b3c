"""Strict config: duplicate keys, bounded loading, unlisted agents refused, every problem at once, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from agentgate import agent_context
from agentgate._call import ToolCall
from agentgate._errors import ConfigError
from agentgate.cli import cli as main
from agentgate.policy._config import load_config
from agentgate.policy._load import MAX_DEPTH

from .conftest import make_fw


def _load(tmp_path: Path, text: str | bytes) -> ConfigError:
    p = tmp_path / "agentgate.yaml"
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    return e.value


def test_duplicate_keys_are_errors_with_both_lines(tmp_path: Path) -> None:
    """A key given twice in one mapping is reported (the second would silently win in plain YAML)."""
    e = _load(tmp_path, "agents:\n  bot:\n    allowed_operations: [read]\n  bot:\n    allowed_operations: [delete]\n")
    assert "duplicate key 'bot' (first on line 2)" in str(e) and e.problems[0].line == 4


def test_merge_keys_are_not_duplicates(tmp_path: Path) -> None:
    """YAML merge keys (<<: *base) may be overridden by explicit keys."""
    p = tmp_path / "agentgate.yaml"
    p.write_text(
        "x-base: &base {allowed_operations: [read], max_rate: 5}\nagents:\n  bot:\n    <<: *base\n    max_rate: 9\n"
    )
    with pytest.raises(ConfigError, match="x-base"):  # unknown top-level key, reported: the merge itself is fine
        load_config(p)


def test_billion_laughs_is_rejected(tmp_path: Path) -> None:
    """Nine levels of ten aliases (10^9 nodes) are rejected after one read, with the line of the alias."""
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, 10):
        refs = ", ".join(f"*a{i - 1}" for _ in range(10))
        lines.append(f"a{i}: &a{i} [{refs}]")
    e = _load(tmp_path, "\n".join(lines) + "\n")
    assert "aliases expand" in str(e) and e.problems[0].line is not None


def test_self_referencing_alias_is_rejected(tmp_path: Path) -> None:
    """An alias to the node that contains it would make a cycle."""
    e = _load(tmp_path, "agents: &a\n  x: *a\n")
    assert "refers to itself" in str(e)


@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting_is_a_config_error_with_a_line(tmp_path: Path, style: str) -> None:
    """Nesting past the limit ends in a ConfigError naming the line, not a RecursionError or a crash."""
    depth = 100_000 if style == "flow" else MAX_DEPTH + 5
    text = (
        "x: " + "[" * depth + "]" * depth + "\n"
        if style == "flow"
        else "".join(f"{' ' * i}k{i}:\n" for i in range(depth)) + " " * depth + "v: 1\n"
    )
    e = _load(tmp_path, text)
    assert "nest" in str(e) and e.problems[0].line is not None


def test_non_utf8_is_a_config_error_with_a_line(tmp_path: Path) -> None:
    """A Latin-1 byte on line 3 is reported as such."""
    e = _load(tmp_path, b"mode: enforce\nagents:\n  caf\xe9: {}\n")
    assert "not UTF-8" in str(e) and e.problems[0].line == 3


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """A misspelt key, a wrong type and an unknown operation in one file: three problems, each with its line."""
    e = _load(
        tmp_path,
        "mode: enforce\nagents:\n  bot:\n    allowed_operation: [read]\n    max_rate: lots\n    deny_operations: [sned]\n",
    )
    lines = sorted(p.line for p in e.problems if p.line)
    assert lines == [4, 5, 6] and "did you mean 'allowed_operations'" in str(e) and "did you mean 'send'" in str(e)


def test_unlisted_agent_is_refused_without_default(tmp_path: Path) -> None:
    """With agents listed and no default, a typo in agent_id (or no id) is refused, not unrestricted."""
    fw = make_fw(tmp_path, "agents:\n  reporting_agent:\n    allowed_operations: [read]\n")
    call = ToolCall("read_file", {"path": "reports/a.csv"})
    with agent_context(agent_id="reporting_agnet"):
        v = fw.evaluate(call)
    assert v.blocked and v.policy_name == "policy.unknown_agent"
    assert fw.evaluate(call).blocked
    with agent_context(agent_id="reporting_agent"):
        assert fw.evaluate(call).allowed


def test_cli_validate_json_schema_and_explain(tmp_path: Path) -> None:
    """validate --json lists problems; schema is JSON Schema; explain names the layer and the rule."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents:\n  a: {allowed_operations: [network]}\n")
    r = CliRunner().invoke(main, ["policy", "validate", "--json", str(bad)])
    doc = json.loads(r.output)
    assert r.exit_code == 1 and doc["valid"] is False and doc["problems"][0]["line"] == 2
    good = tmp_path / "good.yaml"
    good.write_text("agents:\n  payer:\n    arguments:\n      send_payment: {amount: {max: 500}}\n")
    r = CliRunner().invoke(main, ["policy", "validate", "--json", str(good)])
    assert r.exit_code == 0 and json.loads(r.output)["valid"] is True
    r = CliRunner().invoke(main, ["policy", "schema"])
    schema = json.loads(r.output)
    assert "agents" in schema["properties"] and "operations" in schema["properties"]
    assert "in" in json.dumps(schema["$defs"]["ConstraintModel"]["properties"])
    r = CliRunner().invoke(
        main, ["policy", "explain", "send_payment", '{"amount": 900}', "-c", str(good), "--agent", "payer", "--json"]
    )
    out = json.loads(r.output)
    assert r.exit_code == 1 and out["rule"] == "policy.argument" and "agent:payer" in out["reason"]
    assert out["classification"]["operation"] == "transfer" and out["layers"][0]["name"] == "agent:payer"
