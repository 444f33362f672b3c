"""Policy test files: calls and the verdict the policy must give them.

A file is a YAML list (or ``{tests: [...]}``) of tests::

    - name: reports may be read            # optional; default "<file>:<line>"
      tool: execute_sql
      arguments: {query: "SELECT * FROM sales"}
      agent: reporting_agent               # optional: the agent id (selects its policy)
      scope: {allowed_operations: [read]}  # optional: a scope() around the call
      verdict: allow                       # allow | block | escalate (tier 1: what the judge would be asked)
      rule: sql.drop                       # optional: the deciding rule (a glob)

``call: {tool, arguments}`` is accepted for ``tool``/``arguments``. Every problem in a file
(unknown key, missing verdict, bad value) is reported with file, line and key before any
test runs.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..._errors import ConfigError, ConfigProblem
from .._load import decode_config, load_yaml_text
from .._scope import SCOPE_DATA_KEYS

if TYPE_CHECKING:
    from ..._firewall import Firewall

__all__ = ["PolicyTest", "PolicyTestResult", "load_policy_tests", "run_policy_tests"]

VERDICTS = ("allow", "block", "escalate")
_KEYS = {"name", "tool", "arguments", "call", "agent", "scope", "verdict", "rule", "task"}


@dataclass(frozen=True, slots=True)
class PolicyTest:
    """One test: a call, where it comes from, and what the policy must decide."""

    name: str
    file: str
    line: int
    tool: str
    arguments: dict[str, Any]
    verdict: str
    rule: str | None = None
    agent: str = ""
    task: str = ""
    scope: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class PolicyTestResult:
    """The outcome of one test."""

    test: PolicyTest
    passed: bool
    verdict: str
    rule: str | None
    reason: str
    findings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        t = self.test
        return {
            "name": t.name,
            "file": t.file,
            "line": t.line,
            "passed": self.passed,
            "expected": {"verdict": t.verdict, "rule": t.rule},
            "got": {"verdict": self.verdict, "rule": self.rule},
            "reason": self.reason,
        }


def _files(paths: Sequence[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix in (".yaml", ".yml") and q.is_file())
        elif p.exists():
            out.append(p)
        else:
            raise ConfigError([ConfigProblem("no such file or directory", str(p))])
    return out


def load_policy_tests(paths: Sequence[str | Path]) -> list[PolicyTest]:
    """Every test in *paths* (files, or directories searched for *.yaml/*.yml); ConfigError lists every problem."""
    tests: list[PolicyTest] = []
    problems: list[ConfigProblem] = []
    files = _files(paths)
    if not files:
        raise ConfigError([ConfigProblem("no test files (*.yaml, *.yml) found", ", ".join(map(str, paths)))])
    for f in files:
        src = str(f)
        try:
            data, lines = load_yaml_text(decode_config(f.read_bytes(), src), src)
        except ConfigError as e:
            problems += e.problems
            continue
        except OSError as e:
            problems.append(ConfigProblem(f"cannot read: {e.strerror}", src))
            continue
        base: tuple[str | int, ...] = ()
        if isinstance(data, dict) and set(data) == {"tests"}:
            data, base = data["tests"], ("tests",)
        if not isinstance(data, list):
            problems.append(ConfigProblem("a test file is a list of tests (or {tests: [...]})", src, lines.get(())))
            continue
        for i, raw in enumerate(data):
            where = lines.get((*base, i))
            t, errs = _one(raw, src, where, _key_lines(lines, (*base, i), where))
            problems += errs
            if t is not None:
                tests.append(t)
    if problems:
        raise ConfigError(problems)
    return tests


def _key_lines(lines: Mapping[tuple[str | int, ...], int], path: tuple[str | int, ...], default: int | None) -> Any:
    """Line of a key of the test at *path* (the test's own line when the key has none)."""

    def line(key: str) -> int | None:
        return lines.get((*path, key), default)

    return line


def _one(raw: Any, src: str, line: int | None, key_line: Any) -> tuple[PolicyTest | None, list[ConfigProblem]]:
    if not isinstance(raw, dict):
        return None, [ConfigProblem("a test is a mapping (tool, arguments, verdict ...)", src, line)]
    errs = [ConfigProblem("unknown key", src, key_line(k), str(k)) for k in raw if k not in _KEYS]
    call = raw.get("call")
    tool, args = raw.get("tool"), raw.get("arguments", {})
    if call is not None:
        if not isinstance(call, dict) or set(call) - {"tool", "arguments"}:
            errs.append(ConfigProblem("call is {tool, arguments}", src, key_line("call"), "call"))
        else:
            tool, args = call.get("tool", tool), call.get("arguments", args)
    if not isinstance(tool, str) or not tool:
        errs.append(ConfigProblem("a test needs a tool name", src, line, "tool"))
    if not isinstance(args, dict):
        errs.append(ConfigProblem("arguments is a mapping", src, key_line("arguments"), "arguments"))
    verdict = raw.get("verdict")
    if verdict not in VERDICTS:
        errs.append(
            ConfigProblem(
                f"verdict must be one of {', '.join(VERDICTS)} (got {verdict!r})", src, key_line("verdict"), "verdict"
            )
        )
    rule = raw.get("rule")
    if rule is not None and not isinstance(rule, str):
        errs.append(ConfigProblem("rule is a rule id or glob", src, key_line("rule"), "rule"))
    scope = raw.get("scope")
    if scope is not None and (not isinstance(scope, dict) or set(scope) - SCOPE_DATA_KEYS):
        bad = sorted(set(scope) - SCOPE_DATA_KEYS) if isinstance(scope, dict) else []
        errs.append(
            ConfigProblem(
                f"scope takes {', '.join(sorted(SCOPE_DATA_KEYS))}" + (f" (not {bad})" if bad else ""),
                src,
                key_line("scope"),
                "scope",
            )
        )
    for k in ("agent", "task", "name"):
        if raw.get(k) is not None and not isinstance(raw.get(k), str):
            errs.append(ConfigProblem(f"{k} is a string", src, key_line(k), k))
    if errs:
        return None, errs
    return (
        PolicyTest(
            raw.get("name") or f"{Path(src).name}:{line}",
            src,
            line or 0,
            str(tool),
            dict(args),
            str(verdict),
            rule,
            raw.get("agent") or "",
            raw.get("task") or "",
            scope,
        ),
        [],
    )


def run_policy_tests(tests: Iterable[PolicyTest], fw: Firewall) -> list[PolicyTestResult]:
    """Decide each test's call with *fw* at tier 1 (a fresh agent context per test); compare."""
    from ..._call import ToolCall
    from ..._context import agent_context
    from ..._firewall import scope

    out = []
    for t in tests:
        call = ToolCall(t.tool, t.arguments, framework="policy-test")
        try:
            with agent_context(agent_id=t.agent, task=t.task):
                if t.scope is not None:
                    with scope(**t.scope):
                        v = fw.evaluate_tier1(call)
                else:
                    v = fw.evaluate_tier1(call)
        except ConfigError as e:  # a bad scope: a failure of this test, not of the run
            out.append(PolicyTestResult(t, False, "error", None, str(e)))
            continue
        got, rule = v.action.value, v.policy_name or None
        ok = got == t.verdict and (t.rule is None or (rule is not None and fnmatch.fnmatchcase(rule, t.rule)))
        findings = tuple(f.rule_id for f in v.findings if f.effect.value != "info")
        out.append(PolicyTestResult(t, ok, got, rule, v.reasoning, findings))
    return out
