"""agentgate test: policy test files, exit codes like opa test, --json, errors with file:line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentgate import ConfigError
from agentgate.policy.preview import candidate_firewall, load_policy_tests, run_policy_tests

POLICY = """\
agents:
  default:
    allowed_operations: [read]
  reporting_agent:
    allowed_operations: [read, write]
    allowed_resources: ["reports/**", sales]
tools:
  execute_sql: {kind: sql, resource_arg: query}
"""

TESTS = """\
- name: reads are fine
  tool: read_file
  arguments: {path: reports/q1.txt}
  verdict: allow
- name: drops are blocked
  call: {tool: execute_sql, arguments: {query: DROP TABLE sales}}
  verdict: block
  rule: sql.*
- name: reporting agent writes reports
  tool: write_file
  arguments: {path: reports/q1.txt, content: x}
  agent: reporting_agent
  verdict: allow
- name: a scope narrows the agent
  tool: write_file
  arguments: {path: reports/q1.txt, content: x}
  agent: reporting_agent
  scope: {allowed_operations: [read]}
  verdict: block
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTGATE_CONFIG", raising=False)
    (tmp_path / "agentgate.yaml").write_text(POLICY)
    (tmp_path / "policy-tests").mkdir()
    (tmp_path / "policy-tests" / "basic.yaml").write_text(TESTS)
    return tmp_path


def _run(*args: str) -> tuple[int, str, str]:
    """``agentgate ARGS`` in its own process, as a user or CI runs it (the working directory is the
    project). In-process runs shared the test worker's state with whatever ran before them, and
    failed now and then with an exit status of 1 and no output."""
    env = {k: v for k, v in os.environ.items() if k != "AGENTGATE_CONFIG"}
    r = subprocess.run(
        [sys.executable, "-m", "agentgate.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )
    if "Traceback (most recent call last)" in r.stderr:
        pytest.fail(f"agentgate {' '.join(args)} crashed (exit {r.returncode}):\n{r.stderr}")
    return r.returncode, r.stdout, r.stderr


def test_passing_suite_exits_0(project: Path) -> None:
    """Every test passes: exit 0; -v lists each; the default path and policy are used."""
    code, out, _ = _run("test", "-v")
    assert code == 0, out
    assert out.count("PASS ") == 4 and "PASS: 4/4 passed" in out


def test_a_failing_test_exits_1_and_says_why(project: Path) -> None:
    """A policy change that breaks an expectation: exit 1, the test named with file:line, expected vs got."""
    (project / "loose.yaml").write_text(
        POLICY.replace("allowed_operations: [read]\n  reporting", "allowed_operations: [read, write]\n  reporting")
    )
    (project / "policy-tests" / "more.yaml").write_text(
        "- {name: default may not write, tool: write_file, arguments: {path: a.txt, content: x}, verdict: block}\n"
    )
    code, out, _ = _run("test", "--policy", "loose.yaml")
    assert code == 1
    assert "FAIL default may not write (more.yaml:1)" in out and "expected block, got allow" in out
    assert "4/5 passed" in out
    code, out, _ = _run("test", "--json")
    assert code == 0 and json.loads(out)["passed"] == 5


def test_wrong_rule_fails(project: Path) -> None:
    """The verdict is right but another rule decided: a failure (a test pins the reason too)."""
    (project / "policy-tests" / "rule.yaml").write_text(
        "- {tool: execute_sql, arguments: {query: DROP TABLE sales}, verdict: block, rule: scope.operation}\n"
    )
    code, out, _ = _run("test", "policy-tests/rule.yaml", "--json")
    res = json.loads(out)
    assert code == 1 and res["failed"] == 1
    assert res["results"][0]["got"]["verdict"] == "block" and res["results"][0]["got"]["rule"].startswith("sql.")


def test_parse_errors_exit_2_with_file_line_key(project: Path) -> None:
    """Every problem of a test file, each with file, line and key; nothing runs."""
    (project / "policy-tests" / "bad.yaml").write_text(
        "- tool: read_file\n  verdict: alow\n- tool: x\n  verdict: allow\n  expect: allow\n- just a string\n"
    )
    code, _, err = _run("test")
    assert code == 2
    assert "bad.yaml:2 [verdict]: verdict must be one of allow, block, escalate" in err
    assert "bad.yaml:5 [expect]: unknown key" in err
    assert "bad.yaml:6: a test is a mapping" in err
    with pytest.raises(ConfigError) as e:
        load_policy_tests([project / "policy-tests"])
    assert len(e.value.problems) == 3


def test_usage_errors_exit_2(project: Path) -> None:
    """A missing path, an invalid policy: exit 2 with the reason."""
    code, _, err = _run("test", "nope/")
    assert code == 2 and "no such file" in err
    (project / "broken.yaml").write_text("agents:\n  default: {allowed_operationz: [read]}\n")
    code, _, err = _run("test", "--policy", "broken.yaml")
    assert code == 2 and "broken.yaml:2" in err


def test_api_runs_tests_against_a_config(project: Path) -> None:
    """The Python API: load the tests, build a candidate, run; results say what each got."""
    fw = candidate_firewall(project / "agentgate.yaml")
    results = run_policy_tests(load_policy_tests([project / "policy-tests"]), fw)
    assert [r.passed for r in results] == [True] * 4
    assert results[1].rule is not None and results[1].rule.startswith("sql.")
