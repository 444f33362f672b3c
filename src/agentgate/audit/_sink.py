"""The sink boundary: where finished records go.

A sink receives batches of finished rows (redacted, hashed, in chain order)
from the one writer thread that owns it. ``write`` must be idempotent: a batch
whose commit was cut off is replayed from the spool, so rows already stored
(same ``id``) are skipped, never duplicated. Any exception from ``write`` means
"not stored": the writer spools the batch and retries with backoff.

Each sink is only ever called from its own delivery thread (`check` excepted),
so it needs no locks and has no async twin: neither the event loop nor the
thread that builds records ever waits on it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from ._record import AuditRecord

__all__ = ["MemorySink", "Sink"]


class Sink:
    """Base class of audit sinks.

    Attributes:
        spool_key: A stable name for this destination (``sqlite-<hash>``); the
            spool of records awaiting it lives under that name, so a later process
            writing to the same destination replays what an earlier one left.
    """

    spool_key: str = "sink"

    def open(self) -> None:
        """Connect and migrate. Called in the writer thread before the first write."""

    def write(self, rows: Sequence[dict[str, Any]], violations: Sequence[dict[str, Any]]) -> None:
        """Store *rows* (``actions``) and *violations* atomically, skipping ids already stored."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections. Called from the sink's delivery thread when it ends."""

    def check(self) -> None:
        """Raise if records cannot be written here (called once at start, from the caller's thread).

        Must not touch the connection `write` uses: open a separate one and close it.
        """

    def after_fork(self) -> None:
        """Forget connections inherited from the parent process without closing them."""

    def describe(self) -> str:
        """Where records go, without credentials (for logs and ``stats()``)."""
        return self.spool_key


class MemorySink(Sink):
    """Keeps records in memory: for tests (``open_auditor(MemorySink())``).

    ``records`` holds `AuditRecord` objects in the order they were stored;
    ``violations`` the matching ``violations`` rows as dicts.

    >>> sink = MemorySink()
    >>> sink.records
    []
    """

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []
        self.violations: list[dict[str, Any]] = []
        self.spool_key = f"memory-{id(self):x}"
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def write(self, rows: Sequence[dict[str, Any]], violations: Sequence[dict[str, Any]]) -> None:
        """Append the rows not stored yet."""
        with self._lock:  # readers (tests) may iterate while the writer appends
            for row in rows:
                if row["id"] not in self._ids:
                    self._ids.add(row["id"])
                    self.records.append(AuditRecord.from_row(row))
            known = {v["id"] for v in self.violations}
            self.violations.extend(v for v in violations if v["id"] not in known)

    def describe(self) -> str:
        """``memory://``."""
        return "memory://"

    def clear(self) -> None:
        """Forget everything stored so far."""
        with self._lock:
            self.records.clear()
            self.violations.clear()
            self._ids.clear()
