"""Rate limiting: a sliding window per agent (optionally per agent and tool).

Two backends with one interface, ``hit(key, limit, window) -> (allowed, count)``:

* `MemoryRateLimiter` — thread-safe, in process (one lock, a short list per key); idle keys
  expire and the number of live windows is bounded (a full table escalates);
* `RedisRateLimiter` — ``redis://...``: one sorted set per key updated by an atomic
  Lua script, so many processes and machines share one budget.

Every attempt counts, including blocked ones: an agent stuck retrying a blocked
call is throttled too. A limiter that cannot reach its backend escalates
(``rate.unavailable``) rather than allowing unseen; so does an in-memory limiter whose
table of live windows is full.

>>> lim = MemoryRateLimiter()
>>> [lim.hit("bot", limit=2, window=60.0)[0] for _ in range(3)]
[True, True, False]
"""

from __future__ import annotations

import bisect
import heapq
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from .._call import ToolCall
from .._decision import Effect, Finding, Severity
from .._errors import ConfigError, MissingDependencyError
from .base import Context

__all__ = [
    "MemoryRateLimiter",
    "RateLimitAnalyzer",
    "RateLimiter",
    "RateLimiterFullError",
    "RedisRateLimiter",
    "make_limiter",
]


class RateLimiter(Protocol):
    """A sliding-window counter shared by whatever the backend spans."""

    def hit(self, key: str, limit: int, window: float) -> tuple[bool, int]:
        """Count one attempt for *key*; return (within limit, attempts in the window including this one)."""
        ...


class RateLimiterFullError(RuntimeError):
    """The in-memory limiter tracks `MemoryRateLimiter.max_keys` live windows and cannot count a new key."""


class MemoryRateLimiter:
    """In-process sliding window; safe across threads and asyncio tasks; bounded memory.

    Each key has one entry in a min-heap of expiry times (last hit + window), so a key
    whose window has passed (an idle agent id) is dropped in amortized O(log n) per
    hit: a million one-off agent ids cost memory only while their windows are live.
    Each key keeps at most ``limit + 1`` timestamps (a sorted list) (enough to tell "over the limit").
    When `max_keys` windows are all live at once, a new key is refused with
    `RateLimiterFullError` (the analyzer escalates) rather than evicting a live window,
    which would reset someone's budget.

    Args:
        max_keys: Most live windows kept at once.
        clock: Monotonic seconds (tests inject a fake clock).
    """

    def __init__(self, max_keys: int = 200_000, clock: Callable[[], float] = time.monotonic) -> None:
        if max_keys < 1:
            raise ConfigError(f"max_keys must be >= 1, not {max_keys!r}")
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._hits: dict[str, list[Any]] = {}  # key -> [timestamps, window]
        self._expiry: list[tuple[float, str]] = []  # heap, exactly one entry per key

    def __len__(self) -> int:
        """How many keys currently hold a window."""
        return len(self._hits)

    def hit(self, key: str, limit: int, window: float) -> tuple[bool, int]:
        """See `RateLimiter.hit`. Raises `RateLimiterFullError` when no window is free for a new key."""
        now = self._clock()
        cutoff = now - window
        with self._lock:
            self._expire(now)
            entry = self._hits.get(key)
            if entry is None:
                if len(self._hits) >= self.max_keys:
                    raise RateLimiterFullError(f"{self.max_keys} rate-limit windows are live; cannot count {key!r}")
                # A list, not a deque: an empty deque already costs ~600 bytes, and a key
                # holds at most limit + 1 sorted timestamps, trimmed by slicing.
                q: list[float] = []
                self._hits[key] = [q, window]
                heapq.heappush(self._expiry, (now + window, key))
            else:
                q = entry[0]
                entry[1] = window
            old = bisect.bisect_right(q, cutoff)
            if old:
                del q[:old]
            q.append(now)
            if len(q) > limit + 1:  # beyond limit + 1 the answer cannot change
                del q[: len(q) - limit - 1]
            n = len(q)
        return n <= limit, n

    def _expire(self, now: float) -> None:
        heap, hits = self._expiry, self._hits
        while heap and heap[0][0] <= now:
            _, key = heapq.heappop(heap)
            entry = hits.get(key)
            if entry is None:
                continue
            q, window = entry
            due = q[-1] + window if q else now
            if due <= now:
                del hits[key]
            else:  # hit since it was scheduled: look again when its window really ends
                heapq.heappush(heap, (due, key))

    def reset(self) -> None:
        """Forget every window."""
        with self._lock:
            self._hits.clear()
            self._expiry.clear()


