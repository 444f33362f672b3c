"""The tier-1 memo (agentgate._memo): an identical call reuses the static analysis, and nothing else."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import agentgate
import agentgate._firewall as firewall_module
import agentgate.analyzers.injection as injection_module
from agentgate import Firewall, ToolCall, scope
from agentgate._context import agent_context
from agentgate._memo import MAX_CHARS, canonical_arguments
from agentgate.analyzers import DEFAULT_ANALYZERS
from agentgate.analyzers.base import AnalyzerSettings, BudgetExceeded
from agentgate.eval.resolver import eval_resolver
from agentgate.eval.runner import Case, load_cases, sandbox_cwd
from agentgate.policy._config import load_config
from agentgate.testing import MemorySink


def _fw(memo: bool = True, **kw: Any) -> Firewall:
    settings = kw.pop("settings", None) or AnalyzerSettings(resolver=eval_resolver, extra={"tier1_memo": memo})
    return Firewall(settings=settings, on_escalate="block", audit=kw.pop("audit", None), mode="enforce", **kw)


def _memo(fw: Firewall) -> Any:
    memo = fw._tier1_memo
    assert memo is not None
    return memo


def _shape(v: Any) -> tuple[Any, ...]:
    return (
        v.action,
        v.policy_name,
        v.severity,
        tuple((f.rule_id, f.effect, f.severity, f.argument, f.evidence, f.message) for f in v.findings),
    )


def _decide_all(fw: Firewall, cases: list[Case], run: str) -> dict[str, tuple[Any, ...]]:
    out = {}
    for case in cases:
        # A task (history rules, rate windows) of its own per case and per run: runs must not see each other.
        with agent_context(agent_id=f"eval-{run}", task_id=f"{case.id}/{run}"):
            if case.scope:
                with scope(**dict(case.scope)):
                    v = fw.evaluate(case.tool_call())
            else:
                v = fw.evaluate(case.tool_call())
        out[case.id] = _shape(v)
    return out


def test_every_eval_case_decides_the_same_cold_warm_and_without_memo() -> None:
    """Both splits of the eval suite: cold memo, warm memo and no memo give identical verdicts and findings."""
    cases = load_cases()
    assert {c.split for c in cases} >= {"own", "unseen"}
    with sandbox_cwd():
        fw = _fw()
        cold = _decide_all(fw, cases, "cold")
        stored = len(_memo(fw))
        hits_before = _memo(fw).hits
        warm = _decide_all(fw, cases, "warm")
        off = _decide_all(_fw(memo=False), cases, "off")
    assert stored > len(cases) // 4  # most calls are keyed and stored ...
    assert _memo(fw).hits - hits_before >= stored  # ... and the warm run answered from them
    assert [k for k in cold if cold[k] != off[k]] == []
    assert [k for k in warm if warm[k] != off[k]] == []


def test_memo_off_keeps_no_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """AGENTGATE_TIER1_MEMO=0 and settings extra tier1_memo=False turn the memo off."""
    assert _fw(memo=False)._tier1_memo is None
    monkeypatch.setenv("AGENTGATE_TIER1_MEMO", "0")
    assert Firewall(audit=None)._tier1_memo is None
    monkeypatch.setenv("AGENTGATE_TIER1_MEMO", "1")
    assert Firewall(audit=None)._tier1_memo is not None


def test_an_identical_call_is_classified_and_analyzed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The memo is what saves the work: classification runs once for five identical calls (five times without)."""
    calls = []
    real = firewall_module.classify

    def counting(*a: Any, **k: Any) -> Any:
        calls.append(a[0].tool_name)
        return real(*a, **k)

    monkeypatch.setattr(firewall_module, "classify", counting)
    for memo, expected in ((True, 1), (False, 5)):
        calls.clear()
        fw = _fw(memo=memo)
        verdicts = [fw.evaluate(ToolCall("lookup_customer", {"customer_id": "42"})) for _ in range(5)]
        assert calls == ["lookup_customer"] * expected
        assert {v.action.value for v in verdicts} == {"allow"}


def test_each_hit_returns_a_fresh_verdict_and_audit_record() -> None:
    """A memo hit is still its own decision: new verdict object, decision id, latency and audit record."""
    sink = MemorySink()
    fw = _fw(audit=sink)
    call = ToolCall("lookup_customer", {"customer_id": "42"})
    a, b = fw.evaluate(call), fw.evaluate(call)
    assert _memo(fw).hits == 1
    assert a is not b and a.decision_id != b.decision_id
    assert a.extra is not b.extra
    assert fw.flush(10)
    assert [r.decision_id for r in sink.records if r.tool_name == "lookup_customer"] == [a.decision_id, b.decision_id]


def test_history_limit_blocks_the_fourth_identical_transfer() -> None:
    """History rules run on a hit: the 4th transfer over a 3-call limit is blocked though its args repeat."""
    fw = _fw()
    call = ToolCall("send_payment", {"amount": 100, "currency": "EUR", "iban": "DE44500105175407324931"})
    with (
        agent_context(agent_id="pay", task_id="t1"),
        scope(
            task="pay invoices",
            allowed_operations=["transfer"],
            history=[{"limit": {"tool": "send_payment"}, "max_calls": 3}],
        ),
    ):
        verdicts = [fw.evaluate(call) for _ in range(4)]
    assert [v.action.value for v in verdicts] == ["allow", "allow", "allow", "block"]
    assert verdicts[3].policy_name == "policy.history_limit"
    assert _memo(fw).hits == 3


