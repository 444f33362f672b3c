"""The file store: the live document is a YAML file; its history is kept beside it.

Layout, for ``/srv/app/agentgate.yaml``::

    /srv/app/agentgate.yaml                                  the head (what processes load)
    /srv/app/.agentgate/policy-history/agentgate.yaml/
        log.jsonl                                            one JSON line per push
        000001-1a2b3c4d5e6f.yaml                             the text of each push
        .lock                                                serializes pushes (flock)

A push writes the text file, then the log line (fsynced), then replaces the live file
atomically (``os.replace``), so a reader sees the old document or the new one, never half.
The file may also be edited by hand: the head is then that text with ``seq == 0`` ("edited
outside the store"), and the next push records it as its parent. The watch polls
``os.stat`` (mtime, size, inode) on a thread, which works on every OS and file system
(no inotify), and reads the file only when that changes.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from ..._errors import PolicyStoreError
from ._base import (
    REVISION_LENGTH,
    PolicyRevision,
    PolicyStore,
    StatusCallback,
    StoreWatch,
    WatchCallback,
    deliver,
    digest_of,
    normalize_text,
    now,
)

__all__ = ["FilePolicyStore"]

#: How often the watch looks at the file (seconds).
POLL_INTERVAL = 0.25


class FilePolicyStore(PolicyStore):
    """Policy history for one YAML file (see the module docstring for the layout)."""

    def __init__(self, path: str | os.PathLike[str], *, poll_interval: float = POLL_INTERVAL) -> None:
        self.path = Path(path).absolute()
        self.url = str(self.path)
        self.document = self.path.name
        self.poll_interval = poll_interval
        self.history_dir = self.path.parent / ".agentgate" / "policy-history" / self.path.name
        self._lock = threading.Lock()

    # ------------------------------------------------------------- reading

    def _read_live(self) -> str | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise PolicyStoreError(f"{self.path}: cannot read: {e.strerror}") from None
        try:
            return normalize_text(raw.decode("utf-8-sig"))
        except UnicodeDecodeError as e:
            raise PolicyStoreError(f"{self.path}: not UTF-8 at byte offset {e.start}") from None

    def _log(self) -> list[dict[str, Any]]:
        try:
            lines = (self.history_dir / "log.jsonl").read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        except OSError as e:
            raise PolicyStoreError(f"{self.history_dir}: cannot read the history: {e.strerror}") from None
        out = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                # A torn last line (crash during a push) is skipped, anything else is corruption.
                if n == len(lines):
                    continue
                raise PolicyStoreError(f"{self.history_dir / 'log.jsonl'}:{n}: not a JSON line") from None
        return out

    def _entry(self, meta: dict[str, Any]) -> PolicyRevision:
        body = self.history_dir / f"{int(meta['seq']):06d}-{meta['revision']}.yaml"
        try:
            text = body.read_text(encoding="utf-8")
        except OSError as e:
            raise PolicyStoreError(f"{body}: cannot read a history entry: {e.strerror}") from None
        if digest_of(text) != meta["digest"]:
            raise PolicyStoreError(f"{body}: content does not match its recorded hash (edited or corrupt)")
        return PolicyRevision(
            meta["revision"],
            int(meta["seq"]),
            text,
            meta["author"],
            meta["message"],
            datetime.fromisoformat(meta["created_at"]),
            meta.get("parent"),
            self.document,
        )

    def _unrecorded(self, text: str, last: PolicyRevision | None) -> PolicyRevision:
        mtime = now()
        with contextlib.suppress(OSError):
            mtime = datetime.fromtimestamp(self.path.stat().st_mtime, mtime.tzinfo)
        return PolicyRevision(
            digest_of(text)[:REVISION_LENGTH],
            0,
            text,
            "",
            "edited outside the store (not in history)",
            mtime,
            last.revision if last is not None else None,
            self.document,
        )

    def _head(self) -> PolicyRevision | None:
        text = self._read_live()
        log = self._log()
        last = self._entry(log[-1]) if log else None
        if text is None:
            return last
        if last is not None and last.text == text:
            return last
        return self._unrecorded(text, last)

    def _entries(self, limit: int | None) -> list[PolicyRevision]:
        log = self._log()
        metas = log[::-1] if limit is None else log[: -limit - 1 : -1]
        out = [self._entry(m) for m in metas]
        head = self._head()
        if head is not None and head.seq == 0:
            out.insert(0, head)
            if limit is not None:
                out = out[:limit]
        return out

    # ------------------------------------------------------------- writing

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.history_dir.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.history_dir / ".lock", "a+b") as fh:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - Windows: the in-process lock only
                yield
                return
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _append(self, text: str, author: str, message: str) -> PolicyRevision:
        try:
            with self._locked():
                head = self._head()
                if head is not None and head.seq > 0 and head.text == text:
                    return head
                log = self._log()
                seq = (int(log[-1]["seq"]) if log else 0) + 1
                digest = digest_of(text)
                rev = PolicyRevision(
                    digest[:REVISION_LENGTH], seq, text, author, message, now(), head.revision if head else None,
                    self.document,
                )  # fmt: skip
                _write_atomic(self.history_dir / f"{seq:06d}-{rev.revision}.yaml", text)
                line = json.dumps({**rev.to_dict(), "digest": digest}, sort_keys=True, ensure_ascii=False)
                with open(self.history_dir / "log.jsonl", "a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                _write_atomic(self.path, text)
                return rev
        except OSError as e:
            raise PolicyStoreError(f"{self.path}: cannot write the policy: {e.strerror}") from None

    # ------------------------------------------------------------- watching

    def _watch(
        self, w: StoreWatch, callback: WatchCallback, on_status: StatusCallback, since: tuple[int, str] | None
    ) -> None:
        def stat() -> tuple[int, int, int] | None:
            try:
                st = self.path.stat()
            except OSError:
                return None
            return (st.st_mtime_ns, st.st_size, st.st_ino)

        def run() -> None:
            seen = since
            last_stat: tuple[int, int, int] | None = (-1, -1, -1)
            ok: bool | None = None
            while not w.closed:
                cur = stat()
                if cur != last_stat:
                    try:
                        head = self._head()
                    except PolicyStoreError as e:
                        head, err = None, str(e)
                    else:
                        err = "" if head is not None else f"{self.path}: missing"
                    if stat() != cur:
                        # Changed while being read (an editor writing in place): read it again
                        # once it is still, rather than deliver a torn document.
                        w._stop.wait(self.poll_interval / 5)
                        continue
                    if head is None:
                        if ok is not False:
                            w.connected, w.error, ok = False, err, False
                            on_status(False, err)
                    else:
                        last_stat = cur
                        if ok is not True:
                            w.connected, w.error, ok = True, None, True
                            on_status(True, "")
                        key = (head.seq, head.revision)
                        if key != seen:
                            seen = key
                            deliver(callback, head)
                w._stop.wait(self.poll_interval)

        self._watch_thread_start(w, run)

    def _watch_thread_start(self, w: StoreWatch, run: Any) -> None:
        w._start(run, f"agentgate-policy-watch:{self.path.name}")


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:  # keep the live file's permissions (mkstemp makes 0600)
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
