"""Context never fails open: scopes reach worker threads, tasks keep their own task and history."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import agentgate
from agentgate import Firewall, FirewallBlockedError, VerdictType, scope
from agentgate._escalation import EscalationRequest
from agentgate.judge.base import JudgeAnswer, JudgeResult
from agentgate.judge.prompt import build_prompt
from agentgate.policy._config import Config


@pytest.fixture
def protected() -> Iterator[None]:
    """protect_all() with no frameworks and no audit file; undone after the test."""
    agentgate.protect_all(audit="none", frameworks=[])
    try:
        yield
    finally:
        agentgate.unprotect_all()


@agentgate.guard
def delete_file(path: str) -> str:
    return f"deleted {path}"


def _outcome(fn: Callable[[], Any]) -> str:
    try:
        fn()
    except FirewallBlockedError as e:
        rules = sorted({f.rule_id for f in e.verdict.findings if f.effect.value != "info"})
        return f"blocked:{','.join(rules) or e.verdict.policy_name}"
    return "ran"


# -- 1. the scope reaches worker threads -------------------------------------------------


def test_thread_pool_submit_and_map_run_under_the_scope(protected: None) -> None:
    """A tool run through ThreadPoolExecutor.submit / map inside scope() is decided under that scope."""
    with scope(allowed_operations=["read"]), ThreadPoolExecutor(2) as pool:
        submitted = pool.submit(_outcome, lambda: delete_file("/tmp/a")).result()
        mapped = list(pool.map(lambda p: _outcome(lambda: delete_file(p)), ["/tmp/b", "/tmp/c"]))
    assert submitted == "blocked:scope.operation"
    assert mapped == ["blocked:scope.operation"] * 2


def test_threading_thread_and_subclass_run_under_the_scope(protected: None) -> None:
    """threading.Thread (a target, and a subclass overriding run) started inside scope() is decided under it."""
    seen: list[str] = []

    class Worker(threading.Thread):
        def run(self) -> None:
            seen.append(_outcome(lambda: delete_file("/tmp/sub")))

    with scope(allowed_operations=["read"]):
        threads = [threading.Thread(target=lambda: seen.append(_outcome(lambda: delete_file("/tmp/t")))), Worker()]
        for t in threads:
            t.start()
    for t in threads:
        t.join()
    assert seen == ["blocked:scope.operation"] * 2


async def test_run_in_executor_runs_under_the_scope(protected: None) -> None:
    """loop.run_in_executor (default and explicit pool) inside an async scope is decided under it."""
    loop = asyncio.get_running_loop()
    async with scope(allowed_operations=["read"]):
        default = await loop.run_in_executor(None, _outcome, lambda: delete_file("/tmp/d"))
        with ThreadPoolExecutor(1) as pool:
            explicit = await loop.run_in_executor(pool, _outcome, lambda: delete_file("/tmp/e"))
    assert default == explicit == "blocked:scope.operation"


def test_unprotect_all_stops_propagation() -> None:
    """After unprotect_all() threads no longer inherit the context (the patch is undone)."""
    agentgate.protect_all(audit="none", frameworks=[])
    agentgate.unprotect_all()
    assert threading.Thread.start.__module__ == "threading"
    assert ThreadPoolExecutor.submit.__module__ == "concurrent.futures.thread"


def test_propagate_carries_the_scope_into_any_thread() -> None:
    """agentgate.propagate(fn) runs fn under the caller's scope in a thread protect_all did not patch."""
    agentgate.set_firewall(Firewall(audit="none"))
    out: list[str] = []
    with scope(allowed_operations=["read"]):
        wrapped = agentgate.propagate(lambda: out.append(_outcome(lambda: delete_file("/tmp/p"))))
    # Called after the scope ended, in another thread: the context captured at wrap time applies.
    t = threading.Thread(target=wrapped)
    t.start()
    t.join()
    assert out == ["blocked:scope.operation"]


# -- a call with no context while scopes are open elsewhere ------------------------------


def _in_unpropagated_thread(fn: Callable[[], Any], while_open: Callable[[], Any]) -> str:
    """Run *fn* in a bare thread (no context) while *while_open* holds a scope open in this thread."""
    ready, done = threading.Event(), threading.Event()
    result: list[str] = []

    def worker() -> None:
        ready.wait()
        result.append(_outcome(fn))
        done.set()

    # The thread is started before any scope exists, so nothing could have propagated.
    t = threading.Thread(target=worker)
    t.start()
    with while_open():
        ready.set()
        assert done.wait(10)
    t.join()
    return result[0]


