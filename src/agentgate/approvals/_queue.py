"""The durable approval queue and the waiting machinery (rules in the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from .._errors import AgentGateError
from .._statedb import StateDB

__all__ = ["Approval", "ApprovalError", "ApprovalQueue"]

logger = logging.getLogger("agentgate.approvals")

CHANNEL = "agentgate_approvals"
_FIRST_POLL = 0.05
_MAX_POLL = 2.0

_DDL = (
    "CREATE TABLE IF NOT EXISTS agentgate_approvals ("
    " id TEXT PRIMARY KEY, created_at REAL NOT NULL, expires_at REAL NOT NULL, status TEXT NOT NULL,"
    " tool TEXT NOT NULL, agent_id TEXT NOT NULL, task_id TEXT NOT NULL, payload TEXT NOT NULL,"
    " decided_at REAL, decided_by TEXT, reason TEXT)",
    "CREATE INDEX IF NOT EXISTS agentgate_approvals_status ON agentgate_approvals (status, created_at)",
)
_COLS = "id, created_at, expires_at, status, tool, agent_id, task_id, payload, decided_at, decided_by, reason"


class ApprovalError(AgentGateError):
    """An answer that cannot be given: unknown id, already answered, expired.

    ``status`` is the HTTP status the API answers with (404 or 409).
    """

    def __init__(self, msg: str, status: int = 409) -> None:
        super().__init__(msg)
        self.status = status


@dataclass(frozen=True, slots=True)
class Approval:
    """One queued call and its answer.

    ``status``: ``pending``, ``approved``, ``denied`` or ``expired`` (a pending row past
    its deadline reads as expired even before its agent marks it).
    """

    id: str
    created_at: float
    expires_at: float
    status: str
    tool: str
    agent_id: str
    task_id: str
    payload: dict[str, Any]
    decided_at: float | None = None
    decided_by: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the call as the approver sees it (secrets masked) and the answer."""
        return {
            "id": self.id,
            "status": self.status,
            "tool": self.tool,
            "agent_id": self.agent_id,
            "task_id": self.task_id,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "decided_at": self.decided_at,
            "decided_by": self.decided_by,
            "reason": self.reason,
            "request": self.payload,
        }


def _row(r: tuple[Any, ...], now: float) -> Approval:
    status = str(r[3])
    if status == "pending" and float(r[2]) <= now:
        status = "expired"
    payload = json.loads(r[7]) if isinstance(r[7], str) else dict(r[7])
    return Approval(
        str(r[0]), float(r[1]), float(r[2]), status, str(r[4]), str(r[5]), str(r[6]), payload,
        None if r[8] is None else float(r[8]), r[9], r[10],
    )  # fmt: skip


# -- process-wide wake-ups -------------------------------------------------------------

_waiters: dict[str, set[Callable[[], None]]] = {}
_waiters_lock = threading.Lock()


def _register(aid: str, wake: Callable[[], None]) -> None:
    with _waiters_lock:
        _waiters.setdefault(aid, set()).add(wake)


def _unregister(aid: str, wake: Callable[[], None]) -> None:
    with _waiters_lock:
        s = _waiters.get(aid)
        if s is not None:
            s.discard(wake)
            if not s:
                del _waiters[aid]


def _wake(aid: str) -> None:
    with _waiters_lock:
        wakers = list(_waiters.get(aid, ()))
    for w in wakers:
        with contextlib.suppress(RuntimeError):  # an event loop that closed while its task waited
            w()


