"""Rate limiting: in-memory and Redis-backed sliding windows."""

from __future__ import annotations

import subprocess
import sys
import uuid

import agentgate
from agentgate import Firewall, ToolCall, agent_context
from agentgate.analyzers.ratelimit import MemoryRateLimiter, RedisRateLimiter


def test_call_past_budget_is_blocked() -> None:
    """The call past the window's budget is blocked with rate.limit; other agents are unaffected."""
    fw = Firewall(audit=None, rate_limit=3)
    call = ToolCall("read_file", {"path": "x"})
    with agent_context(agent_id="busy"):
        verdicts = [fw.evaluate(call) for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert verdicts[-1].policy_name == "rate.limit"
    with agent_context(agent_id="calm"):
        assert fw.evaluate(call).allowed


def test_scope_max_rate_and_per_tool() -> None:
    """scope(max_rate=N) limits inside the scope; per_tool keys the window by tool."""
    fw = Firewall(audit=None, rate_limit={"max_calls": 2, "per_tool": True})
    with agent_context(agent_id="a"):
        assert fw.evaluate(ToolCall("t1", {})).allowed and fw.evaluate(ToolCall("t1", {})).allowed
        assert fw.evaluate(ToolCall("t2", {})).allowed
        assert fw.evaluate(ToolCall("t1", {})).blocked
    fw2 = Firewall(audit=None)
    with agent_context(agent_id="b"), agentgate.scope(max_rate=1):
        assert fw2.evaluate(ToolCall("t", {})).allowed
        assert fw2.evaluate(ToolCall("t", {})).blocked


def test_memory_limiter_window_slides() -> None:
    """Hits older than the window stop counting."""
    import time

    lim = MemoryRateLimiter()
    assert lim.hit("k", 1, 0.05)[0]
    assert not lim.hit("k", 1, 0.05)[0]
    time.sleep(0.06)
    assert lim.hit("k", 1, 0.05)[0]


_CHILD = """
import sys
from agentgate.analyzers.ratelimit import RedisRateLimiter
lim = RedisRateLimiter(sys.argv[1], prefix=sys.argv[2])
ok = sum(lim.hit("agent", 5, 60.0)[0] for _ in range(4))
print(ok)
"""


def test_redis_limiter_shares_budget_across_processes(redis_url: str) -> None:
    """Two processes hitting one Redis window share a single budget of 5."""
    prefix = f"agentgate-test:{uuid.uuid4().hex}:"
    procs = [
        subprocess.run([sys.executable, "-c", _CHILD, redis_url, prefix], capture_output=True, text=True, timeout=60)
        for _ in range(2)
    ]
    allowed = [int(p.stdout.strip()) for p in procs]
    assert sum(allowed) == 5, (allowed, [p.stderr for p in procs])
    lim = RedisRateLimiter(redis_url, prefix=prefix)
    assert not lim.hit("agent", 5, 60.0)[0]


def test_redis_backend_through_the_firewall(redis_url: str) -> None:
    """rate_limit backend redis:// is used by the firewall."""
    fw = Firewall(audit=None, rate_limit={"max_calls": 1, "backend": redis_url})
    with agent_context(agent_id=f"a-{uuid.uuid4().hex}"):
        assert fw.evaluate(ToolCall("t", {})).allowed
        assert fw.evaluate(ToolCall("t", {})).policy_name == "rate.limit"


def test_unreachable_redis_escalates_not_allows() -> None:
    """A limiter whose backend is down escalates (and without a judge, blocks)."""
    fw = Firewall(audit=None, rate_limit={"max_calls": 10, "backend": "redis://127.0.0.1:1/0"})
    v = fw.evaluate(ToolCall("t", {}))
    assert v.blocked and any(f.rule_id == "rate.unavailable" for f in v.findings)
