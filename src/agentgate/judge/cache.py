"""Decision cache with single-flight, in front of any `Judge`.

An agent in a loop repeats itself; a judge call costs 100 ms to seconds and
money. `CachingJudge` remembers each *answer* for `ttl` seconds under a key made
of what the verdict depends on:

* the task (the agent's task description, else the policy's),
* the agent id and the policy revision (a policy edit invalidates everything),
* the normalized call: tool name, kind, operation, arguments as canonical JSON,
* the tier-1 findings (rule id and evidence), which carry what tier 1 learned
  from the history (provenance) without making every history a new key;
* the reviewer-injection markers in the call and the recent history, so an
  answer given before the agent read an injected page is not reused after.

Failures are never cached. Identical reviews that overlap in time share one
request (single-flight): 50 concurrent identical escalations make one HTTP call,
and all 50 get its answer, or its error. This works across threads and event
loops, sync and async callers mixed: the in-flight entry is a
`concurrent.futures.Future`. One exception: a sync caller on the very thread whose
event loop runs the in-flight async review would deadlock waiting for it, so it
makes its own request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import hashlib
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentgate._errors import ConfigError, JudgeError

from .base import Judge, JudgeResult, JudgeThresholds
from .prompt import request_injection_markers

if TYPE_CHECKING:
    from agentgate._escalation import EscalationRequest

__all__ = ["CachingJudge", "cache_key"]


def _canon(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canon(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_canon(v) for v in value), key=repr)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return f"<{type(value).__name__}> {value!r}"


def cache_key(req: EscalationRequest, history: int = 10) -> str:
    """The cache key of *req* (see the module docstring for what goes in)."""
    payload = [
        list(request_injection_markers(req, history=history)),
        req.agent.task_description or req.policy.task,
        req.agent.agent_id,
        req.policy_revision,
        req.call.tool_name,
        req.kind,
        req.operation,
        _canon(dict(req.call.arguments)),
        sorted([f.rule_id, f.effect.value, f.evidence, f.argument or ""] for f in req.findings),
    ]
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(slots=True)
class _Flight:
    future: concurrent.futures.Future[JudgeResult]
    thread: int
    is_async: bool


class CachingJudge:
    """Wraps a judge with a TTL cache and single-flight (see the module docstring).

    Args:
        inner: The judge that does the work.
        ttl: Seconds an answer is reused (default 300). ``0`` disables the cache but
            keeps single-flight.
        maxsize: Most answers kept; the least recently used go first.
        wait_timeout: Longest a follower waits for an identical in-flight review;
            defaults to the inner judge's ``timeout`` plus one second.
    """

    def __init__(
        self, inner: Judge, ttl: float = 300.0, maxsize: int = 4096, wait_timeout: float | None = None
    ) -> None:
        if ttl < 0 or maxsize < 1:
            raise ConfigError(f"judge cache needs ttl >= 0 and maxsize >= 1 (got ttl={ttl!r}, maxsize={maxsize!r})")
        self.inner = inner
        self.ttl = ttl
        self.maxsize = maxsize
        self.wait_timeout = wait_timeout if wait_timeout is not None else float(getattr(inner, "timeout", 30.0)) + 1.0
        self._history = int(getattr(inner, "history", 10))
        self._entries: OrderedDict[str, tuple[float, JudgeResult]] = OrderedDict()
        self._flights: dict[str, _Flight] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def model(self) -> str:
        """The inner judge's model."""
        return self.inner.model

    @property
    def timeout(self) -> float:
        """The inner judge's timeout (seconds)."""
        return float(getattr(self.inner, "timeout", self.wait_timeout))

    @property
    def thresholds(self) -> JudgeThresholds | None:
        """The inner judge's thresholds, if it carries any."""
        return getattr(self.inner, "thresholds", None)

    def clear(self) -> None:
        """Forget every cached answer."""
        with self._lock:
            self._entries.clear()

    def _lookup(self, key: str, start: float) -> JudgeResult | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, result = entry
        if expires <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return dataclasses.replace(result, cached=True, attempts=0, latency_ms=(time.monotonic() - start) * 1000.0)

    def _store(self, key: str, result: JudgeResult) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl, result)
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def _join(self, key: str, start: float, is_async: bool) -> tuple[JudgeResult | None, _Flight, bool]:
        """(cached result, flight, am I the leader) for *key*."""
        me = threading.get_ident()
        with self._lock:
            hit = self._lookup(key, start)
            if hit is not None:
                return hit, _Flight(concurrent.futures.Future(), me, is_async), False
            flight = self._flights.get(key)
            if flight is not None and not (not is_async and flight.is_async and flight.thread == me):
                return None, flight, False
            self.misses += 1
            own = _Flight(concurrent.futures.Future(), me, is_async)
            if flight is None:
                self._flights[key] = own
            return None, own, True

    def _land(self, key: str, flight: _Flight, result: JudgeResult | None, error: BaseException | None) -> None:
        with self._lock:
            if self._flights.get(key) is flight:
                del self._flights[key]
        if flight.future.done():
            return
        if error is not None:
            if not isinstance(error, Exception):  # the leader was cancelled: followers were not
                error = JudgeError(f"judge {self.model}: the identical in-flight review was cancelled")
            flight.future.set_exception(error)
        else:
            assert result is not None
            self._store(key, result)
            flight.future.set_result(result)

    @staticmethod
    def _shared(result: JudgeResult, start: float) -> JudgeResult:
        return dataclasses.replace(result, cached=True, attempts=0, latency_ms=(time.monotonic() - start) * 1000.0)

    def judge(self, req: EscalationRequest) -> JudgeResult:
        """Review *req*, reusing a cached or in-flight identical review."""
        start = time.monotonic()
        key = cache_key(req, self._history)
        hit, flight, leader = self._join(key, start, is_async=False)
        if hit is not None:
            return hit
        if not leader:
            try:
                return self._shared(flight.future.result(timeout=self.wait_timeout), start)
            except concurrent.futures.TimeoutError:
                raise JudgeError(
                    f"judge {self.model}: no answer from an identical in-flight review within {self.wait_timeout:.2f}s"
                ) from None
        try:
            result = self.inner.judge(req)
        except BaseException as exc:
            self._land(key, flight, None, exc)
            raise
        self._land(key, flight, result, None)
        return result

    async def ajudge(self, req: EscalationRequest) -> JudgeResult:
        """Review *req* (async), reusing a cached or in-flight identical review."""
        start = time.monotonic()
        key = cache_key(req, self._history)
        hit, flight, leader = self._join(key, start, is_async=True)
        if hit is not None:
            return hit
        if not leader:
            try:
                shared = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(flight.future)), self.wait_timeout)
            except TimeoutError:
                raise JudgeError(
                    f"judge {self.model}: no answer from an identical in-flight review within {self.wait_timeout:.2f}s"
                ) from None
            return self._shared(shared, start)
        try:
            result = await self.inner.ajudge(req)
        except BaseException as exc:
            self._land(key, flight, None, exc)
            raise
        self._land(key, flight, result, None)
        return result
