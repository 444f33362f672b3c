"""What every policy store shares: the revision record, validation, diff, rollback, the watch loop."""

from __future__ import annotations

import difflib
import hashlib
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..._errors import ConfigError, ConfigProblem, PolicyStoreError
from .._config import Config, parse_config
from .._load import load_yaml_text

__all__ = [
    "DEFAULT_DOCUMENT",
    "PolicyRevision",
    "PolicyStore",
    "StoreWatch",
    "WatchCallback",
    "digest_of",
    "normalize_text",
    "parse_document",
]

logger = logging.getLogger("agentgate.policy.store")

#: The document a store holds when no other name is given.
DEFAULT_DOCUMENT = "default"

#: Revisions are this many hex digits of the document's SHA-256 (as long as `Config.revision`).
REVISION_LENGTH = 12

#: ``callback(revision)`` for a new head; ``on_status(ok, detail)`` when the store becomes
#: unreachable (``ok=False``) or reachable again (``ok=True``).
WatchCallback = Callable[["PolicyRevision"], None]
StatusCallback = Callable[[bool, str], None]


def normalize_text(text: str) -> str:
    """The stored form of a document: LF line endings (the hash must not depend on the editor's OS)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def digest_of(text: str) -> str:
    """Full SHA-256 (hex) of a normalized document; the revision is its first 12 digits."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def parse_document(text: str, source: str, revision: str | None = None) -> Config:
    """Validate *text* with the real loader (every problem with line and key); the Config records *revision*."""
    data, lines = load_yaml_text(normalize_text(text), source)
    if data is None:
        # An empty document would silently remove every rule (and is what a reader sees of a
        # file truncated mid-write): never a policy a store serves.
        raise ConfigError([ConfigProblem("the document is empty (a policy needs at least one setting)", source, 1)])
    cfg = parse_config(data, source=source, lines=lines)
    if revision is not None:
        cfg._store_revision = revision
    return cfg


@dataclass(frozen=True, slots=True)
class PolicyRevision:
    """One stored version of a policy document.

    Attributes:
        revision: First 12 hex digits of the SHA-256 of ``text`` (the content hash). Two
            entries with the same text have the same revision (a rollback re-uses it).
        seq: Position in the document's history, 1 for the first push; 0 for a file edited
            on disk outside the store (not in history).
        text: The YAML document.
        author: Who pushed it.
        message: Why.
        created_at: When it was pushed (UTC).
        parent: The revision that was the head before this one, or None for the first.
        document: The document's name in the store (``"default"`` unless named).
    """

    revision: str
    seq: int
    text: str
    author: str
    message: str
    created_at: datetime
    parent: str | None
    document: str = DEFAULT_DOCUMENT

    @property
    def digest(self) -> str:
        """Full SHA-256 of the text."""
        return digest_of(self.text)

    def to_dict(self, *, text: bool = False) -> dict[str, Any]:
        """JSON-ready form (``text`` included only when asked: documents can be large)."""
        out: dict[str, Any] = {
            "revision": self.revision,
            "seq": self.seq,
            "author": self.author,
            "message": self.message,
            "created_at": self.created_at.astimezone(UTC).isoformat(),
            "parent": self.parent,
            "document": self.document,
        }
        if text:
            out["text"] = self.text
        return out

    def config(self) -> Config:
        """The document validated as a `Config` whose ``revision()`` is this revision."""
        return parse_document(self.text, f"{self.document}@{self.revision}", self.revision)


