"""The public API: exports, guard, scope, agent_context, register_tools, modes, escalation."""

from __future__ import annotations

import asyncio
import threading

import pytest

import agentgate
from agentgate import Firewall, FirewallBlockedError, ToolCall, VerdictType, agent_context, scope
from agentgate._decision import Effect, Finding, Severity


def _fw(**kw: object) -> Firewall:
    fw = Firewall(audit=None, **kw)  # type: ignore[arg-type]
    agentgate.set_firewall(fw)
    return fw


def test_exported_names_are_exactly_the_public_api() -> None:
    """__all__ is sorted and lists exactly the intended public names."""
    expected = {
        "AgentContext",
        "AgentGateError",
        "ConfigError",
        "Effect",
        "Finding",
        "Firewall",
        "FirewallBlockedError",
        "JudgeError",
        "Plan",
        "PolicyEngine",
        "Severity",
        "ToolCall",
        "ToolSpec",
        "Verdict",
        "VerdictType",
        "__version__",
        "agent_context",
        "flush",
        "get_context",
        "get_firewall",
        "guard",
        "plan",
        "propagate",
        "protect_all",
        "reconfigure",
        "register_tools",
        "scope",
        "set_firewall",
        "shutdown",
        "unprotect_all",
    }
    assert set(agentgate.__all__) == expected
    assert list(agentgate.__all__) == sorted(agentgate.__all__)
    for name in expected:
        assert hasattr(agentgate, name)


def test_positional_and_keyword_calls_are_the_same_call() -> None:
    """A positional resource argument is checked against scope exactly like a keyword one."""
    _fw()
    seen: list[str] = []

    @agentgate.guard
    def send_email(to: str, body: str = "") -> None:
        seen.append(to)

    with scope(allowed_operations=["send"], allowed_resources=["*@acme.com"]):
        send_email("bob@acme.com")
        send_email(to="bob@acme.com")
        for call in (
            lambda: send_email("eve@evil.com"),
            lambda: send_email(to="eve@evil.com"),
            lambda: send_email(body="x", to="eve@evil.com"),
        ):
            with pytest.raises(FirewallBlockedError) as ei:
                call()
            assert ei.value.verdict.policy_name == "scope.resource"
    assert seen == ["bob@acme.com", "bob@acme.com"]


def test_guard_binds_defaults_and_flattens_kwargs() -> None:
    """Defaults are applied and **kwargs flattened, so a default or extra kwarg is analyzed too."""
    calls: list[ToolCall] = []

    class Spy(Firewall):
        def evaluate(self, call: ToolCall) -> agentgate.Verdict:
            calls.append(call)
            return super().evaluate(call)

    agentgate.set_firewall(Spy(audit="none"))

    @agentgate.guard
    def notify(channel: str = "#general", **extra: str) -> None:
        return None

    notify(recipient="eve@evil.com")
    assert dict(calls[0].arguments) == {"channel": "#general", "recipient": "eve@evil.com"}


def test_guard_with_arguments_declares_kind_and_resource() -> None:
    """@guard(kind=..., resource_arg=..., operation=...) beats name heuristics."""
    _fw()
    ran: list[str] = []

    @agentgate.guard(tool_name="crm_lookup", kind="generic", resource_arg="customer", operation="read")
    def do_it(customer: str) -> None:
        ran.append(customer)

    with scope(allowed_operations=["read"], allowed_resources=["acme-*"]):
        do_it("acme-42")
        with pytest.raises(FirewallBlockedError) as ei:
            do_it("globex-1")
    assert ran == ["acme-42"]
    assert ei.value.tool_call is not None and ei.value.tool_call.tool_name == "crm_lookup"