def test_call_without_context_while_a_scope_is_open_is_not_unrestricted() -> None:
    """No scope and no agent policy while a scope is open elsewhere: escalated, so blocked by default."""
    agentgate.set_firewall(Firewall(audit="none"))
    got = _in_unpropagated_thread(lambda: delete_file("/tmp/orphan"), lambda: scope(allowed_operations=["read"]))
    assert got == "blocked:context.unscoped"
    # Benign twin: with no scope open anywhere, an unscoped call runs as before.
    assert _outcome(lambda: delete_file("/tmp/plain")) == "ran"
    assert agentgate._firewall.open_scopes() == 0


def test_call_without_context_is_decided_under_the_default_agent_policy() -> None:
    """With agents.default configured, the context-less call is decided under it (here: allowed read, denied delete)."""
    cfg = Config.model_validate({"agents": {"default": {"allowed_operations": ["read"]}}})
    agentgate.set_firewall(Firewall(cfg, audit="none"))

    @agentgate.guard
    def read_file(path: str) -> str:
        return path

    def open_scope() -> Any:
        return scope(allowed_operations=["read", "delete"])

    assert _in_unpropagated_thread(lambda: read_file("/tmp/r"), open_scope) == "ran"
    assert _in_unpropagated_thread(lambda: delete_file("/tmp/r"), open_scope) == "blocked:scope.operation"


# -- 2. task and history per scope -------------------------------------------------------


class _PromptJudge:
    """Answers allow, and keeps the prompt it was shown (built when asked, as a real judge does)."""

    model = "prompt-tap"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, list[str]]] = []

    def _answer(self, req: EscalationRequest) -> JudgeResult:
        prompt = build_prompt(req)
        self.seen.append(
            (
                str(req.call.arguments["target"]),
                prompt.user,
                [str(r.arguments["target"]) for r in req.agent.action_history],
            )
        )
        return JudgeResult(
            JudgeAnswer(consistent=True, confidence=1.0, reversible=True, blast_radius="low", reasoning="ok"),
            self.model,
            0.0,
        )

    def judge(self, req: EscalationRequest) -> JudgeResult:
        return self._answer(req)

    async def ajudge(self, req: EscalationRequest) -> JudgeResult:
        return self._answer(req)


async def test_hundred_tasks_each_see_only_their_own_task_and_history() -> None:
    """100 concurrent asyncio tasks in their own scopes: each judge prompt has its task and only its calls."""
    judge = _PromptJudge()
    agentgate.set_firewall(Firewall(judge=judge, audit="none"))

    @agentgate.guard
    async def frobnicate(target: str) -> None:  # unknown operation under a restricting scope: escalates
        await asyncio.sleep(0)

    async def one(i: int) -> tuple[str, list[str]]:
        async with scope(task=f"maintain widget-{i:03d}", allowed_operations=["read"]):
            for k in range(3):
                await frobnicate(target=f"w{i:03d}-{k}")
                await asyncio.sleep(0)  # let the other tasks interleave
            ctx = agentgate.get_context()
            return ctx.task_description, [str(r.arguments["target"]) for r in ctx.action_history]

    async with agentgate.agent_context(agent_id="bot") as shared:  # every task inherits this one
        results = await asyncio.gather(*(one(i) for i in range(100)))
    for i, (task, history) in enumerate(results):
        assert task == f"maintain widget-{i:03d}"
        assert history == [f"w{i:03d}-{k}" for k in range(3)]
    assert len(judge.seen) == 300
    for target, user, history in judge.seen:
        i = target[1:4]
        assert f"maintain widget-{i}" in user
        assert "widget-" not in user.replace(f"maintain widget-{i}", "")
        assert all(h.startswith(f"w{i}-") for h in history)
    assert shared.task_description == "" and not shared.action_history


def test_scope_restores_the_task_and_hands_its_calls_back_in_the_same_flow() -> None:
    """A scope's task ends with it; sequential code still sees the scope's calls in its own history."""
    agentgate.set_firewall(Firewall(audit="none", mode="monitor"))
    with agentgate.agent_context(agent_id="a", task="outer task"):
        with scope(task="inner task"):
            assert agentgate.get_context().task_description == "inner task"
            delete_file("/tmp/in")
        ctx = agentgate.get_context()
        assert ctx.task_description == "outer task"
        assert [r.arguments["path"] for r in ctx.action_history] == ["/tmp/in"]


