"""AuditWriter: callers enqueue, one writer thread builds records, one thread per sink stores them.

The caller's cost is one tuple and one ``deque.append`` (a few hundred
nanoseconds): no JSON, no hashing, no lock, no I/O. The writer thread sleeps
until a record arrives, gives the batch up to ``flush_interval`` seconds (or
until ``batch_size`` records) to fill, and for each record: redacts, converts to
plain JSON data, assigns the next chain position (``seq``, ``prev_hash``,
``hash``) and derives its ``violations`` row. It hands each finished batch to
every sink's `Delivery`, which stores it from a thread of its own: the writer
never waits for a database (see ``_delivery.py``).

The backlog is bounded by time, not by count (``max_lag``, 0.5 s):

* a caller that finds the oldest queued record older than ``max_lag`` waits for
  the writer to take a chunk (at most ``block_timeout``; under sustained load this
  is what gives the writer its share of the GIL), so a ``SIGKILL`` loses at most
  about ``max_lag`` of decisions plus the batch being written;
* a sink that has not stored a batch within ``max_lag`` (slow, failing, hanging)
  gets the following batches, and the waiting ones, in its spool on disk instead.

Never dropped silently:

* queue at ``queue_size`` (a hard bound: only reached when the writer thread itself
  cannot run), ``on_full="block"`` (default): the caller waits up to ``block_timeout``
  for room, then spills; ``on_full="spill"``: it spills at once. Spilling writes
  the redacted record to the overflow spool (stats ``spilled``).
* a sink fails: its batches go to its spool; it is retried with exponential backoff
  and the spool is stored in order before anything newer (``errors``, ``spooled``,
  ``replayed``).
* the spool fails too (disk full, read-only): batches are held in memory up to
  ``queue_size`` records per sink, then dropped: counted in ``dropped``, logged at
  ERROR once per incident, and raised from `flush` as `AuditError`.
* process exit: an ``atexit`` hook drains every open writer; a record made after
  shutdown goes to the overflow spool and the next writer stores it (``late``).
* ``os.fork``: the child starts a fresh writer (own id, own chain, new connections).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentgate._call import ToolCall
from agentgate._context import AgentContext
from agentgate._decision import Verdict
from agentgate._errors import AuditError

from ._delivery import Delivery
from ._record import GENESIS, HASHED_COLUMNS, clean_text, fast_ts, format_ts, jsonable, link, new_id
from ._redact import Redactor
from ._sink import Sink
from ._spool import SpoolFile, claim_orphans

__all__ = ["AuditWriter"]

logger = logging.getLogger("agentgate.audit")

_Item = tuple[float, ToolCall, Verdict, str, str, str, dict[str, Any]]

# The writer takes the queue in chunks of this size, so callers waiting on the lag bound
# are released every few milliseconds rather than once per (up to 2,000-record) batch.
_CHUNK = 64
_INF = float("inf")


def _enum(value: Any) -> Any:
    return getattr(value, "value", value)


def _opt(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return clean_text(value if type(value) is str else str(value))


def _num(value: Any) -> float | None:
    return None if value is None else jsonable(float(value))


def base_row(item: _Item, redactor: Redactor) -> dict[str, Any]:
    """The redacted content of one record, before it gets an id and a chain position."""
    t, call, v, agent_id, task_id, user_id, args = item
    arguments, lits, changed = redactor.arguments(args)
    findings = []
    for f in getattr(v, "findings", ()):
        msg, c1 = redactor.text(clean_text(str(f.message)), lits)
        ev, c2 = redactor.text(clean_text(str(f.evidence)), lits)
        changed = changed or c1 or c2
        findings.append(
            {
                "rule_id": clean_text(str(f.rule_id)),
                "severity": str(_enum(f.severity)),
                "effect": str(_enum(f.effect)),
                "message": msg,
                "evidence": ev,
                "argument": None if f.argument is None else clean_text(str(f.argument)),
            }
        )
    reasoning, c3 = redactor.text(clean_text(str(getattr(v, "reasoning", "") or "")), lits)
    payload = {"arguments": arguments, "framework": _opt(call.framework), "call_id": _opt(call.call_id)}
    shadow = getattr(v, "extra", {}).get("shadow")
    if shadow is not None:  # shadow mode: what the candidate policy would have decided (docs/policy-testing.md)
        payload["shadow"] = jsonable(shadow)
    return {
        "created_at": t,
        "agent_id": _opt(agent_id),
        "task_id": _opt(task_id),
        "user_id": _opt(user_id),
        "tool_name": clean_text(str(call.tool_name)),
        "payload": payload,
        "verdict": str(_enum(v.action)),
        "policy_name": _opt(v.policy_name),
        "severity": str(_enum(v.severity)),
        "tier_used": int(v.tier_used),
        "reasoning": reasoning or None,
        "decision_id": _opt(v.decision_id),
        "framework": _opt(call.framework),
        "findings": findings,
        "latency_us": _num(getattr(v, "latency_us", None)),
        "judge_model": _opt(getattr(v, "judge_model", None)),
        "judge_latency_ms": _num(getattr(v, "judge_latency_ms", None)),
        "policy_revision": _opt(getattr(v, "policy_revision", None)),
        "mode": _opt(getattr(v, "mode", None)),
        "would_block": bool(getattr(v, "would_block", False)),
        "confidence": _num(getattr(v, "confidence", None)),
        "blast_radius": _opt(getattr(v, "blast_radius", None)),
        "redacted": bool(changed or c3),
    }


# What base_row produces; rows read back from a spool file may lack some and are completed.
_CONTENT_KEYS = frozenset(HASHED_COLUMNS) - {"id", "writer_id", "seq"}
_DEFAULTS = {"tool_name": "?", "payload": {}, "verdict": "unknown", "severity": "low", "tier_used": 1, "findings": []}


def _complete(row: dict[str, Any]) -> dict[str, Any]:
    """Every content column, with the defaults of the seed schema for what is missing."""
    out = {c: row.get(c) for c in _CONTENT_KEYS}
    for k, default in _DEFAULTS.items():
        if not out.get(k):
            out[k] = type(default)() if isinstance(default, dict | list) else default
    return out


def _created(value: Any) -> str:
    if isinstance(value, float | int):
        return fast_ts(float(value))
    if isinstance(value, str):
        return format_ts(value)
    return fast_ts(time.time())


def _fallback_row(item: _Item, exc: BaseException) -> dict[str, Any]:
    """A record for an item that could not be converted: kept, with what is certain."""
    t, call, v, agent_id, task_id, user_id, _args = item
    return {
        "created_at": t,
        "agent_id": _opt(agent_id),
        "task_id": _opt(task_id),
        "user_id": _opt(user_id),
        "tool_name": jsonable(str(getattr(call, "tool_name", "?"))),
        "payload": {"arguments": {}, "error": f"arguments not recorded: {type(exc).__name__}"},
        "verdict": str(_enum(getattr(v, "action", "unknown"))),
        "policy_name": _opt(getattr(v, "policy_name", None)),
        "severity": str(_enum(getattr(v, "severity", "low"))),
        "tier_used": int(getattr(v, "tier_used", 1) or 1),
        "decision_id": _opt(getattr(v, "decision_id", None)),
        "mode": _opt(getattr(v, "mode", None)),
        "would_block": bool(getattr(v, "would_block", False)),
        "findings": [],
        "redacted": True,
    }


_live: weakref.WeakSet[AuditWriter] = weakref.WeakSet()


class AuditWriter:
    """Records decisions off the hot path. Create with `agentgate.audit.open_auditor`.

    Args:
        sinks: Where records go (several at once is fine).
        redact_fields: Extra argument names always masked.
        on_full: ``"block"`` (wait up to ``block_timeout``, then spill) or ``"spill"``.
        queue_size: Hard bound of the in-memory queue, and of the records held in
            memory per sink when its spool cannot be written.
        batch_size: Most records per sink write.
        flush_interval: Longest a record waits in the queue for its batch to fill, in seconds.
        max_lag: Bound, in seconds, on how old a record may be while it is only in
            memory (see module docstring).
        block_timeout: Longest a caller waits, for room in a full queue or for the
            writer to catch up with ``max_lag``.
        spool_dir: Directory of the local spool.
        exit_timeout: How long the ``atexit`` hook waits for the sinks.
        idle_close: After this many idle seconds the threads close their
            connections and end; the next record starts them again.
    """

    def __init__(
        self,
        sinks: Sequence[Sink],
        *,
        redact_fields: Sequence[str] = (),
        on_full: str = "block",
        queue_size: int = 100_000,
        batch_size: int = 2_000,
        flush_interval: float = 0.1,
        max_lag: float = 0.5,
        block_timeout: float = 1.0,
        spool_dir: str | os.PathLike[str] = ".agentgate/spool",
        exit_timeout: float = 10.0,
        idle_close: float = 30.0,
    ) -> None:
        from agentgate._errors import ConfigError

        if on_full not in ("block", "spill"):
            raise ConfigError(f"audit on_full must be 'block' or 'spill', not {on_full!r}")
        if not max_lag > 0:
            raise ConfigError(f"audit max_lag must be > 0 seconds, not {max_lag!r}")
        self.sinks: tuple[Sink, ...] = tuple(sinks)
        self._redactor = Redactor(redact_fields)
        self._on_full = on_full
        self._maxsize = max(1, int(queue_size))
        self._batch = max(1, int(batch_size))
        self._interval = min(float(flush_interval), float(max_lag) / 2)
        self._max_lag = float(max_lag)
        self._block_timeout = float(block_timeout)
        self._exit_timeout = float(exit_timeout)
        self._idle_close = float(idle_close)
        self._spool_dir = Path(spool_dir).absolute()  # a later chdir must not move the spool
        # Spilled records wait under the first sink's spool directory: the spool may be shared by
        # every application of the user, and a writer only recovers records meant for its own sinks.
        first = self.sinks[0].spool_key if self.sinks else "none"
        self._overflow_dir = self._spool_dir / first / "overflow"
        self._init_state()
        if not self.sinks:  # audit explicitly off: recording costs one call and stores nothing
            self.record = self._discard  # type: ignore[method-assign]
        _live.add(self)

    def _discard(self, call: ToolCall, verdict: Verdict, agent: AgentContext | None) -> None:
        """`record` when there is no sink."""

    def _init_state(self) -> None:
        self.writer_id = uuid.uuid4().hex
        self._q: deque[_Item] = deque()
        self._wake = threading.Event()  # a batch is full, or flush/shutdown asked
        self._kick = threading.Event()  # a record arrived while the writer was idle
        self._idle = False  # set by the writer before it sleeps without a timeout
        self._progress = threading.Condition()
        self._pop_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._closed = False
        self._seq = 0
        self._prev = GENESIS
        self._taken = 0
        self._done = 0
        # A record made after this time (time.time()) finds the oldest record that is only in
        # memory older than max_lag: its caller paces. Kept current by the writer and delivery
        # threads (`_update_pace`); record() lowers it when the queue starts from empty.
        self._pace_after = _INF
        self._building = _INF  # time of the oldest record in the batch being built
        # Age alone reacts too late: callers can queue seconds of the writer's work within
        # max_lag. So the queue is also bounded by what the writer is measured to build in
        # half of max_lag (at least a few chunks, at most queue_size).
        self._rate = 0.0  # records/s the writer thread builds, wall clock (GIL waits included)
        self._busy_since = 0.0  # end of the previous full chunk, while the writer is busy
        self._limit = min(self._maxsize, 1024)
        self._errors = [0]
        self._counts = {"spilled": 0, "late": 0, "blocked": 0, "recovered": 0, "paced": 0, "overdue": 0, "dropped": 0}
        self._count_lock = threading.Lock()
        self._dropped_reported = 0
        self._drop_cause = ""
        self._dropping = False
        self._overflow = SpoolFile(self._overflow_dir / f"{self.writer_id}.jsonl")
        self._overflow_taken = 0
        self._slots = [
            Delivery(
                s,
                self._spool_dir,
                self.writer_id,
                batch=self._batch,
                max_lag=self._max_lag,
                max_held=self._maxsize,
                idle_close=self._idle_close,
                errors=self._errors,
                on_drop=self._dropped,
                on_progress=self._notify,
            )
            for s in self.sinks
        ]

    # ------------------------------------------------------------------ caller side

    def record(self, call: ToolCall, verdict: Verdict, agent: AgentContext | None) -> None:
        """Enqueue one decision. Thread-safe; costs microseconds; never raises on a full queue."""
        if agent is None:
            item: _Item = (time.time(), call, verdict, "", "", "", dict(call.arguments))
        else:
            item = (time.time(), call, verdict, agent.agent_id, agent.task_id, agent.user_id, dict(call.arguments))
        q = self._q
        n = len(q)
        if n >= self._maxsize or self._closed:
            self._full(item)
            return
        q.append(item)
        if not n:
            if item[0] + self._max_lag < self._pace_after:
                self._pace_after = item[0] + self._max_lag
            if self._thread is None:
                self._start()
            elif self._idle:  # wake a sleeping writer; a busy one finds the record on its next pass
                self._kick.set()
        elif n >= self._limit or item[0] > self._pace_after:
            self._pace()
        elif n >= self._batch and not self._wake.is_set():
            self._wake.set()

    def _pace(self) -> None:
        """A record has been only in memory for max_lag: wait (at most block_timeout) for the threads to catch up."""
        if self._thread is None:
            self._start()
        with self._count_lock:
            self._counts["paced"] += 1
        self._wake.set()
        deadline = time.monotonic() + self._block_timeout
        # Resume as soon as the bound holds again, or the writer has taken a chunk since we came:
        # callers are held to the writer's pace one chunk at a time, so a wait lasts about as long
        # as the writer needs for a chunk, not as long as it needs to win back a margin.
        start = self._taken
        with self._progress:
            while (
                not self._closed
                and self._taken - start < _CHUNK
                and (len(self._q) >= self._limit or time.time() > self._pace_after)
            ):
                left = deadline - time.monotonic()
                if left <= 0:
                    self._counts["overdue"] += 1  # under _progress: counted exactly
                    return
                self._progress.wait(min(left, self._interval))
                self._update_pace()

    def _update_pace(self) -> None:
        """Recompute `_pace_after` from the oldest record that is only in memory (queue, batch, sinks)."""
        try:
            oldest = self._q[0][0]
        except IndexError:
            oldest = _INF
        oldest = min(oldest, self._building, *(d.oldest_in_memory() for d in self._slots))
        with contextlib.suppress(IndexError):  # again: a record may have reached an empty queue meanwhile
            oldest = min(oldest, self._q[0][0])
        self._pace_after = oldest + self._max_lag

    def _full(self, item: _Item) -> None:
        if self._closed:
            self._spill(item, late=True)
            return
        if self._on_full == "block":
            with self._count_lock:
                self._counts["blocked"] += 1
            self._nudge()
            deadline = time.monotonic() + self._block_timeout
            with self._progress:
                while len(self._q) >= self._maxsize and not self._closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._progress.wait(left)
            if len(self._q) < self._maxsize and not self._closed:
                self._q.append(item)
                return
        self._spill(item, late=self._closed)

    def _spill(self, item: _Item, *, late: bool) -> None:
        try:
            row = base_row(item, self._redactor)
        except Exception as exc:
            row = _fallback_row(item, exc)
        try:
            self._overflow.append([row], fsync=not late)
        except OSError as exc:
            self._dropped(1, exc)
            return
        finally:
            if late:  # release the file at once: the next writer (even in this process) recovers it
                self._overflow.close()
        with self._count_lock:
            self._counts["late" if late else "spilled"] += 1
        if not late:
            self._nudge()

    def _dropped(self, n: int, exc: BaseException) -> None:
        """*n* records could not be stored anywhere: count them, say so once per incident."""
        with self._count_lock:
            self._counts["dropped"] += n
            first = not self._dropping
            self._dropping = True
            self._drop_cause = f"{type(exc).__name__}: {exc}"
        if first:
            logger.error(
                "agentgate audit: records LOST: neither the sink nor the spool could store them (%s); "
                "see stats()['dropped']",
                self._drop_cause,
            )

    # ------------------------------------------------------------------ control

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None or self._closed:
                return
            t = threading.Thread(target=self._run, name=f"agentgate-audit-{self.writer_id[:8]}", daemon=True)
            self._thread = t
            t.start()

    def _nudge(self) -> None:
        self._kick.set()
        self._wake.set()

    def _notify(self) -> None:
        self._update_pace()
        with self._progress:
            self._progress.notify_all()

    def _settled(self, target: int) -> bool:
        return self._done >= target and all(d.idle() for d in self._slots)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record made before this call is stored in every sink.

        Returns False on timeout (e.g. a database is down: the records are then
        safe in the local spool and will be replayed, see `stats`).

        Raises:
            AuditError: records were dropped (neither a sink nor the spool could take
                them) since the last time this was raised; ``stats()['dropped']`` has the total.
        """
        with self._pop_lock:
            target = self._taken + len(self._q)
        target += self._overflow_taken + self._overflow.pending
        if target > self._done and self._thread is None:
            self._start()
        self._nudge()
        deadline = None if timeout is None else time.monotonic() + timeout
        ok = False
        with self._progress:
            while True:
                if self._settled(target):
                    ok = True
                    break
                if self._thread is None or not self._thread.is_alive():
                    ok = self._done >= target and not any(d.pending for d in self._slots)
                    if ok or all(d.thread is None for d in self._slots):
                        break
                left = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
                if left <= 0:
                    break
                self._progress.wait(left)
                self._nudge()
        self._raise_drops()
        return ok

    def _raise_drops(self) -> None:
        with self._count_lock:
            new = self._counts["dropped"] - self._dropped_reported
            self._dropped_reported = self._counts["dropped"]
            if new:
                self._dropping = False  # reported: the next drop is a new incident, logged again
        if new:
            raise AuditError(
                f"{new} audit record(s) could not be stored or spooled and were lost ({self._drop_cause}); "
                f"stats()['dropped'] = {self._dropped_reported}"
            )

    def unavailable(self) -> str | None:
        """Why records cannot be made durable right now (for ``on_audit_failure: block``), or None.

        Durable means stored in a sink or written to the spool. True while some sink
        holds records in memory because both it and its spool fail, or while records
        are being dropped.
        """
        if self._dropping:
            return f"audit records are being lost ({self._drop_cause})"
        for d in self._slots:
            if d.spool_error is not None and d.held:
                return f"{d.sink.describe()} and its spool both fail ({d.spool_error})"
        return None

    def preflight(self) -> list[str]:
        """Check, from the calling thread, that every sink and the spool directory can be written.

        Returns one message per problem (empty: all writable). Used by
        ``protect_all()`` at start; records are never touched.
        """
        problems = []
        for s in self.sinks:
            try:
                s.check()
            except Exception as exc:
                problems.append(f"audit target {s.describe()} is not writable: {exc}")
        try:
            self._spool_dir.mkdir(parents=True, exist_ok=True)
            probe = self._spool_dir / f".probe-{self.writer_id}"
            probe.write_bytes(b"x")
            probe.unlink()
        except OSError as exc:
            problems.append(f"audit spool {self._spool_dir} is not writable: {exc}")
        return problems

    def shutdown(self, timeout: float | None = 10.0) -> None:
        """Drain the queue into the sinks (or the spool), then stop the threads and close the sinks.

        Records made afterwards are not lost: they go to the overflow spool for the
        next writer on the same spool directory (stats ``late``).
        """
        if self._closed:
            return
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        self._stopping = True
        t = self._thread
        if t is None and (self._q or self._overflow.pending):
            self._start()
            t = self._thread
        self._closed = True
        self._nudge()
        if t is not None:
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():  # cannot happen short of a bug: the writer thread never waits on a sink
                logger.error("agentgate audit: writer thread did not finish in %.1fs", timeout or 0)
        for d in self._slots:
            d.stop(deadline)
        # A caller that passed the closed check just before it was set may have appended late.
        while self._q:
            try:
                item = self._q.popleft()
            except IndexError:
                break
            self._spill(item, late=True)
        self._notify()
        self._overflow.close()

    def stats(self) -> dict[str, Any]:
        """Counters: enqueued, written, spilled, replayed, late, dropped, errors, and more.

        ``written`` counts records stored in every sink; ``spooled`` those waiting
        in a spool for a sink to come back; ``held`` those a sink and its spool could
        not take, kept in memory; ``pending`` those still in the queue; ``paced`` how
        often a caller waited for the writer to catch up with ``max_lag``;
        ``dropped`` records lost (neither a sink nor the spool could store them).
        """
        written = min((d.stored for d in self._slots), default=self._done)
        c = self._counts
        return {
            "writer_id": self.writer_id,
            "enqueued": self._taken + len(self._q) + c["spilled"] + c["late"],
            "written": written,
            "spilled": c["spilled"],
            "replayed": sum(d.replayed for d in self._slots),
            "late": c["late"],
            "recovered": c["recovered"],
            "blocked": c["blocked"],
            "paced": c["paced"],
            "overdue": c["overdue"],
            "dropped": c["dropped"],
            "errors": self._errors[0],
            "pending": len(self._q),
            "spooled": sum(d.spooled for d in self._slots),
            "held": sum(d.held for d in self._slots),
            "sinks": [s.describe() for s in self.sinks],
        }

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        with self._run_lock:  # a writer that retired is done before the next one starts
            retired = self._loop()
        if retired and (self._q or self._overflow.pending):
            self._start()  # a record slipped in while retiring

    def _retire(self) -> bool:
        """Stop the idle thread; the next record starts a new one."""
        with self._start_lock:
            if self._q or self._overflow.pending or self._stopping:
                return False
            self._thread = None
            self._idle = False
        return True

    def _loop(self) -> bool:
        for d in self._slots:
            d.adopt(claim_orphans(d.dir, self.writer_id))
        orphans = [f for d in self._slots for f in claim_orphans(d.dir / "overflow", self.writer_id)]
        retired = False
        try:
            while True:
                # Idle: sleep until a record arrives (no periodic wake-ups); idle for `idle_close`
                # seconds, end the thread. Then give the batch up to flush_interval to fill.
                self._idle = True  # before looking at the queue: a record appended after the look kicks
                busy = self._q or self._overflow.pending or orphans or self._stopping
                if not busy and not self._kick.wait(self._idle_close) and self._retire():
                    retired = True
                    break
                self._idle = False
                self._kick.clear()
                if not self._stopping and len(self._q) < self._batch:
                    self._wake.wait(self._interval)
                self._wake.clear()
                try:
                    orphans = self._cycle(orphans)
                except Exception:  # keep the thread alive: a bug here must not stop the audit trail
                    self._errors[0] += 1
                    logger.exception("agentgate audit: writer cycle failed")
                    time.sleep(0.05)
                if self._stopping and not self._q and not self._overflow.pending:
                    break
        finally:
            self._notify()
        return retired

    def _take(self, room: int) -> list[_Item]:
        with self._pop_lock:
            n = min(len(self._q), room)
            items = [self._q.popleft() for _ in range(n)]
            self._taken += n
        if n:
            if self._building == _INF:
                self._building = items[0][0]
            self._notify()  # callers waiting on a full queue or on max_lag
        return items

    def _cycle(self, orphans: list[SpoolFile]) -> list[SpoolFile]:
        while True:
            rows: list[dict[str, Any]] = []
            n = 0
            # Take the queue in chunks (waiting callers resume sooner), and hand the batch over when
            # it is full, the queue is empty, or its oldest record has waited flush_interval.
            while len(rows) < self._batch and time.time() - self._building <= self._interval:
                items = self._take(min(_CHUNK, self._batch - len(rows)))
                if not items:
                    self._busy_since = 0.0
                    break
                n += len(items)
                rows.extend(self._safe_chain(self._build(it), it) for it in items)
                self._observe(len(items))
            spilled = self._take_overflow(self._batch - len(rows))
            rows.extend(self._safe_chain(r, None) for r in spilled)
            while orphans and len(rows) < self._batch:
                got, end = orphans[0].peek(self._batch - len(rows))
                rows.extend(self._safe_chain(r, None) for r in got)
                with self._count_lock:
                    self._counts["recovered"] += len(got)
                orphans[0].advance(end, len(got))
                if orphans[0].pending == 0:
                    orphans.pop(0).remove()
                    break
            if not rows:
                self._building = _INF
                return orphans
            oldest = min(self._building, time.time())
            for d in self._slots:
                d.offer(rows, oldest)
            self._building = _INF
            with self._progress:
                self._done += n + len(spilled)
            self._notify()

    def _observe(self, n: int) -> None:
        """Measure the rate over full chunks taken back to back: wall clock, so GIL waits, hand-overs included."""
        now = time.perf_counter()
        if n == _CHUNK and self._busy_since:
            rate = n / max(now - self._busy_since, 1e-6)
            self._rate = rate if not self._rate else 0.9 * self._rate + 0.1 * rate
            self._limit = min(self._maxsize, max(4 * _CHUNK, int(self._rate * self._max_lag / 2)))
        self._busy_since = now if n == _CHUNK else 0.0

    def _build(self, item: _Item) -> dict[str, Any]:
        try:
            return base_row(item, self._redactor)
        except Exception as exc:
            self._errors[0] += 1
            logger.exception("agentgate audit: could not convert a record; storing it without arguments")
            return _fallback_row(item, exc)

    def _safe_chain(self, row: dict[str, Any], item: _Item | None) -> dict[str, Any]:
        try:
            return self._chain(row)
        except Exception as exc:  # never lose the record: chain what is certain about it
            self._errors[0] += 1
            logger.exception("agentgate audit: could not encode a record; storing it without arguments")
            if item is not None:
                return self._chain(_fallback_row(item, exc))
            keep = ("created_at", "agent_id", "task_id", "user_id", "verdict", "severity", "decision_id", "mode")
            safe = {k: row.get(k) if isinstance(row.get(k), str | float) else None for k in keep}
            return self._chain(
                safe | {"tool_name": str(row.get("tool_name")), "payload": {"error": type(exc).__name__}}
            )

    def _chain(self, row: dict[str, Any]) -> dict[str, Any]:
        """Give *row* an id and the next chain position, and link it (in place when it is complete)."""
        seq = self._seq + 1
        full = row if row.keys() >= _CONTENT_KEYS else _complete(row)
        full["id"] = new_id()
        full["created_at"] = _created(full["created_at"])
        full["writer_id"] = self.writer_id
        full["seq"] = seq
        link(full, self._prev)
        self._seq, self._prev = seq, str(full["hash"])
        return full

    def _take_overflow(self, room: int) -> list[dict[str, Any]]:
        if room <= 0 or not self._overflow.pending:
            return []
        rows, end = self._overflow.peek(room)
        self._overflow.advance(end, len(rows))
        self._overflow_taken += len(rows)
        return rows

    # ------------------------------------------------------------------ process lifecycle

    def _after_fork(self) -> None:
        for d in self._slots:
            d.forget()
        self._overflow.forget()
        self._init_state()


def _drain_all() -> None:
    for w in list(_live):
        try:
            w.shutdown(w._exit_timeout)
        except Exception:  # at exit, report and carry on with the other writers
            logger.exception("agentgate audit: draining at exit failed")


def _after_fork_in_child() -> None:
    for w in list(_live):
        w._after_fork()


atexit.register(_drain_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
