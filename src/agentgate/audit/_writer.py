"""AuditWriter: callers enqueue, one background thread does everything else.

The caller's cost is one tuple and one ``deque.append`` (a few hundred
nanoseconds): no JSON, no hashing, no lock, no I/O. The writer thread sleeps
until a record arrives, gives the batch up to ``flush_interval`` seconds (or
until ``batch_size`` records) to fill, and for each record: redacts, converts to
plain JSON data, assigns the next chain position (``seq``, ``prev_hash``,
``hash``), derives its ``violations`` row, and hands the batch to every sink.
Idle for ``idle_close`` seconds, it closes its connections and ends; the next
record starts it again.

Never dropped, never silently:

* queue full, ``on_full="block"`` (default): the caller waits up to
  ``block_timeout`` for room, then spills; ``on_full="spill"``: it spills at once.
  Spilling writes the redacted record to the overflow spool (stats ``spilled``).
* a sink fails: the batch goes to that sink's spool; the sink is retried with
  exponential backoff and the spool is replayed in order before anything newer
  (stats ``errors``, ``spooled``, ``replayed``).
* process exit: an ``atexit`` hook drains every open writer; a record made after
  shutdown goes to the overflow spool and the next writer stores it (``late``).
* ``os.fork``: the child starts a fresh writer (own id, own chain, new connections).
"""

from __future__ import annotations

import atexit
import logging
import os
import random
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

from ._record import GENESIS, HASHED_COLUMNS, clean_text, fast_ts, format_ts, jsonable, link, new_id, violation_for
from ._redact import Redactor
from ._sink import Sink
from ._spool import SpoolFile, claim_orphans

__all__ = ["AuditWriter"]

logger = logging.getLogger("agentgate.audit")

_Item = tuple[float, ToolCall, Verdict, str, str, str, dict[str, Any]]

