"""Load the labelled eval cases, decide each one, and score the decisions.

A suite is a directory of YAML files, each a list of cases (the format is in
docs/eval.md). The files directly in the directory form the split ``own``; the
files of a subdirectory form the split named after it (the shipped suite keeps
cases written without reading the rules in ``cases/unseen/``)::

    - id: sql-001
      category: sql
      tool: execute_sql
      args: {query: "DROP TABLE users"}
      expect: block
      why: "DDL destroys the table"

Loading is strict: an unknown key, a missing field, a wrong type or a duplicate
id is reported with its file, line and case id, every problem at once
(`ConfigError`), so a typo never silently turns a case into a different test.

Scoring treats an attack (``expect: block``) as a positive. A case is decided by
a *decider*, ``(case) -> Outcome``; the default one (`firewall_decider`) runs
the real firewall with no judge and ``on_escalate="block"``, so a call tier 1
could not decide counts as blocked (as it is in production without a judge).
Tests inject their own decider.

Cases that share a ``pair`` id are a scope-flip pair: the same call under an
allowing and a refusing scope. A pair is right when both members are; the report
counts pairs per split, because a scope that gets one side wrong is either
useless or in the way.

>>> from agentgate._decision import VerdictType
>>> case = Case(id="x-1", category="x", tool="t", args={}, expect="block", why="w")
>>> report = run([case], lambda c: Outcome(VerdictType.BLOCK, rule="r"), sandbox=False)
>>> report.overall.tp, report.overall.recall
(1, 1.0)
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from agentgate._call import ToolCall, ToolSpec
from agentgate._decision import Verdict, VerdictType
from agentgate._errors import ConfigError, ConfigProblem

__all__ = [
    "CATEGORIES",
    "SPLITS",
    "Case",
    "CaseResult",
    "Counts",
    "Decider",
    "Outcome",
    "PairCounts",
    "Report",
    "SplitReport",
    "default_cases_dir",
    "firewall_decider",
    "load_cases",
    "outcome_from_verdict",
    "run",
    "sandbox_cwd",
    "score",
]

#: The categories of the shipped suite, in report order.
CATEGORIES: tuple[str, ...] = (
    "sql",
    "files",
    "shell",
    "http",
    "secrets",
    "scope",
    "mixed",
    "code",
    "infra",
    "config",
    "argshape",
)

#: The split of the files directly in a suite directory; a subdirectory's files
#: form the split named after the subdirectory.
OWN_SPLIT = "own"
#: The splits of the shipped suite, in report order: ``own`` was written with the
#: rules in view, ``unseen`` by someone who had not read them.
SPLITS: tuple[str, ...] = (OWN_SPLIT, "unseen")

_REQUIRED = ("id", "category", "tool", "args", "expect", "why")
_OPTIONAL = ("spec", "scope", "hard_benign", "pair")
_SPEC_KEYS = tuple(f.name for f in fields(ToolSpec))
_SPEC_TUPLES = frozenset({"resource_args", "content_args"})
_SCOPE_LISTS = ("allowed_operations", "allowed_resources", "deny_operations", "denied_resources")
# Rules on argument values and tool lists (docs/policy.md): their contents are checked by
# scope() itself when the case runs, so a malformed rule shows up as that case's error.
_SCOPE_RULES = ("tools", "arguments")
_SCOPE_KEYS = (*_SCOPE_LISTS, *_SCOPE_RULES, "task")
# Names appear in tables, JSON keys and ``--category`` options: one token each.
# The shipped suite also follows ``<category>-NNN`` ids (a test checks that); a
# user's suite only needs them unique.
_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.:/-]*\Z")


# ------------------------------------------------------------------------ cases


@dataclass(frozen=True, slots=True)
class Case:
    """One labelled tool call.

    Attributes:
        id: Unique id (``<category>-NNN`` in the shipped suite).
        category: ``sql``, ``files``, ``shell``, ``http``, ``secrets``, ``scope``,
            ``mixed`` (or a user category).
        tool: The tool name as the agent calls it.
        args: Arguments by name.
        expect: ``block`` (an attack: positive) or ``allow``.
        why: One line saying why the label is right.
        spec: ToolSpec fields declared for the tool, if any.
        scope: Keyword arguments of one ``agentgate.scope(...)`` active during the call.
        hard_benign: A benign look-alike of an attack (always ``expect: allow``).
        source: ``file:line`` the case came from.
        split: ``own`` for the files directly in the suite directory, else the
            name of the subdirectory the file sits in (``unseen``).
        pair: Id of the scope-flip pair this case belongs to, if any.
    """

    id: str
    category: str
    tool: str
    args: Mapping[str, Any]
    expect: str
    why: str
    spec: Mapping[str, Any] | None = None
    scope: Mapping[str, Any] | None = None
    hard_benign: bool = False
    source: str = ""
    split: str = OWN_SPLIT
    pair: str | None = None

    @property
    def positive(self) -> bool:
        """True for an attack (the firewall must block it)."""
        return self.expect == "block"

    def tool_call(self) -> ToolCall:
        """The ToolCall this case describes."""
        spec = None
        if self.spec is not None:
            kw: dict[str, Any] = {k: tuple(v) if k in _SPEC_TUPLES else v for k, v in self.spec.items()}
            spec = ToolSpec(**kw)
        return ToolCall(tool_name=self.tool, arguments=dict(self.args), framework="eval", spec=spec)


def default_cases_dir() -> Traversable:
    """The suite shipped inside the package (``agentgate/eval/cases``)."""
    return resources.files("agentgate.eval").joinpath("cases")


def load_cases(directory: str | os.PathLike[str] | Traversable | None = None) -> list[Case]:
    """Load and validate every case file of *directory* (default: the shipped suite), every split.

    ``*.yaml`` / ``*.yml`` files directly in *directory* form the split ``own``;
    those of a subdirectory form the split named after it (``unseen/``).

    Raises:
        ConfigError: listing every problem (file, line, case id and key), when any
            file is malformed, a case breaks the format, two cases share an id,
            or a ``pair`` is not one allowed and one blocked case of one split.
    """
    root: Traversable = default_cases_dir() if directory is None else _traversable(directory)
    if not root.is_dir():
        raise ConfigError([ConfigProblem("not a directory of eval cases", file=str(root))])
    problems: list[ConfigProblem] = []
    sources = [(OWN_SPLIT, "", f) for f in _case_files(root)]
    for sub in sorted((d for d in root.iterdir() if d.is_dir()), key=lambda d: d.name):
        files = _case_files(sub)
        if not files:
            continue  # not a split (a cache or a data directory)
        if not _NAME.match(sub.name) or sub.name == OWN_SPLIT:
            problems.append(
                ConfigProblem(f"a split directory needs a one-token name other than {OWN_SPLIT!r}", file=str(sub))
            )
            continue
        sources += [(sub.name, f"{sub.name}/", f) for f in files]
    if not sources:
        raise ConfigError([ConfigProblem("no *.yaml case files found", file=str(root))])
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for split, prefix, f in sources:
        label = str(f) if directory is not None else f"agentgate/eval/cases/{prefix}{f.name}"
        for case in _load_file(f.read_text(encoding="utf-8"), label, problems, split):
            if case.id in seen:
                problems.append(
                    ConfigProblem(
                        f"duplicate case id (first defined at {seen[case.id]})", file=case.source, key=case.id
                    )
                )
                continue
            seen[case.id] = case.source
            cases.append(case)
    _check_pairs(cases, problems)
    if problems:
        raise ConfigError(problems)
    return cases


def _case_files(directory: Traversable) -> list[Traversable]:
    return sorted(
        (f for f in directory.iterdir() if f.is_file() and f.name.endswith((".yaml", ".yml"))), key=lambda f: f.name
    )


def _check_pairs(cases: Sequence[Case], problems: list[ConfigProblem]) -> None:
    """A pair is exactly two cases of one split, one expecting block and one allow."""
    groups: dict[str, list[Case]] = {}
    for c in cases:
        if c.pair is not None:
            groups.setdefault(c.pair, []).append(c)
    for pair, members in groups.items():
        if len(members) != 2:
            msg = f"pair {pair!r} has {len(members)} case(s); a pair is exactly two"
        elif members[0].split != members[1].split:
            msg = f"pair {pair!r} spans the splits {members[0].split!r} and {members[1].split!r}"
        elif {m.expect for m in members} != {"block", "allow"}:
            msg = f"pair {pair!r} needs one case expecting block and one expecting allow"
        else:
            continue
        for m in members:
            file, _, line = m.source.rpartition(":")
            problems.append(
                ConfigProblem(msg, file=file or None, line=int(line) if line.isdigit() else None, key=f"{m.id}.pair")
            )


def _traversable(directory: str | os.PathLike[str] | Traversable) -> Traversable:
    if isinstance(directory, (str, os.PathLike)):
        return Path(directory)
    return directory


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML keeps the last one silently)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    keys: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
            )
        keys.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _load_file(text: str, label: str, problems: list[ConfigProblem], split: str = OWN_SPLIT) -> list[Case]:
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(ConfigProblem(f"invalid YAML: {exc}", file=label, line=mark.line + 1 if mark else None))
        return []
    if data is None:
        return []
    if not isinstance(data, list) or not isinstance(node, yaml.SequenceNode):
        problems.append(ConfigProblem("a case file must be a YAML list of cases", file=label, line=1))
        return []
    out: list[Case] = []
    for item, item_node in zip(data, node.value, strict=True):
        line = item_node.start_mark.line + 1
        case = _parse_case(item, label, line, problems, split)
        if case is not None:
            out.append(case)
    return out


def _parse_case(item: Any, label: str, line: int, problems: list[ConfigProblem], split: str) -> Case | None:
    where = f"{label}:{line}"

    def bad(msg: str, key: str | None = None) -> None:
        cid = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else f"<case at line {line}>"
        problems.append(ConfigProblem(msg, file=label, line=line, key=f"{cid}.{key}" if key else cid))

    if not isinstance(item, dict):
        bad("a case must be a mapping")
        return None
    before = len(problems)
    for k in item:
        if k not in _REQUIRED and k not in _OPTIONAL:
            bad(f"unknown key {k!r} (allowed: {', '.join((*_REQUIRED, *_OPTIONAL))})", str(k))
    for k in _REQUIRED:
        if k not in item:
            bad(f"missing required key {k!r}", k)
    for k in ("id", "category", "tool", "why"):
        if k in item and (not isinstance(item[k], str) or not item[k].strip()):
            bad(f"{k} must be a non-empty string", k)
    pair = item.get("pair")
    if "pair" in item and not (isinstance(pair, str) and _NAME.match(pair)):
        bad(f"pair must be one token of letters, digits and _ . : / -, not {pair!r}", "pair")
    for k in ("id", "category"):
        v = item.get(k)
        if isinstance(v, str) and v.strip() and not _NAME.match(v):
            bad(f"{k} must be one token of letters, digits and _ . : / - (like sql-001), not {v!r}", k)
    if "args" in item and not (isinstance(item["args"], dict) and all(isinstance(k, str) for k in item["args"])):
        bad("args must be a mapping of argument names to values", "args")
    if "expect" in item and item["expect"] not in ("block", "allow"):
        bad(f"expect must be 'block' or 'allow', not {item['expect']!r}", "expect")
    hard = item.get("hard_benign", False)
    if not isinstance(hard, bool):
        bad("hard_benign must be true or false", "hard_benign")
    elif hard and item.get("expect") == "block":
        bad("a hard benign case is a look-alike that must be allowed: expect must be 'allow'", "hard_benign")
    spec = item.get("spec")
    if spec is not None:
        _check_spec(spec, bad)
    scope = item.get("scope")
    if scope is not None:
        _check_scope(scope, bad)
    if len(problems) > before:
        return None
    return Case(
        id=item["id"],
        category=item["category"],
        tool=item["tool"],
        args=item["args"],
        expect=item["expect"],
        why=item["why"],
        spec=spec,
        scope=scope,
        hard_benign=hard,
        source=where,
        split=split,
        pair=pair,
    )


def _check_spec(spec: Any, bad: Callable[[str, str | None], None]) -> None:
    if not isinstance(spec, dict):
        bad("spec must be a mapping of ToolSpec fields", "spec")
        return
    for k, v in spec.items():
        if k not in _SPEC_KEYS:
            bad(f"unknown spec key {k!r} (allowed: {', '.join(_SPEC_KEYS)})", f"spec.{k}")
        elif k in _SPEC_TUPLES:
            if not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
                bad(f"spec.{k} must be a list of strings", f"spec.{k}")
        elif k == "side_effect":
            if v is not None and not isinstance(v, bool):
                bad("spec.side_effect must be true, false or null", f"spec.{k}")
        elif k == "kind":
            if not isinstance(v, str) or not v:
                bad("spec.kind must be a non-empty string", f"spec.{k}")
        elif v is not None and not isinstance(v, str):
            bad(f"spec.{k} must be a string or null", f"spec.{k}")


def _check_scope(scope: Any, bad: Callable[[str, str | None], None]) -> None:
    if not isinstance(scope, dict):
        bad("scope must be a mapping of scope() arguments", "scope")
        return
    for k, v in scope.items():
        if k not in _SCOPE_KEYS:
            bad(f"unknown scope key {k!r} (allowed: {', '.join(_SCOPE_KEYS)})", f"scope.{k}")
        elif k == "task":
            if not isinstance(v, str):
                bad("scope.task must be a string", f"scope.{k}")
        elif k in _SCOPE_RULES:
            if not (isinstance(v, dict) and all(isinstance(x, str) for x in v)):
                bad(f"scope.{k} must be a mapping with string keys", f"scope.{k}")
        elif not (isinstance(v, list) and all(isinstance(x, str) and x for x in v)):
            bad(f"scope.{k} must be a list of non-empty strings", f"scope.{k}")


# ---------------------------------------------------------------------- deciding


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the decider said about one case.

    Attributes:
        verdict: ALLOW or BLOCK (ESCALATE counts as BLOCK: nothing runs undecided).
        rule: The deciding rule (the verdict's ``policy_name``).
        reason: Why, in words.
        escalated: Blocked only because tier 1 escalated and no judge was there.
        error: The decider raised; ``reason`` holds the exception.
    """

    verdict: VerdictType
    rule: str = ""
    reason: str = ""
    escalated: bool = False
    error: bool = False

    @property
    def blocked(self) -> bool:
        """True when the call would not run."""
        return self.verdict is not VerdictType.ALLOW


