"""Rules over history: what an agent did earlier in its task decides what it may do now.

Three rule forms, written under ``history:`` of an agent (or ``scope(history=...)``)::

    history:
      # after X, forbid Y (for the rest of the task)
      - after: {operation: read, resource: ["**/.env", "**/.ssh/**"]}
        forbid: {operation: send}
      - after: {operation: transfer}
        forbid: {tool: ["update_payee", "add_beneficiary"]}
      # counts and sums in a window (default: the whole task)
      - limit: {operation: transfer}
        max_calls: 3
        max_sum: {amount: 1000}
        window: 86400
      # a value never seen before escalates (per agent, across tasks)
      - first_time: {operation: transfer}
        arguments: [iban, payee]

A matcher (``after``, ``forbid``, ``limit``, ``first_time``) may name ``tool``
(globs), ``operation``, ``resource`` (patterns, as in ``allowed_resources``) and
``finding`` (rule-id globs of this call's tier-1 findings, e.g. ``secrets.*``); every
field given must match, any entry of a field may. ``per: agent`` keys a rule by the
agent id instead of the task.

Semantics (docs/policy.md):

* Counts and sums **reserve at decision time**: an allowed call counts at once, while
  it is still running, so concurrent calls cannot overrun a budget; a call blocked
  later in the decision (by the judge, say) releases its reservation.
* ``after`` facts and first-time values are recorded when a call is allowed.
* A call whose amount cannot be read (``amount: "lots"``) under ``max_sum`` is
  blocked; a store that cannot be reached escalates (``policy.history_unavailable``).
* The state lives in a `HistoryStore`: in process (`MemoryHistoryStore`), or in
  Redis (`RedisHistoryStore`, the ``rate_limit.backend`` URL, or ``history_backend:``),
  shared by every process of a deployment.
"""

from __future__ import annotations

import fnmatch
import hashlib
import itertools
import json
import os
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from ._resources import match_pattern
from ._rules import number

__all__ = [
    "HistoryRule",
    "HistoryStore",
    "Matcher",
    "MemoryHistoryStore",
    "RedisHistoryStore",
    "compile_history",
    "make_history_store",
]

_TASK_TTL = 7 * 86400.0  # per-task facts expire a week after the last write


@dataclass(frozen=True, slots=True)
class Matcher:
    """Which calls a history rule looks at. Empty fields match anything."""

    tools: tuple[str, ...] = ()
    operations: frozenset[str] = frozenset()
    resources: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()

    def matches(self, tool: str, operation: str | None, resources: Sequence[Any], rule_ids: Sequence[str]) -> bool:
        """Does a call with these facts match? ``resources`` are `Resource` objects."""
        if self.tools:
            for p in self.tools:
                if p == tool or fnmatch.fnmatchcase(tool, p):
                    break
            else:
                return False
        if self.operations and operation not in self.operations:
            return False
        if self.resources and not any(match_pattern(p, r.value, r.kind) for r in resources for p in self.resources):
            return False
        return not self.findings or any(fnmatch.fnmatchcase(rid, p) for rid in rule_ids for p in self.findings)


@dataclass(frozen=True, slots=True)
class HistoryRule:
    """One compiled history rule (see the module docstring)."""

    form: str  # "after", "limit" or "first_time"
    key: str
    when: Matcher
    forbid: Matcher | None = None
    max_calls: int | None = None
    sum_arg: str | None = None
    max_sum: Decimal | None = None
    window: float | None = None
    arguments: tuple[str, ...] = ()
    per: str = "task"
    layer: str = ""
    text: str = field(default="", compare=False)


def _strs(v: Any, what: str) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        return (v,)
    if isinstance(v, Sequence) and all(isinstance(x, str) for x in v):
        return tuple(v)
    raise ValueError(f"{what}: a string or a list of strings, not {v!r}")


def _matcher(raw: Any, what: str, declared: Sequence[str] | None) -> Matcher:
    from ._operations import check_operation

    if not isinstance(raw, Mapping):
        raise ValueError(f"{what}: a mapping of tool/operation/resource/finding, not {raw!r}")
    bad = set(raw) - {"tool", "operation", "resource", "finding"}
    if bad:
        raise ValueError(f"{what}: unknown key {sorted(bad)[0]!r}; expected tool, operation, resource, finding")
    ops = frozenset(check_operation(o, declared) for o in _strs(raw.get("operation"), f"{what}.operation"))
    return Matcher(
        _strs(raw.get("tool"), f"{what}.tool"),
        ops,
        _strs(raw.get("resource"), f"{what}.resource"),
        _strs(raw.get("finding"), f"{what}.finding"),
    )