def test_threads_in_scopes_do_not_write_into_the_shared_context(protected: None) -> None:
    """Scopes entered in worker threads that share the main context never add to its history."""
    barrier = threading.Barrier(4)

    def work(i: int) -> str:
        with scope(task=f"job {i}", allowed_operations=["read", "delete"]):
            barrier.wait(10)
            delete_file(f"/tmp/job{i}")
            return agentgate.get_context().task_description

    with agentgate.agent_context(agent_id="main") as main, ThreadPoolExecutor(4) as pool:
        tasks = list(pool.map(work, range(4)))
    assert tasks == [f"job {i}" for i in range(4)]
    assert list(main.action_history) == []


# -- 7. an immutable firewall; changes are explicit and audited --------------------------


def test_firewall_mode_and_policy_cannot_be_changed_in_place() -> None:
    """get_firewall().mode = 'monitor' (as an in-process interpreter would run it) raises; so does editing the policy."""
    cfg = Config.model_validate({"agents": {"default": {"allowed_operations": ["read"]}}})
    fw = Firewall(cfg, audit="none")
    agentgate.set_firewall(fw)
    with pytest.raises(AttributeError, match="immutable"):
        exec("import agentgate\nagentgate.get_firewall().mode = 'monitor'", {})  # noqa: S102 - what an interpreter tool runs
    with pytest.raises(AttributeError, match="immutable"):
        fw.escalator.on_escalate = "allow"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        fw.analyzers = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        fw.policy["default"] = fw.policy["default"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        fw.policy["default"].allowed_operations = ("read", "delete")  # type: ignore[misc]
    fw.config.agents["default"].allowed_operations.append("delete")  # a copy: changes nothing
    assert fw.mode == "enforce"
    with scope():
        assert _outcome(lambda: delete_file("/tmp/x")) == "blocked:scope.operation"


def test_reconfigure_builds_a_new_firewall_and_audits_the_change() -> None:
    """reconfigure(mode=...) replaces the default firewall and writes a config.change record saying who and what."""
    from agentgate.audit import MemorySink

    sink = MemorySink()
    old = Firewall(audit=sink)
    agentgate.set_firewall(old)
    new = agentgate.reconfigure(mode="monitor")
    assert new is agentgate.get_firewall() and new is not old
    assert (old.mode, new.mode) == ("enforce", "monitor")
    assert old.flush(10)
    (rec,) = [r for r in sink.records if r.tool_name == "agentgate.set_firewall"]
    assert rec.policy_name == "config.change"
    assert rec.payload["arguments"]["previous_mode"] == "enforce" and rec.payload["arguments"]["mode"] == "monitor"
    assert "test_context:test_reconfigure_builds" in rec.payload["arguments"]["caller"]
    assert "mode enforce -> monitor" in (rec.reasoning or "")


def test_set_firewall_is_audited_in_both_trails() -> None:
    """set_firewall() stays available, but replacing a firewall is recorded in the old and the new trail."""
    from agentgate.audit import MemorySink

    a, b = MemorySink(), MemorySink()
    first = Firewall(audit=a)
    agentgate.set_firewall(first)
    agentgate.set_firewall(Firewall(audit=b, mode="monitor"))
    assert first.flush(10) and agentgate.flush(10)
    for sink in (a, b):
        assert [r.policy_name for r in sink.records] == ["config.change"]
    assert (
        agentgate.get_firewall().evaluate(agentgate.ToolCall("delete_file", {"path": "/"})).action is VerdictType.ALLOW
    )


def test_register_tools_is_audited_as_a_policy_change() -> None:
    """Declaring a tool changes how its calls are read (delete_file as a 'read'), so it leaves a config.change record."""
    from agentgate.audit import MemorySink

    sink = MemorySink()
    fw = Firewall(audit=sink)
    agentgate.set_firewall(fw)
    before = fw.policy_revision
    agentgate.register_tools({"delete_file": {"kind": "generic", "operation": "read"}})
    assert fw.flush(10)
    (rec,) = [r for r in sink.records if r.tool_name == "agentgate.register_tools"]
    assert rec.policy_name == "config.change"
    args = rec.payload["arguments"]
    assert args["previous_policy_revision"] == before and args["policy_revision"] == fw.policy_revision != before
    assert "operation=read" in args["tools"]["delete_file"]
    assert "test_context:test_register_tools_is_audited" in args["caller"]
