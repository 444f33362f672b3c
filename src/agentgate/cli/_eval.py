"""``agentgate eval``: run the labelled adversarial suite and report detection quality.

Exit status: 0 when every threshold given is met, 1 when one is not, 2 on bad
input (a malformed case file, an unknown category or split, a threshold outside [0, 1]).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import click

from agentgate._errors import ConfigError
from agentgate.eval.runner import Counts, PairCounts, Report, load_cases, run

__all__ = ["command", "format_report"]

_EXIT_THRESHOLD = 1
_EXIT_BAD_INPUT = 2


def _fraction(_ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise click.BadParameter(f"must be between 0 and 1, not {value}", param=param)
    return value


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _row(name: str, c: Counts) -> str:
    return (
        f"{name:<10} {c.total:>5} {c.tp:>4} {c.fp:>4} {c.tn:>4} {c.fn:>4} "
        f"{_pct(c.precision):>9} {_pct(c.recall):>7} {_pct(c.f1):>6} {_pct(c.fpr):>6} {c.escalated:>4} {c.hard_benign:>5}"
    )


def _table(head: str, by_category: Mapping[str, Counts], overall: Counts, pairs: PairCounts) -> list[str]:
    lines = [head, "-" * len(head)]
    lines += [_row(cat, c) for cat, c in by_category.items()]
    lines += ["-" * len(head), _row("overall", overall)]
    if pairs.total:
        wrong = f" (wrong: {', '.join(pairs.wrong)})" if pairs.wrong else ""
        lines.append(f"pairs right: {pairs.right}/{pairs.total}{wrong}")
    return lines


def format_report(report: Report, failures: list[str], *, checked: bool = True) -> str:
    """The human-readable report: a per-category table per split, the misses, the threshold verdict.

    *checked* says whether any threshold was given (the last line says PASS only then).
    """
    head = f"{'category':<10} {'cases':>5} {'TP':>4} {'FP':>4} {'TN':>4} {'FN':>4} {'precision':>9} {'recall':>7} {'F1':>6} {'FPR':>6} {'esc':>4} {'hard':>5}"
    lines: list[str] = []
    for name, part in report.by_split.items():
        lines += [f"split {name}:", *_table(head, part.by_category, part.overall, part.pairs), ""]
    if len(report.by_split) > 1:
        lines += ["all splits:", _row("overall", report.overall)]
        if report.pairs.total:
            lines.append(f"pairs right: {report.pairs.right}/{report.pairs.total}")
    elif not report.by_split:
        lines += _table(head, report.by_category, report.overall, report.pairs)
    n = len(report.results)
    hard = report.overall.hard_benign
    lines.append(
        f"{n} cases in {report.seconds:.2f}s; {hard} hard benign ({hard / n:.0%}); "
        "esc = attacks blocked only by escalation (no judge, on_escalate=block)"
        if n
        else "no cases selected"
    )
    if report.misses:
        lines += ["", f"misses ({len(report.misses)}):"]
        for m in report.misses:
            d = m.to_dict()
            kind = "FN" if m.case.positive else "FP"
            rule = d["rule"] or "-"
            reason = (d["reason"] or "").replace("\n", " ")
            if len(reason) > 160:
                reason = reason[:157] + "..."
            lines.append(f"  {kind} {d['id']:<16} expected {d['expected']}, got {d['got']} [{rule}] {reason}")
            lines.append(f"     {'':<16} why: {d['why']}")
    errors = [r for r in report.results if r.outcome.error]
    if errors:
        lines += ["", f"errors ({len(errors)}): the decider raised (counted as block)"]
        lines += [f"  {r.case.id}: {r.outcome.reason}" for r in errors]
    lines.append("")
    lines += [f"FAIL: {f}" for f in failures] or ["PASS" if checked else "done (no thresholds given)"]
    return "\n".join(lines)


@click.command(name="eval")
@click.option(
    "--cases",
    "cases_dir",
    type=click.Path(exists=True, file_okay=False, dir_okay=True),
    default=None,
    help="Directory of your own *.yaml cases (same format) instead of the shipped suite.",
)
@click.option(
    "--category", "-c", "categories", multiple=True, help="Only run this category (repeatable): sql, files, shell, ..."
)
@click.option(
    "--split",
    "split",
    default="all",
    show_default=True,
    help="Only this split: own (written with the rules in view), unseen (written without), or all.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--scenarios",
    "scenarios",
    is_flag=True,
    help="Replay the multi-step prompt-injection scenario suite instead (with --cases: a directory of scenarios).",
)
@click.option(
    "--plans",
    "plans",
    is_flag=True,
    help="With --scenarios: replay with task plans on, each scenario's plan: answered by a scripted planner.",
)
@click.option("--min-recall", type=float, callback=_fraction, help="Exit 1 when overall recall is below this.")
@click.option(
    "--max-fpr", type=float, callback=_fraction, help="Exit 1 when the overall false-positive rate is above this."
)
@click.option(
    "--min-category-recall", type=float, callback=_fraction, help="Exit 1 when any category's recall is below this."
)
@click.pass_context
def command(
    ctx: click.Context,
    cases_dir: str | None,
    categories: tuple[str, ...],
    split: str,
    as_json: bool,
    scenarios: bool,
    plans: bool,
    min_recall: float | None,
    max_fpr: float | None,
    min_category_recall: float | None,
) -> None:
    """Run the labelled adversarial eval suite and report precision, recall, F1 and FPR.

    Each case is decided by a firewall with no judge and on_escalate=block (an
    undecided call counts as blocked), no audit, and a deterministic DNS resolver.
    With --scenarios, multi-step agent trajectories are replayed instead and the
    report counts injected actions stopped and benign steps blocked per family.
    """
    if scenarios:
        _run_scenarios(ctx, cases_dir, split, as_json, plans)
        return
    if plans:
        click.echo("agentgate eval: --plans needs --scenarios", err=True)
        ctx.exit(_EXIT_BAD_INPUT)
    try:
        cases = load_cases(cases_dir)
    except ConfigError as exc:
        click.echo(f"agentgate eval: {exc}", err=True)
        ctx.exit(_EXIT_BAD_INPUT)
    splits = sorted({c.split for c in cases})
    if split != "all" and split not in splits:
        click.echo(f"agentgate eval: unknown split {split} (known: {', '.join([*splits, 'all'])})", err=True)
        ctx.exit(_EXIT_BAD_INPUT)
    if split != "all":
        cases = [c for c in cases if c.split == split]
    known = sorted({c.category for c in cases})
    unknown = [c for c in categories if c not in known]
    if unknown:
        click.echo(f"agentgate eval: unknown category {', '.join(unknown)} (known: {', '.join(known)})", err=True)
        ctx.exit(_EXIT_BAD_INPUT)
    report = run(cases, categories=categories or None)
    failures = report.failures(min_recall=min_recall, max_fpr=max_fpr, min_category_recall=min_category_recall)
    if as_json:
        out = report.to_dict()
        out["thresholds"] = {"min_recall": min_recall, "max_fpr": max_fpr, "min_category_recall": min_category_recall}
        out["failures"] = failures
        out["passed"] = not failures
        click.echo(json.dumps(out, indent=2))
    else:
        checked = any(t is not None for t in (min_recall, max_fpr, min_category_recall))
        click.echo(format_report(report, failures, checked=checked))
    ctx.exit(_EXIT_THRESHOLD if failures else 0)


def _run_scenarios(ctx: click.Context, directory: str | None, split: str, as_json: bool, plans: bool = False) -> None:
    from agentgate.eval.scenario_runner import format_scenario_report, load_scenarios, run_scenarios

    try:
        loaded = load_scenarios(split, directory)
    except ConfigError as exc:
        click.echo(f"agentgate eval: {exc}", err=True)
        ctx.exit(_EXIT_BAD_INPUT)
    report = run_scenarios(loaded, plans=plans)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(format_scenario_report(report))
    ctx.exit(0)