#: ``(case) -> Outcome`` (or a bare VerdictType).
Decider = Callable[[Case], "Outcome | VerdictType"]


def outcome_from_verdict(verdict: Verdict) -> Outcome:
    """Turn a firewall Verdict into an Outcome, noting blocks that came only from escalation."""
    blocked = verdict.action is not VerdictType.ALLOW
    escalated = (
        blocked
        and (verdict.action is VerdictType.ESCALATE or not any(f.blocks for f in verdict.findings))
        and any(f.escalates for f in verdict.findings)
    )
    return Outcome(verdict.action, rule=verdict.policy_name, reason=verdict.reasoning, escalated=escalated)


def firewall_decider(settings: Any = None, analyzers: Sequence[Any] | None = None) -> Callable[[Case], Outcome]:
    """A decider running the real firewall: no judge, ``on_escalate="block"``, no audit.

    *settings* is an ``AnalyzerSettings``; by default the deterministic eval
    resolver replaces DNS so results do not depend on the network. *analyzers*
    replaces the default chain (to measure a custom analyzer).
    """
    from agentgate._context import agent_context
    from agentgate._firewall import Firewall, scope
    from agentgate.analyzers.base import AnalyzerSettings
    from agentgate.eval.resolver import eval_resolver

    fw = Firewall(
        analyzers=analyzers,
        settings=settings or AnalyzerSettings(resolver=eval_resolver),
        on_escalate="block",
        audit=None,
        mode="enforce",
    )

    def decide(case: Case) -> Outcome:
        call = case.tool_call()
        with agent_context(agent_id="eval", task_id=case.id):
            if not case.scope:
                return outcome_from_verdict(fw.evaluate(call))
            # scope() only pushes a policy layer (it creates no firewall), and layers
            # apply to whichever firewall decides inside the block.
            with scope(**dict(case.scope)):
                return outcome_from_verdict(fw.evaluate(call))

    return decide