def test_value_and_scope_rules_fire_on_a_hit() -> None:
    """Value rules and the scope check run on every call, hit or not."""
    fw = _fw()
    over = ToolCall("send_payment", {"amount": 900, "currency": "EUR", "iban": "DE44500105175407324931"})
    elsewhere = ToolCall("send_email", {"to": "bob@other.example", "subject": "hi", "body": "hello"})
    with scope(
        task="pay invoices and mail the team",
        allowed_operations=["transfer", "send"],
        allowed_resources=["account:DE*", "*@corp.example"],
        arguments={"send_payment": {"amount": {"max": 500}}},
    ):
        first = [fw.evaluate(over), fw.evaluate(elsewhere)]
        hits = _memo(fw).hits
        second = [fw.evaluate(over), fw.evaluate(elsewhere)]
        assert _memo(fw).hits == hits + 2
    for v in (*first, *second):
        assert v.action.value == "block"
    assert [v.policy_name for v in second] == ["policy.argument", "scope.resource"]
    assert [_shape(v) for v in first] == [_shape(v) for v in second]


def test_another_scope_is_another_key_and_the_same_scope_again_hits() -> None:
    """Layers are compared by value: a different scope misses, the same scope entered again hits."""
    fw = _fw()
    call = ToolCall("run_query", {"query": "SELECT * FROM users"})
    with scope(task="report", allowed_resources=["table:orders"], allowed_operations=["read"]):
        assert fw.evaluate(call).policy_name.startswith("sql.")
    with scope(task="report", allowed_resources=["table:users"], allowed_operations=["read"]):
        assert fw.evaluate(call).action.value == "allow"
    assert _memo(fw).hits == 0
    with scope(task="report", allowed_resources=["table:orders"], allowed_operations=["read"]):
        assert fw.evaluate(call).policy_name.startswith("sql.")
    assert _memo(fw).hits == 1


def test_a_policy_swap_starts_from_an_empty_memo(tmp_path: Path) -> None:
    """reconfigure (and a reload, which builds a new firewall) decides under the new policy, not the old memo."""
    a = tmp_path / "a.yaml"
    a.write_text("agents:\n  default:\n    allowed_resources: ['table:orders']\n    allowed_operations: [read]\n")
    b = tmp_path / "b.yaml"
    b.write_text("agents:\n  default:\n    allowed_resources: ['table:users']\n    allowed_operations: [read]\n")
    call = ToolCall("run_query", {"query": "SELECT * FROM users"})
    agentgate.set_firewall(Firewall(load_config(a), audit=None))
    old = agentgate.get_firewall()
    assert old.evaluate(call).action.value == "block"
    assert old.evaluate(call).action.value == "block"
    assert _memo(old).hits == 1
    agentgate.reconfigure(config=load_config(b))
    new = agentgate.get_firewall()
    assert new is not old and len(_memo(new)) == 0
    assert new.evaluate(call).action.value == "allow"


def test_register_tools_empties_the_memo() -> None:
    """Declaring a tool changes how its calls are read: stored analyses are dropped."""
    fw = _fw()
    call = ToolCall("lookup", {"q": "orders of last week"})
    fw.evaluate(call)
    assert len(_memo(fw)) == 1
    fw.register_tools({"lookup": {"kind": "sql", "resource_arg": "q"}})
    assert len(_memo(fw)) == 0
    # Now a SQL tool: its text must parse as SQL, which it does not.
    assert fw.evaluate(call).action.value == "block"


def test_a_budget_escalation_is_not_stored() -> None:
    """A run cut short by the tier-1 budget is recomputed on the next identical call."""
    state = {"spent": True}

    def spends_budget(call: ToolCall, ctx: Any) -> list[Any]:
        if state["spent"]:
            raise BudgetExceeded
        return []

    fw = _fw(analyzers=(*DEFAULT_ANALYZERS, spends_budget))
    call = ToolCall("lookup_customer", {"customer_id": "42"})
    assert fw.evaluate_tier1(call).policy_name == "tier1.budget"
    assert len(_memo(fw)) == 0
    state["spent"] = False
    assert fw.evaluate_tier1(call).action.value == "allow"
    assert len(_memo(fw)) == 1


def test_a_call_large_enough_for_the_budget_is_never_keyed() -> None:
    """With a budget in force for every call (budget_min_chars=0) and spent at once, nothing is stored."""
    settings = AnalyzerSettings(resolver=eval_resolver, time_budget_ms=1e-9, budget_min_chars=0)
    fw = _fw(settings=settings)
    call = ToolCall("lookup_customer", {"customer_id": "42"})
    assert [fw.evaluate_tier1(call).policy_name for _ in range(2)] == ["tier1.budget"] * 2
    assert len(_memo(fw)) == 0


