"""Audit records: the row layout, the canonical form and the hash chain.

A record is built in the writer thread from what the caller enqueued (the
`ToolCall`, the `Verdict` and the agent's ids). Building it redacts secrets,
turns every value into plain JSON data and links it into its writer's chain::

    hash = sha256(prev_hash + canonical_json(content))

where *content* is every column of the row except ``hash`` and ``prev_hash``
(and except ``ingest_id``, which the database assigns), and ``canonical_json``
is the JSON array of those values in `HASHED_COLUMNS` order: no spaces, nested
objects (``payload``, ``findings``) with sorted keys, non-ASCII text as UTF-8.
Recomputing it from a row read back from SQLite or PostgreSQL gives the same
bytes (`normalize_row` undoes each database's types).

Chains are per writer: each `AuditWriter` has a random ``writer_id`` and numbers
its records ``seq = 1, 2, 3 ...``; the first record's ``prev_hash`` is
`GENESIS`. Several processes writing into one database each keep their own
chain, so no writer waits for another to learn the chain head (see docs/audit.md).

>>> row = dict.fromkeys(HASHED_COLUMNS) | {"payload": {}, "findings": [], "seq": 1}
>>> link(row, GENESIS)["prev_hash"] == GENESIS
True
>>> record_hash(row) == row["hash"]
True
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "ACTION_COLUMNS",
    "GENESIS",
    "HASHED_COLUMNS",
    "VIOLATION_COLUMNS",
    "AuditRecord",
    "canonical",
    "dumps",
    "fast_ts",
    "format_ts",
    "jsonable",
    "link",
    "new_id",
    "normalize_row",
    "public",
    "record_hash",
    "violation_for",
]

#: ``prev_hash`` of the first record of every chain.
GENESIS = "0" * 64

#: Columns of ``actions`` this package writes, in table order. The first twelve are
#: agentgate-py 0.1.0's, with the same names and types.
ACTION_COLUMNS: tuple[str, ...] = (
    "id",
    "created_at",
    "agent_id",
    "task_id",
    "user_id",
    "tool_name",
    "payload",
    "verdict",
    "policy_name",
    "severity",
    "tier_used",
    "reasoning",
    "decision_id",
    "framework",
    "findings",
    "latency_us",
    "judge_model",
    "judge_latency_ms",
    "policy_revision",
    "mode",
    "would_block",
    "confidence",
    "blast_radius",
    "redacted",
    "writer_id",
    "seq",
    "prev_hash",
    "hash",
)

#: The columns covered by a record's hash, in the order of the hashed array. This is the
#: chain's format: stored rows verify against it forever, so it is spelled out rather than
#: derived, and a column added by a later migration is not covered unless a new chain
#: format (recognizable per row) is introduced with it.
HASHED_COLUMNS: tuple[str, ...] = (
    "id",
    "created_at",
    "agent_id",
    "task_id",
    "user_id",
    "tool_name",
    "payload",
    "verdict",
    "policy_name",
    "severity",
    "tier_used",
    "reasoning",
    "decision_id",
    "framework",
    "findings",
    "latency_us",
    "judge_model",
    "judge_latency_ms",
    "policy_revision",
    "mode",
    "would_block",
    "confidence",
    "blast_radius",
    "redacted",
    "writer_id",
    "seq",
)

VIOLATION_COLUMNS: tuple[str, ...] = ("id", "action_id", "created_at", "severity", "details")

# Violation ids are derived from the action id so a replayed batch never adds a second one.
_VIOLATION_NS = uuid.UUID("9b2f4a1e-6f57-4f0e-9d6c-6a1f7d0b2c11")

_MAX_DEPTH = 8
_MAX_ITEMS = 1000


def format_ts(value: float | datetime | str) -> str:
    """A timestamp in the one text form the chain hashes (UTC, microseconds).

    >>> format_ts(0.0)
    '1970-01-01T00:00:00.000000+00:00'
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        dt = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        dt = dt.astimezone(UTC)
    else:
        dt = datetime.fromtimestamp(value, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def clean_text(s: str) -> str:
    """Text PostgreSQL accepts: no NUL characters, no lone surrogates."""
    if s.isascii() and "\x00" not in s:  # the common case, without encoding anything
        return s
    if "\x00" in s:
        s = s.replace("\x00", "\ufffd")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = s.encode("utf-8", "replace").decode("utf-8")
    return s


def jsonable(value: Any, depth: int = 0) -> Any:
    """Plain JSON data that survives a round trip through SQLite text and PostgreSQL JSONB unchanged.

    Non-JSON values become their ``repr``; floats JSONB would hand back as
    integers (``1e16``) or lose (``-0.0``, ``nan``) are normalized first, so a
    row read back hashes to the same value.

    >>> jsonable({"n": 1e16, "z": -0.0, "x": float("nan"), 1: b"ab"})
    {'n': 10000000000000000, 'z': 0.0, 'x': 'nan', '1': 'ab'}
    """
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return repr(value)
        if value == 0.0:
            return 0.0
        if abs(value) >= 1e16:
            return int(value)
        return float(value)
    if isinstance(value, bytes | bytearray):
        return clean_text(bytes(value).decode("utf-8", "replace"))
    if depth >= _MAX_DEPTH:
        return _repr(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= _MAX_ITEMS:
                out["..."] = f"{len(value) - _MAX_ITEMS} more items"
                break
            out[clean_text(k if isinstance(k, str) else str(k))] = jsonable(v, depth + 1)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        res = [jsonable(v, depth + 1) for v in items[:_MAX_ITEMS]]
        if len(items) > _MAX_ITEMS:
            res.append(f"... {len(items) - _MAX_ITEMS} more items")
        return res
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):  # enums
        return clean_text(value.value)
    return _repr(value)


def _repr(value: Any) -> str:
    try:
        return clean_text(repr(value))
    except Exception:  # a user object's __repr__ must not cost the decision its record
        return f"<{type(value).__name__}: repr failed>"


_ENC = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _no_default(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON data (jsonable() it first)")


def _make_dumps() -> Any:
    # ``JSONEncoder.encode`` builds a new C encoder on every call (~2 us of a 3 us encode);
    # build it once. No circular-reference markers: records are `jsonable` data, acyclic
    # and depth-limited. Same settings as `_ENC`, so the bytes are identical.
    from json import encoder

    make = getattr(encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - interpreters without the C accelerator
        return _ENC.encode
    enc = make(None, _no_default, encoder.encode_basestring, None, ":", ",", True, False, False)

    def dumps(value: Any) -> str:
        return "".join(enc(value, 0))

    return dumps


#: Canonical JSON text of plain JSON data: sorted keys, no spaces, UTF-8 kept, no NaN.
dumps: Any = _make_dumps()


def canonical(content: Mapping[str, Any]) -> bytes:
    """The bytes a record's hash covers: the JSON array of its `HASHED_COLUMNS` values."""
    return _ENC.encode([content.get(c) for c in HASHED_COLUMNS]).encode()


def record_hash(row: Mapping[str, Any]) -> str:
    """Recompute a row's hash from its ``prev_hash`` and content columns."""
    return hashlib.sha256(str(row.get("prev_hash") or "").encode() + canonical(row)).hexdigest()


_content = operator.itemgetter(*HASHED_COLUMNS)


def link(row: dict[str, Any], prev_hash: str) -> dict[str, Any]:
    """Set ``prev_hash`` and ``hash`` on *row* (in place) and return it.

    Also leaves the JSON of ``payload`` and ``findings`` in ``row["_json"]`` so
    the sinks do not encode them again. Uses the reusable encoder (`dumps`);
    `record_hash` uses the standard one, and the tests assert they agree.

    >>> row = dict.fromkeys(HASHED_COLUMNS) | {"payload": {"b": 1, "a": [2]}, "findings": [{"r": "x"}]}
    >>> link(row, GENESIS)["hash"] == record_hash(row)
    True
    """
    text = dumps(_content(row))
    row["prev_hash"] = prev_hash
    row["hash"] = hashlib.sha256((prev_hash + text).encode()).hexdigest()
    row["_json"] = (dumps(row["payload"]), dumps(row["findings"]))
    return row


def public(row: dict[str, Any]) -> dict[str, Any]:
    """*row* without the writer's private keys (``_json``), as spooled and exported."""
    return {k: v for k, v in row.items() if not k.startswith("_")}


_ts_cache: tuple[int, str] = (-1, "")


def fast_ts(t: float) -> str:
    """`format_ts` of a UNIX time, reusing the formatted second (the writer's hot loop).

    >>> fast_ts(1.5) == format_ts(1.5)
    True
    """
    global _ts_cache
    sec = int(t)
    us = round((t - sec) * 1_000_000)
    if us >= 1_000_000:
        sec, us = sec + 1, us - 1_000_000
    cached_sec, prefix = _ts_cache
    if cached_sec != sec:
        prefix = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _ts_cache = (sec, prefix)
    return f"{prefix}.{us:06d}+00:00"


def new_id() -> str:
    """A time-ordered UUID (version 7: 48-bit milliseconds, then random) as text.

    Ordered ids make every insert an append to the primary-key index (SQLite and
    PostgreSQL alike) instead of a write at a random page, which keeps inserts fast
    as the table grows; and it is three times cheaper than ``str(uuid.uuid4())``.

    >>> import uuid; uuid.UUID(new_id()).version
    7
    """
    t = f"{int(time.time() * 1000):012x}"
    r = _random_hex20()
    return f"{t[:8]}-{t[8:12]}-7{r[:3]}-{'89ab'[int(r[3], 16) & 3]}{r[4:7]}-{r[7:19]}"


_entropy = threading.local()


def _random_hex20() -> str:
    """20 hex digits from the OS's CSPRNG, read 4 KiB at a time per thread.

    One ``os.urandom`` per record releases and retakes the GIL per record; with
    other threads busy, each retake can wait a whole switch interval (5 ms).
    """
    buf: str | None = getattr(_entropy, "buf", None)
    pos: int = getattr(_entropy, "pos", 0)
    if buf is None or pos + 20 > len(buf):
        buf, pos = os.urandom(4096).hex(), 0
        _entropy.buf = buf
    _entropy.pos = pos + 20
    return buf[pos : pos + 20]


def violation_for(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``violations`` row an action implies, or None.

    BLOCK verdicts have one; so do monitor-mode decisions that enforce mode
    would have blocked (``details.would_block`` is true). Everything in it is
    derived from the action, so `audit verify` can recompute and compare it.
    """
    blocked = row.get("verdict") == "block"
    if not blocked and not row.get("would_block"):
        return None
    findings = row.get("findings") or []
    details = {
        "tool_name": row.get("tool_name"),
        "policy_name": row.get("policy_name"),
        "reasoning": row.get("reasoning"),
        "rule_ids": sorted({str(f.get("rule_id")) for f in findings if isinstance(f, Mapping) and f.get("rule_id")}),
        "mode": row.get("mode"),
        "would_block": not blocked,
        "decision_id": row.get("decision_id"),
    }
    return {
        "id": str(uuid.uuid5(_VIOLATION_NS, str(row["id"]))),
        "action_id": row["id"],
        "created_at": row["created_at"],
        "severity": row.get("severity") or "low",
        "details": details,
    }


def _as_json(value: Any) -> Any:
    if isinstance(value, str | bytes | bytearray):
        return json.loads(value)
    return value


def normalize_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row read from a database, in the Python types the writer hashed.

    SQLite hands back JSON as text and booleans as 0/1; PostgreSQL hands back
    ``uuid.UUID``, ``datetime`` and parsed JSONB. Unknown extra columns are kept.
    """
    out = dict(row)
    for key in ("id",):
        if out.get(key) is not None:
            out[key] = str(out[key])
    if out.get("created_at") is not None:
        out["created_at"] = format_ts(out["created_at"])
    for key in ("payload", "findings"):
        if out.get(key) is not None:
            out[key] = _as_json(out[key])
    for key in ("would_block", "redacted"):
        if out.get(key) is not None:
            out[key] = bool(out[key])
    for key in ("latency_us", "confidence", "judge_latency_ms"):
        if out.get(key) is not None:
            out[key] = float(out[key])
    for key in ("tier_used", "seq"):
        if out.get(key) is not None:
            out[key] = int(out[key])
    return out


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One stored decision, as `MemorySink` keeps it and ``audit query --json`` prints it.

    The fields are the ``actions`` columns (see docs/audit.md for each one).
    ``payload`` holds the redacted ``arguments``, the ``framework`` and the
    ``call_id``; ``findings`` is a list of `Finding.to_dict` forms.
    """

    id: str
    created_at: str
    agent_id: str | None
    task_id: str | None
    user_id: str | None
    tool_name: str
    payload: dict[str, Any]
    verdict: str
    policy_name: str | None
    severity: str
    tier_used: int
    reasoning: str | None
    decision_id: str | None
    framework: str | None
    findings: list[dict[str, Any]]
    latency_us: float | None
    judge_model: str | None
    judge_latency_ms: float | None
    policy_revision: str | None
    mode: str | None
    would_block: bool | None
    confidence: float | None
    blast_radius: str | None
    redacted: bool | None
    writer_id: str | None
    seq: int | None
    prev_hash: str | None
    hash: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AuditRecord:
        """Build from a row dict (extra keys such as ``ingest_id`` are ignored)."""
        values: list[Any] = [row.get(c) for c in ACTION_COLUMNS]
        return cls(*values)

    @property
    def arguments(self) -> dict[str, Any]:
        """The tool call's (redacted) arguments."""
        args = self.payload.get("arguments") if isinstance(self.payload, dict) else None
        return args if isinstance(args, dict) else {}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, columns in table order."""
        return {c: getattr(self, c) for c in ACTION_COLUMNS}
