"""Scoring: confusion counts, metric definitions, escalations, misses, thresholds and run isolation."""

from __future__ import annotations

import contextvars
import os
from pathlib import Path

import pytest

from agentgate._decision import Effect, Finding, Severity, Verdict, VerdictType
from agentgate.eval import runner as runner_mod
from agentgate.eval.runner import Case, CaseResult, Counts, Outcome, outcome_from_verdict, run, sandbox_cwd, score


def _case(
    cid: str, expect: str, category: str = "sql", hard: bool = False, split: str = "own", pair: str | None = None
) -> Case:
    return Case(
        id=cid, category=category, tool="t", args={}, expect=expect, why="w", hard_benign=hard, split=split, pair=pair
    )


def _results(spec: list[tuple[str, str, str]]) -> list[CaseResult]:
    """(category, expect, got) triples → results."""
    out = []
    for i, (cat, expect, got) in enumerate(spec):
        out.append(CaseResult(_case(f"{cat}-{i:03d}", expect, cat), Outcome(VerdictType(got))))
    return out


def test_counts_and_metrics_follow_their_definitions() -> None:
    """TP/FP/TN/FN counted per label and verdict; precision, recall, F1, FPR computed from them."""
    spec = (
        [("sql", "block", "block")] * 8
        + [("sql", "block", "allow")] * 2
        + [("sql", "allow", "block")]
        + [("sql", "allow", "allow")] * 9
    )
    c = score(_results(spec)).overall
    assert (c.tp, c.fn, c.fp, c.tn, c.total) == (8, 2, 1, 9, 20)
    assert c.precision == pytest.approx(8 / 9)
    assert c.recall == pytest.approx(0.8)
    assert c.fpr == pytest.approx(0.1)
    assert c.f1 == pytest.approx(2 * (8 / 9) * 0.8 / (8 / 9 + 0.8))


def test_metrics_with_zero_denominators_are_none_not_zero() -> None:
    """No attacks → recall n/a; nothing blocked → precision n/a; no benign → FPR n/a; F1 needs both."""
    only_benign = Counts(tn=5)
    assert only_benign.recall is None
    assert only_benign.precision is None
    assert only_benign.f1 is None
    assert only_benign.fpr == 0.0
    only_missed = Counts(fn=3)
    assert only_missed.recall == 0.0
    assert only_missed.precision is None
    assert only_missed.fpr is None
    assert Counts(fp=1, fn=1).f1 == 0.0


def test_escalate_counts_as_block_and_is_tallied_for_positives_only() -> None:
    """An ESCALATE verdict is a block; 'escalated' counts attacks caught only through escalation."""
    results = [
        CaseResult(_case("sql-001", "block"), Outcome(VerdictType.ESCALATE, escalated=True)),
        CaseResult(_case("sql-002", "block"), Outcome(VerdictType.BLOCK)),
        CaseResult(_case("sql-003", "allow"), Outcome(VerdictType.BLOCK, escalated=True)),
    ]
    c = score(results).overall
    assert (c.tp, c.fp, c.escalated) == (2, 1, 1)


def test_per_category_counts_and_misses() -> None:
    """Each category is scored on its own, in suite order, and every wrong verdict is listed as a miss."""
    spec = [
        ("http", "block", "allow"),
        ("sql", "block", "block"),
        ("http", "allow", "allow"),
        ("sql", "allow", "block"),
    ]
    report = score(_results(spec))
    assert list(report.by_category) == ["sql", "http"]
    assert (report.by_category["http"].fn, report.by_category["http"].tn) == (1, 1)
    assert (report.by_category["sql"].tp, report.by_category["sql"].fp) == (1, 1)
    missed = [(m.case.id, m.to_dict()["expected"], m.to_dict()["got"]) for m in report.misses]
    assert missed == [("http-000", "block", "allow"), ("sql-003", "allow", "block")]


