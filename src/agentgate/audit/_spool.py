"""The local append-only spool: records that could not be stored yet.

Two kinds of files live under the spool directory (by default
``$XDG_STATE_HOME/agentgate/spool``, else ``~/.local/state/agentgate/spool``: on
another path than the database, so a full or read-only database disk does not
take the spool with it):

``<sink>/<writer>.<n>.jsonl``
    Finished rows (redacted, hashed) a sink could not take in time: written when
    the database is down or slow, stored in order once it is back (one file per
    stretch of spooling, numbered in order).
``<sink>/overflow/<writer>.jsonl``
    Redacted rows callers spilled because the queue was full (``on_full="spill"``,
    or ``"block"`` after its timeout) or that arrived after shutdown; the writer
    thread chains them in as soon as it has room, or the next process does.

A live writer holds an exclusive ``flock`` on its own files for its lifetime, so
another process can tell an orphan (its writer died with records in it) from a
file still in use, take the lock and replay it. Nothing is deleted before the
sink has committed it; a replay cut short is replayed again and the sinks skip
ids they already have.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no cross-process claim, orphans replay on next start only
    fcntl = None  # type: ignore[assignment]

from ._record import public

__all__ = ["SpoolFile", "claim_orphans"]

logger = logging.getLogger("agentgate.audit")


def _lock(fh: IO[bytes], blocking: bool) -> bool:
    if fcntl is None:  # pragma: no cover
        return True  # type: ignore[unreachable]
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError:
        return False
    return True


class SpoolFile:
    """One append-only JSONL file of rows, owned (locked) by one writer.

    Thread-safe: callers spilling and the writer thread may use it at once.
    """

    def __init__(self, path: Path, fh: IO[bytes] | None = None) -> None:
        self.path = path
        self._fh = fh
        self._lock = threading.Lock()
        self._read_at = 0
        self.pending = 0
        if fh is not None:  # an orphan claimed with its lock: count what it holds
            self.pending = sum(1 for _ in self._lines(0))

    def _open(self) -> IO[bytes]:
        while self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a+b")  # noqa: SIM115 - held open (and locked) for the writer's lifetime
            _lock(fh, blocking=True)
            try:
                same = os.stat(self.path).st_ino == os.fstat(fh.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fh = fh
            else:  # another process replayed and removed the file while we waited for its lock
                fh.close()
        return self._fh

    def append(self, rows: list[dict[str, Any]], fsync: bool = True) -> None:
        """Append *rows* durably (one JSON line each)."""
        if not rows:
            return
        data = b"".join(json.dumps(public(r), ensure_ascii=False, separators=(",", ":")).encode() + b"\n" for r in rows)
        with self._lock:
            fh = self._open()
            fh.seek(0, os.SEEK_END)
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
            self.pending += len(rows)

    def _lines(self, offset: int) -> Iterator[tuple[bytes, int]]:
        fh = self._fh
        if fh is None:
            return
        fh.seek(offset)
        while True:
            line = fh.readline()
            if not line or not line.endswith(b"\n"):  # a torn last line is re-read once it is complete
                return
            offset += len(line)
            yield line, offset

    def peek(self, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Up to *limit* unread rows, in order, and the offset just after them."""
        rows: list[dict[str, Any]] = []
        end = self._read_at
        with self._lock:
            for line, end in self._lines(self._read_at):  # noqa: B007 - end is the offset after the last row read
                try:
                    rows.append(json.loads(line))
                except ValueError:  # a corrupted line cannot be replayed; say so, and do not wait for it
                    logger.error("agentgate audit: unreadable line in spool %s skipped", self.path)
                    self.pending -= 1
                if len(rows) >= limit:
                    break
        return rows, end

    def settle(self) -> None:
        """Nothing more can be read (a line that never completed): stop counting it as pending."""
        with self._lock:
            self.pending = 0

    def advance(self, end: int, n: int) -> None:
        """Mark rows up to *end* as stored; empty the file once everything is."""
        with self._lock:
            if end == self._read_at and n == 0 and self._size() == end:
                self.pending = 0  # nothing left that can be read: never spin on a miscount
            self._read_at = end
            self.pending = max(0, self.pending - n)
            fh = self._fh
            if fh is not None and self.pending == 0:
                fh.seek(0, os.SEEK_END)
                if fh.tell() == end:
                    fh.truncate(0)
                    fh.flush()
                    self._read_at = 0

    def _size(self) -> int:
        fh = self._fh
        if fh is None:
            return self._read_at
        return os.fstat(fh.fileno()).st_size

    def remove(self) -> None:
        """Delete the (fully replayed) file and release its lock."""
        with self._lock:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.close()

    def close(self) -> None:
        """Release the lock (a file with rows stays for whoever replays it; an empty one goes)."""
        fh, self._fh = self._fh, None
        if fh is not None:
            with contextlib.suppress(OSError):
                if os.fstat(fh.fileno()).st_size == 0:
                    self.path.unlink()
            with contextlib.suppress(OSError):
                fh.close()

    def forget(self) -> None:
        """After fork: drop the handle without unlocking the parent's file."""
        self._fh = None
        self._lock = threading.Lock()


def claim_orphans(directory: Path, own: str) -> list[SpoolFile]:
    """Lock and return the spool files in *directory* left by writers that are gone, oldest first."""
    if not directory.is_dir():
        return []
    found: list[tuple[float, SpoolFile]] = []
    for path in directory.glob("*.jsonl"):
        if path.name.split(".", 1)[0] == own:  # ours: <writer>.jsonl or <writer>.<n>.jsonl
            continue
        try:
            fh = open(path, "r+b")  # noqa: SIM115 - kept open while we hold its lock
        except OSError:
            continue
        if not _lock(fh, blocking=False):
            fh.close()  # its writer is alive
            continue
        try:
            st = os.fstat(fh.fileno())
            if st.st_size == 0:
                # Empty: nothing to replay. Remove it only when clearly stale, so a writer
                # between opening and locking its new file never loses it under its feet.
                if time.time() - st.st_mtime > 60:
                    with contextlib.suppress(OSError):
                        path.unlink()
                fh.close()
                continue
            found.append((os.fstat(fh.fileno()).st_mtime, SpoolFile(path, fh)))
        except OSError:
            fh.close()
    found.sort(key=lambda t: t[0])
    return [s for _, s in found]