class _Listener:
    """One PostgreSQL ``LISTEN`` connection per database per process, waking local waiters."""

    _started: ClassVar[dict[str, _Listener]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def ensure(cls, url: str) -> None:
        from ..audit._postgres import split_schema

        # Channels are per database, not per schema: one listener serves every schema.
        clean, _ = split_schema(url)
        with cls._lock:
            if clean not in cls._started:
                cls._started[clean] = cls(clean)

    def __init__(self, url: str) -> None:
        self.url = url
        threading.Thread(target=self._run, name="agentgate-approvals-listen", daemon=True).start()

    def _run(self) -> None:
        import psycopg

        clean = self.url
        backoff = 1.0
        while True:
            try:
                with psycopg.connect(clean, autocommit=True, application_name="agentgate-approvals") as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    backoff = 1.0
                    while True:
                        for n in conn.notifies(timeout=5.0):
                            _wake(n.payload)
            except Exception as e:  # waiters still poll; the listener only makes them faster
                logger.warning("agentgate approvals: LISTEN connection lost (%s); retrying in %.0fs", e, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)


class ApprovalQueue:
    """The ``agentgate_approvals`` table in the state database at *url*."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.db = StateDB(url)
        self.db.create_tables(_DDL)

    # -- rows ---------------------------------------------------------------------------

    def submit(self, payload: dict[str, Any], timeout: float) -> Approval:
        """Queue a call (*payload* as `agentgate.judge.approval_payload` builds it) for *timeout* seconds."""
        aid = str(payload.get("request_id") or uuid.uuid4().hex)
        now = time.time()
        agent = payload.get("agent") or {}
        self.db.write(
            f"INSERT INTO agentgate_approvals ({_COLS}) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, NULL, NULL, NULL)",
            (
                aid, now, now + timeout, str(payload.get("tool", "")), str(agent.get("agent_id") or ""),
                str(agent.get("task_id") or ""), json.dumps(payload, default=str),
            ),
        )  # fmt: skip
        got = self.get(aid)
        assert got is not None
        return got

    def get(self, aid: str) -> Approval | None:
        """The approval *aid*, or None."""
        rows = self.db.execute(f"SELECT {_COLS} FROM agentgate_approvals WHERE id = ?", (aid,))
        return _row(rows[0], time.time()) if rows else None

    def list(self, status: str | None = "pending", limit: int = 100) -> list[Approval]:
        """Approvals with *status* (None: all), newest first. ``pending`` excludes those past their deadline."""
        now = time.time()
        if status is None:
            rows = self.db.execute(
                f"SELECT {_COLS} FROM agentgate_approvals ORDER BY created_at DESC LIMIT ?", (limit,)
            )
        elif status == "pending":
            rows = self.db.execute(
                f"SELECT {_COLS} FROM agentgate_approvals WHERE status = 'pending' AND expires_at > ?"
                " ORDER BY created_at DESC LIMIT ?",
                (now, limit),
            )
        elif status == "expired":
            rows = self.db.execute(
                f"SELECT {_COLS} FROM agentgate_approvals WHERE status = 'expired'"
                " OR (status = 'pending' AND expires_at <= ?) ORDER BY created_at DESC LIMIT ?",
                (now, limit),
            )
        else:
            rows = self.db.execute(
                f"SELECT {_COLS} FROM agentgate_approvals WHERE status = ? ORDER BY created_at DESC LIMIT ?",
                (status, limit),
            )
        return [_row(r, now) for r in rows]

    def decide(self, aid: str, approved: bool, who: str, reason: str) -> Approval:
        """Answer *aid*; `ApprovalError` if it is unknown (404), answered or expired (409)."""
        if not who.strip():
            raise ApprovalError("an answer needs to say who gives it", 400)
        if not reason.strip():
            raise ApprovalError("an answer needs a reason", 400)
        now = time.time()
        changed = self.db.write(
            "UPDATE agentgate_approvals SET status = ?, decided_at = ?, decided_by = ?, reason = ?"
            " WHERE id = ? AND status = 'pending' AND expires_at > ?",
            ("approved" if approved else "denied", now, who, reason, aid, now),
        )
        got = self.get(aid)
        if got is None:
            raise ApprovalError(f"no approval {aid!r}", 404)
        if not changed:
            by = f" by {got.decided_by}" if got.decided_by else ""
            raise ApprovalError(f"approval {aid} is already {got.status}{by}", 409)
        self._notify(aid)
        return got

    def expire(self, aid: str, reason: str) -> bool:
        """Mark *aid* expired if nobody answered it; False when an answer came first."""
        changed = self.db.write(
            "UPDATE agentgate_approvals SET status = 'expired', decided_at = ?, decided_by = 'timeout', reason = ?"
            " WHERE id = ? AND status = 'pending'",
            (time.time(), reason, aid),
        )
        return changed > 0

    def _notify(self, aid: str) -> None:
        _wake(aid)
        if self.db.kind == "postgres":
            try:
                self.db.execute("SELECT pg_notify(?, ?)", (CHANNEL, aid))
            except AgentGateError:  # the waiter's poll picks the answer up
                logger.warning("agentgate approvals: NOTIFY failed for %s", aid)

    # -- waiting ------------------------------------------------------------------------

    def _expired(self, aid: str, timeout: float) -> Approval:
        self.expire(aid, f"no answer within {timeout:g}s")
        a = self.get(aid)
        if a is None:
            raise ApprovalError(f"approval {aid} vanished from the queue", 404)
        return a

    def wait(self, aid: str, timeout: float) -> Approval:
        """Block this thread until *aid* is answered or *timeout* seconds pass (then it is expired)."""
        if self.db.kind == "postgres":
            _Listener.ensure(self.url)
        deadline = time.monotonic() + timeout
        ev = threading.Event()
        _register(aid, ev.set)
        try:
            delay = _FIRST_POLL
            while True:
                a = self.get(aid)
                if a is not None and a.status in ("approved", "denied"):
                    return a
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                ev.wait(min(delay, remaining))
                ev.clear()
                delay = min(delay * 2, _MAX_POLL)
        finally:
            _unregister(aid, ev.set)
        return self._expired(aid, timeout)

    async def await_answer(self, aid: str, timeout: float) -> Approval:
        """`wait` for async code: the event loop keeps running; database reads go to a worker thread."""
        if self.db.kind == "postgres":
            _Listener.ensure(self.url)
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        ev = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(ev.set)

        _register(aid, wake)
        try:
            delay = _FIRST_POLL
            while True:
                a = await asyncio.to_thread(self.get, aid)
                if a is not None and a.status in ("approved", "denied"):
                    return a
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ev.wait(), min(delay, remaining))
                ev.clear()
                delay = min(delay * 2, _MAX_POLL)
        finally:
            _unregister(aid, wake)
        return await asyncio.to_thread(self._expired, aid, timeout)

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()