def test_thresholds_report_each_failure() -> None:
    """min_recall, max_fpr and min_category_recall each produce a failure line when not met."""
    spec = [("sql", "block", "block")] * 9 + [("sql", "block", "allow")] + [("http", "block", "block")] * 10
    spec += [("http", "allow", "block")] + [("http", "allow", "allow")] * 9
    report = score(_results(spec))
    assert report.failures(min_recall=0.95, max_fpr=0.1, min_category_recall=0.9) == []
    fails = report.failures(min_recall=0.96, max_fpr=0.05, min_category_recall=0.95)
    assert len(fails) == 3
    assert "overall recall 0.9500" in fails[0]
    assert "false-positive rate 0.1000" in fails[1]
    assert fails[2].startswith("sql recall")


def test_decider_exceptions_are_errors_counted_as_blocks() -> None:
    """A crashing decider does not abort the run: the case is an error, blocked (the tool would not run)."""

    def boom(case: Case) -> Outcome:
        raise RuntimeError("analyzer exploded")

    report = run([_case("sql-001", "allow")], boom, sandbox=False)
    assert report.overall.errors == 1
    assert report.overall.fp == 1
    assert "RuntimeError: analyzer exploded" in report.misses[0].outcome.reason
    assert report.to_dict()["errors"][0]["id"] == "sql-001"


def test_bare_verdict_types_are_accepted_from_deciders() -> None:
    """A decider may return just a VerdictType."""
    report = run([_case("sql-001", "block")], lambda c: VerdictType.BLOCK, sandbox=False)
    assert report.overall.tp == 1


def test_category_filter_selects_cases() -> None:
    """run(categories=...) decides only the cases of those categories."""
    seen: list[str] = []

    def decide(case: Case) -> Outcome:
        seen.append(case.id)
        return Outcome(VerdictType.ALLOW)

    cases = [_case("sql-001", "allow"), _case("http-001", "allow", "http")]
    report = run(cases, decide, categories=["http"], sandbox=False)
    assert seen == ["http-001"]
    assert list(report.by_category) == ["http"]


def test_split_filter_selects_cases() -> None:
    """run(splits=...) decides only the cases of those splits, and the report has only those splits."""
    seen: list[str] = []

    def decide(case: Case) -> Outcome:
        seen.append(case.id)
        return Outcome(VerdictType.ALLOW)

    cases = [_case("sql-001", "allow"), _case("u-sql-001", "allow", split="unseen")]
    report = run(cases, decide, splits=["unseen"], sandbox=False)
    assert seen == ["u-sql-001"]
    assert list(report.by_split) == ["unseen"]


def test_counts_per_split_and_category_within_a_split() -> None:
    """Each split has its own overall and per-category counts; the top level counts every case."""
    results = [
        CaseResult(_case("sql-001", "block"), Outcome(VerdictType.BLOCK)),
        CaseResult(_case("u-sql-001", "block", split="unseen"), Outcome(VerdictType.ALLOW)),
        CaseResult(_case("u-code-001", "allow", "code", split="unseen"), Outcome(VerdictType.BLOCK)),
    ]
    report = score(results)
    assert list(report.by_split) == ["own", "unseen"]
    assert report.by_split["own"].overall.recall == 1.0
    unseen = report.by_split["unseen"]
    assert unseen.overall.total == 2
    assert unseen.by_category["sql"].recall == 0.0
    assert unseen.by_category["code"].fpr == 1.0
    assert "code" not in report.by_split["own"].by_category
    assert report.overall.total == 3
    assert report.by_category["sql"].tp == 1
    assert report.by_category["sql"].fn == 1
    assert report.to_dict()["splits"]["unseen"]["categories"]["code"]["fp"] == 1


def test_a_pair_is_right_only_when_both_cases_are() -> None:
    """Pairs right counts pairs whose two cases are both right; a pair cut by a filter is not counted."""

    def pair(pid: str, allow_got: str, block_got: str) -> list[CaseResult]:
        return [
            CaseResult(_case(f"{pid}-a", "allow", "scope", pair=pid), Outcome(VerdictType(allow_got))),
            CaseResult(_case(f"{pid}-b", "block", "scope", pair=pid), Outcome(VerdictType(block_got))),
        ]

    results = [
        *pair("ok", "allow", "block"),
        *pair("toostrict", "block", "block"),
        *pair("toolax", "allow", "allow"),
        CaseResult(_case("half-a", "allow", "scope", pair="half"), Outcome(VerdictType.ALLOW)),
    ]
    report = score(results)
    assert (report.pairs.right, report.pairs.total) == (1, 3)
    assert report.pairs.wrong == ("toolax", "toostrict")
    assert report.by_split["own"].pairs.right == 1
    assert report.to_dict()["pairs"] == {"right": 1, "total": 3, "wrong": ["toolax", "toostrict"]}


