"""Chain verification from a checkpoint: verify what came after, not the whole trail every time.

``agentgate_checkpoints`` keeps, per writer chain, the last position verified
and its hash; ``agentgate_dashboard_state.verified_upto`` the ingest id up to
which rows were looked at. `verify_incremental` then:

1. reads the rows ingested since ``verified_upto`` (an index range scan) to learn
   which chains grew, and flags rows outside any chain (inserted by hand);
2. for each chain that grew, verifies its records after the checkpoint, linked
   to the checkpoint's hash (`verify_rows` with ``start=``), in bounded chunks,
   together with the violations those records imply;
3. re-reads every checkpointed record and checks it still hashes to what was
   verified (a rewrite of a chain's latest records is caught at once);
4. stores the problems found (they stay reported until a full verification
   clears them) and advances the checkpoints, the bad records included, so the
   same problem is not re-read on every request.

What it does not re-read: records verified earlier that are neither a chain's
checkpoint nor after it. A change to those is found by `verify_full` (the
dashboard's "re-verify everything", ``GET /api/verify?full=1``, or ``agentgate
audit verify``), which recomputes every chain and replaces the checkpoints and
problems. The checkpoints live in the same database as the trail: someone who
can rewrite the trail can rewrite them too, so anchor `VerifyReport.heads`
elsewhere (see `_verify`).

Reads happen outside any lock; the results are written in one short transaction
only if no other dashboard advanced the checkpoints meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ._query import Dialect, Executor, SqlStore
from ._record import format_ts, normalize_row, record_hash
from ._stats import get_state, set_state
from ._verify import Problem, verify_rows

__all__ = ["chain_position", "verify_full", "verify_incremental"]

_CHUNK = 10_000
_MAX_PROBLEMS = 100


def _now() -> str:
    return format_ts(datetime.now(UTC))


def _violations_of(store: SqlStore, ids: Sequence[str]) -> list[dict[str, Any]]:
    d = store.sql_dialect
    out: list[dict[str, Any]] = []
    cast = "::uuid" if d.name == "postgres" else ""
    for i in range(0, len(ids), 500):
        part = ids[i : i + 500]
        sql = f"SELECT * FROM violations WHERE action_id IN ({', '.join(d.ph + cast for _ in part)})"  # noqa: S608
        for r in store._rows(sql, part):
            v = dict(r)
            if isinstance(v.get("details"), str):
                v["details"] = json.loads(v["details"])
            v["action_id"] = str(v["action_id"]) if v.get("action_id") is not None else None
            out.append(v)
    return out


def _checkpoints(ex: Executor, d: Dialect, writers: Sequence[str] | None) -> dict[str, tuple[int, str]]:
    if writers is None:
        rows = ex("SELECT writer_id, seq, hash FROM agentgate_checkpoints")
    else:
        rows = []
        for i in range(0, len(writers), 500):
            part = list(writers[i : i + 500])
            ph = ", ".join(d.ph for _ in part)
            rows += ex(f"SELECT writer_id, seq, hash FROM agentgate_checkpoints WHERE writer_id IN ({ph})", part)  # noqa: S608
    return {str(w): (int(s), str(h)) for w, s, h in rows}


def _chunks(rows: Iterator[dict[str, Any]], n: int) -> Iterator[list[dict[str, Any]]]:
    buf: list[dict[str, Any]] = []
    for r in rows:
        buf.append(r)
        if len(buf) >= n:
            yield buf
            buf = []
    if buf:
        yield buf


def _problem_dict(p: Problem) -> dict[str, Any]:
    return {"kind": p.kind, "message": p.message, "record_id": p.record_id, "writer_id": p.writer_id, "seq": p.seq}


def _check_heads(store: SqlStore) -> list[Problem]:
    """Every checkpointed record still exists and still hashes to what was verified (one join)."""
    d = store.sql_dialect
    cols = "a.rowid AS ingest_id, a.*" if d.name == "sqlite" else "a.*"
    sql = (
        f"SELECT {cols}, c.writer_id AS cp_writer, c.seq AS cp_seq, c.hash AS cp_hash "  # noqa: S608
        "FROM agentgate_checkpoints c LEFT JOIN actions a ON a.writer_id = c.writer_id AND a.seq = c.seq"
    )
    problems: list[Problem] = []
    for row in store._rows(sql, []):
        wid, seq, h = str(row["cp_writer"]), int(row["cp_seq"]), str(row["cp_hash"])
        if row.get("id") is None:
            problems.append(
                Problem("deleted", f"chain {wid[:12]}: verified record seq {seq} is missing", None, wid, seq)
            )
        elif row.get("hash") != h or record_hash(row) != h:
            problems.append(
                Problem(
                    "altered",
                    f"record {row.get('id')} (writer {wid[:12]}, seq {seq}, tool {row.get('tool_name')!r}) "
                    "changed after it was verified",
                    str(row.get("id")),
                    wid,
                    seq,
                )
            )
    return problems


def verify_incremental(store: SqlStore) -> dict[str, Any]:
    """Verify the records written since the last checkpoints (see module docstring)."""
    d = store.sql_dialect
    upto = int(get_state(store._exec, d, "verified_upto") or 0)
    top = int(store._exec(f"SELECT coalesce(max({d.id_col}), 0) FROM actions")[0][0])  # noqa: S608
    if top > upto:  # else nothing new: no lock taken
        with store.transaction() as ex:
            bound = store.settled_bound(ex)
    else:
        bound = upto
    problems: list[Problem] = []
    writers: set[str] = set()
    checked = 0
    if bound > upto:
        sql = (
            f"SELECT {d.id_col} AS ingest_id, id, writer_id, seq, hash, tool_name FROM actions "  # noqa: S608
            f"WHERE {d.id_col} > {d.ph} AND {d.id_col} <= {d.ph}"
        )
        for r in store._rows(sql, [upto, bound]):
            if r.get("writer_id") is None or r.get("seq") is None or not r.get("hash"):
                checked += 1
                problems.append(
                    Problem(
                        "inserted",
                        f"record {r.get('id')} (tool {r.get('tool_name')!r}) is not part of any chain "
                        "(written outside AgentGate?)",
                        str(r.get("id")),
                    )
                )
            else:
                writers.add(str(r["writer_id"]))
    problems += _check_heads(store)
    cps_all = _checkpoints(store._exec, d, writers=sorted(writers)) if writers else {}
    heads: dict[str, tuple[int, str]] = {}
    for wid in sorted(writers):
        start = {wid: cps_all[wid]} if wid in cps_all else {}
        for chunk in _chunks(store.chain_after(wid, start[wid][0] if start else 0), _CHUNK):
            ids = [str(r["id"]) for r in chunk if r.get("verdict") == "block" or r.get("would_block")]
            rep = verify_rows(chunk, _violations_of(store, ids), start=start, max_problems=_MAX_PROBLEMS)
            checked += rep.records
            problems += rep.problems
            if wid in rep.heads:
                start = {wid: rep.heads[wid]}
                heads[wid] = rep.heads[wid]
    return _save(store, problems[:_MAX_PROBLEMS], heads, bound, upto, checked, full=False)


def verify_full(store: SqlStore) -> dict[str, Any]:
    """Recompute every chain and replace the checkpoints and the stored problems with the result."""
    d = store.sql_dialect
    with store.transaction() as ex:
        upto = int(get_state(ex, d, "verified_upto") or 0)
        bound = store.settled_bound(ex)
    rep = verify_rows(store.chain_rows(), store.violations(), max_problems=_MAX_PROBLEMS)  # type: ignore[attr-defined]
    return _save(store, list(rep.problems), dict(rep.heads), bound, upto, rep.records, full=True)


def _save(
    store: SqlStore,
    problems: list[Problem],
    heads: dict[str, tuple[int, str]],
    bound: int,
    upto: int,
    checked: int,
    *,
    full: bool,
) -> dict[str, Any]:
    d = store.sql_dialect
    p = d.ph
    now = _now()
    if not full and not problems and not heads and bound <= upto:  # nothing new, nothing wrong: read only
        return status(store._exec, d, checked=checked, mode="incremental")
    with store.transaction() as ex:
        if int(get_state(ex, d, "verified_upto") or 0) == upto:  # else another dashboard got there first
            if full:
                ex("DELETE FROM agentgate_checkpoints")
                ex("DELETE FROM agentgate_verify_problems")
                set_state(ex, d, "full_at", now)
            for wid, (seq, h) in heads.items():
                ex(
                    f"INSERT INTO agentgate_checkpoints (writer_id, seq, hash, verified_at) VALUES ({p}, {p}, {p}, {p}) "  # noqa: S608
                    "ON CONFLICT (writer_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, "
                    "verified_at = excluded.verified_at",
                    (wid, seq, h, now),
                )
            known = {(k, m) for k, m in ex("SELECT kind, message FROM agentgate_verify_problems")}
            for pr in problems:
                if (pr.kind, pr.message) not in known:
                    ex(
                        "INSERT INTO agentgate_verify_problems (kind, message, record_id, writer_id, seq, found_at) "  # noqa: S608
                        f"VALUES ({p}, {p}, {p}, {p}, {p}, {p})",
                        (pr.kind, pr.message, pr.record_id, pr.writer_id, pr.seq, now),
                    )
                    known.add((pr.kind, pr.message))
            set_state(ex, d, "verified_upto", str(max(bound, upto)))
            set_state(ex, d, "checked_at", now)
        return status(ex, d, checked=checked, mode="full" if full else "incremental")


def status(ex: Executor, d: Dialect, *, checked: int, mode: str) -> dict[str, Any]:
    """The verification state as the API returns it."""
    stored = ex(
        "SELECT kind, message, record_id, writer_id, seq, found_at FROM agentgate_verify_problems "
        "ORDER BY found_at, writer_id, seq"
    )
    problems = [
        dict(zip(("kind", "message", "record_id", "writer_id", "seq", "found_at"), r, strict=True)) for r in stored
    ]
    chains = int(ex("SELECT count(*) FROM agentgate_checkpoints")[0][0])
    return {
        "ok": not problems,
        "mode": mode,
        "records": checked,
        "chains": chains,
        "problems": problems,
        "first": problems[0] if problems else None,
        "verified_upto": int(get_state(ex, d, "verified_upto") or 0),
        "checked_at": get_state(ex, d, "checked_at"),
        "full_at": get_state(ex, d, "full_at"),
    }


def chain_position(store: SqlStore, row: Mapping[str, Any]) -> dict[str, Any]:
    """Where *row* sits in its chain and whether its links hold: its hash, its predecessor, its successor."""
    wid, seq = row.get("writer_id"), row.get("seq")
    out: dict[str, Any] = {
        "writer_id": wid,
        "seq": seq,
        "hash": row.get("hash"),
        "prev_hash": row.get("prev_hash"),
        "hash_ok": bool(row.get("hash")) and record_hash(normalize_row(row)) == row.get("hash"),
        "in_chain": wid is not None and seq is not None and bool(row.get("hash")),
        "prev": None,
        "next": None,
        "prev_missing": False,
        "prev_ok": None,
        "next_ok": None,
    }
    if not out["in_chain"]:
        return out
    seq = int(seq)  # type: ignore[arg-type]
    if seq > 1:
        prev = store.chain_row(str(wid), seq - 1)
        out["prev_missing"] = prev is None
        if prev is not None:
            out["prev"] = _brief(prev)
            out["prev_ok"] = prev.get("hash") == row.get("prev_hash")
    else:
        out["prev_ok"] = row.get("prev_hash") == "0" * 64
    nxt = store.chain_row(str(wid), seq + 1)
    if nxt is not None:
        out["next"] = _brief(nxt)
        out["next_ok"] = nxt.get("prev_hash") == row.get("hash")
    return out


def _brief(r: Mapping[str, Any]) -> dict[str, Any]:
    return {k: r.get(k) for k in ("id", "seq", "hash", "tool_name", "verdict", "created_at")}