def compile_history(
    raw: Sequence[Mapping[str, Any]], layer: str, declared: Sequence[str] | None = None
) -> tuple[HistoryRule, ...]:
    """Compile the ``history:`` list of one layer; raises ValueError naming the bad entry."""
    out: list[HistoryRule] = []
    for i, r in enumerate(raw):
        where = f"history[{i}]"
        if not isinstance(r, Mapping):
            raise ValueError(f"{where}: a mapping, not {r!r}")
        forms = [f for f in ("after", "limit", "first_time") if f in r]
        if len(forms) != 1:
            raise ValueError(f"{where}: exactly one of after, limit, first_time")
        form = forms[0]
        allowed = {
            "after": {"after", "forbid", "per", "reason"},
            "limit": {"limit", "max_calls", "max_sum", "window", "per", "reason"},
            "first_time": {"first_time", "arguments", "per", "reason"},
        }[form]
        bad = set(r) - allowed
        if bad:
            raise ValueError(f"{where}: unknown key {sorted(bad)[0]!r} for a {form} rule")
        per = r.get("per", "agent" if form == "first_time" else "task")
        if per not in ("task", "agent"):
            raise ValueError(f"{where}.per: 'task' or 'agent', not {per!r}")
        text = json.dumps(r, sort_keys=True, default=str)
        key = f"{layer}#{i}#" + hashlib.sha256(text.encode()).hexdigest()[:10]
        when = _matcher(r[form], f"{where}.{form}", declared)
        kw: dict[str, Any] = {}
        if form == "after":
            if "forbid" not in r:
                raise ValueError(f"{where}: an after rule needs forbid:")
            kw["forbid"] = _matcher(r["forbid"], f"{where}.forbid", declared)
        elif form == "limit":
            mc = r.get("max_calls")
            if mc is not None and (isinstance(mc, bool) or not isinstance(mc, int) or mc < 0):
                raise ValueError(f"{where}.max_calls: a non-negative integer, not {mc!r}")
            kw["max_calls"] = mc
            ms = r.get("max_sum")
            if ms is not None:
                if not isinstance(ms, Mapping) or len(ms) != 1:
                    raise ValueError(f"{where}.max_sum: one argument and its maximum, like {{amount: 1000}}")
                ((arg, cap),) = ms.items()
                n = number(cap)
                if n is None:
                    raise ValueError(f"{where}.max_sum.{arg}: {cap!r} is not a number")
                kw["sum_arg"], kw["max_sum"] = str(arg), n
            if mc is None and ms is None:
                raise ValueError(f"{where}: a limit rule needs max_calls or max_sum")
            w = r.get("window")
            if w is not None and (isinstance(w, bool) or not isinstance(w, (int, float)) or w <= 0):
                raise ValueError(f"{where}.window: seconds > 0, not {w!r}")
            kw["window"] = float(w) if w is not None else None
        else:
            args = _strs(r.get("arguments"), f"{where}.arguments")
            if not args:
                raise ValueError(f"{where}: a first_time rule needs arguments: [...]")
            kw["arguments"] = args
        out.append(HistoryRule(form, key, when, per=per, layer=layer, text=str(r.get("reason", "")), **kw))
    return tuple(out)


# ------------------------------------------------------------------------- stores


class HistoryStore(Protocol):
    """Where history facts live. Every method may raise when the backend is down."""

    def flagged(self, key: str) -> bool:
        """True once `flag` was called for *key*."""
        ...

    def flag(self, key: str) -> None:
        """Record a fact (``after`` rules)."""
        ...

    def reserve(
        self,
        key: str,
        member: str,
        amount: Decimal,
        window: float | None,
        max_calls: int | None,
        max_sum: Decimal | None,
    ) -> tuple[bool, int, Decimal]:
        """Atomically: if adding one call of *amount* keeps the window within both limits, add it.
        Returns (added, calls, sum) — after adding, or as they stand when refused."""
        ...

    def release(self, key: str, member: str) -> None:
        """Take back a reservation (the call was blocked after all)."""
        ...

    def seen(self, key: str, value: str) -> bool:
        """Has *value* been remembered under *key*?"""
        ...

    def remember(self, key: str, value: str) -> None:
        """Remember *value* under *key*."""
        ...


class _Window:
    """One key's reservations, oldest first, with running totals (O(1) per call amortized)."""

    __slots__ = ("entries", "n", "total")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, str, Decimal]] = deque()
        self.n = 0
        self.total = Decimal(0)