# KEYS[1] = the window's sorted set; ARGV = now_ms, window_ms, member. Returns the count after adding.
_LUA = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])
"""


class RedisRateLimiter:
    """Sliding window in Redis, shared by every process using the same URL and prefix."""

    def __init__(self, url: str, *, prefix: str = "agentgate:rl:", client: Any = None, timeout: float = 0.5) -> None:
        if client is None:
            try:
                import redis
            except ImportError:
                raise MissingDependencyError("redis", "redis") from None
            client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_LUA)
        self._node = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._seq = 0
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, window: float) -> tuple[bool, int]:
        """See `RateLimiter.hit`. Redis errors propagate (the analyzer escalates)."""
        with self._lock:
            self._seq += 1
            member = f"{self._node}-{self._seq}"
        # Redis server time would be better for clock skew across machines; TIME costs a round trip,
        # so machines are expected to run NTP (documented).
        now_ms = int(time.time() * 1000)
        n = int(self._script(keys=[self._prefix + key], args=[now_ms, int(window * 1000), member]))
        return n <= limit, n


def make_limiter(backend: str | None) -> RateLimiter:
    """``memory`` (default) or a ``redis://`` / ``rediss://`` / ``unix://`` URL."""
    if backend in (None, "", "memory"):
        return MemoryRateLimiter()
    assert backend is not None
    if backend.startswith(("redis://", "rediss://", "unix://")):
        return RedisRateLimiter(backend)
    raise ConfigError(f"rate_limit.backend must be 'memory' or a redis:// URL, not {backend!r}")


class RateLimitAnalyzer:
    """The analyzer: blocks the call past the budget of the agent's window.

    The budget is the tighter of the firewall's ``rate_limit`` and the policy's
    ``max_rate`` (calls per minute, from agentgate.yaml or ``scope(max_rate=...)``).
    """

    def __init__(
        self, limiter: RateLimiter, *, max_calls: int | None = 100, window_seconds: float = 60.0, per_tool: bool = False
    ) -> None:
        self.limiter = limiter
        self.max_calls = max_calls
        self.window = window_seconds
        self.per_tool = per_tool

    def __call__(self, call: ToolCall, ctx: Context) -> Sequence[Finding]:
        if self.max_calls is None and ctx.policy.max_rate is None:
            return ()  # no budget counts this call (the analyzer is always present)
        agent = ctx.agent.agent_id or "default"
        out: list[Finding] = []
        checks: list[tuple[str, int, float]] = []
        if self.max_calls is not None:
            key = f"{agent}:{call.tool_name}" if self.per_tool else agent
            checks.append((key, self.max_calls, self.window))
        scope_rate = ctx.policy.max_rate
        if scope_rate is not None:
            checks.append((f"{agent}:scope", scope_rate, 60.0))
        for key, limit, window in checks:
            try:
                ok, n = self.limiter.hit(key, limit, window)
            except Exception as e:  # backend down: never allow unseen
                out.append(
                    Finding(
                        "rate.unavailable",
                        Severity.MEDIUM,
                        Effect.ESCALATE,
                        f"rate limiter backend unavailable ({type(e).__name__}); cannot enforce the budget",
                        str(e)[:200],
                    )
                )
                continue
            if not ok:
                out.append(
                    Finding(
                        "rate.limit",
                        Severity.MEDIUM,
                        Effect.BLOCK,
                        f"agent {agent!r} made {n} calls in {window:g}s, over its budget of {limit}; slow down or raise rate_limit",
                        f"{n}/{limit} per {window:g}s",
                    )
                )
        return out