async def test_guard_async_function_and_async_generator() -> None:
    """Async functions and async generators are decided before their body runs."""
    _fw()
    ran: list[str] = []

    @agentgate.guard
    async def delete_file(path: str) -> None:
        ran.append(path)

    @agentgate.guard
    async def stream_delete(path: str):  # type: ignore[no-untyped-def]
        ran.append("gen:" + path)
        yield 1

    async with scope(allowed_operations=["read"]):
        with pytest.raises(FirewallBlockedError):
            await delete_file("a.txt")
        with pytest.raises(FirewallBlockedError):
            async for _ in stream_delete("a.txt"):
                pass
    assert ran == []


def test_guard_methods_and_generators() -> None:
    """Methods drop self from the arguments; a generator is decided at call time, before its body."""
    _fw()
    ran: list[str] = []

    class Mailer:
        @agentgate.guard
        def send_email(self, to: str) -> None:
            ran.append(to)

    @agentgate.guard
    def delete_rows(table: str):  # type: ignore[no-untyped-def]
        ran.append("gen")
        yield table

    with scope(allowed_operations=["read"]):
        with pytest.raises(FirewallBlockedError) as ei:
            Mailer().send_email("x@y.z")
        assert "self" not in ei.value.tool_call.arguments  # type: ignore[union-attr]
        with pytest.raises(FirewallBlockedError):
            delete_rows("users")
    assert ran == []


def test_blocked_error_names_rule_and_reason() -> None:
    """FirewallBlockedError carries the verdict and the call; its message names the rule and the reason."""
    _fw()

    @agentgate.guard
    def transfer_funds(iban: str, amount: float) -> None: ...

    with scope(allowed_operations=["read"]), pytest.raises(FirewallBlockedError) as ei:
        transfer_funds("DE89370400440532013000", 10.0)
    e = ei.value
    assert e.verdict.action is VerdictType.BLOCK
    assert e.tool_call is not None and e.tool_call.arguments["iban"] == "DE89370400440532013000"
    assert "scope.operation" in str(e) and "transfer" in str(e)


def test_threads_hold_their_own_scopes() -> None:
    """Two threads inside different scopes at the same moment each see only their own."""
    fw = _fw()
    barrier = threading.Barrier(2)
    results: dict[str, tuple[VerdictType, VerdictType]] = {}

    def worker(name: str, ops: list[str]) -> None:
        with scope(allowed_operations=ops):
            barrier.wait()  # both scopes active now
            r = fw.evaluate(ToolCall("read_file", {"path": "x"})).action
            s = fw.evaluate(ToolCall("send_email", {"to": "a@b.c"})).action
            barrier.wait()
            results[name] = (r, s)

    t1 = threading.Thread(target=worker, args=("reader", ["read"]))
    t2 = threading.Thread(target=worker, args=("sender", ["send"]))
    t1.start(), t2.start()
    t1.join(), t2.join()
    assert results["reader"] == (VerdictType.ALLOW, VerdictType.BLOCK)
    assert results["sender"] == (VerdictType.BLOCK, VerdictType.ALLOW)
    assert fw.evaluate(ToolCall("send_email", {"to": "a@b.c"})).action is VerdictType.ALLOW  # no leak outside


async def test_asyncio_tasks_hold_their_own_scopes() -> None:
    """Two asyncio tasks with different scopes interleave without seeing each other's."""
    fw = _fw()
    both_in = asyncio.Event()
    entered = 0

    async def worker(ops: list[str]) -> tuple[VerdictType, VerdictType]:
        nonlocal entered
        async with scope(allowed_operations=ops):
            entered += 1
            if entered == 2:
                both_in.set()
            await both_in.wait()
            r = (await fw.evaluate_async(ToolCall("read_file", {"path": "x"}))).action
            await asyncio.sleep(0)
            s = (await fw.evaluate_async(ToolCall("send_email", {"to": "a@b.c"}))).action
            return r, s

    a, b = await asyncio.gather(worker(["read"]), worker(["send"]))
    assert a == (VerdictType.ALLOW, VerdictType.BLOCK)
    assert b == (VerdictType.BLOCK, VerdictType.ALLOW)


