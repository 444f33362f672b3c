"""Policy store: versioned policy documents with history, and hot reload for a fleet.

Design
------
A store holds *documents* (YAML text of an agentgate.yaml); each push is a `PolicyRevision`:

* ``revision`` — the first 12 hex digits of the SHA-256 of the text (LF line endings). The
  revision names the *content*: it is what every verdict and audit record of a process
  subscribed to the store carries (``Verdict.policy_revision``), so a decision can always be
  traced to the exact document it was made under. A rollback makes a new history entry whose
  revision is the old one's (same content, same hash).
* ``seq`` (1, 2, 3 … per document), ``author``, ``message``, ``created_at`` (UTC), ``parent``
  (the revision that was the head before).

Backends, chosen by `open_policy_store`:

* a **file** (``agentgate.yaml`` or ``file:///abs/agentgate.yaml``): the live document is the
  file; history is kept beside it in ``.agentgate/policy-history/<file name>/``; changes are
  found by polling ``os.stat`` on a thread (every OS, every file system);
* **PostgreSQL** (``postgresql://…?schema=…&document=…``): a table in a schema created on
  first use; ``LISTEN/NOTIFY`` carries change events to every subscribed process.

The API (the same for both)::

    store = open_policy_store("postgresql://app@db/agentgate")
    rev = store.push(text, author="ana", message="allow reporting to write reports/")
    store.get()                 # the head; store.get("1a2b3c") / store.get("HEAD~1")
    store.history(limit=20)     # newest first
    store.diff("1a2b3c", None)  # unified diff of the YAML text, a → b (None: the head)
    store.rollback("1a2b3c", author="ana", message="revert")   # a new head with the old text
    handle = store.watch(lambda rev: ...)   # a thread; handle.close() stops it

`push` validates the text with the real loader first: an invalid document raises
`ConfigError` listing every problem with line and key, and nothing is stored. Pushing the
text already at the head stores nothing and returns the head. Store failures raise
`PolicyStoreError`; psycopg's errors never leave this package.

Hot reload
----------
``protect_all(config="postgresql://…")`` (or ``AGENTGATE_CONFIG=postgresql://…``, or a
``file://`` URL) loads the head, then subscribes (`subscribe`): each new head is validated
and compiled **off** the decision path, and the default firewall is replaced by one built
from it in a single reference swap. A decision reads the default firewall once, so it is
made entirely under one revision, which its verdict and audit record carry. Each swap is
audited (``config.change``).

Failure behaviour (never falls back to allow):

* store unreachable at start → the last good copy cached in ``.agentgate/policy-cache/``
  (or ``AGENTGATE_POLICY_CACHE``) is used and the status is ``degraded``; with no cached
  copy `protect_all` raises `PolicyStoreError` (the process does not start unprotected);
* store unreachable later → the policy in force stays, status ``degraded``, a WARNING is
  logged; on reconnecting the head is read again and the status returns to ``ok``;
* a new head that does not validate (a newer or older AgentGate, a hand-edited file) → the
  policy in force stays, status ``degraded`` with the problems, WARNING logged.

`status()` returns the subscription's state as a dict (for ``/healthz`` and metrics).
"""

from __future__ import annotations

import os
from pathlib import Path

from ._base import DEFAULT_DOCUMENT, PolicyRevision, PolicyStore, StoreWatch, parse_document
from ._file import FilePolicyStore
from ._postgres import PostgresPolicyStore
from ._reload import PolicySubscription, current_subscription, status, subscribe

__all__ = [
    "DEFAULT_DOCUMENT",
    "FilePolicyStore",
    "PolicyRevision",
    "PolicyStore",
    "PolicySubscription",
    "PostgresPolicyStore",
    "StoreWatch",
    "current_subscription",
    "is_store_url",
    "open_policy_store",
    "parse_document",
    "status",
    "subscribe",
]


def is_store_url(target: object) -> bool:
    """True for a ``postgresql://``, ``postgres://`` or ``file://`` URL (a policy store, hot reloaded)."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://", "file://"))


def open_policy_store(target: str | os.PathLike[str], *, document: str | None = None) -> PolicyStore:
    """Open the store at *target*: a ``postgresql://`` URL, a ``file://`` URL, or a path to a YAML file.

    Opening connects to nothing; the first operation does (and creates the PostgreSQL schema).
    *document* names the document in a PostgreSQL store (default ``default``, or the URL's
    ``document=`` parameter).
    """
    if isinstance(target, str) and target.startswith(("postgresql://", "postgres://")):
        return PostgresPolicyStore(target, document=document)
    if isinstance(target, str) and target.startswith("file://"):
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(target)
        # file:///abs/path, file://localhost/abs/path; file://relative/path is read as relative.
        host = parts.netloc if parts.netloc not in ("", "localhost") else ""
        target = unquote(host + parts.path)
    path = Path(target)
    if path.is_dir():
        path = path / "agentgate.yaml"
    return FilePolicyStore(path)
