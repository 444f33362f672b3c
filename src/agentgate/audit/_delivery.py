"""One sink's delivery: its own thread, its queue of finished batches, its spool.

The writer thread (which redacts, encodes and chains) never calls a sink: it hands
each finished batch to every sink's `Delivery` with `offer`, which never waits on
the sink. Each delivery keeps an ordered list of *segments*, oldest first:

* an in-memory batch (the normal case: the sink keeps up);
* a spool file (``<spool>/<sink>/<writer>.<n>.jsonl``): the sink failed, is backing
  off, or has been holding its oldest batch longer than ``max_lag``;
* an in-memory batch that could not be spooled either (disk full, read-only): held,
  up to ``max_held`` records per sink; beyond that the batch is **dropped**, counted
  (``stats()['dropped']``), logged at ERROR once per incident, and raised from
  ``flush()``.

The delivery thread stores segments in order (so each sink stores a writer's chain
in chain order, across outages too), retries a failing sink with jittered
exponential backoff (50 ms doubling to 5 s), and ends after ``idle_close`` idle
seconds, closing its connection (the next batch starts it again). A sink that
hangs only stalls its own delivery thread: later batches go to the spool.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._record import violation_for
from ._sink import Sink
from ._spool import SpoolFile

__all__ = ["Delivery", "Segment"]

logger = logging.getLogger("agentgate.audit")

_BACKOFF_MIN = 0.05
_BACKOFF_MAX = 5.0

Rows = list[dict[str, Any]]


class Segment:
    """Records waiting for one sink: an in-memory batch or a spool file, never both."""

    __slots__ = ("cache", "file", "held", "rows", "shadow", "since")

    def __init__(
        self, rows: Rows | None = None, file: SpoolFile | None = None, since: float = 0.0, held: bool = False
    ) -> None:
        self.rows = rows
        self.file = file
        self.since = since  # time.time() of the oldest record in it (memory batches age into the spool)
        self.held = held  # in memory because the spool failed
        self.shadow: Segment | None = None  # a spool copy of this batch, made while the sink sat on it
        self.cache: Rows | None = None  # a spool file's rows still in memory: stored without reading them back

    @property
    def count(self) -> int:
        """Records still to store."""
        return len(self.rows) if self.rows is not None else (self.file.pending if self.file is not None else 0)


class Delivery:
    """Stores finished batches into one sink from a thread of its own (see module docstring)."""

    def __init__(
        self,
        sink: Sink,
        spool_dir: Path,
        writer_id: str,
        *,
        batch: int,
        max_lag: float,
        max_held: int,
        idle_close: float,
        errors: list[int],
        on_drop: Callable[[int, BaseException], None],
        on_progress: Callable[[], None],
    ) -> None:
        self.sink = sink
        self.dir = spool_dir / sink.spool_key
        self._writer_id = writer_id
        self._files = 0
        self._batch = batch
        self._max_lag = max_lag
        self._max_held = max_held
        self._idle_close = idle_close
        self._errors = errors
        self._on_drop = on_drop
        self._on_progress = on_progress
        self.cond = threading.Condition()
        self._run_lock = threading.Lock()  # a retiring thread finishes closing the sink before the next opens it
        self.segments: list[Segment] = []  # oldest first; segments[0] may be in the sink's hands
        self.tail: SpoolFile | None = None  # the spool file the writer appends to, while it is the last segment
        self.busy_since = 0.0  # monotonic start of the write in progress (0: none)
        self.inflight: Segment | None = None  # the segment in the sink's hands
        self.opened = False
        self.next_try = 0.0
        self.backoff = _BACKOFF_MIN
        self.stored = 0
        self.replayed = 0
        self.spool_error: str | None = None  # why the spool failed, while it does
        self.thread: threading.Thread | None = None
        self.stopping = False
        self.gave_up = False  # stopping, and the last try failed

    # ------------------------------------------------------------ writer thread side

    def adopt(self, orphans: list[SpoolFile]) -> None:
        """Queue spool files left by dead writers ahead of everything else."""
        if orphans:
            with self.cond:
                at = 1 if self.inflight is not None else 0  # never ahead of the batch in the sink's hands
                self.segments[at:at] = [Segment(file=f) for f in orphans]
                self._ensure_thread()
                self.cond.notify_all()

    def offer(self, rows: Rows, oldest: float) -> None:
        """Hand over a finished batch whose oldest record was made at *oldest* (``time.time()``); never waits."""
        mono = time.monotonic()
        with self.cond:
            stuck = bool(self.busy_since) and mono - self.busy_since > self._max_lag
            if stuck:
                self._shadow_inflight()
            if self.next_try <= mono and not stuck and not any(s.file is not None or s.held for s in self.segments):
                self.segments.append(Segment(rows=rows, since=oldest))
            else:
                self._spool_tail(rows, oldest, outage=self.next_try > mono)
            if self.spool_error is None:
                self._spill_memory(time.time() - self._max_lag)  # what the sink has not taken in max_lag: to disk
            self._ensure_thread()
            self.cond.notify_all()

    def _shadow_inflight(self) -> None:
        """The sink has sat on its batch past max_lag: put a copy on disk (a replay skips ids already stored)."""
        seg = self.inflight
        if seg is None or not seg.rows or seg.shadow is not None or self.spool_error is not None:
            return
        f = self._new_file()
        try:
            f.append(seg.rows, fsync=False)  # against a crash of the process, as the sink's own commit
        except OSError as exc:
            self._spool_failed(exc)
            return
        copy = Segment(file=f)
        copy.cache = seg.rows
        seg.shadow = copy
        self.segments.insert(self.segments.index(seg) + 1, copy)

    def oldest_in_memory(self) -> float:
        """``time.time()`` of the oldest record only in memory here (inf: none); a shadowed batch is on disk."""
        return min(
            (s.since for s in list(self.segments) if s.rows and s.shadow is None and not s.held), default=float("inf")
        )

    def _new_file(self) -> SpoolFile:
        self._files += 1
        return SpoolFile(self.dir / f"{self._writer_id}.{self._files}.jsonl")

    def _spool_tail(self, rows: Rows, oldest: float, *, outage: bool) -> None:
        """Append *rows* to the last spool segment (a new one if the last segment is not a file).

        fsynced during an outage (the records may wait long); when the sink is only slow,
        on disk against a crash of the process, as a SQLite commit is.
        """
        try:
            if self.tail is None or not self.segments or self.segments[-1].file is not self.tail:
                f = self._new_file()
                f.append(rows, fsync=outage)
                self.tail = f
                self.segments.append(Segment(file=f))
            else:
                self.tail.append(rows, fsync=outage)
        except OSError as exc:
            self.tail = None
            self._hold(rows, oldest, exc)
        else:
            self._spool_ok()

    def _spill_memory(self, older_than: float, *, outage: bool = False) -> None:
        """Move in-memory batches handed over before *older_than* to spool files, in place (not one in the sink's hands).

        A batch moved because the sink is slow keeps its rows in memory too (up to
        ``max_held`` records), so storing it later reads nothing back; it is written
        without fsync (it is on disk against a crash of the process, as a SQLite
        commit is). During an outage (*outage*) files are fsynced: they may wait long.
        """
        cached = sum(len(s.cache) for s in self.segments if s.cache)
        for seg in self.segments:
            if not seg.rows or seg is self.inflight or seg.since > older_than:
                continue
            if seg.shadow is not None:  # already on disk
                continue
            f = self._new_file()
            try:
                f.append(seg.rows, fsync=outage)
            except OSError as exc:
                self._spool_failed(exc)
                self._hold_in_memory(exc)
                return
            self._spool_ok()
            if not outage and cached + len(seg.rows) <= self._max_held:
                seg.cache = seg.rows
                cached += len(seg.rows)
            seg.rows, seg.file, seg.held = None, f, False
        if self.segments and self.segments[-1].file is None:
            self.tail = None

    def _hold_in_memory(self, exc: BaseException) -> None:
        """The spool failed: what is in memory stays there until it works again, up to ``max_held``
        records (oldest first, as `_hold` keeps them); the batches past that are dropped and counted."""
        held = self.held
        keep: list[Segment] = []
        for seg in self.segments:
            if seg.rows and seg is not self.inflight and not seg.held:
                if held + len(seg.rows) > self._max_held:
                    self._on_drop(len(seg.rows), exc)
                    continue
                seg.held = True
                held += len(seg.rows)
            keep.append(seg)
        self.segments[:] = keep

    @property
    def held(self) -> int:
        """Records kept in memory because the spool could not take them."""
        return sum(len(s.rows) for s in self.segments if s.held and s.rows)

    def _hold(self, rows: Rows, oldest: float, exc: BaseException) -> None:
        self._spool_failed(exc)
        if self.held + len(rows) > self._max_held:
            self._on_drop(len(rows), exc)
            return
        self.segments.append(Segment(rows=rows, since=oldest, held=True))

    def _spool_failed(self, exc: BaseException) -> None:
        if self.spool_error is None:
            self._errors[0] += 1
            logger.error(
                "agentgate audit: cannot spool records for %s under %s (%s); holding up to %d in memory",
                self.sink.describe(),
                self.dir,
                exc,
                self._max_held,
            )
        self.spool_error = f"{type(exc).__name__}: {exc}"

    def _spool_ok(self) -> None:
        if self.spool_error is not None:
            logger.warning("agentgate audit: the spool for %s is writable again", self.sink.describe())
            self.spool_error = None

    def _ensure_thread(self) -> None:
        if self.thread is None:
            t = threading.Thread(target=self._run, name=f"agentgate-audit-{self.sink.spool_key[:16]}", daemon=True)
            self.thread = t
            t.start()

    @property
    def pending(self) -> int:
        """Records not stored yet (in memory or spooled)."""
        return sum(s.count for s in self.segments)

    @property
    def spooled(self) -> int:
        """Records waiting in spool files."""
        return sum(s.count for s in self.segments if s.file is not None)

    def idle(self) -> bool:
        """Nothing waiting and nothing in the sink's hands."""
        return not self.segments and not self.busy_since

    # ------------------------------------------------------------ delivery thread

    def _next(self) -> Segment | None:
        """Under the lock: the segment to store now, or None when the thread should end."""
        while True:
            if self.segments and time.monotonic() >= self.next_try:
                return self.segments[0]
            if self.stopping and (not self.segments or self.gave_up):
                return None
            if self.segments:
                self.cond.wait(max(0.0, self.next_try - time.monotonic()))
            elif not self.cond.wait(self._idle_close) and not self.segments:
                return None  # idle: release the connection; the next offer starts a new thread

    def _run(self) -> None:
        with self._run_lock:
            try:
                self._loop()
            finally:
                self.opened = False
                try:
                    self.sink.close()
                except Exception:
                    logger.exception("agentgate audit: closing %s failed", self.sink.describe())
                self._on_progress()

    def _loop(self) -> None:
        while True:
            with self.cond:
                seg = self._next()
                if seg is None:
                    self.thread = None  # decided under the lock: an offer after this starts a new thread
                    self.cond.notify_all()
                    return
                self.busy_since = time.monotonic()
                self.inflight = seg
            ok = self._store(seg)
            with self.cond:
                self.busy_since = 0.0
                self.inflight = None
                if ok and self.segments and self.segments[0] is seg and seg.count == 0:
                    self.segments.pop(0)
                    if seg.file is not None:
                        if seg.file is self.tail:
                            self.tail = None
                        seg.file.remove()
                        if not any(s.file is not None for s in self.segments):
                            logger.info("agentgate audit: %s: spooled records stored", self.sink.describe())
                self.cond.notify_all()
            self._on_progress()

    def _open(self) -> bool:
        if self.opened:
            return True
        try:
            self.sink.open()
        except Exception as exc:
            self._failed(exc)
            return False
        self.opened = True
        return True

    def _store(self, seg: Segment) -> bool:
        """Store *seg* (a memory batch at once, a spool file a batch at a time); False when the sink failed."""
        if not self._open():
            return False
        rows = seg.rows
        if rows is not None:  # only shutdown moves the batch in the sink's hands to disk (the sink hangs)
            if not self._write(rows):
                return False
            with self.cond:
                self.stored += len(rows)
                if seg.rows is None:
                    return True
                seg.rows, seg.held = [], False
                copy, seg.shadow = seg.shadow, None
                if copy is not None and copy in self.segments:  # stored after all: the disk copy is not needed
                    self.segments.remove(copy)
                    assert copy.file is not None
                    copy.file.remove()
            return True
        assert seg.file is not None
        if seg.cache is not None:  # moved to disk because the sink was slow: its rows are still here
            if not self._write(seg.cache):
                return False
            with self.cond:
                self.stored += len(seg.cache)
                self.replayed += len(seg.cache)
                seg.cache = None
                seg.file.settle()
            return True
        while True:
            rows, end = seg.file.peek(self._batch)
            if not rows:
                with self.cond:  # the writer appends under this lock: look again before calling it done
                    rows, end = seg.file.peek(self._batch)
                    if not rows:
                        seg.file.settle()
                        return True
            if not self._write(rows):
                return False
            seg.file.advance(end, len(rows))
            self.stored += len(rows)
            self.replayed += len(rows)
            self._on_progress()

    def _write(self, rows: Rows) -> bool:
        try:
            self.sink.write(rows, [v for r in rows if (v := violation_for(r)) is not None])
        except Exception as exc:
            self._failed(exc)
            return False
        self.backoff = _BACKOFF_MIN
        self.next_try = 0.0
        return True

    def _failed(self, exc: BaseException) -> None:
        self._errors[0] += 1
        level = logging.WARNING if self.backoff <= _BACKOFF_MIN else logging.DEBUG
        logger.log(level, "agentgate audit: %s unavailable (%s); spooling and retrying", self.sink.describe(), exc)
        if self.opened:  # reconnect on the next try
            self.opened = False
            with contextlib.suppress(Exception):
                self.sink.close()
        with self.cond:
            self.next_try = time.monotonic() + self.backoff * (0.5 + random.random())
            self.backoff = min(self.backoff * 2, _BACKOFF_MAX)
            if self.stopping:
                self.gave_up = True
            # What waits in memory (the failed batch included) goes to disk now, in order:
            # a crash during the outage loses none of it.
            seg = self.inflight
            if seg is not None and seg.shadow is not None and seg in self.segments:
                self.segments.remove(seg)  # its copy on disk takes its place
            self.busy_since = 0.0
            self.inflight = None
            self._spill_memory(float("inf"), outage=True)
            for s in self.segments:  # a long outage: what waits is read back from disk, not kept in memory
                s.cache = None

    # ------------------------------------------------------------ shutdown

    def stop(self, deadline: float) -> None:
        """Store what is waiting (one last try, whatever the backoff), then end the thread."""
        with self.cond:
            self.stopping = True
            self.next_try = 0.0
            if self.segments:
                self._ensure_thread()
            self.cond.notify_all()
            t = self.thread
        if t is not None:
            t.join(max(0.0, deadline - time.monotonic()))
        with self.cond:
            if self.thread is not None:  # the sink hangs: its batch is not in the sink yet, put it on disk
                self.busy_since = 0.0
                self.inflight = None
            self._spill_memory(float("inf"), outage=True)
            for seg in self.segments:
                if seg.rows and seg.shadow is None:  # a shadowed batch is on disk already
                    self._on_drop(len(seg.rows), RuntimeError(f"{self.sink.describe()} and its spool both failed"))
                    seg.rows = []
                if seg.file is not None:
                    seg.file.close()
            self.segments.clear()
            self.tail = None

    def forget(self) -> None:
        """After fork: drop the parent's handles without closing or unlocking them."""
        for seg in self.segments:
            if seg.file is not None:
                seg.file.forget()
        self.sink.after_fork()
