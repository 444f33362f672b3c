"""API tokens and browser sessions of ``agentgate serve``, stored hashed.

A token is ``agt_<id>_<secret>``: ``id`` (8 hex characters) names it in listings and
``revoke``; ``secret`` is 32 random bytes. Only ``sha256(token)`` is stored: a
high-entropy secret needs no slow hash, and a stolen table yields no usable token.
It is shown once, by ``agentgate token create``.

Roles (`ROLES`), each including the ones before it::

    viewer    read the trail, stats, policies, pending approvals
    approver  + approve or deny queued calls
    editor    + push and roll back policies
    admin     + everything, including /v1/decide

``agent`` stands apart: it may call ``POST /v1/decide`` and ``POST /api/check`` and
nothing else — the token an agent process or gateway holds cannot read the trail or
approve its own calls. An agent token may be **bound to agent ids** (glob patterns,
``agentgate token create --role agent --agent mailer --agent 'billing-*'``): it then decides
only for those agents, so a stolen or misused gateway token cannot claim the policy of a
more privileged agent. An unbound agent token may name any ``agent_id``.

A browser session (``POST /login`` with a token) is a random id, also stored hashed,
tied to its token (revoking the token ends its sessions) and expiring after
`SESSION_TTL`; its CSRF token is derived from the session id.

>>> role_allows("editor", "approver"), role_allows("approver", "editor"), role_allows("agent", "viewer")
(True, False, False)
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .._errors import ConfigError
from .._statedb import StateDB

__all__ = ["ROLES", "SESSION_TTL", "TokenInfo", "TokenStore", "role_allows"]

#: The ordered roles; each includes the ones before it.
ROLES = ("viewer", "approver", "editor", "admin")
#: The decision-only role of agent processes and gateways.
AGENT = "agent"
#: Seconds a browser session lasts.
SESSION_TTL = 8 * 3600
#: Seconds a verified token or session stays cached in the server (revocation takes effect within this).
CACHE_TTL = 2.0

_DDL = (
    "CREATE TABLE IF NOT EXISTS agentgate_tokens ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,"
    " created_at REAL NOT NULL, revoked_at REAL, agents TEXT)",
    "CREATE TABLE IF NOT EXISTS agentgate_sessions ("
    " hash TEXT PRIMARY KEY, token_id TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL)",
)


def role_allows(role: str, needed: str) -> bool:
    """Does *role* include *needed*? ``admin`` includes ``agent``; nothing else does."""
    if needed == AGENT:
        return role in (AGENT, "admin")
    if role not in ROLES or needed not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed (never the secret)."""

    id: str
    name: str
    role: str
    created_at: float
    revoked_at: float | None = None
    #: Agent ids (glob patterns) an agent token decides for; empty: any.
    agents: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """Not revoked."""
        return self.revoked_at is None

    def may_act_for(self, agent_id: str) -> bool:
        """May this token decide calls for *agent_id* (always, when it is bound to no agents)?"""
        return may_act_for(self.agents, agent_id)


def may_act_for(agents: Sequence[str], agent_id: str) -> bool:
    """Does a token bound to *agents* (glob patterns; none: any agent) decide calls for *agent_id*?"""
    return not agents or any(fnmatch.fnmatchcase(agent_id, p) for p in agents)


def _agents(raw: object) -> tuple[str, ...]:
    return tuple(a for a in str(raw).split("\n") if a) if raw else ()


def check_agent_patterns(agents: Sequence[str]) -> tuple[str, ...]:
    """Validated agent-id patterns of a token (non-empty, no whitespace, no newline)."""
    out = []
    for a in agents:
        if not isinstance(a, str) or not a.strip() or any(c.isspace() for c in a):
            raise ConfigError(f"an agent id pattern must be a non-empty word without spaces, not {a!r}")
        out.append(a)
    return tuple(dict.fromkeys(out))