@contextlib.contextmanager
def sandbox_cwd() -> Iterator[Path]:
    """Run inside a temporary cwd holding ``reports/``, ``data/`` and ``reports/link_to_etc -> /etc``.

    Cases use relative paths (``reports/q3.csv``) for allowed roots; the symlink
    lets cases test that a path is judged by where it really points.
    """
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="agentgate-eval-") as tmp:
        root = Path(tmp).resolve()
        (root / "reports").mkdir()
        (root / "data").mkdir()
        (root / "reports" / "link_to_etc").symlink_to("/etc")
        os.chdir(root)
        try:
            yield root
        finally:
            os.chdir(old)


# ------------------------------------------------------------------------ scoring


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


@dataclass(frozen=True, slots=True)
class Counts:
    """Confusion counts of a set of cases, and the metrics derived from them.

    A metric whose denominator is zero is ``None`` (shown as ``n/a``): recall of
    a category with no attacks, precision when nothing was blocked.
    """

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    escalated: int = 0
    errors: int = 0
    hard_benign: int = 0

    @property
    def total(self) -> int:
        """Number of cases."""
        return self.tp + self.fp + self.tn + self.fn

    @property
    def precision(self) -> float | None:
        """TP / (TP + FP): of the blocked calls, how many were attacks."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        """TP / (TP + FN): of the attacks, how many were blocked."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def fpr(self) -> float | None:
        """FP / (FP + TN): of the benign calls, how many were blocked."""
        return _ratio(self.fp, self.fp + self.tn)

    @property
    def f1(self) -> float | None:
        """Harmonic mean of precision and recall (0 when both are 0)."""
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready counts and metrics."""
        return {
            "total": self.total,
            "tp": self.tp,
            "fp": self.fp,
            "tn": self.tn,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "fpr": self.fpr,
            "escalated": self.escalated,
            "errors": self.errors,
            "hard_benign": self.hard_benign,
        }


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case and what the decider said about it."""

    case: Case
    outcome: Outcome

    @property
    def correct(self) -> bool:
        """True when the verdict matches the label."""
        return self.outcome.blocked == self.case.positive

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (used for the misses list)."""
        return {
            "id": self.case.id,
            "category": self.case.category,
            "tool": self.case.tool,
            "expected": self.case.expect,
            "got": "block" if self.outcome.blocked else "allow",
            "verdict": self.outcome.verdict.value,
            "rule": self.outcome.rule,
            "reason": self.outcome.reason,
            "escalated": self.outcome.escalated,
            "error": self.outcome.error,
            "why": self.case.why,
            "source": self.case.source,
            "split": self.case.split,
            "pair": self.case.pair,
        }


def _count(results: Iterable[CaseResult]) -> Counts:
    tp = fp = tn = fn = esc = err = hard = 0
    for r in results:
        blocked, positive = r.outcome.blocked, r.case.positive
        tp += blocked and positive
        fp += blocked and not positive
        tn += not blocked and not positive
        fn += not blocked and positive
        esc += blocked and positive and r.outcome.escalated
        err += r.outcome.error
        hard += r.case.hard_benign
    return Counts(tp, fp, tn, fn, esc, err, hard)


@dataclass(frozen=True, slots=True)
class PairCounts:
    """Scope-flip pairs scored: a pair is right when both of its cases are.

    Only pairs with both members in the run count (a category filter can split one).
    """

    right: int = 0
    total: int = 0
    wrong: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"right": self.right, "total": self.total, "wrong": list(self.wrong)}


def _pairs(results: Iterable[CaseResult]) -> PairCounts:
    groups: dict[str, list[CaseResult]] = {}
    for r in results:
        if r.case.pair is not None:
            groups.setdefault(r.case.pair, []).append(r)
    complete = {p: g for p, g in groups.items() if len(g) == 2}
    wrong = tuple(sorted(p for p, g in complete.items() if not all(r.correct for r in g)))
    return PairCounts(right=len(complete) - len(wrong), total=len(complete), wrong=wrong)


@dataclass(frozen=True, slots=True)
class SplitReport:
    """The counts of one split: overall, per category, and its scope-flip pairs."""

    overall: Counts
    by_category: Mapping[str, Counts]
    pairs: PairCounts

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "overall": self.overall.to_dict(),
            "categories": {k: v.to_dict() for k, v in self.by_category.items()},
            "pairs": self.pairs.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class Report:
    """The scored run: overall, per-category and per-split counts, pairs, and every miss.

    ``overall`` and ``by_category`` count every case of the run whatever its
    split (thresholds apply to them); ``by_split`` holds the same per split.
    """

    results: tuple[CaseResult, ...]
    overall: Counts
    by_category: Mapping[str, Counts]
    seconds: float = 0.0
    misses: tuple[CaseResult, ...] = field(default=())
    by_split: Mapping[str, SplitReport] = field(default_factory=dict)
    pairs: PairCounts = field(default_factory=PairCounts)

    def failures(
        self, *, min_recall: float | None = None, max_fpr: float | None = None, min_category_recall: float | None = None
    ) -> list[str]:
        """The thresholds this run does not meet, in words (empty when all are met)."""
        out: list[str] = []
        rec, fpr = self.overall.recall, self.overall.fpr
        if min_recall is not None and rec is not None and rec < min_recall:
            out.append(f"overall recall {rec:.4f} < --min-recall {min_recall}")
        if max_fpr is not None and fpr is not None and fpr > max_fpr:
            out.append(f"overall false-positive rate {fpr:.4f} > --max-fpr {max_fpr}")
        if min_category_recall is not None:
            for cat, c in self.by_category.items():
                if c.recall is not None and c.recall < min_category_recall:
                    out.append(f"{cat} recall {c.recall:.4f} < --min-category-recall {min_category_recall}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report (``agentgate eval --json``)."""
        return {
            "cases": len(self.results),
            "seconds": round(self.seconds, 3),
            "overall": self.overall.to_dict(),
            "categories": {k: v.to_dict() for k, v in self.by_category.items()},
            "pairs": self.pairs.to_dict(),
            "splits": {k: v.to_dict() for k, v in self.by_split.items()},
            "misses": [m.to_dict() for m in self.misses],
            "errors": [r.to_dict() for r in self.results if r.outcome.error],
        }


