"""The audit trail: every decision recorded, off the hot path, tamper-evident, never lost.

>>> from agentgate.audit import open_auditor, MemorySink
>>> sink = MemorySink()
>>> auditor = open_auditor(sink)
>>> auditor.stats()["dropped"]
0
>>> auditor.shutdown()

``open_auditor(target)`` picks the sinks (SQLite by default, PostgreSQL,
Supabase, memory; several at once), and returns an `AuditWriter` whose
``record(call, verdict, agent)`` costs the caller microseconds. See
docs/audit.md for the schema, the chain, the spool and the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ._record import ACTION_COLUMNS, GENESIS, AuditRecord, record_hash, violation_for
from ._resolve import default_target, is_off, open_store, resolve_targets, spool_dir_for
from ._sink import MemorySink, Sink
from ._verify import Problem, VerifyReport, verify_rows
from ._writer import AuditWriter

__all__ = [
    "ACTION_COLUMNS",
    "GENESIS",
    "AuditRecord",
    "AuditWriter",
    "MemorySink",
    "Problem",
    "Sink",
    "VerifyReport",
    "default_target",
    "open_auditor",
    "open_store",
    "record_hash",
    "verify",
    "verify_rows",
    "violation_for",
]


def open_auditor(
    target: str | Sequence[str | Sink] | Sink | AuditWriter | None = None,
    *,
    redact_fields: Sequence[str] = (),
    on_full: str = "block",
    queue_size: int = 100_000,
    batch_size: int = 2_000,
    flush_interval: float = 0.1,
    max_lag: float = 0.5,
    block_timeout: float = 1.0,
    spool_dir: str | os.PathLike[str] | None = None,
    exit_timeout: float = 10.0,
    idle_close: float = 30.0,
    **sink_options: Any,
) -> AuditWriter:
    """Open the audit trail for *target* and return its writer.

    Args:
        target: None (``AGENTGATE_AUDIT_URL``, else ``SUPABASE_URL``+``SUPABASE_KEY``,
            else ``sqlite:///.agentgate/audit.db``); a URL (``sqlite:///x.db``, ``x.db``,
            ``postgresql://...``, ``supabase://``, ``https://<ref>.supabase.co``,
            ``memory://``, ``none``/``off``); a `Sink`; or a list of those. An
            `AuditWriter` is returned as it is.
        redact_fields: Argument names always masked, besides the built-in ones.
        on_full: ``"block"``: a caller facing a full queue waits up to
            ``block_timeout`` seconds, then spills to the local spool;
            ``"spill"``: spill at once.
        queue_size: Hard bound of the in-memory queue (reached only if the writer
            thread cannot run), and of the records held in memory per sink while
            both the sink and the spool fail (beyond it they are dropped and counted).
        batch_size: Most records per database write.
        flush_interval: Longest a record waits for its batch to fill, in seconds.
        max_lag: Longest a record stays only in memory, in seconds: past it, callers
            wait for the writer (at most ``block_timeout``) and sinks that lag behind
            get their batches through the spool. Bounds what a SIGKILL can lose.
        block_timeout: Longest a caller ever waits for the audit trail, in seconds.
        spool_dir: Where undeliverable records wait (default ``AGENTGATE_AUDIT_SPOOL``,
            else ``$XDG_STATE_HOME/agentgate/spool``, else ``~/.local/state/agentgate/spool``).
        exit_timeout: How long the ``atexit`` drain waits for the sinks.
        idle_close: Seconds of idleness after which the writer thread releases its
            database connections and ends (the next record starts it again).
        sink_options: ``schema=`` for PostgreSQL, ``supabase_key=`` for Supabase.

    Raises:
        ConfigError: unknown scheme or option, or a target naming no sink (``" , "``).

    ``none``/``off`` returns a writer with no sink: ``record`` is still cheap and
    nothing is stored.
    """
    if isinstance(target, AuditWriter):  # already open (e.g. Firewall(audit=writer)): share it
        return target
    sinks = [] if isinstance(target, str) and is_off(target) else resolve_targets(target, **sink_options)
    return AuditWriter(
        sinks,
        redact_fields=redact_fields,
        on_full=on_full,
        queue_size=queue_size,
        batch_size=batch_size,
        flush_interval=flush_interval,
        max_lag=max_lag,
        block_timeout=block_timeout,
        spool_dir=spool_dir if spool_dir is not None else spool_dir_for(sinks),
        exit_timeout=exit_timeout,
        idle_close=idle_close,
    )


def verify(target: str | None = None) -> VerifyReport:
    """Recompute every chain stored at *target* (default as `open_auditor`) and report what does not match."""
    store = open_store(target)
    try:
        return verify_rows(store.chain_rows(), store.violations())
    finally:
        store.close()
