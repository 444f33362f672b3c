"""Records: canonical form, hash chain, violations, round trips through the databases' types."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

from agentgate.audit._record import (
    ACTION_COLUMNS,
    GENESIS,
    HASHED_COLUMNS,
    canonical,
    fast_ts,
    format_ts,
    jsonable,
    link,
    new_id,
    normalize_row,
    record_hash,
    violation_for,
)


def _row(**over: object) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(HASHED_COLUMNS)
    row.update(
        id=new_id(),
        created_at=fast_ts(1_764_000_000.25),
        tool_name="execute_sql",
        payload={
            "arguments": {"query": "SELECT 1", "findings": 0, "payload": 0},
            "framework": "python",
            "call_id": None,
        },
        verdict="allow",
        severity="low",
        tier_used=1,
        findings=[{"rule_id": "sql.read", "message": '"quoted" \\ text', "evidence": "é ✓"}],
        latency_us=12.5,
        writer_id="w1",
        seq=1,
    )
    row.update(over)
    return row


def test_link_hash_equals_full_canonical_hash() -> None:
    """The spliced fast hash equals sha256(prev_hash + canonical JSON of all content columns)."""
    import hashlib

    row = link(_row(), GENESIS)
    content = {c: row[c] for c in HASHED_COLUMNS}
    assert row["hash"] == hashlib.sha256(GENESIS.encode() + canonical(content)).hexdigest()
    assert row["hash"] == record_hash(row)


def test_placeholder_lookalikes_in_user_values_do_not_confuse_splicing() -> None:
    """Keys and values full of quotes, colons and column names hash the same by the fast path and by canonical()."""
    row = _row(
        agent_id='x","findings":0,"y',
        payload={"arguments": {"findings": 0, "s": '"payload":0'}},
        reasoning='"findings":0',
    )
    assert link(row, GENESIS)["hash"] == record_hash(row)


def test_any_content_change_changes_the_hash() -> None:
    """Every hashed column is covered: changing any one changes the hash."""
    base = link(_row(), GENESIS)
    for col in HASHED_COLUMNS:
        changed = dict(base)
        changed[col] = "tampered" if base[col] != "tampered" else "other"
        assert record_hash(changed) != base["hash"], col
    moved = dict(base, prev_hash="1" * 64)
    assert record_hash(moved) != base["hash"]


def test_rows_read_back_from_sqlite_and_postgres_types_hash_the_same() -> None:
    """normalize_row undoes SQLite's text/0-1 and PostgreSQL's UUID/datetime/JSONB so the hash still matches."""
    row = link(_row(would_block=False, redacted=True, confidence=1.0), GENESIS)
    sqlite_like = dict(
        row, payload=json.dumps(row["payload"]), findings=json.dumps(row["findings"]), would_block=0, redacted=1
    )
    sqlite_like.pop("_json")
    assert record_hash(normalize_row(sqlite_like)) == row["hash"]
    pg_like = dict(
        row,
        id=uuid.UUID(str(row["id"])),
        created_at=datetime.fromisoformat(str(row["created_at"])).astimezone(timezone(timedelta(hours=2))),
    )
    pg_like.pop("_json")
    assert record_hash(normalize_row(pg_like)) == row["hash"]


def test_jsonable_normalizes_what_jsonb_would_change() -> None:
    """Huge floats become ints, -0.0 and NaN are normalized, NULs and lone surrogates are replaced."""
    out = jsonable(
        {"big": 1e17, "neg0": -0.0, "nan": float("nan"), "nul": "a\x00b", "sur": "x\ud800", 3: (1, 2), "o": object}
    )
    assert out["big"] == 100000000000000000
    assert isinstance(out["big"], int)
    assert out["neg0"] == 0.0
    assert str(out["neg0"]) == "0.0"
    assert out["nan"] == "nan"
    assert "\x00" not in out["nul"]
    out["sur"].encode("utf-8")
    assert out["3"] == [1, 2]
    assert isinstance(out["o"], str)


def test_fast_ts_matches_format_ts() -> None:
    """The cached timestamp formatter gives the same text as the general one."""
    for t in (0.0, 1.999999, 1_764_000_000.123456, 1_764_000_000.9999996):
        assert fast_ts(t) == format_ts(datetime.fromisoformat(fast_ts(t)))
    assert format_ts(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "2026-01-02T03:04:05.000006+00:00"


def test_violation_only_for_block_and_monitor_would_block() -> None:
    """BLOCK and monitor-mode would-block decisions imply a violations row; ALLOW does not."""
    assert violation_for(_row(verdict="allow")) is None
    blocked = violation_for(_row(verdict="block", policy_name="sql.drop"))
    assert blocked is not None
    assert blocked["details"]["would_block"] is False
    monitored = violation_for(_row(verdict="allow", would_block=True, mode="monitor"))
    assert monitored is not None
    assert monitored["details"]["would_block"] is True
    again = violation_for(_row(verdict="block", id=blocked["action_id"]))
    assert again is not None
    assert again["id"] == blocked["id"]


def test_action_columns_start_with_the_seed_schema() -> None:
    """The first twelve columns are agentgate-py 0.1.0's, in order."""
    assert ACTION_COLUMNS[:12] == (
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
    )
    assert len({new_id() for _ in range(1000)}) == 1000
    assert uuid.UUID(new_id()).version == 7


def test_chain_format_is_pinned() -> None:
    """The hashed columns are exactly the stored ones minus the chain links; a golden hash pins the format."""
    assert set(HASHED_COLUMNS) == set(ACTION_COLUMNS) - {"prev_hash", "hash"}
    row = dict.fromkeys(HASHED_COLUMNS)
    row.update(
        id="0190f0c2-0000-7000-8000-000000000001",
        created_at="2026-11-25T12:00:00.000000+00:00",
        tool_name="read_file",
        payload={"arguments": {"path": "reports/q3.csv"}, "framework": "python", "call_id": None},
        verdict="allow",
        severity="low",
        tier_used=1,
        findings=[],
        writer_id="w",
        seq=1,
    )
    # Independently: sha256(prev_hash + json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)).
    assert (
        record_hash(dict(row, prev_hash=GENESIS)) == "61bf71f3ccf06f6c710561cac633d521a810d79063e5c927a5e4bdf6796f7827"
    )