class TokenStore:
    """Tokens and sessions in the state database at *url* (see `agentgate._statedb`)."""

    def __init__(self, url: str) -> None:
        self.db = StateDB(url)
        self.db.create_tables(_DDL)
        self._add_agents_column()
        self._cache: dict[str, tuple[float, TokenInfo | None]] = {}
        self._any: tuple[float, bool] | None = None
        self._lock = threading.Lock()

    def _add_agents_column(self) -> None:
        # Tables created before tokens could be bound to agents lack the column; add it in place.
        if self.db.kind == "postgres":
            self.db.execute("ALTER TABLE agentgate_tokens ADD COLUMN IF NOT EXISTS agents TEXT")
            return
        cols = {r[1] for r in self.db.execute("PRAGMA table_info(agentgate_tokens)")}
        if "agents" not in cols:
            try:
                self.db.execute("ALTER TABLE agentgate_tokens ADD COLUMN agents TEXT")
            except ConfigError as e:  # another process added it first
                if "duplicate column" not in str(e):
                    raise

    # -- tokens ------------------------------------------------------------------------

    def create(self, name: str, role: str, agents: Sequence[str] = ()) -> tuple[TokenInfo, str]:
        """A new token: its listing entry and the secret (shown once, never stored).

        *agents* (glob patterns) binds an ``agent`` token to the agent ids it may decide for.
        """
        if role not in (*ROLES, AGENT):
            raise ConfigError(f"role must be one of {', '.join((*ROLES, AGENT))}, not {role!r}")
        name = name.strip()
        if not name:
            raise ConfigError("a token needs a name (who or what holds it)")
        bound = check_agent_patterns(agents)
        if bound and role != AGENT:
            raise ConfigError(f"only agent tokens are bound to agent ids; a {role} token is not (drop --agent)")
        tid = secrets.token_hex(4)
        secret = f"agt_{tid}_{secrets.token_urlsafe(32)}"
        info = TokenInfo(tid, name, role, time.time(), agents=bound)
        self.db.write(
            "INSERT INTO agentgate_tokens (id, name, role, hash, created_at, agents) VALUES (?, ?, ?, ?, ?, ?)",
            (tid, name, role, _hash(secret), info.created_at, "\n".join(bound) or None),
        )
        self._forget()
        return info, secret

    def tokens(self) -> list[TokenInfo]:
        """Every token, oldest first (revoked ones included, marked)."""
        rows = self.db.execute(
            "SELECT id, name, role, created_at, revoked_at, agents FROM agentgate_tokens ORDER BY created_at"
        )
        return [
            TokenInfo(r[0], r[1], r[2], float(r[3]), None if r[4] is None else float(r[4]), _agents(r[5])) for r in rows
        ]

    def revoke(self, ident: str) -> list[TokenInfo]:
        """Revoke the token with id *ident* (or every active token named *ident*); those revoked."""
        hits = [t for t in self.tokens() if t.active and ident in (t.id, t.name)]
        now = time.time()
        for t in hits:
            self.db.write("UPDATE agentgate_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (now, t.id))
            self.db.write("DELETE FROM agentgate_sessions WHERE token_id = ?", (t.id,))
        self._forget()
        return hits

    def any_active(self) -> bool:
        """Is there at least one active token (someone can sign in)?"""
        return bool(self.db.execute("SELECT 1 FROM agentgate_tokens WHERE revoked_at IS NULL LIMIT 1"))

    def auth_enabled(self) -> bool:
        """Was a token ever created? Then every request must authenticate, even once all are revoked."""
        now = time.monotonic()
        hit = self._any
        if hit is not None and now - hit[0] < CACHE_TTL:
            return hit[1]
        found = bool(self.db.execute("SELECT 1 FROM agentgate_tokens LIMIT 1"))
        self._any = (now, found)
        return found

    def verify(self, secret: str) -> TokenInfo | None:
        """The active token *secret* is, or None."""
        if not secret.startswith("agt_") or len(secret) > 200:
            return None
        key = _hash(secret)
        return self._cached("t" + key, lambda: self._by_hash(key))

    def _by_hash(self, key: str) -> TokenInfo | None:
        rows = self.db.execute(
            "SELECT id, name, role, created_at, agents FROM agentgate_tokens WHERE hash = ? AND revoked_at IS NULL",
            (key,),
        )
        return (
            TokenInfo(rows[0][0], rows[0][1], rows[0][2], float(rows[0][3]), agents=_agents(rows[0][4]))
            if rows
            else None
        )

    # -- sessions ----------------------------------------------------------------------

    def create_session(self, token: TokenInfo) -> str:
        """A new browser session for *token*; the session id (goes in the HttpOnly cookie)."""
        sid = secrets.token_urlsafe(32)
        now = time.time()
        self.db.write("DELETE FROM agentgate_sessions WHERE expires_at < ?", (now,))
        self.db.write(
            "INSERT INTO agentgate_sessions (hash, token_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (_hash(sid), token.id, now, now + SESSION_TTL),
        )
        return sid

    def session(self, sid: str) -> TokenInfo | None:
        """The token behind the live session *sid*, or None (expired, ended, token revoked)."""
        if not sid or len(sid) > 200:
            return None
        key = _hash(sid)
        return self._cached("s" + key, lambda: self._by_session(key))

    def _by_session(self, key: str) -> TokenInfo | None:
        rows = self.db.execute(
            "SELECT t.id, t.name, t.role, t.created_at, t.agents FROM agentgate_sessions s"
            " JOIN agentgate_tokens t ON t.id = s.token_id"
            " WHERE s.hash = ? AND s.expires_at > ? AND t.revoked_at IS NULL",
            (key, time.time()),
        )
        return (
            TokenInfo(rows[0][0], rows[0][1], rows[0][2], float(rows[0][3]), agents=_agents(rows[0][4]))
            if rows
            else None
        )

    def end_session(self, sid: str) -> None:
        """Log out: the session is deleted."""
        self.db.write("DELETE FROM agentgate_sessions WHERE hash = ?", (_hash(sid),))
        self._forget()

    @staticmethod
    def csrf_for(sid: str) -> str:
        """The CSRF token of session *sid* (derived, so nothing more is stored)."""
        return hmac.new(sid.encode(), b"agentgate-csrf", hashlib.sha256).hexdigest()

    # -- cache -------------------------------------------------------------------------

    def _cached(self, key: str, load: Callable[[], TokenInfo | None]) -> TokenInfo | None:
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < CACHE_TTL:
            return hit[1]
        value = load()
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now, value)
        return value

    def _forget(self) -> None:
        with self._lock:
            self._cache.clear()
            self._any = None

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()