_BACKOFF_MIN = 0.05
_BACKOFF_MAX = 5.0


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
    return {
        "created_at": t,
        "agent_id": _opt(agent_id),
        "task_id": _opt(task_id),
        "user_id": _opt(user_id),
        "tool_name": clean_text(str(call.tool_name)),
        "payload": {"arguments": arguments, "framework": _opt(call.framework), "call_id": _opt(call.call_id)},
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


class _Slot:
    """One sink with its spool files and retry state (writer thread only)."""

    def __init__(self, sink: Sink, spool_dir: Path, writer_id: str) -> None:
        self.sink = sink
        self.dir = spool_dir / sink.spool_key
        self.own = SpoolFile(self.dir / f"{writer_id}.jsonl")
        self.backlog: list[SpoolFile] = []  # orphans first, then our own file when it has rows
        self.opened = False
        self.next_try = 0.0
        self.backoff = _BACKOFF_MIN
        self.stored = 0
        self.unsaved: list[dict[str, Any]] = []  # the batch in hand until stored or spooled

    @property
    def spooled(self) -> int:
        return sum(f.pending for f in self.backlog)

    def failed(self, exc: BaseException, errors: list[int]) -> None:
        errors[0] += 1
        level = logging.WARNING if self.backoff <= _BACKOFF_MIN else logging.DEBUG
        logger.log(level, "agentgate audit: %s unavailable (%s); spooling and retrying", self.sink.describe(), exc)
        self.next_try = time.monotonic() + self.backoff * (0.5 + random.random())
        self.backoff = min(self.backoff * 2, _BACKOFF_MAX)

    def ok(self) -> None:
        self.backoff = _BACKOFF_MIN
        self.next_try = 0.0


_live: weakref.WeakSet[AuditWriter] = weakref.WeakSet()


class AuditWriter:
    """Records decisions off the hot path. Create with `agentgate.audit.open_auditor`.

    Args:
        sinks: Where records go (several at once is fine).
        redact_fields: Extra argument names always masked.
        on_full: ``"block"`` (wait up to ``block_timeout``, then spill) or ``"spill"``.
        queue_size: Soft bound of the in-memory queue.
        batch_size: Most records per sink write.
        flush_interval: Longest a record waits in the queue, in seconds.
        block_timeout: How long a caller waits for room under ``on_full="block"``.
        spool_dir: Directory of the local spool.
        exit_timeout: How long the ``atexit`` hook waits for the sinks.
        idle_close: After this many idle seconds the writer thread closes its
            connections and ends; the next record starts it again.
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
        block_timeout: float = 1.0,
        spool_dir: str | os.PathLike[str] = ".agentgate/spool",
        exit_timeout: float = 10.0,
        idle_close: float = 30.0,
    ) -> None:
        if on_full not in ("block", "spill"):
            from agentgate._errors import ConfigError

            raise ConfigError(f"audit on_full must be 'block' or 'spill', not {on_full!r}")
        self.sinks: tuple[Sink, ...] = tuple(sinks)
        self._redactor = Redactor(redact_fields)
        self._on_full = on_full
        self._maxsize = max(1, int(queue_size))
        self._batch = max(1, int(batch_size))
        self._interval = float(flush_interval)
        self._block_timeout = float(block_timeout)
        self._exit_timeout = float(exit_timeout)
        self._idle_close = float(idle_close)
        self._spool_dir = Path(spool_dir).absolute()  # a later chdir must not move the spool
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
        self._errors = [0]
        self._counts = {"spilled": 0, "replayed": 0, "late": 0, "blocked": 0, "recovered": 0}
        self._count_lock = threading.Lock()
        self._overflow = SpoolFile(self._spool_dir / "overflow" / f"{self.writer_id}.jsonl")
        self._overflow_taken = 0
        self._slots = [_Slot(s, self._spool_dir, self.writer_id) for s in self.sinks]

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
        if self._thread is None:
            self._start()
        elif not n and self._idle:  # wake a sleeping writer; a busy one finds the record on its next pass
            self._kick.set()
        elif n >= self._batch and not self._wake.is_set():
            self._wake.set()

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
        self._overflow.append([row], fsync=not late)
        if late:  # release the file at once: the next writer (even in this process) recovers it
            self._overflow.close()
        with self._count_lock:
            self._counts["late" if late else "spilled"] += 1
        if not late:
            self._nudge()

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

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record made before this call is stored in every sink.

        Returns False on timeout (e.g. a database is down: the records are then
        safe in the local spool and will be replayed, see `stats`).
        """
        with self._pop_lock:
            target = self._taken + len(self._q)
        target += self._overflow_taken + self._overflow.pending
        if target > self._done and self._thread is None:
            self._start()
        self._nudge()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._progress:
            while True:
                if self._done >= target and not any(s.backlog for s in self._slots):
                    return True
                if self._thread is None or not self._thread.is_alive():
                    return self._done >= target and not any(s.spooled for s in self._slots)
                left = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
                if left <= 0:
                    return False
                self._progress.wait(left)
                self._nudge()

    def shutdown(self, timeout: float | None = 10.0) -> None:
        """Drain the queue into the sinks (or the spool), then stop the writer and close the sinks.

        Records made afterwards are not lost: they go to the overflow spool for the
        next writer on the same spool directory (stats ``late``).
        """
        if self._closed:
            return
        self._stopping = True
        t = self._thread
        if t is None and (self._q or self._overflow.pending):
            self._start()
            t = self._thread
        self._closed = True
        self._nudge()
        if t is not None:
            t.join(timeout)
            if t.is_alive():  # a sink hangs: keep what is still in memory on disk instead
                logger.error("agentgate audit: writer did not finish in %.1fs; spooling what is left", timeout or 0)
                for slot in self._slots:  # the batch in hand, for every sink that has not got it yet
                    if slot.unsaved:
                        slot.own.append(list(slot.unsaved))
                    slot.own.close()
        # A caller that passed the closed check just before it was set may have appended late.
        while self._q:
            try:
                item = self._q.popleft()
            except IndexError:
                break
            self._spill(item, late=True)
        with self._progress:
            self._progress.notify_all()
        self._overflow.close()

    def stats(self) -> dict[str, Any]:
        """Counters: enqueued, written, spilled, replayed, late, dropped (always 0), errors, and more.

        ``written`` counts records stored in every sink; ``spooled`` those waiting
        in a spool for a sink to come back; ``pending`` those still in the queue.
        """
        written = min((s.stored for s in self._slots), default=self._done)
        return {
            "writer_id": self.writer_id,
            "enqueued": self._taken + len(self._q) + self._counts["spilled"] + self._counts["late"],
            "written": written,
            "spilled": self._counts["spilled"],
            "replayed": self._counts["replayed"],
            "late": self._counts["late"],
            "recovered": self._counts["recovered"],
            "blocked": self._counts["blocked"],
            "dropped": 0,
            "errors": self._errors[0],
            "pending": len(self._q),
            "spooled": sum(s.spooled for s in self._slots),
            "sinks": [s.describe() for s in self.sinks],
        }

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        with self._run_lock:  # a writer that retired is done closing its sinks before the next opens them
            retired = self._loop()
        if retired and (self._q or self._overflow.pending):
            self._start()  # a record slipped in while retiring

    def _retire(self) -> bool:
        """Stop the idle thread (it closes its connections); the next record starts a new one."""
        with self._start_lock:
            if self._q or self._overflow.pending or self._stopping or any(s.backlog for s in self._slots):
                return False
            self._thread = None
            self._idle = False
        return True

    def _loop(self) -> bool:
        for slot in self._slots:
            self._open_slot(slot)
            slot.backlog = claim_orphans(slot.dir, self.writer_id) + slot.backlog
        orphans = claim_orphans(self._spool_dir / "overflow", self.writer_id)
        retired = False
        try:
            while True:
                # Idle: sleep until a record arrives (no periodic wake-ups), or until the next
                # retry of a sink with a backlog; idle for `idle_close` seconds, release the
                # connections and end the thread. Then give the batch up to flush_interval to fill.
                backlog = [s.next_try for s in self._slots if s.backlog]
                self._idle = True  # before looking at the queue: a record appended after the look kicks
                if not (self._q or self._overflow.pending or orphans or self._stopping):
                    if backlog:
                        self._kick.wait(max(0.0, min(backlog) - time.monotonic()))
                    elif not self._kick.wait(self._idle_close) and self._retire():
                        retired = True
                        break
                self._idle = False
                self._kick.clear()
                if not self._stopping and len(self._q) < self._batch:
                    wait = self._interval
                    if backlog:
                        wait = min(wait, max(0.0, min(backlog) - time.monotonic()))
                    self._wake.wait(wait)
                self._wake.clear()
                try:
                    orphans = self._cycle(orphans)
                except Exception:  # keep the thread alive: a bug here must not stop the audit trail
                    self._errors[0] += 1
                    logger.exception("agentgate audit: writer cycle failed")
                    time.sleep(0.05)
                if self._stopping and not self._q and not self._overflow.pending:
                    for slot in self._slots:
                        if slot.backlog:
                            self._replay(slot)  # one last try, whatever the backoff says
                    break
        finally:
            for slot in self._slots:
                slot.own.close()
                slot.opened = False
                try:
                    slot.sink.close()
                except Exception:
                    logger.exception("agentgate audit: closing %s failed", slot.sink.describe())
            with self._progress:
                self._progress.notify_all()
        return retired

    def _open_slot(self, slot: _Slot) -> bool:
        if slot.opened:
            return True
        try:
            slot.sink.open()
        except Exception as exc:
            slot.failed(exc, self._errors)
            return False
        slot.opened = True
        return True

    def _cycle(self, orphans: list[SpoolFile]) -> list[SpoolFile]:
        while True:
            with self._pop_lock:
                n = min(len(self._q), self._batch)
                items = [self._q.popleft() for _ in range(n)]
                self._taken += n
            if n:
                with self._progress:
                    self._progress.notify_all()  # callers blocked on a full queue
            rows = [self._safe_chain(self._build(it), it) for it in items]
            spilled = self._take_overflow(self._batch - n)
            rows.extend(self._safe_chain(r, None) for r in spilled)
            while orphans and len(rows) < self._batch:
                got, end = orphans[0].peek(self._batch - len(rows))
                rows.extend(self._safe_chain(r, None) for r in got)
                self._counts["recovered"] += len(got)
                orphans[0].advance(end, len(got))
                if orphans[0].pending == 0:
                    orphans.pop(0).remove()
                    break
            for slot in self._slots:
                slot.unsaved = rows
            for slot in self._slots:
                if slot.backlog and time.monotonic() >= slot.next_try:
                    self._replay(slot)
                if rows:
                    self._deliver(slot, rows)
            if rows:
                with self._progress:
                    self._done += n + len(spilled)
                    self._progress.notify_all()
            if not rows:
                return orphans

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

    def _deliver(self, slot: _Slot, rows: list[dict[str, Any]]) -> None:
        if slot.backlog or not self._open_slot(slot):
            self._to_spool(slot, rows)
        else:
            try:
                slot.sink.write(rows, [v for r in rows if (v := violation_for(r)) is not None])
            except Exception as exc:
                slot.failed(exc, self._errors)
                self._to_spool(slot, rows)
            else:
                slot.ok()
                slot.stored += len(rows)
        slot.unsaved = []

    def _to_spool(self, slot: _Slot, rows: list[dict[str, Any]]) -> None:
        slot.own.append(rows)
        if slot.own not in slot.backlog:
            slot.backlog.append(slot.own)

    def _replay(self, slot: _Slot) -> None:
        """Store the spooled rows of *slot*, oldest first, until done or the sink fails again."""
        if not self._open_slot(slot):
            return
        while slot.backlog:
            spool = slot.backlog[0]
            rows, end = spool.peek(self._batch)
            if rows:  # already on disk: a hang here loses nothing
                try:
                    slot.sink.write(rows, [v for r in rows if (v := violation_for(r)) is not None])
                except Exception as exc:
                    slot.failed(exc, self._errors)
                    return
                slot.ok()
                slot.stored += len(rows)
                self._counts["replayed"] += len(rows)
            spool.advance(end, len(rows))
            if spool.pending == 0:
                slot.backlog.pop(0)
                if spool is not slot.own:
                    spool.remove()
                if not slot.backlog:
                    logger.info("agentgate audit: %s is back; spooled records replayed", slot.sink.describe())
            with self._progress:
                self._progress.notify_all()

    # ------------------------------------------------------------------ process lifecycle

    def _after_fork(self) -> None:
        for slot in self._slots:
            slot.own.forget()
            for f in slot.backlog:
                f.forget()
            slot.sink.after_fork()
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
