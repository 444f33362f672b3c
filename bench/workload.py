"""Benchmark workloads that run unchanged on agentgate and agentgate-py 0.1.0.

Run by bench/run.py in each virtualenv; prints one JSON object on stdout. Only the
seed API both share is used (guard, scope). Each figure is the per-call overhead
distribution: the time of a guarded call minus the median time of the same plain
call, measured over many single calls (perf_counter_ns), after a warm-up.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

N = int(os.environ.get("BENCH_N", "20000"))
WARMUP = 2000


def _timings(fn: Callable[[], Any], n: int) -> list[int]:
    for _ in range(WARMUP):
        fn()
    out = []
    pc = time.perf_counter_ns
    for _ in range(n):
        t0 = pc()
        fn()
        out.append(pc() - t0)
    return out


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def _summary(ns: list[int], base_ns: float) -> dict[str, float]:
    over = [(x - base_ns) / 1000 for x in ns]
    return {
        "p50_us": round(_pct(over, 0.50), 2),
        "p99_us": round(_pct(over, 0.99), 2),
        "mean_us": round(statistics.fmean(over), 2),
    }


def main() -> None:
    import agentgate

    if hasattr(agentgate, "protect_all"):
        kwargs: dict[str, Any] = {}
        if getattr(agentgate, "__version__", "0.1.0") != "0.1.0":
            kwargs = {
                "audit": os.environ.get(
                    "BENCH_AUDIT", "sqlite:///" + os.path.join(os.environ.get("BENCH_TMP", "/tmp"), "bench-audit.db")
                ),
                "frameworks": [],
            }
        else:
            # 0.1.0 limits every agent to 100 calls/min by default; lift it so the loop measures the guard.
            kwargs = {"log_to_supabase": False, "rate_limit": 10**9}
        import logging

        logging.getLogger("agentgate").setLevel(logging.ERROR)
        agentgate.protect_all(**kwargs)
        logging.getLogger("agentgate").setLevel(logging.ERROR)

    def get_item(item_id: str) -> str:
        return item_id

    guarded = agentgate.guard(get_item)
    base = statistics.median(_timings(lambda: get_item("sku-123"), N))
    res: dict[str, Any] = {"version": getattr(agentgate, "__version__", "?"), "n": N, "plain_ns": base}
    res["guard"] = _summary(_timings(lambda: guarded("sku-123"), N), base)
    with agentgate.scope(
        task="look up catalogue items", allowed_resources=["sku-*", "catalogue"], allowed_operations=["read"]
    ):
        res["guard_scope"] = _summary(_timings(lambda: guarded("sku-123"), N), base)

    if getattr(agentgate, "__version__", "0.1.0") != "0.1.0":
        _policy_rows(agentgate, base, res)

    # Tier-1 workloads: one realistic call per analyzer (resolution cached / not needed).
    calls: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {}

    def run_query(query: str) -> str:
        return "ok"

    def read_file(path: str) -> str:
        return "ok"

    def fetch_url(url: str) -> str:
        return "ok"

    def run_shell(command: str) -> str:
        return "ok"

    calls["sql"] = (
        agentgate.guard(run_query),
        (
            "SELECT c.name, SUM(o.total) FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.created_at > '2026-01-01' GROUP BY c.name ORDER BY 2 DESC LIMIT 20",
        ),
    )
    calls["file"] = (agentgate.guard(read_file), ("reports/2026/q3-summary.csv",))
    calls["http"] = (agentgate.guard(fetch_url), ("http://93.184.216.34/api/v1/items?page=2",))
    calls["shell"] = (agentgate.guard(run_shell), ("git log --oneline -n 20 | grep fix | wc -l",))
    n_small = max(2000, N // 5)
    for name, (fn, args) in calls.items():

        def call(fn: Callable[..., Any] = fn, args: tuple[Any, ...] = args) -> None:
            with contextlib.suppress(Exception):
                fn(*args)

        res[f"tier1_{name}"] = _summary(_timings(call, n_small), base)
    # Tier 1 alone (no audit, no guard wrapper): the decision engines compared directly.
    if getattr(agentgate, "__version__", "0.1.0") == "0.1.0":
        from agentgate.firewall import get_engine
        from agentgate.models import ToolCall as OldCall

        engine = get_engine()

        def decide(tool: str, args: dict[str, Any]) -> Any:
            return engine.evaluate(OldCall(tool_name=tool, arguments=args))
    else:
        fw = agentgate.get_firewall()

        def decide(tool: str, args: dict[str, Any]) -> Any:
            return fw.evaluate_tier1(agentgate.ToolCall(tool, args))

    for name, (fn, args) in calls.items():
        tool = fn.__name__
        argname = {"run_query": "query", "read_file": "path", "fetch_url": "url", "run_shell": "command"}[tool]
        kw = {argname: args[0]}
        res[f"engine_{name}"] = _summary(_timings(lambda tool=tool, kw=kw: decide(tool, kw), n_small), 0.0)
    if getattr(agentgate, "__version__", "0.1.0") != "0.1.0":
        _provenance_rows(agentgate, res)
        _plan_rows(agentgate, res)
    if hasattr(agentgate, "flush"):
        agentgate.flush(30)
    json.dump(res, sys.stdout)


def _policy_rows(agentgate: Any, base: float, res: dict[str, Any]) -> None:
    """Policy v2 rows (this version only): the issue's lookup_customer call, and a payment under
    three value rules and one history rule (a per-task budget, reserved on every call)."""

    def lookup_customer(customer_id: str) -> str:
        return customer_id

    lookup = agentgate.guard(lookup_customer)
    # Each row's overhead is against its own plain call (not get_item's).
    base = statistics.median(_timings(lambda: lookup_customer("42"), N))
    with agentgate.scope(
        task="answer a customer's question", allowed_resources=["customers"], allowed_operations=["read"]
    ):
        assert lookup("42") == "42"
        res["lookup_customer"] = _summary(_timings(lambda: lookup("42"), N), base)

    def send_payment(amount: float, currency: str, iban: str) -> str:
        return iban

    pay = agentgate.guard(send_payment)
    base = statistics.median(_timings(lambda: send_payment(120.0, "EUR", "DE44500105175407324931"), N))
    with (
        agentgate.agent_context(agent_id="bench", task_id="bench-payments"),
        agentgate.scope(
            task="pay approved invoices",
            allowed_operations=["read", "transfer"],
            allowed_resources=["account:DE*"],
            arguments={"send_payment": {"amount": {"max": 500}, "currency": {"in": ["EUR"]}, "iban": {"glob": "DE*"}}},
            history=[{"limit": {"tool": "send_payment"}, "max_calls": 10**9, "max_sum": {"amount": 10**12}}],
        ),
    ):
        assert pay(120.0, "EUR", "DE44500105175407324931") == "DE44500105175407324931"
        res["policy_rules"] = _summary(_timings(lambda: pay(120.0, "EUR", "DE44500105175407324931"), N), base)
        # The same call with an amount never seen before (1.00 ... 499.99, more values than calls):
        # an identical call reuses its static analysis (the tier-1 memo); this row never can.
        amounts = itertools.cycle([1 + i / 100 for i in range(49_900)])
        res["policy_rules_distinct"] = _summary(
            _timings(lambda: pay(next(amounts), "EUR", "DE44500105175407324931"), N), base
        )


def _provenance_rows(agentgate: Any, res: dict[str, Any]) -> None:
    """Provenance (this version only): tier 1 for a send whose recipient is traced through 20 recorded
    tool outputs, against the same call with no recorded outputs (its difference is the overhead)."""
    from agentgate._context import agent_context

    fw = agentgate.Firewall(audit=None)
    call = agentgate.ToolCall("send_email", {"to": "alice@corp.example", "subject": "Re: Q3", "body": "Thanks!"})
    with agent_context(task="Reply to Alice's e-mail about Q3"):
        res["provenance_0"] = _summary(_timings(lambda: fw.evaluate_tier1(call), N), 0.0)
    with agent_context(task="Reply to Alice's e-mail about Q3") as ctx:
        for i in range(20):
            v = fw.evaluate(agentgate.ToolCall("read_inbox", {"page": str(i)}))
            mail = {"from": f"sender{i}@corp.example", "subject": f"note {i}", "body": f"See https://docs{i}.example/x"}
            ctx.record_result(v.decision_id, [mail, {"from": "alice@corp.example", "subject": "Q3", "body": "numbers"}])
        assert fw.evaluate_tier1(call).action.value == "allow"
        res["provenance_20"] = _summary(_timings(lambda: fw.evaluate_tier1(call), N), 0.0)


def _plan_rows(agentgate: Any, res: dict[str, Any]) -> None:
    """Task plans (this version only): tier 1 for an in-plan send with the task's plan cached,
    against the same call on a firewall without plans (its difference is the overhead)."""
    from agentgate._context import agent_context
    from agentgate._plan import Planner

    task = "Reply to Alice's e-mail about Q3"
    call = agentgate.ToolCall("send_email", {"to": "alice@corp.example", "subject": "Re: Q3", "body": "Thanks!"})
    planner = Planner(None)
    planner.remember(agentgate.Plan(task, ("read_*", "send_email"), ("read", "send"), ("email:*@corp.example",)))
    for key, fw in (
        ("plan_off", agentgate.Firewall(audit=None)),
        ("plan_cached", agentgate.Firewall(audit=None, planner=planner)),
    ):
        with agent_context(task=task):
            assert fw.evaluate_tier1(call).action.value == "allow"
            res[key] = _summary(_timings(lambda fw=fw: fw.evaluate_tier1(call), N), 0.0)


if __name__ == "__main__":
    main()
