"""Rules over history: after X forbid Y, counts and sums per task (in flight), first-time values."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from pathlib import Path

from agentgate import agent_context, scope
from agentgate._call import ToolCall
from agentgate._decision import Verdict
from agentgate.policy._history import RedisHistoryStore

from .conftest import make_fw

HISTORY = """\
agents:
  payer:
    allowed_operations: [read, transfer, send]
    history:
      - after: {operation: read, resource: ["**/.env", "**/vault/**"]}
        forbid: {operation: send}
        reason: no outbound message after reading a secret
      - after: {operation: transfer}
        forbid: {tool: [update_payee, add_beneficiary]}
      - limit: {tool: send_payment}
        max_calls: 3
        max_sum: {amount: 1000}
      - first_time: {tool: send_payment}
        arguments: [iban]
"""


def _fw(tmp_path: Path, **kw: object):  # type: ignore[no-untyped-def]
    return make_fw(tmp_path, HISTORY, on_escalate="ask", approver=lambda req: True, **kw)


def _pay(amount: object, iban: str = "DE44500105175407324931") -> ToolCall:
    return ToolCall("send_payment", {"amount": amount, "iban": iban})


def test_after_reading_a_secret_no_outbound_send(tmp_path: Path) -> None:
    """A send runs before the agent reads .env and is blocked after it, for the rest of the task only."""
    fw = _fw(tmp_path)
    mail = ToolCall("send_email", {"to": "bob@acme.com", "body": "status"})
    with agent_context(agent_id="payer", task_id=f"t-{uuid.uuid4()}"):
        assert fw.evaluate(mail).allowed
        assert fw.evaluate(ToolCall("read_file", {"path": "ops/vault/db-password.txt"})).allowed
        v = fw.evaluate(mail)
        assert v.blocked and v.policy_name == "policy.history_after" and "secret" in v.reasoning
    with agent_context(agent_id="payer", task_id=f"t-{uuid.uuid4()}"):
        assert fw.evaluate(mail).allowed
        assert fw.evaluate(ToolCall("read_file", {"path": "config/env.example"})).allowed
        assert fw.evaluate(mail).allowed


def test_after_a_transfer_no_payee_change(tmp_path: Path) -> None:
    """update_payee is allowed before any transfer in the task and blocked after one."""
    fw = _fw(tmp_path)
    with agent_context(agent_id="payer", task_id=f"t-{uuid.uuid4()}"):
        assert fw.evaluate(ToolCall("update_payee", {"name": "ACME GmbH"})).allowed
        assert fw.evaluate(_pay(10)).allowed
        assert fw.evaluate(ToolCall("update_payee", {"name": "ACME GmbH"})).blocked


def test_counts_and_sums_per_task(tmp_path: Path) -> None:
    """At most 3 transfers and 1,000 EUR per task; a refused call does not use up the budget."""
    fw = _fw(tmp_path)
    with agent_context(agent_id="payer", task_id=f"t-{uuid.uuid4()}"):
        assert fw.evaluate(_pay(600)).allowed
        v = fw.evaluate(_pay("400.01"))
        assert v.blocked and v.policy_name == "policy.history_limit"
        assert fw.evaluate(_pay("400")).allowed
        assert fw.evaluate(_pay("lots")).blocked
        v = fw.evaluate(_pay(0))
        assert v.allowed
        assert fw.evaluate(_pay(0)).blocked  # a fourth transfer
    with agent_context(agent_id="payer", task_id=f"t-{uuid.uuid4()}"):
        assert fw.evaluate(_pay(600)).allowed  # another task, another budget


def test_calls_in_flight_count(tmp_path: Path) -> None:
    """Eight concurrent transfers decided at once: exactly three are allowed (reservation at decision time)."""
    fw = _fw(tmp_path)
    results: list[Verdict] = []
    barrier = threading.Barrier(8)
    task = f"t-{uuid.uuid4()}"

    def worker() -> None:
        with agent_context(agent_id="payer", task_id=task):
            barrier.wait()
            results.append(fw.evaluate(_pay(10)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(v.allowed for v in results) == 3


def test_first_time_payee_escalates(tmp_path: Path) -> None:
    """A new IBAN escalates (blocked without an approver); once approved it is known; spacing does not matter."""
    fw = make_fw(tmp_path, HISTORY)
    with agent_context(agent_id="payer", task_id=f"t-{uuid.uuid4()}"):
        v = fw.evaluate(_pay(1, "DE89370400440532013000"))
        assert v.blocked and any(f.rule_id == "policy.history_first_time" for f in v.findings)
    fw2 = _fw(tmp_path)
    with agent_context(agent_id="payer", task_id=f"t-{uuid.uuid4()}"):
        v = fw2.evaluate(_pay(1, "DE89370400440532013000"))
        assert v.allowed and v.tier_used == 2
        v = fw2.evaluate(_pay(1, "de89 3704 0044 0532 0130 00"))
        assert v.allowed and v.tier_used == 1


def test_history_rules_in_code() -> None:
    """scope(history=...) works like the file's rules."""
    fw = make_fw()
    with agent_context(task_id=f"t-{uuid.uuid4()}"), scope(history=[{"limit": {"tool": "t"}, "max_calls": 1}]):
        assert fw.evaluate(ToolCall("t", {})).allowed
        assert fw.evaluate(ToolCall("t", {})).blocked
        assert fw.evaluate(ToolCall("u", {})).allowed


_CHILD = """
import sys
from agentgate import Firewall, agent_context
from agentgate._call import ToolCall
fw = Firewall(sys.argv[1], audit=None)
with agent_context(agent_id="payer", task_id=sys.argv[2]):
    v = fw.evaluate(ToolCall("send_payment", {"amount": 10, "iban": "x"}))
print(v.action.value)
"""


def test_history_is_shared_across_processes_through_redis(tmp_path: Path, redis_url: str) -> None:
    """Two child processes and this one, on one Redis, share the 3-transfer budget of a task."""
    cfg = tmp_path / "agentgate.yaml"
    cfg.write_text(
        f"history_backend: {redis_url}\n"
        "agents:\n  payer:\n    history:\n      - limit: {operation: transfer}\n        max_calls: 3\n"
    )
    task = f"t-{uuid.uuid4()}"  # keys carry the task id, so nothing collides with other tests
    out = [
        subprocess.run(
            [sys.executable, "-c", _CHILD, str(cfg), task], capture_output=True, text=True, timeout=60, check=True
        ).stdout.split()[-1]
        for _ in range(2)
    ]
    local = make_fw(tmp_path, cfg.read_text())
    with agent_context(agent_id="payer", task_id=task):
        third = local.evaluate(ToolCall("send_payment", {"amount": 10, "iban": "x"}))
        fourth = local.evaluate(ToolCall("send_payment", {"amount": 10, "iban": "x"}))
    store = RedisHistoryStore(redis_url)
    for key in store._client.scan_iter(f"agentgate:h:*{task}*"):
        store._client.delete(key)
    assert out == ["allow", "allow"] and third.allowed and fourth.blocked


def test_unreachable_history_store_escalates(tmp_path: Path) -> None:
    """A Redis that cannot be reached never lets a limited call through unseen."""
    fw = make_fw(
        tmp_path,
        "history_backend: redis://127.0.0.1:1/0\nagents:\n  default:\n    history:\n"
        "      - limit: {operation: transfer}\n        max_calls: 3\n",
    )
    v = fw.evaluate(_pay(1))
    assert v.blocked and any(f.rule_id == "policy.history_unavailable" for f in v.findings)
