"""Hot reload: one subscription per process keeps the default firewall on the store's head.

The watcher thread validates and compiles each new head, builds a whole new `Firewall`
(same judge, approver, analyzers, audit trail, tools declared in code, and the settings
given explicitly to ``protect_all``), and swaps the default firewall's reference — a single
assignment, so a decision that already read the old firewall finishes under the old
revision and the next one reads the new. Nothing on the decision path changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..._errors import ConfigError, PolicyStoreError
from .._config import Config
from ._base import REVISION_LENGTH, PolicyRevision, PolicyStore, StoreWatch, digest_of, parse_document

if TYPE_CHECKING:
    from ..._firewall import Firewall

__all__ = ["PolicySubscription", "current_subscription", "status", "subscribe"]

logger = logging.getLogger("agentgate.policy.store")

_current: PolicySubscription | None = None
_current_lock = threading.Lock()


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat() if t is not None else None


class PolicySubscription:
    """The store a process takes its policy from, the revision in force, and the store's health.

    Built by `subscribe`; `protect_all` activates it. ``config`` is the policy in force.
    """

    def __init__(self, store: PolicyStore, *, cache_dir: str | os.PathLike[str] | None = None) -> None:
        self.store = store
        self.cache_dir = Path(cache_dir or os.environ.get("AGENTGATE_POLICY_CACHE") or ".agentgate/policy-cache")
        self._lock = threading.Lock()
        self._watch: StoreWatch | None = None
        self.explicit: dict[str, Any] = {}
        self.config: Config | None = None
        self.revision: PolicyRevision | None = None
        self.state = "starting"
        self.error: str | None = None
        self.connected = False
        self.from_cache = False
        self.loaded_at: datetime | None = None
        self.degraded_since: datetime | None = None
        self.counters = {"reloads": 0, "rejected": 0, "outages": 0}
        #: Called after each swap with the new revision, and with each head refused as
        #: invalid (telemetry hooks, tests).
        self.on_swap: list[Callable[[PolicyRevision], None]] = []
        self.on_reject: list[Callable[[PolicyRevision], None]] = []
        #: Called with ``(reachable, detail)`` when the store is lost or found again.
        self.on_status: list[Callable[[bool, str], None]] = []

    # ------------------------------------------------------------- start

    def load(self) -> Config:
        """Read the head (or, when the store cannot be reached, the cached last good copy).

        Raises `PolicyStoreError` when neither is available, and `ConfigError` when the head
        does not validate and there is no cached copy: a process never starts unprotected.
        """
        try:
            rev = self.store.get()
            cfg = rev.config()
        except (PolicyStoreError, ConfigError) as e:
            cached = self._read_cache()
            if cached is None:
                if isinstance(e, PolicyStoreError):
                    raise PolicyStoreError(
                        f"{e}; no cached copy of the policy in {self.cache_dir}: refusing to start without a policy"
                    ) from None
                raise
            rev, cfg = cached
            self.from_cache = True
            self._degrade(f"{e}; using the cached copy of revision {rev.revision}")
            self.connected = not isinstance(e, PolicyStoreError)
        else:
            self.connected = True
            self.state = "ok"
            self._write_cache(rev)
        self.config, self.revision, self.loaded_at = cfg, rev, datetime.now(UTC)
        return cfg

    def listen(self) -> None:
        """Start watching the store (a thread); each valid new head replaces the default firewall."""
        if self._watch is None:
            self._watch = self.store.watch(self._changed, on_status=self._status_changed, since=self.revision)

    def close(self) -> None:
        """Stop watching (the policy in force stays)."""
        w, self._watch = self._watch, None
        if w is not None:
            w.close()
        self.store.close()
        self.state = "closed"

    # ------------------------------------------------------------- events

    def _degrade(self, why: str) -> None:
        if self.state != "degraded":
            self.degraded_since = datetime.now(UTC)
            self.counters["outages"] += 1
        self.state, self.error = "degraded", why
        logger.warning(
            "agentgate: policy store %s: %s; keeping revision %s in force",
            self.store.url,
            why,
            self.revision.revision if self.revision else "(none)",
        )

    def _status_changed(self, ok: bool, detail: str) -> None:
        with self._lock:
            self.connected = ok
            if not ok:
                self._degrade(detail or "unreachable")
            elif self.state == "degraded" and not self._rejected_head:
                self.state, self.error, self.degraded_since = "ok", None, None
                logger.warning("agentgate: policy store %s reachable again", self.store.url)
        for hook in list(self.on_status):
            try:
                hook(ok, detail)
            except Exception:
                logger.exception("agentgate: policy store hook failed")

    _rejected_head = False

    def _changed(self, rev: PolicyRevision) -> None:
        with self._lock:
            try:
                cfg = rev.config()
            except ConfigError as e:
                self.counters["rejected"] += 1
                self._rejected_head = True
                self._degrade(f"revision {rev.revision} is not a valid policy: {e}")
                hooks = list(self.on_reject)
            else:
                hooks = self._apply(rev, cfg)
        for hook in hooks:
            try:
                hook(rev)
            except Exception:
                logger.exception("agentgate: policy store hook failed")

    def _apply(self, rev: PolicyRevision, cfg: Config) -> list[Callable[[PolicyRevision], None]]:
        self._rejected_head = False
        prev = self.revision
        self.config, self.revision, self.loaded_at = cfg, rev, datetime.now(UTC)
        self.from_cache = False
        self._write_cache(rev)
        if self.state != "closed":
            self.state, self.error, self.degraded_since = "ok", None, None
        self.counters["reloads"] += 1
        if _current is self:
            _swap_default(cfg, rev, prev, self.explicit)
        return list(self.on_swap)

    # ------------------------------------------------------------- health

    def status(self) -> dict[str, Any]:
        """The subscription's health, JSON-ready (``state``: ok | degraded | closed)."""
        rev = self.revision
        return {
            "source": self.store.url,
            "document": self.store.document,
            "state": self.state,
            "revision": rev.revision if rev else None,
            "seq": rev.seq if rev else None,
            "author": rev.author if rev else None,
            "connected": self.connected,
            "from_cache": self.from_cache,
            "error": self.error,
            "loaded_at": _iso(self.loaded_at),
            "degraded_since": _iso(self.degraded_since),
            **self.counters,
        }

    # ------------------------------------------------------------- cache

    def _cache_paths(self) -> tuple[Path, Path]:
        key = hashlib.sha256(f"{self.store.url}|{self.store.document}".encode()).hexdigest()[:16]
        return self.cache_dir / f"{key}.yaml", self.cache_dir / f"{key}.json"

    def _write_cache(self, rev: PolicyRevision) -> None:
        body, meta = self._cache_paths()
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            for path, data in ((body, rev.text), (meta, json.dumps({**rev.to_dict(), "url": self.store.url}))):
                tmp = path.with_suffix(path.suffix + ".tmp")
                tmp.write_text(data, encoding="utf-8")
                os.replace(tmp, path)
        except OSError as e:
            logger.warning("agentgate: cannot cache the policy in %s: %s", self.cache_dir, e.strerror)

    def _read_cache(self) -> tuple[PolicyRevision, Config] | None:
        body, meta = self._cache_paths()
        try:
            text = body.read_text(encoding="utf-8")
            m = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if digest_of(text)[:REVISION_LENGTH] != m.get("revision"):
            logger.warning("agentgate: cached policy %s does not match its revision; not used", body)
            return None
        rev = PolicyRevision(
            m["revision"],
            int(m["seq"]),
            text,
            m["author"],
            m["message"],
            datetime.fromisoformat(m["created_at"]),
            m.get("parent"),
            m.get("document", self.store.document),
        )
        try:
            return rev, parse_document(text, str(body), rev.revision)
        except ConfigError:
            return None