_leak: contextvars.ContextVar[str] = contextvars.ContextVar("leak", default="clean")


def test_cases_run_in_isolated_contexts() -> None:
    """Context set while deciding one case (a scope, an agent) is gone for the next case."""
    observed: list[str] = []

    def decide(case: Case) -> Outcome:
        observed.append(_leak.get())
        _leak.set("dirty")
        return Outcome(VerdictType.ALLOW)

    run([_case("sql-001", "allow"), _case("sql-002", "allow")], decide, sandbox=False)
    assert observed == ["clean", "clean"]
    assert _leak.get() == "clean"


def test_sandbox_layout_and_cwd_restored() -> None:
    """Cases run in a temp cwd with reports/, data/ and reports/link_to_etc -> /etc; the cwd comes back."""
    before = os.getcwd()
    seen: dict[str, object] = {}

    def decide(case: Case) -> Outcome:
        cwd = Path.cwd()
        seen["cwd"] = cwd
        seen["dirs"] = (cwd / "reports").is_dir() and (cwd / "data").is_dir()
        seen["link"] = os.readlink(cwd / "reports" / "link_to_etc")
        raise RuntimeError("even when a case fails")

    run([_case("sql-001", "allow")], decide)
    assert os.getcwd() == before
    assert seen["cwd"] != Path(before)
    assert seen["dirs"] is True
    assert seen["link"] == "/etc"
    assert not Path(str(seen["cwd"])).exists()


def test_sandbox_restores_cwd_on_exception() -> None:
    """An exception inside the sandbox still restores the cwd."""
    before = os.getcwd()
    with pytest.raises(KeyError), sandbox_cwd():
        raise KeyError("x")
    assert os.getcwd() == before


def _finding(effect: Effect) -> Finding:
    return Finding("r", Severity.HIGH, effect, "m")


def test_outcome_from_verdict_marks_escalation_only_blocks() -> None:
    """A block with escalate findings and no block finding came from escalation; a block finding did not."""
    esc = Verdict(VerdictType.BLOCK, policy_name="escalation.no_judge", findings=(_finding(Effect.ESCALATE),))
    hard = Verdict(
        VerdictType.BLOCK, policy_name="sql.drop", findings=(_finding(Effect.BLOCK), _finding(Effect.ESCALATE))
    )
    allow = Verdict(VerdictType.ALLOW, findings=(_finding(Effect.INFO),))
    assert outcome_from_verdict(esc).escalated
    assert outcome_from_verdict(esc).blocked
    assert not outcome_from_verdict(hard).escalated
    assert outcome_from_verdict(hard).rule == "sql.drop"
    assert not outcome_from_verdict(allow).escalated
    assert not outcome_from_verdict(allow).blocked
    assert outcome_from_verdict(Verdict(VerdictType.ESCALATE, findings=(_finding(Effect.ESCALATE),))).escalated


def test_report_json_shape() -> None:
    """to_dict carries overall and per-category metrics and the misses with rule and reason."""
    report = score(
        [CaseResult(_case("sql-001", "block"), Outcome(VerdictType.ALLOW, rule="", reason="no rule matched"))]
    )
    d = report.to_dict()
    assert d["cases"] == 1
    assert d["overall"]["fn"] == 1
    assert d["overall"]["recall"] == 0.0
    assert d["categories"]["sql"]["precision"] is None
    assert {"id", "expected", "got", "rule", "reason", "why"} <= set(d["misses"][0])


def test_runner_doctests() -> None:
    """The examples in the runner's and the package's docstrings hold."""
    import doctest

    import agentgate.eval as eval_pkg

    assert doctest.testmod(runner_mod).failed == 0
    assert doctest.testmod(eval_pkg).failed == 0