class StoreWatch:
    """A running subscription to a store's changes; `close` stops it (idempotent)."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = False
        self.error: str | None = None

    def _start(self, target: Callable[[], None], name: str) -> None:
        self._thread = threading.Thread(target=target, name=name, daemon=True)
        self._thread.start()

    @property
    def closed(self) -> bool:
        """True once `close` was called."""
        return self._stop.is_set()

    def close(self, timeout: float = 5.0) -> None:
        """Stop watching; waits up to *timeout* seconds for the watcher thread to end."""
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)

    def __enter__(self) -> StoreWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PolicyStore(ABC):
    """Versioned policy documents. See the package docstring for the contract of each method."""

    #: Where the store is, for messages and health (a password is never included).
    url: str
    #: The document this store object reads and writes.
    document: str

    # ------------------------------------------------------------------ backend

    @abstractmethod
    def _head(self) -> PolicyRevision | None:
        """The current head, or None when nothing was pushed."""

    @abstractmethod
    def _entries(self, limit: int | None) -> list[PolicyRevision]:
        """History entries, newest first."""

    @abstractmethod
    def _append(self, text: str, author: str, message: str) -> PolicyRevision:
        """Store *text* as the new head unless it already is; atomic against concurrent pushes."""

    @abstractmethod
    def _watch(
        self, w: StoreWatch, callback: WatchCallback, on_status: StatusCallback, since: tuple[int, str] | None
    ) -> None:
        """Start *w*'s thread: deliver every new head to *callback* until *w* is closed."""

    def close(self) -> None:  # noqa: B027 - optional for backends holding nothing open
        """Release connections (watches are closed by their handles)."""

    def __enter__(self) -> PolicyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------- public

    def push(self, text: str, *, author: str, message: str, source: str | None = None) -> PolicyRevision:
        """Validate *text* with the real loader, then store it as the new head.

        An invalid document raises `ConfigError` (every problem with line and key, in
        *source*: the file it came from, for messages) and nothing is stored. Pushing the document already at the head stores nothing and
        returns the head. Raises `PolicyStoreError` when the store cannot be written.
        """
        if not isinstance(text, str):
            raise TypeError(f"push() takes the document's text, not {type(text).__name__}")
        author = (author or "").strip()
        message = (message or "").strip()
        problems = []
        if not author:
            problems.append(ConfigProblem("an author is required", key="author"))
        if not message:
            problems.append(ConfigProblem("a message saying why is required", key="message"))
        if problems:
            raise ConfigError(problems)
        text = normalize_text(text)
        parse_document(text, source or f"{self.document} (pushed)")
        return self._append(text, author, message)

    def documents(self) -> list[str]:
        """Names of the documents this store holds (a file store holds one)."""
        return [self.document] if self._head() is not None else []

    def head(self) -> PolicyRevision | None:
        """The current head, or None when nothing was pushed yet."""
        return self._head()

    def get(self, revision: str | None = None) -> PolicyRevision:
        """The head (``revision=None``) or the newest entry whose revision starts with *revision*.

        A revision may be abbreviated to 4 or more hex digits when unambiguous; ``HEAD~N``
        is the entry N pushes before the head. Raises `PolicyStoreError` when there is none.
        """
        if revision is None or revision in ("HEAD", "head", ""):
            head = self._head()
            if head is None:
                raise PolicyStoreError(f"{self.url}: no policy has been pushed to document {self.document!r} yet")
            return head
        rev = revision.strip()
        if rev.upper().startswith("HEAD~"):
            try:
                back = int(rev[5:])
            except ValueError:
                raise PolicyStoreError(f"bad revision {revision!r}: HEAD~N takes a number") from None
            entries = self._entries(back + 1)
            if back < 0 or len(entries) <= back:
                raise PolicyStoreError(f"{self.url}: history has no {revision} ({len(entries)} entries)")
            return entries[back]
        low = rev.lower()
        if len(low) < 4 or any(c not in "0123456789abcdef" for c in low):
            raise PolicyStoreError(f"bad revision {revision!r}: give at least 4 hex digits, or HEAD, or HEAD~N")
        found: dict[str, PolicyRevision] = {}
        for e in self._entries(None):
            if e.revision.startswith(low) and e.revision not in found:
                found[e.revision] = e  # newest first: the first hit is the newest entry
        if not found:
            raise PolicyStoreError(f"{self.url}: no revision {revision!r} in document {self.document!r}")
        if len(found) > 1:
            raise PolicyStoreError(f"revision {revision!r} is ambiguous: {', '.join(sorted(found))}")
        return next(iter(found.values()))

    def history(self, limit: int | None = 50) -> list[PolicyRevision]:
        """Entries newest first (at most *limit*; None for all)."""
        if limit is not None and limit < 1:
            raise ValueError("limit must be at least 1")
        return self._entries(limit)

    def diff(self, a: str | None, b: str | None = None) -> str:
        """Unified diff of the YAML text from revision *a* to *b* (None: the head); empty when equal."""
        ra, rb = self.get(a), self.get(b)
        return "".join(
            difflib.unified_diff(
                ra.text.splitlines(keepends=True),
                rb.text.splitlines(keepends=True),
                fromfile=f"{ra.document}@{ra.revision}",
                tofile=f"{rb.document}@{rb.revision}",
            )
        )

    def rollback(self, revision: str, *, author: str, message: str) -> PolicyRevision:
        """Push the text of *revision* again: a new history entry (same content hash) becomes the head.

        The old text is validated again with the current loader, so a document this
        version of AgentGate no longer accepts is refused instead of being made live.
        """
        old = self.get(revision)
        return self.push(old.text, author=author, message=message)

    def watch(
        self,
        callback: WatchCallback,
        *,
        on_status: StatusCallback | None = None,
        since: PolicyRevision | None = None,
    ) -> StoreWatch:
        """Call *callback(revision)* on a background thread for every new head; returns the handle.

        The head current when watching starts is delivered unless it is *since*. While the
        store cannot be reached, *on_status(False, why)* is called once, and
        *on_status(True, "")* when it can again (then the head is read, so a push made during
        the outage is delivered). *callback* errors are logged, never stop the watch.
        """
        w = StoreWatch()
        self._watch(w, callback, on_status or _no_status, (since.seq, since.revision) if since is not None else None)
        return w


def _no_status(ok: bool, detail: str) -> None:
    return None


def deliver(callback: WatchCallback, rev: PolicyRevision) -> None:
    """Run a watch callback; its failure is logged (the watcher thread must survive it)."""
    try:
        callback(rev)
    except Exception:
        logger.exception("agentgate: policy store watch callback failed for revision %s", rev.revision)


def now() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)