def test_nested_scopes_only_narrow() -> None:
    """An inner scope cannot grant what the outer one withholds; deny_operations wins."""
    fw = _fw()
    with scope(allowed_operations=["read"]):
        with scope(allowed_operations=["read", "delete"]):
            assert fw.evaluate(ToolCall("delete_file", {"path": "x"})).blocked
        with scope(deny_operations=["read"]):
            assert fw.evaluate(ToolCall("read_file", {"path": "x"})).blocked
    with scope(allowed_operations=["configure", "delete"], deny_operations=["delete"]):
        assert fw.evaluate(ToolCall("update_config", {"key": "x"})).allowed
        assert fw.evaluate(ToolCall("remove_user", {"user": "x"})).blocked


def _escalating(call: ToolCall, ctx: object) -> list[Finding]:
    return [Finding("test.ambiguous", Severity.MEDIUM, Effect.ESCALATE, "ambiguous on purpose")]


async def test_escalate_without_judge_blocks_on_both_paths() -> None:
    """With no judge an ESCALATE blocks, sync and async, and the reason says why."""
    fw = Firewall(audit=None, analyzers=(_escalating,))
    call = ToolCall("anything", {"x": 1})
    sync_v = fw.evaluate(call)
    async_v = await fw.evaluate_async(call)
    for v in (sync_v, async_v):
        assert v.action is VerdictType.BLOCK
        assert v.policy_name == "escalation.no_judge"
        assert "on_escalate='block'" in v.reasoning and "test.ambiguous" in v.reasoning
    assert fw.evaluate_tier1(call).action is VerdictType.ESCALATE


async def test_on_escalate_allow_allows_on_both_paths() -> None:
    """on_escalate='allow' is an explicit opt-in, honoured identically sync and async."""
    fw = Firewall(audit=None, analyzers=(_escalating,), on_escalate="allow")
    call = ToolCall("anything", {"x": 1})
    assert fw.evaluate(call).action is VerdictType.ALLOW
    v = await fw.evaluate_async(call)
    assert v.action is VerdictType.ALLOW and v.policy_name == "escalation.allowed_by_config"


def test_crashing_analyzer_escalates_never_allows() -> None:
    """An analyzer that raises turns into an ESCALATE (then a block), never an allow."""

    def boom(call: ToolCall, ctx: object) -> list[Finding]:
        raise RuntimeError("bug")

    fw = Firewall(audit=None, analyzers=(boom,))
    v = fw.evaluate(ToolCall("read_file", {"path": "x"}))
    assert v.blocked and any(f.rule_id == "analyzer.error" for f in v.findings)


def test_monitor_mode_never_raises_and_records_would_block() -> None:
    """Monitor mode lets the call run and marks what enforce mode would have blocked."""
    _fw(mode="monitor")
    ran: list[str] = []

    @agentgate.guard
    def delete_file(path: str) -> None:
        ran.append(path)

    with scope(allowed_operations=["read"]):
        delete_file("a.txt")
    assert ran == ["a.txt"]
    rec = agentgate.get_context().action_history[-1]
    assert rec.verdict == "allow"
    fw = agentgate.get_firewall()
    with scope(allowed_operations=["read"]):
        v = fw.evaluate(ToolCall("delete_file", {"path": "a.txt"}))
    assert v.allowed and v.would_block and v.policy_name == "scope.operation"