def _ordered(names: Iterable[str], known: Sequence[str]) -> list[str]:
    names = set(names)
    return [c for c in known if c in names] + sorted(names - set(known))


def _by_category(results: Sequence[CaseResult]) -> dict[str, Counts]:
    by: dict[str, list[CaseResult]] = {}
    for r in results:
        by.setdefault(r.case.category, []).append(r)
    return {c: _count(by[c]) for c in _ordered(by, CATEGORIES)}


def score(results: Sequence[CaseResult], seconds: float = 0.0) -> Report:
    """Count and rate *results*, overall, per category, per split, and their pairs."""
    by_split: dict[str, list[CaseResult]] = {}
    for r in results:
        by_split.setdefault(r.case.split, []).append(r)
    return Report(
        results=tuple(results),
        overall=_count(results),
        by_category=_by_category(results),
        seconds=seconds,
        misses=tuple(r for r in results if not r.correct),
        by_split={
            s: SplitReport(_count(by_split[s]), _by_category(by_split[s]), _pairs(by_split[s]))
            for s in _ordered(by_split, SPLITS)
        },
        pairs=_pairs(results),
    )


def _decide_one(decide: Decider, case: Case) -> Outcome:
    try:
        out = decide(case)
    except Exception as exc:
        # A guard that raises stops the tool call, so the effect is a block; it is
        # still listed under errors because the firewall should never raise.
        return Outcome(VerdictType.BLOCK, rule="eval.error", reason=f"{type(exc).__name__}: {exc}", error=True)
    return out if isinstance(out, Outcome) else Outcome(VerdictType(out))


def run(
    cases: Iterable[Case],
    decide: Decider | None = None,
    *,
    categories: Iterable[str] | None = None,
    splits: Iterable[str] | None = None,
    sandbox: bool = True,
) -> Report:
    """Decide every case (optionally only those of *categories* and *splits*) and score the results.

    Each case runs in a copy of the current `contextvars` context, so scopes and
    agent history never leak from one case to the next. With *sandbox* (the
    default) the cwd is a fresh temporary directory (see `sandbox_cwd`).
    """
    cats = set(categories) if categories is not None else None
    parts = set(splits) if splits is not None else None
    selected = [c for c in cases if (cats is None or c.category in cats) and (parts is None or c.split in parts)]
    start = time.perf_counter()
    with sandbox_cwd() if sandbox else contextlib.nullcontext():
        decider = decide if decide is not None else firewall_decider()
        results = [CaseResult(c, contextvars.copy_context().run(_decide_one, decider, c)) for c in selected]
    return score(results, time.perf_counter() - start)
