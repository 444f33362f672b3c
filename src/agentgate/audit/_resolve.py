"""From an ``audit=`` value (or the environment) to sinks and stores.

Resolution order when the target is None: ``AGENTGATE_AUDIT_URL``, then
``SUPABASE_URL`` + ``SUPABASE_KEY`` (agentgate-py 0.1.0's variables), then
SQLite at ``.agentgate/audit.db``.

Accepted strings::

    sqlite:///relative/path.db   sqlite:////absolute/path.db   path/to/file.db
    postgresql://user@host/db    postgres://...   (``?schema=name`` selects a schema)
    supabase://                  (SUPABASE_URL)   supabase://xyz.supabase.co
    https://xyz.supabase.co      supabase+http://127.0.0.1:54321   (key from SUPABASE_KEY)
    memory://                    none | off (no audit, explicitly; an empty value is an error)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentgate._errors import ConfigError

from ._sink import MemorySink, Sink

__all__ = [
    "DEFAULT_SQLITE",
    "default_target",
    "make_sink",
    "open_store",
    "resolve_targets",
    "spool_dir_for",
    "sqlite_path",
]

DEFAULT_SQLITE = ".agentgate/audit.db"
_OFF = frozenset({"none", "off", "false", "no", "0", "disabled"})


def default_target() -> str:
    """The target used when none is given (see module docstring)."""
    url = os.environ.get("AGENTGATE_AUDIT_URL", "").strip()
    if url:
        return url
    if os.environ.get("SUPABASE_URL") and os.environ.get("SUPABASE_KEY"):
        return "supabase://"
    return f"sqlite:///{DEFAULT_SQLITE}"


def is_off(target: str) -> bool:
    """True for the explicit "no audit" values."""
    return target.strip().lower() in _OFF


def sqlite_path(target: str) -> str | None:
    """The file a SQLite target names, or None for other schemes."""
    t = target.strip()
    if t.startswith("sqlite:///"):
        return t[len("sqlite:///") :] or DEFAULT_SQLITE
    if t in ("sqlite://", "sqlite:"):
        return DEFAULT_SQLITE
    if "://" not in t and t.endswith((".db", ".sqlite", ".sqlite3")):
        return t
    return None


def _supabase_url(target: str) -> str | None:
    t = target.strip()
    low = t.lower()
    if low.startswith(("supabase+http://", "supabase+https://")):
        return t[len("supabase+") :]
    if low.startswith("supabase://"):
        rest = t[len("supabase://") :].strip("/")
        if rest:
            return "https://" + rest
        env = os.environ.get("SUPABASE_URL", "").strip()
        if not env:
            raise ConfigError("audit target supabase:// needs SUPABASE_URL (and SUPABASE_KEY)")
        return env
    if low.startswith("https://") and ".supabase." in low.split("/")[2]:
        return t
    return None


def make_sink(target: str, **options: Any) -> Sink | None:
    """One sink for one target string; None for ``none``/``off``. Unknown schemes raise ConfigError."""
    if is_off(target):
        return None
    t = target.strip()
    if t.lower() in ("memory://", "memory:", "memory"):
        return MemorySink()
    path = sqlite_path(t)
    if path is not None:
        from ._sqlite import SqliteSink

        return SqliteSink(path)
    if t.lower().startswith(("postgresql://", "postgres://")):
        from ._postgres import PostgresSink

        return PostgresSink(t, schema=options.get("schema"))
    sb = _supabase_url(t)
    if sb is not None:
        from ._supabase import SupabaseSink

        return SupabaseSink(sb, options.get("supabase_key"))
    raise ConfigError(
        f"unknown audit target {target!r}: use sqlite:///path.db, a .db path, postgresql://..., "
        "supabase://, https://<project>.supabase.co, memory:// or none"
    )


def resolve_targets(target: str | Sequence[str | Sink] | Sink | None, **options: Any) -> list[Sink]:
    """The sinks for an ``audit=`` value (empty: audit explicitly off)."""
    if target is None:
        target = default_target()
    if isinstance(target, Sink):
        return [target]
    if isinstance(target, str):
        parts: Sequence[str | Sink] = [p for p in target.split(",") if p.strip()] if "," in target else [target]
        if not parts or not target.strip():
            # An empty or all-separators value is a mistake (a variable built from empty parts),
            # never a way to turn the audit off: that takes an explicit "none".
            raise ConfigError(f"audit target {target!r} names no sink: give a URL, or 'none' to turn the audit off")
    else:
        parts = list(target)
    sinks: list[Sink] = []
    for p in parts:
        if isinstance(p, Sink):
            sinks.append(p)
        elif isinstance(p, str | os.PathLike):
            s = make_sink(os.fspath(p), **options)
            if s is not None:
                sinks.append(s)
        else:
            raise ConfigError(f"audit target must be a URL string or a Sink, not {type(p).__name__}")
    return sinks


def spool_dir_for(sinks: Sequence[Sink] = ()) -> Path:
    """``AGENTGATE_AUDIT_SPOOL``, else ``$XDG_STATE_HOME/agentgate/spool``, else ``~/.local/state/agentgate/spool``.

    Not next to the database: the spool is where records wait when the database
    cannot take them, so it must not share the database's disk-full or read-only
    failure. Sinks keep their files apart by their ``spool_key``.
    """
    env = os.environ.get("AGENTGATE_AUDIT_SPOOL", "").strip()
    if env:
        return Path(env)
    state = os.environ.get("XDG_STATE_HOME", "").strip()
    if state and os.path.isabs(state):  # the XDG spec: a relative value is invalid and ignored
        return Path(state) / "agentgate" / "spool"
    return Path.home() / ".local" / "state" / "agentgate" / "spool"


def open_store(target: str | None = None) -> Any:
    """A reader for the CLI and `verify`: SQLite, PostgreSQL or Supabase (REST)."""
    t = default_target() if target is None else target
    path = sqlite_path(t)
    if path is not None:
        from ._sqlite import SqliteStore

        return SqliteStore(path)
    if t.lower().startswith(("postgresql://", "postgres://")):
        from ._postgres import PostgresStore

        return PostgresStore(t)
    sb = _supabase_url(t)
    if sb is not None:
        from ._supabase import SupabaseStore

        return SupabaseStore(sb)
    raise ConfigError(f"cannot read audit records from {t!r}: use a sqlite, postgresql or supabase URL")