def subscribe(
    target: str | os.PathLike[str] | PolicyStore, *, cache_dir: str | os.PathLike[str] | None = None
) -> PolicySubscription:
    """A subscription to *target* (a store URL, a path, or a `PolicyStore`) with its head loaded.

    Not yet watching and not yet in charge of the default firewall: `protect_all` does that
    (`activate`). Raises like `PolicySubscription.load`.
    """
    from . import open_policy_store

    store = target if isinstance(target, PolicyStore) else open_policy_store(target)
    sub = PolicySubscription(store, cache_dir=cache_dir)
    sub.load()
    return sub


def activate(sub: PolicySubscription | None, explicit: dict[str, Any] | None = None) -> None:
    """Make *sub* the process's subscription (closing the previous one) and start it watching."""
    global _current
    with _current_lock:
        prev, _current = _current, sub
    if prev is not None and prev is not sub:
        prev.close()
    if sub is not None:
        sub.explicit = dict(explicit or {})
        sub.listen()


def current_subscription() -> PolicySubscription | None:
    """The subscription that keeps the default firewall on a store's head, if any."""
    return _current


def status() -> dict[str, Any] | None:
    """The policy store subscription's health (see `PolicySubscription.status`), None when not subscribed."""
    sub = _current
    return sub.status() if sub is not None else None


