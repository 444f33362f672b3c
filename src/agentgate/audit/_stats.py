"""Counts that follow the filters, without scanning the trail per request.

The rollups (``agentgate_rollup`` per hour, ``agentgate_rollup_day`` per UTC day)
hold one count per (hour or day, agent, tool, verdict, would-block, rule, tier, policy
revision). It is brought up to date
from the last aggregated ingest id (``rollup_upto``) to the settled bound
(`SqlStore.settled_bound`), one range scan of the new rows, under the
dashboards' lock so two servers never count a row twice. The writers do not
maintain it: their hot path stays as it is.

A count for a filter is then:

* filters on rollup dimensions and a time range: the daily rollup for the whole
  days inside the range (when the timeline is per day), the hourly one for the
  whole hours around them, plus the rows of the partial hours at its edges and
  the rows after the settled bound, read from ``actions`` (index range scans);
* any other filter (task, user, free text): an aggregate over the matching
  rows of ``actions`` (task and user are indexed; free text is a scan).

Latency percentiles are over the newest `LATENCY_WINDOW` matching decisions.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from ._query import ActionFilter, Dialect, Executor, SqlStore, dimension_clauses, where_clause

__all__ = ["LATENCY_WINDOW", "catch_up", "filtered_stats"]

#: Decisions the latency percentiles are taken over (the newest matching ones).
LATENCY_WINDOW = 2000
_CHUNK = 200_000
_TOP = 20


def _bucket_expr(d: Dialect) -> str:
    if d.name == "sqlite":  # created_at is stored as UTC text in one fixed format
        return "substr(created_at, 1, 13) || ':00:00+00:00'"
    return "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24') || ':00:00+00:00'"


def _day_expr(d: Dialect) -> str:
    if d.name == "sqlite":
        return "substr(created_at, 1, 10) || 'T00:00:00+00:00'"
    return "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') || 'T00:00:00+00:00'"


def _wb_false(d: Dialect) -> str:
    return "0" if d.name == "sqlite" else "false"


def catch_up(store: SqlStore) -> int:
    """Aggregate the rows not yet in the rollup (up to the settled bound); return that bound."""
    d = store.sql_dialect
    p = d.ph
    # Nothing new since the last catch-up (the steady state of a page refresh): no lock, no write.
    done = store._exec(f"SELECT value FROM agentgate_dashboard_state WHERE key = {p}", ("rollup_upto",))  # noqa: S608
    top = store._exec(f"SELECT coalesce(max({d.id_col}), 0) FROM actions")[0][0]  # noqa: S608
    if done and int(top) <= int(done[0][0]):
        return int(done[0][0])
    while True:
        with store.transaction() as ex:
            upto = _state_int(ex, d, "rollup_upto")
            bound = store.settled_bound(ex)
            if bound <= upto:
                return bound
            hi = min(bound, upto + _CHUNK)  # bounded transactions: writers are not kept waiting long
            for table, bucket in (("agentgate_rollup", _bucket_expr(d)), ("agentgate_rollup_day", _day_expr(d))):
                ex(
                    f"INSERT INTO {table} (bucket, agent_id, tool_name, verdict, would_block, policy_name, "  # noqa: S608
                    "tier_used, policy_revision, n) "
                    f"SELECT {bucket}, coalesce(agent_id, ''), tool_name, verdict, "
                    f"coalesce(would_block, {_wb_false(d)}), coalesce(policy_name, ''), coalesce(tier_used, 1), "
                    f"coalesce(policy_revision, ''), count(*) FROM actions "
                    f"WHERE {d.id_col} > {p} AND {d.id_col} <= {p} GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 "
                    "ON CONFLICT (bucket, agent_id, tool_name, verdict, would_block, policy_name, tier_used, "
                    f"policy_revision) DO UPDATE SET n = {table}.n + excluded.n",
                    (upto, hi),
                )
            set_state(ex, d, "rollup_upto", str(hi))
            if hi >= bound:
                return bound


def _state_int(ex: Executor, d: Dialect, key: str) -> int:
    rows = ex(f"SELECT value FROM agentgate_dashboard_state WHERE key = {d.ph}", (key,))  # noqa: S608
    return int(rows[0][0]) if rows else 0


def get_state(ex: Executor, d: Dialect, key: str) -> str | None:
    """A value of the dashboard's state table, or None."""
    rows = ex(f"SELECT value FROM agentgate_dashboard_state WHERE key = {d.ph}", (key,))  # noqa: S608
    return str(rows[0][0]) if rows else None