def test_agent_policies_from_config_select_by_agent_id(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Every agent in agentgate.yaml gets its own policy; unknown agents get `default`."""
    cfg = tmp_path / "agentgate.yaml"
    cfg.write_text(
        "agents:\n"
        "  default: {allowed_operations: [read]}\n"
        "  mailer: {allowed_operations: [send], allowed_resources: ['*@acme.com']}\n"
        "  cleaner: {allowed_operations: [read, delete]}\n"
    )
    fw = Firewall(cfg, audit=None)
    send = ToolCall("send_email", {"to": "bob@acme.com"})
    delete = ToolCall("delete_file", {"path": "tmp/x"})
    with agent_context(agent_id="mailer"):
        assert fw.evaluate(send).allowed and fw.evaluate(delete).blocked
    with agent_context(agent_id="cleaner"):
        assert fw.evaluate(send).blocked and fw.evaluate(delete).allowed
    with agent_context(agent_id="stranger"):
        assert fw.evaluate(send).blocked and fw.evaluate(ToolCall("read_file", {"path": "x"})).allowed


def test_register_tools_seed_form_and_yaml_form_are_equivalent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """register_tools (seed keys) and a tools: section classify a tool the same way."""
    cfg = tmp_path / "a.yaml"
    cfg.write_text("tools:\n  crm_push: {kind: message, operation: send, resource_arg: account}\n")
    fw_yaml = Firewall(cfg, audit=None)
    fw_reg = Firewall(audit=None)
    fw_reg.register_tools({"crm_push": {"action_type": "send", "resource_key": "account"}})
    call = ToolCall("crm_push", {"account": "globex"})
    with scope(allowed_operations=["send"], allowed_resources=["acme"]):
        a, b = fw_yaml.evaluate(call), fw_reg.evaluate(call)
    assert a.blocked and b.blocked and a.policy_name == b.policy_name == "scope.resource"


def test_protect_all_missing_config_is_an_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A missing config file raises ConfigError (agentgate-py 0.1.0 only warned)."""
    with pytest.raises(agentgate.ConfigError, match="not found"):
        agentgate.protect_all(config=tmp_path / "nope.yaml", audit="none", frameworks=[])


async def test_async_path_resolves_dns_off_the_event_loop() -> None:
    """evaluate_async resolves an uncached host in a worker thread, not on the event loop thread."""
    import threading as th

    from agentgate.analyzers.base import AnalyzerSettings

    loop_thread = th.get_ident()
    seen: list[int] = []

    def resolver(host: str, timeout: float) -> list[str]:
        seen.append(th.get_ident())
        return ["93.184.216.34"]

    fw = Firewall(audit=None, settings=AnalyzerSettings(resolver=resolver))
    v = await fw.evaluate_async(ToolCall("fetch_url", {"url": "https://async-dns-test.example.org/x"}))
    assert v.allowed, v.reasoning
    assert seen and all(t != loop_thread for t in seen)


def test_scope_does_not_create_the_default_firewall(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Entering a scope creates no firewall (and no audit file); `as` still reaches the default firewall."""
    import agentgate._firewall as fwmod

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTGATE_AUDIT_URL")
    with scope(allowed_operations=["read"]) as fw:
        assert fwmod._default is None
        assert not (tmp_path / ".agentgate").exists()
        v = fw.evaluate(ToolCall("send_email", {"to": "a@b.c"}))
    assert v.blocked and fwmod._default is not None


def test_lookup_tools_taking_an_ip_are_not_connections() -> None:
    """An `ip` argument is a host only for network tools: lookup_ip(10.0.0.5) is a read, fetch by ip is checked."""
    fw = _fw()
    assert fw.evaluate(ToolCall("lookup_ip", {"ip": "10.0.0.5"})).allowed
    assert fw.evaluate(ToolCall("http_get", {"ip": "169.254.169.254"})).blocked
    assert fw.evaluate(ToolCall("create_pull_request", {"title": "x", "branch": "fix"})).allowed


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="os.fork is POSIX-only")
def test_forked_children_do_not_repeat_decision_ids() -> None:
    """A forked child gets a fresh decision-id prefix, so ids stay unique across workers."""
    import os

    from agentgate._firewall import _decision_id

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(w, _decision_id().encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    child = os.read(r, 100).decode()
    os.close(r)
    parent = _decision_id()
    assert child.rsplit("-", 1)[0] != parent.rsplit("-", 1)[0]
