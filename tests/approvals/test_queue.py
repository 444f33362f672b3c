"""Approvals that resume: the durable queue, agents waiting in threads and tasks, answers by API and CLI."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from agentgate import Firewall, ToolCall, Verdict, agent_context
from agentgate.approvals import Approval, ApprovalError, ApprovalQueue, QueueApprover
from agentgate.audit import open_store
from agentgate.cli import cli
from agentgate.policy._config import parse_config
from agentgate.server import create_app

LOCAL = "http://localhost"


def wait_until(cond: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Wait for a condition another thread or process makes true (re-checked every 20 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The queue's database: the SQLite trail's file, or a fresh schema of the real PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/audit.db"
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"ag_appr_{uuid.uuid4().hex[:10]}"
    yield f"{base}?schema={schema}"
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _firewall(state: str, audit: str, timeout: float = 60.0) -> Firewall:
    """A firewall that sends a never-seen IBAN to the approval queue."""
    cfg = parse_config(
        {
            "on_escalate": "ask",
            "approver": {"kind": "queue", "url": state, "timeout": timeout},
            "agents": {"default": {"history": [{"first_time": {"tool": "wire_money"}, "arguments": ["iban"]}]}},
        }
    )
    return Firewall(cfg, audit=audit)


def _wire(fw: Firewall, iban: str) -> Verdict:
    with agent_context(agent_id="payer", task_id=f"t-{iban}"):
        return fw.evaluate(ToolCall("wire_money", {"iban": iban, "amount": 5}))


def _pending(q: ApprovalQueue, n: int, out: dict[Any, Verdict] | None = None) -> list[Approval]:
    """Wait for *n* pending rows; an agent that already has its verdict (in *out*) will never queue: say why."""

    def cond() -> list[Approval] | None:
        if out:
            pytest.fail(
                "an agent was decided without waiting: "
                + "; ".join(f"{v.policy_name}: {v.reasoning}" for v in out.values())
            )
        rows = q.list("pending")
        return rows if len(rows) == n else None

    return wait_until(cond, f"{n} pending")


def test_config_builds_the_queue_approver(state: str, tmp_path: Path) -> None:
    """approver: queue (shorthand) with on_escalate: ask gives a QueueApprover on the configured database."""
    fw = Firewall(parse_config({"on_escalate": "ask", "approver": "queue"}), audit="none")
    assert isinstance(fw.escalator.approver, QueueApprover) and fw.escalator.approver.timeout == 300
    fw = _firewall(state, "none", timeout=5)
    assert isinstance(fw.escalator.approver, QueueApprover) and fw.escalator.approver.url == state


def test_approval_resumes_an_agent_blocked_in_a_thread(state: str, tmp_path: Path) -> None:
    """The agent's thread waits on the queue; an approver's API call lets its call run, with who and why recorded."""
    audit = f"sqlite:///{tmp_path}/trail.db"
    fw = _firewall(state, audit)
    out: dict[str, Verdict] = {}
    t = threading.Thread(target=lambda: out.setdefault("v", _wire(fw, "DE11")))
    t.start()
    q = ApprovalQueue(state)
    (pending,) = _pending(q, 1, out)
    assert (
        pending.tool == "wire_money" and pending.agent_id == "payer" and pending.payload["arguments"]["iban"] == "DE11"
    )
    assert t.is_alive()  # still waiting for a human
    c = TestClient(create_app(audit, state_url=state), base_url=LOCAL)
    r = c.post(f"/v1/approvals/{pending.id}/approve", json={"reason": "known supplier"})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    t.join(60)
    v = out["v"]
    assert v.action.value == "allow" and v.policy_name == "escalation.approved"
    assert v.extra["approval"]["approver"] == "queue:local" and "known supplier" in v.extra["approval"]["reason"]
    assert c.post(f"/v1/approvals/{pending.id}/deny", json={"reason": "too late"}).status_code == 409
    q.close()


def test_approval_resumes_an_async_task_without_blocking_the_loop(state: str, tmp_path: Path) -> None:
    """An awaiting agent leaves its event loop free: the approving coroutine runs on the same loop."""
    fw = _firewall(state, "none")
    q = ApprovalQueue(state)

    async def agent() -> Verdict:
        with agent_context(agent_id="payer", task_id="t-async"):
            return await fw.evaluate_async(ToolCall("wire_money", {"iban": "FR76", "amount": 5}))

    async def approver() -> Approval:
        # Runs on the agent's loop: if the agent blocked it, this would never get to answer.
        while True:
            rows = await asyncio.to_thread(q.list, "pending")
            if rows:
                return await asyncio.to_thread(q.decide, rows[0].id, True, "ann", "async ok")
            await asyncio.sleep(0.02)

    async def main() -> tuple[Verdict, Approval]:
        task = asyncio.create_task(agent())
        answered = await asyncio.wait_for(approver(), 60)
        return await asyncio.wait_for(task, 60), answered

    v, a = asyncio.run(main())
    assert v.action.value == "allow" and v.extra["approval"]["approver"] == "queue:ann" and a.status == "approved"
    q.close()


def test_timeout_denies_and_is_audited(state: str, tmp_path: Path) -> None:
    """No answer within the timeout blocks the call, expires its row and says so in the audit trail."""
    audit = f"sqlite:///{tmp_path}/trail.db"
    fw = _firewall(state, audit, timeout=0.3)
    v = _wire(fw, "NL91")
    assert v.action.value == "block" and v.policy_name == "escalation.no_answer"
    assert "no answer within 0.3s" in v.reasoning
    q = ApprovalQueue(state)
    (row,) = q.list("expired")
    assert row.status == "expired" and row.decided_by == "timeout"
    with pytest.raises(ApprovalError) as e:
        q.decide(row.id, True, "ann", "late")
    assert e.value.status == 409
    assert fw.flush(30)
    store = open_store(audit)
    (rec,) = [r for r in store.actions() if r["tool_name"] == "wire_money"]
    store.close()
    assert rec["verdict"] == "block" and "no answer" in rec["reasoning"]
    q.close()


def test_parallel_calls_are_decided_independently(state: str, tmp_path: Path) -> None:
    """Two calls of one completion wait side by side; approving one and denying the other gives allow and block."""
    audit = f"sqlite:///{tmp_path}/trail.db"
    fw = _firewall(state, audit)
    out: dict[str, Verdict] = {}
    threads = [threading.Thread(target=lambda i=i: out.setdefault(i, _wire(fw, i))) for i in ("GB29", "IT60")]
    for t in threads:
        t.start()
    q = ApprovalQueue(state)
    rows = {a.payload["arguments"]["iban"]: a for a in _pending(q, 2, out)}
    c = TestClient(create_app(audit, state_url=state), base_url=LOCAL)
    assert c.post(f"/v1/approvals/{rows['IT60'].id}/deny", json={"reason": "unknown payee"}).status_code == 200
    assert c.post(f"/v1/approvals/{rows['GB29'].id}/approve", json={"reason": "invoice 42"}).status_code == 200
    for t in threads:
        t.join(60)
    assert out["GB29"].action.value == "allow" and out["IT60"].action.value == "block"
    assert out["IT60"].policy_name == "escalation.denied" and "unknown payee" in out["IT60"].reasoning

    # Who and why: the answers are records of their own, and part of each call's record.
    assert fw.flush(30)
    with c:  # the lifespan's exit drains the server's trail writer
        pass
    store = open_store(audit)
    recs = list(store.actions())
    store.close()
    answers = {r["payload"]["arguments"]["approval_id"]: r for r in recs if r["tool_name"] == "agentgate.approval"}
    assert answers[rows["IT60"].id]["policy_name"] == "approval.denied"
    assert "by local: unknown payee" in answers[rows["IT60"].id]["reasoning"]
    assert answers[rows["GB29"].id]["policy_name"] == "approval.approved"
    calls = {r["payload"]["arguments"]["iban"]: r for r in recs if r["tool_name"] == "wire_money"}
    assert calls["GB29"]["verdict"] == "allow" and "invoice 42" in calls["GB29"]["reasoning"]
    q.close()


def test_answers_are_validated(state: str, tmp_path: Path) -> None:
    """Unknown id is 404, no reason is 400, a second answer is 409; the list filters by status."""
    q = ApprovalQueue(state)
    a = q.submit({"tool": "t", "agent": {"agent_id": "x"}}, 60)
    c = TestClient(create_app(f"sqlite:///{tmp_path}/trail.db", state_url=state), base_url=LOCAL)
    assert c.post("/v1/approvals/nope/approve", json={"reason": "r"}).status_code == 404
    assert c.post(f"/v1/approvals/{a.id}/approve", json={}).status_code == 400
    assert c.post(f"/v1/approvals/{a.id}/approve", json={"reason": "  "}).status_code == 400
    assert c.get("/v1/approvals", params={"status": "bogus"}).status_code == 400
    assert c.post(f"/v1/approvals/{a.id}/deny", json={"reason": "no"}).status_code == 200
    assert c.post(f"/v1/approvals/{a.id}/approve", json={"reason": "yes"}).status_code == 409
    assert c.get("/v1/approvals").json()["count"] == 0
    assert [x["id"] for x in c.get("/v1/approvals", params={"status": "denied"}).json()["approvals"]] == [a.id]
    assert c.get(f"/v1/approvals/{a.id}").json()["decided_by"] == "local"
    q.close()


def test_approvals_cli(state: str, tmp_path: Path) -> None:
    """agentgate approvals list / approve / deny act on the queue and audit the answer."""
    q = ApprovalQueue(state)
    one = q.submit({"tool": "wire_money", "arguments": {"iban": "X1"}, "agent": {"agent_id": "payer"}}, 60)
    two = q.submit({"tool": "delete_repo", "arguments": {"name": "r"}, "agent": {"agent_id": "ops"}}, 60)
    run = CliRunner()
    out = run.invoke(cli, ["approvals", "list", "--state", state])
    assert out.exit_code == 0 and one.id in out.output and two.id in out.output
    out = run.invoke(cli, ["approvals", "approve", one.id, "--reason", "ok by phone", "--as", "ann", "--state", state])
    assert out.exit_code == 0, out.output
    assert run.invoke(cli, ["approvals", "deny", two.id, "--state", state]).exit_code == 2  # --reason is required
    assert run.invoke(cli, ["approvals", "deny", two.id, "--reason", "no", "--state", state]).exit_code == 0
    assert run.invoke(cli, ["approvals", "deny", two.id, "--reason", "again", "--state", state]).exit_code == 2
    got = q.get(one.id)
    assert got is not None and (got.status, got.decided_by, got.reason) == ("approved", "ann", "ok by phone")
    store = open_store(None)  # the CLI audits where the firewall would (AGENTGATE_AUDIT_URL in tests)
    recs = [r for r in store.actions() if r["tool_name"] == "agentgate.approval"]
    store.close()
    assert {r["policy_name"] for r in recs} == {"approval.approved", "approval.denied"}
    q.close()