class MemoryHistoryStore:
    """In-process store (one lock); windows keep running totals, so a check costs O(1)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flags: dict[str, float] = {}
        self._windows: dict[str, _Window] = {}
        self._sets: dict[str, set[str]] = {}

    def flagged(self, key: str) -> bool:
        """See `HistoryStore.flagged`."""
        return key in self._flags

    def flag(self, key: str) -> None:
        """See `HistoryStore.flag`."""
        with self._lock:
            self._flags[key] = time.monotonic()

    def reserve(
        self,
        key: str,
        member: str,
        amount: Decimal,
        window: float | None,
        max_calls: int | None,
        max_sum: Decimal | None,
    ) -> tuple[bool, int, Decimal]:
        """See `HistoryStore.reserve`."""
        now = time.monotonic()
        with self._lock:
            w = self._windows.get(key)
            if w is None:
                w = self._windows[key] = _Window()
            if window is not None:
                cutoff = now - window
                while w.entries and w.entries[0][0] <= cutoff:
                    _, _, a = w.entries.popleft()
                    w.n -= 1
                    w.total -= a
            if (max_calls is not None and w.n + 1 > max_calls) or (max_sum is not None and w.total + amount > max_sum):
                return False, w.n, w.total
            w.entries.append((now, member, amount))
            w.n += 1
            w.total += amount
            return True, w.n, w.total

    def release(self, key: str, member: str) -> None:
        """See `HistoryStore.release`."""
        with self._lock:
            w = self._windows.get(key)
            if w is None:
                return
            for e in w.entries:
                if e[1] == member:
                    w.entries.remove(e)
                    w.n -= 1
                    w.total -= e[2]
                    return

    def seen(self, key: str, value: str) -> bool:
        """See `HistoryStore.seen`."""
        return value in self._sets.get(key, ())

    def remember(self, key: str, value: str) -> None:
        """See `HistoryStore.remember`."""
        with self._lock:
            self._sets.setdefault(key, set()).add(value)


# KEYS[1] window zset; ARGV: now_ms, window_ms (0 = none), max_calls (-1 = none), max_sum ("" = none),
# amount, member, ttl_ms. Members are "<id>|<amount>"; sums are exact enough for money in doubles
# up to 2^53 minor units. Returns {added, calls, sum-as-string}.
_RESERVE = """
local now, win = tonumber(ARGV[1]), tonumber(ARGV[2])
if win > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win) end
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local n, total = #members, 0
for _, m in ipairs(members) do
  local a = tonumber(string.match(m, '|(.*)$')) or 0
  total = total + a
end
local amount = tonumber(ARGV[5])
local maxc = tonumber(ARGV[3])
if maxc >= 0 and n + 1 > maxc then return {0, n, tostring(total)} end
if ARGV[4] ~= '' and total + amount > tonumber(ARGV[4]) + 1e-9 then return {0, n, tostring(total)} end
redis.call('ZADD', KEYS[1], now, ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return {1, n + 1, tostring(total + amount)}
"""


class RedisHistoryStore:
    """History in Redis, shared by every process using the same URL and prefix."""

    def __init__(self, url: str, *, prefix: str = "agentgate:h:", client: Any = None, timeout: float = 0.5) -> None:
        if client is None:
            try:
                import redis
            except ImportError:
                from .._errors import MissingDependencyError

                raise MissingDependencyError("redis", "redis") from None
            client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._client = client
        self._prefix = prefix
        self._reserve = client.register_script(_RESERVE)
        self._members: dict[str, str] = {}

    def flagged(self, key: str) -> bool:
        """See `HistoryStore.flagged`."""
        return bool(self._client.exists(self._prefix + "f:" + key))

    def flag(self, key: str) -> None:
        """See `HistoryStore.flag`."""
        self._client.set(self._prefix + "f:" + key, b"1", px=int(_TASK_TTL * 1000))

    def reserve(
        self,
        key: str,
        member: str,
        amount: Decimal,
        window: float | None,
        max_calls: int | None,
        max_sum: Decimal | None,
    ) -> tuple[bool, int, Decimal]:
        """See `HistoryStore.reserve`."""
        full = f"{member}|{amount}"
        ttl = int((window if window is not None else _TASK_TTL) * 1000)
        added, n, total = self._reserve(
            keys=[self._prefix + "w:" + key],
            args=[
                int(time.time() * 1000),
                int(window * 1000) if window is not None else 0,
                max_calls if max_calls is not None else -1,
                str(max_sum) if max_sum is not None else "",
                str(amount),
                full,
                ttl,
            ],
        )
        if added:
            self._members[member] = full
        return bool(added), int(n), Decimal(total.decode() if isinstance(total, bytes) else str(total))

    def release(self, key: str, member: str) -> None:
        """See `HistoryStore.release`."""
        full = self._members.pop(member, None)
        if full is not None:
            self._client.zrem(self._prefix + "w:" + key, full)

    def seen(self, key: str, value: str) -> bool:
        """See `HistoryStore.seen`."""
        return bool(self._client.sismember(self._prefix + "s:" + key, value))

    def remember(self, key: str, value: str) -> None:
        """See `HistoryStore.remember`."""
        self._client.sadd(self._prefix + "s:" + key, value)


def make_history_store(backend: str | None) -> HistoryStore:
    """``memory`` (default) or a ``redis://`` / ``rediss://`` / ``unix://`` URL."""
    if backend in (None, "", "memory"):
        return MemoryHistoryStore()
    assert backend is not None
    if backend.startswith(("redis://", "rediss://", "unix://")):
        return RedisHistoryStore(backend)
    from .._errors import ConfigError

    raise ConfigError(f"history backend must be 'memory' or a redis:// URL, not {backend!r}")


_members = itertools.count(1)
_NODE = f"{os.getpid()}-{os.urandom(4).hex()}"


def new_member() -> str:
    """A reservation id unique across processes."""
    return f"{_NODE}-{next(_members)}"