def test_an_analyzer_error_is_not_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    """An analyzer that crashed escalates, and the next identical call runs it again."""

    def broken(text: str) -> list[Any]:
        raise RuntimeError("boom")

    fw = _fw()
    call = ToolCall("summarize", {"text": "quarterly numbers look fine"})
    monkeypatch.setattr(injection_module, "scan_text", broken)
    v = fw.evaluate_tier1(call)
    assert v.policy_name == "analyzer.error"
    assert len(_memo(fw)) == 0
    monkeypatch.undo()
    assert fw.evaluate_tier1(call).action.value == "allow"
    assert len(_memo(fw)) == 1


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    old = os.getcwd()
    (tmp_path / "data").mkdir()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def test_a_path_is_resolved_on_every_call(workdir: Path) -> None:
    """File-system state is never memoized: a file swapped for a link to /etc/shadow is seen at once."""
    fw = _fw()
    call = ToolCall("read_file", {"path": "data/notes.txt"})
    (workdir / "data" / "notes.txt").write_text("hello")
    with scope(task="read the notes", allowed_resources=["data/*"], allowed_operations=["read"]):
        assert fw.evaluate(call).action.value == "allow"
        (workdir / "data" / "notes.txt").unlink()
        (workdir / "data" / "notes.txt").symlink_to("/etc/shadow")
        assert fw.evaluate(call).action.value == "block"
    assert len(_memo(fw)) == 0


def test_dns_answers_are_not_memoized() -> None:
    """An analysis that resolved a host name asks again next time (the answer may change)."""
    answers = {"api.example.com": ["93.184.216.34"]}
    fw = _fw(settings=AnalyzerSettings(resolver=lambda host, t: answers[host], dns_cache_ttl=0.0))
    call = ToolCall("fetch_url", {"url": "https://api.example.com/v1/items"})
    assert fw.evaluate(call).action.value == "allow"
    answers["api.example.com"] = ["169.254.169.254"]
    assert fw.evaluate(call).action.value == "block"
    assert len(_memo(fw)) == 0


def test_canonical_arguments_are_exact() -> None:
    """1, 1.0, True, '1', 0.0 and -0.0 are different keys; objects and large payloads have no key."""
    forms = [canonical_arguments({"n": v}) for v in (1, 1.0, True, "1", 0.0, -0.0, None, [1], (1,), {"a": 1})]
    assert None not in forms
    assert len(set(forms)) == len(forms)
    assert canonical_arguments({"a": "x", "b": "y"}) != canonical_arguments({"b": "y", "a": "x"})
    assert canonical_arguments({"n": object()}) is None
    assert canonical_arguments({"s": "x" * (MAX_CHARS + 1)}) is None
    assert canonical_arguments({"s": [str(i) for i in range(100)]}) is None

    class Text(str):
        pass

    assert canonical_arguments({"s": Text("x")}) is None


def test_the_async_path_uses_the_memo() -> None:
    """evaluate_async answers an identical call from the memo and decides as evaluate does."""
    fw = _fw()
    call = ToolCall("lookup_customer", {"customer_id": "42"})

    async def twice() -> list[str]:
        return [(await fw.evaluate_async(call)).action.value for _ in range(2)]

    assert asyncio.run(twice()) == ["allow", "allow"]
    assert _memo(fw).hits == 1


def test_the_memo_is_bounded_and_keeps_what_was_used() -> None:
    """At its bound, a store evicts an entry not used since it was stored before one that was hit."""
    from agentgate._memo import MemoEntry, Tier1Memo

    memo = Tier1Memo(max_entries=3)
    entries = {k: MemoEntry(None, (), None, 0) for k in "abcde"}  # type: ignore[arg-type]
    for k in "abc":
        memo.put((k,), entries[k])
    assert memo.get(("a",)) is entries["a"]
    memo.put(("d",), entries["d"])
    assert len(memo) == 3
    assert memo.get(("b",)) is None  # never used: evicted first
    assert memo.get(("a",)) is entries["a"]
    memo.put(("e",), entries["e"])
    assert len(memo) == 3


def test_value_rule_answers_are_exact_per_value() -> None:
    """A value rule's remembered answers are keyed exactly: the same value answers the same, 1/True/1.0 apart."""
    from agentgate.policy._rules import check_values, compile_value_rules

    rules = compile_value_rules({"pay": {"n": {"max": 0, "in": ["1", "0.0"]}}})

    def said(v: Any) -> list[str]:
        return list(check_values(rules, "pay", {"n": v}))

    first = {repr(v): said(v) for v in (1, True, 1.0, 0.0, -0.0, "1", "x")}
    again = {repr(v): said(v) for v in (1, True, 1.0, 0.0, -0.0, "1", "x")}
    assert first == again
    assert first["True"] == ["n=True is not a number, so its bounds cannot be checked", "n=True is not one of 0.0, 1"]
    assert first["1"] == ["n=1 is above the maximum 0"]
    assert first["1.0"] == ["n=1.0 is above the maximum 0", "n=1.0 is not one of 0.0, 1"]
    assert first["-0.0"] == ["n=-0.0 is not one of 0.0, 1"]
    assert first["0.0"] == []
