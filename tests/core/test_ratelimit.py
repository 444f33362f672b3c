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


class _Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_limiter_forgets_idle_keys() -> None:
    """A burst of one-off agent ids is forgotten once their windows pass; a live key keeps its count."""
    clock = _Clock()
    lim = MemoryRateLimiter(clock=clock)
    assert lim.hit("steady", 2, 60.0) == (True, 1)
    for i in range(50_000):
        lim.hit(f"agent-{i}", 5, 1.0)
    assert len(lim) == 50_001
    clock.now += 2.0  # every one-off window has passed; "steady" is still inside its 60 s window
    assert lim.hit("steady", 2, 60.0) == (True, 2)
    assert len(lim) == 1
    assert lim.hit("steady", 2, 60.0) == (False, 3)


def test_memory_limiter_keeps_bounded_timestamps_per_key() -> None:
    """A hammering key stores at most limit + 1 timestamps, and still reads as over the limit."""
    lim = MemoryRateLimiter(clock=_Clock())
    results = [lim.hit("hammer", 3, 60.0) for _ in range(10_000)]
    assert [ok for ok, _ in results[:4]] == [True, True, True, False]
    assert not any(ok for ok, _ in results[3:])
    assert len(lim._hits["hammer"][0]) == 4


def test_full_memory_limiter_escalates_instead_of_forgetting_live_windows() -> None:
    """With max_keys live windows, a new key is not counted: the analyzer escalates (rate.unavailable)."""
    from agentgate.analyzers.ratelimit import RateLimitAnalyzer, RateLimiterFullError

    clock = _Clock()
    lim = MemoryRateLimiter(max_keys=3, clock=clock)
    for k in ("a", "b", "c"):
        lim.hit(k, 1, 60.0)
    try:
        lim.hit("d", 1, 60.0)
        raise AssertionError("a fourth live key was counted")
    except RateLimiterFullError:
        pass
    assert lim.hit("a", 1, 60.0) == (False, 2)  # live windows were not evicted to make room
    fw = Firewall(audit=None, analyzers=())
    object.__setattr__(fw, "_rate", RateLimitAnalyzer(lim, max_calls=1))
    with agent_context(agent_id="newcomer"):
        v = fw.evaluate_tier1(ToolCall("read_file", {"path": "x"}))
    assert v.action.value == "escalate" and v.policy_name == "rate.unavailable"
    clock.now += 61.0
    with agent_context(agent_id="newcomer"):
        assert fw.evaluate_tier1(ToolCall("read_file", {"path": "x"})).allowed


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