def set_state(ex: Executor, d: Dialect, key: str, value: str) -> None:
    """Set a value of the dashboard's state table."""
    ex(
        f"INSERT INTO agentgate_dashboard_state (key, value) VALUES ({d.ph}, {d.ph}) "  # noqa: S608
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _hour_ceil(t: datetime) -> datetime:
    floor = t.replace(minute=0, second=0, microsecond=0)
    return floor if floor == t else floor + timedelta(hours=1)


def _hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def _bucket(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:00:00+00:00")


_COLS = "bucket, verdict, would_block, agent_id, tool_name, policy_name"
Part = tuple[str, list[Any]]


def _raw(store: SqlStore, f: ActionFilter, extra: list[str], extra_params: list[Any], *, edge: bool = False) -> Part:
    d = store.sql_dialect
    # An edge is at most an hour of rows: read it through the time index, never through an
    # equality index that would walk all of one agent's (or tool's) rows (SQLite's ``+col``).
    where, params = where_clause(f, d, time_first=edge)
    where += extra
    params += extra_params
    sql = (
        f"SELECT {_bucket_expr(d)} AS bucket, verdict, coalesce(would_block, {_wb_false(d)}) AS would_block, "  # noqa: S608
        "coalesce(agent_id, '') AS agent_id, tool_name, coalesce(policy_name, '') AS policy_name, count(*) AS n "
        "FROM actions" + (" WHERE " + " AND ".join(where) if where else "") + f" GROUP BY {_COLS}"
    )
    return sql, params


def _rolled(store: SqlStore, f: ActionFilter, lo: datetime | None, hi: datetime | None, table: str) -> Part:
    d = store.sql_dialect
    p = d.ph
    where, params = dimension_clauses(f, d)  # task, user and text never get here (`ActionFilter.rollup_only`)
    if lo is not None:
        where.append(f"bucket >= {p}")
        params.append(_bucket(lo))
    if hi is not None:
        where.append(f"bucket < {p}")
        params.append(_bucket(hi))
    sql = f"SELECT {_COLS}, n FROM {table}" + (" WHERE " + " AND ".join(where) if where else "")  # noqa: S608
    return sql, params


def _day_floor(t: datetime) -> datetime:
    return t.replace(hour=0, minute=0, second=0, microsecond=0)


def _day_ceil(t: datetime) -> datetime:
    floor = _day_floor(t)
    return floor if floor == t else floor + timedelta(days=1)


def _parts(store: SqlStore, f: ActionFilter, bound: int, top: int, *, days: bool) -> list[Part]:
    """The pieces whose sum is the count for *f*: whole days (when *days*), whole hours, raw edges and tail.

    The tail (rows past the rollup's *bound*, up to *top*, the newest id seen) is read only
    when there is one, and as a closed id range: an open ``ingest_id > bound`` is estimated
    by PostgreSQL as a third of the table when its statistics are missing or stale (a trail
    just loaded, or grown past its histogram) and planned as a full scan.
    """
    d = store.sql_dialect
    if not f.rollup_only:
        return [_raw(store, f, [], [])]
    lo = _hour_ceil(f.since) if f.since is not None else None
    hi = _hour_floor(f.until) if f.until is not None else None
    if lo is not None and hi is not None and hi < lo:  # inside one hour: no whole hour to take from the rollup
        return [_raw(store, f, [], [])]
    out: list[Part] = []
    dlo = _day_ceil(f.since) if f.since is not None else None
    dhi = _day_floor(f.until) if f.until is not None else None
    if days and (dlo is None or dhi is None or dlo < dhi):
        out.append(_rolled(store, f, dlo, dhi, "agentgate_rollup_day"))
        if lo is not None and dlo is not None and lo < dlo:
            out.append(_rolled(store, f, lo, dlo, "agentgate_rollup"))
        if hi is not None and dhi is not None and dhi < hi:
            out.append(_rolled(store, f, dhi, hi, "agentgate_rollup"))
    else:
        out.append(_rolled(store, f, lo, hi, "agentgate_rollup"))
    if top > bound:  # written since the rollup's bound
        out.append(_raw(store, f, [f"{d.id_col} > {d.ph}", f"{d.id_col} <= {d.ph}"], [bound, top]))
    if lo is not None:  # the partial hour at the start of the range
        out.append(_raw(store, f, [f"{d.id_col} <= {d.ph}", f"created_at < {d.ph}"], [bound, d.time(lo)], edge=True))
    if hi is not None:  # ... and at its end
        out.append(_raw(store, f, [f"{d.id_col} <= {d.ph}", f"created_at >= {d.ph}"], [bound, d.time(hi)], edge=True))
    return out


def _unit(store: SqlStore, f: ActionFilter, now: datetime) -> str:
    """Hours, or days when the range is longer than three days."""
    start = f.since
    if start is None:
        first = store._exec("SELECT min(created_at) FROM actions")  # the created_at index: no scan
        if not first or first[0][0] is None:
            return "hour"
        v = first[0][0]
        start = v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
    return "day" if (f.until or now) - start > timedelta(days=3) else "hour"


def filtered_stats(store: SqlStore, f: ActionFilter, *, now: datetime | None = None) -> dict[str, Any]:
    """Totals, breakdowns and a timeline of the decisions matching *f* (see module docstring).

    The parts (rollup, edges, tail) are summed by the database in one statement: their
    UNION ALL is a common table expression that the timeline and the three top lists each
    aggregate (PostgreSQL materializes it once), so no per-group work happens in Python and
    the edges are read once, not once per breakdown.
    """
    bound = catch_up(store)
    d = store.sql_dialect
    top = int(store._exec(f"SELECT coalesce(max({d.id_col}), 0) FROM actions")[0][0])  # noqa: S608
    unit = _unit(store, f, now or datetime.now(UTC))
    parts = _parts(store, f, bound, top, days=unit == "day")
    union = " UNION ALL ".join(f"SELECT {_COLS}, n FROM ({sql}) AS p{i}" for i, (sql, _) in enumerate(parts))  # noqa: S608
    params = [x for _, ps in parts for x in ps]
    slot = "substr(bucket, 1, 10) || 'T00:00:00+00:00'" if unit == "day" else "bucket"
    arms = [
        f"SELECT 0 AS k, {slot} AS t, verdict, would_block, CAST(NULL AS TEXT) AS name, sum(n) AS n "  # noqa: S608
        "FROM s GROUP BY 2, 3, 4",
        *(
            f"SELECT * FROM (SELECT {i} AS k, CAST(NULL AS TEXT) AS t, CAST(NULL AS TEXT) AS verdict, "  # noqa: S608
            f"CAST(NULL AS BOOLEAN) AS would_block, {col} AS name, "
            f"sum(n) AS n FROM s{where} GROUP BY 5 ORDER BY 6 DESC, 5 LIMIT {_TOP}) AS t{i}"
            for i, (col, where) in enumerate(
                (("agent_id", ""), ("policy_name", " WHERE policy_name <> ''"), ("tool_name", "")), 1
            )
        ),
    ]
    timeline: dict[str, Counter[str]] = {}
    by_verdict: Counter[str] = Counter()
    tops: list[dict[str, int]] = [{}, {}, {}]
    would_block = 0
    for k, t, verdict, wb, name, n in store._exec(f"WITH s AS ({union}) " + " UNION ALL ".join(arms), params):
        n = int(n)
        if int(k):
            tops[int(k) - 1][str(name) or "-"] = n
            continue
        point = timeline.setdefault(str(t), Counter())
        point[str(verdict)] += n
        by_verdict[str(verdict)] += n
        if wb:
            would_block += n
            point["would_block"] += n

    lat = sorted(store.latencies(f, LATENCY_WINDOW))

    def pct(q: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None

    return {
        "total": sum(by_verdict.values()),
        "by_verdict": dict(by_verdict),
        "would_block": would_block,
        "by_agent": dict(sorted(tops[0].items(), key=lambda kv: (-kv[1], kv[0]))),
        "by_rule": dict(sorted(tops[1].items(), key=lambda kv: (-kv[1], kv[0]))),
        "by_tool": dict(sorted(tops[2].items(), key=lambda kv: (-kv[1], kv[0]))),
        "timeline": {"unit": unit, "points": [{"t": k, **dict(v)} for k, v in sorted(timeline.items())]},
        "latency_us": {
            "p50": pct(0.5),
            "p99": pct(0.99),
            "mean": round(statistics.fmean(lat), 1) if lat else None,
            "of": len(lat),
        },
        "rollup_upto": bound,
        "filter": f.to_params(),
    }