def _swap_default(cfg: Config, rev: PolicyRevision, prev: PolicyRevision | None, explicit: dict[str, Any]) -> None:
    from ... import _firewall as fwm
    from ..._decision import Severity

    while True:
        cur = fwm._default
        if cur is None:
            return
        new = rebuild(cur, cfg, explicit)
        with fwm._default_lock:
            if fwm._default is cur:
                fwm._set_default(new)
                break
        # Replaced meanwhile (reconfigure, register_tools): rebuild from the newer one.
    old = cur.policy_revision
    reason = (
        f"policy revision {old} -> {new.policy_revision} from {rev.document} in the policy store "
        f"(seq {rev.seq}, by {rev.author or '?'}: {rev.message})"
    )
    logger.warning("agentgate: %s", reason)
    fwm._record_change(
        (cur.auditor,),
        "agentgate.policy_store",
        {
            "store": _store_url(),
            "revision": rev.revision,
            "seq": rev.seq,
            "author": rev.author,
            "message": rev.message,
            "parent": prev.revision if prev else None,
            "previous_policy_revision": old,
            "policy_revision": new.policy_revision,
            "previous_mode": cur.mode,
            "mode": new.mode,
        },
        reason,
        Severity.MEDIUM,
        new,
    )


def _store_url() -> str | None:
    sub = _current
    return sub.store.url if sub is not None else None


def rebuild(cur: Firewall, cfg: Config, explicit: dict[str, Any]) -> Firewall:
    """A firewall enforcing *cfg* that keeps *cur*'s judge, approver, analyzers, audit trail and code-declared tools."""
    from ..._firewall import Firewall, _combine_revision

    esc = cur.escalator
    new = Firewall(
        cfg,
        analyzers=cur.analyzers,
        judge=esc.judge,
        approver=esc.approver,
        audit=cur.auditor if cur.auditor is not None else "none",
        **{k: v for k, v in explicit.items() if v is not None},
    )
    if new._planner is None and cur._planner is not None:
        object.__setattr__(new, "_planner", cur._planner)
    if new._shadow is None and cur._shadow is not None:
        object.__setattr__(new, "_shadow", cur._shadow)  # protect_all(shadow=...) outlives a push
    if new._telemetry is None and cur._telemetry is not None:
        object.__setattr__(new, "_telemetry", cur._telemetry)  # so does protect_all(telemetry=...)
        cur._telemetry.attach(new)
    # Tools declared in code (register_tools) outlive a policy change; the config's own
    # declarations come from the new document.
    carried = {k: v for k, v in cur._specs.items() if k not in cur._config.tools}
    if carried:
        specs = {**new._specs, **carried}
        object.__setattr__(new, "_specs", specs)
        object.__setattr__(new, "_revision", _combine_revision(cfg.revision(), specs))
    return new
