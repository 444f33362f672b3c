"""Counts that follow the filters, without scanning the trail per request.

The hourly rollup (``agentgate_rollup``) holds one count per (hour, agent, tool,
verdict, would-block, rule, tier, policy revision). It is brought up to date
from the last aggregated ingest id (``rollup_upto``) to the settled bound
(`SqlStore.settled_bound`), one range scan of the new rows, under the
dashboards' lock so two servers never count a row twice. The writers do not
maintain it: their hot path stays as it is.

A count for a filter is then:

* filters on rollup dimensions and a time range: the rollup for the whole
  hours inside the range, plus the rows of the partial hours at its edges and
  the rows after the settled bound, read from ``actions`` (index range scans);
* any other filter (task, user, free text): an aggregate over the matching
  rows of ``actions`` (task and user are indexed; free text is a scan).

Latency percentiles are over the newest `LATENCY_WINDOW` matching decisions.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from ._query import ActionFilter, Dialect, Executor, SqlStore, where_clause

__all__ = ["LATENCY_WINDOW", "catch_up", "filtered_stats"]

#: Decisions the latency percentiles are taken over (the newest matching ones).
LATENCY_WINDOW = 5000
_CHUNK = 200_000
_TOP = 20


def _bucket_expr(d: Dialect) -> str:
    if d.name == "sqlite":  # created_at is stored as UTC text in one fixed format
        return "substr(created_at, 1, 13) || ':00:00+00:00'"
    return "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24') || ':00:00+00:00'"


def _wb_false(d: Dialect) -> str:
    return "0" if d.name == "sqlite" else "false"


def catch_up(store: SqlStore) -> int:
    """Aggregate the rows not yet in the rollup (up to the settled bound); return that bound."""
    d = store.sql_dialect
    p = d.ph
    while True:
        with store.transaction() as ex:
            upto = _state_int(ex, d, "rollup_upto")
            bound = store.settled_bound(ex)
            if bound <= upto:
                return bound
            hi = min(bound, upto + _CHUNK)  # bounded transactions: writers are not kept waiting long
            ex(
                "INSERT INTO agentgate_rollup (bucket, agent_id, tool_name, verdict, would_block, policy_name, "  # noqa: S608
                "tier_used, policy_revision, n) "
                f"SELECT {_bucket_expr(d)}, coalesce(agent_id, ''), tool_name, verdict, "
                f"coalesce(would_block, {_wb_false(d)}), coalesce(policy_name, ''), coalesce(tier_used, 1), "
                f"coalesce(policy_revision, ''), count(*) FROM actions WHERE {d.id_col} > {p} AND {d.id_col} <= {p} "
                "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 "
                "ON CONFLICT (bucket, agent_id, tool_name, verdict, would_block, policy_name, tier_used, policy_revision) "
                "DO UPDATE SET n = agentgate_rollup.n + excluded.n",
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


_GROUP = "bucket, verdict, would_block, agent_id, tool_name, policy_name"


def _raw(store: SqlStore, f: ActionFilter, extra: list[str], extra_params: list[Any]) -> list[tuple[Any, ...]]:
    d = store.sql_dialect
    where, params = where_clause(f, d)
    where += extra
    params += extra_params
    sql = (
        f"SELECT {_bucket_expr(d)} AS bucket, verdict, coalesce(would_block, {_wb_false(d)}) AS would_block, "  # noqa: S608
        "coalesce(agent_id, '') AS agent_id, tool_name, coalesce(policy_name, '') AS policy_name, count(*) AS n "
        "FROM actions" + (" WHERE " + " AND ".join(where) if where else "") + f" GROUP BY {_GROUP}"
    )
    return [tuple(r.values()) for r in store._rows(sql, params)]


def _rolled(store: SqlStore, f: ActionFilter, lo: datetime | None, hi: datetime | None) -> list[tuple[Any, ...]]:
    d = store.sql_dialect
    p = d.ph
    where: list[str] = []
    params: list[Any] = []
    for col, val in (
        ("agent_id", f.agent),
        ("tool_name", f.tool),
        ("policy_name", f.rule),
        ("policy_revision", f.revision),
        ("tier_used", f.tier),
    ):
        if val is not None:
            where.append(f"{col} = {p}")
            params.append(val)
    if f.verdict == "would_block":
        where.append(f"would_block = {p}")
        params.append(True)
    elif f.verdict is not None:
        where.append(f"verdict = {p}")
        params.append(f.verdict)
    if lo is not None:
        where.append(f"bucket >= {p}")
        params.append(_bucket(lo))
    if hi is not None:
        where.append(f"bucket < {p}")
        params.append(_bucket(hi))
    sql = (
        f"SELECT {_GROUP}, sum(n) AS n FROM agentgate_rollup"  # noqa: S608
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" GROUP BY {_GROUP}"
    )
    return [tuple(r.values()) for r in store._rows(sql, params)]


def _parts(store: SqlStore, f: ActionFilter, bound: int) -> Iterable[tuple[Any, ...]]:
    d = store.sql_dialect
    if not f.rollup_only:
        return _raw(store, f, [], [])
    lo = _hour_ceil(f.since) if f.since is not None else None
    hi = _hour_floor(f.until) if f.until is not None else None
    if lo is not None and hi is not None and hi < lo:  # inside one hour: no whole hour to take from the rollup
        return _raw(store, f, [], [])
    out = _rolled(store, f, lo, hi)
    out += _raw(store, f, [f"{d.id_col} > {d.ph}"], [bound])  # written since the rollup's bound
    if lo is not None:  # the partial hour at the start of the range
        out += _raw(store, f, [f"{d.id_col} <= {d.ph}", f"created_at < {d.ph}"], [bound, d.time(lo)])
    if hi is not None:  # ... and at its end
        out += _raw(store, f, [f"{d.id_col} <= {d.ph}", f"created_at >= {d.ph}"], [bound, d.time(hi)])
    return out


def filtered_stats(store: SqlStore, f: ActionFilter, *, now: datetime | None = None) -> dict[str, Any]:
    """Totals, breakdowns and a timeline of the decisions matching *f* (see module docstring)."""
    bound = catch_up(store)
    by_verdict: Counter[str] = Counter()
    by_agent: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    by_tool: Counter[str] = Counter()
    timeline: dict[str, Counter[str]] = {}
    would_block = 0
    for bucket, verdict, wb, agent, tool, rule, n in _parts(store, f, bound):
        n = int(n)
        by_verdict[str(verdict)] += n
        by_agent[str(agent) or "-"] += n
        by_tool[str(tool)] += n
        if rule:
            by_rule[str(rule)] += n
        slot = timeline.setdefault(str(bucket), Counter())
        slot[str(verdict)] += n
        if wb:
            would_block += n
            slot["would_block"] += n
    lat = sorted(store.latencies(f, LATENCY_WINDOW))

    def pct(q: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None

    hourly = _timeline(timeline, f, now)
    return {
        "total": sum(by_verdict.values()),
        "by_verdict": dict(by_verdict),
        "would_block": would_block,
        "by_agent": dict(by_agent.most_common(_TOP)),
        "by_rule": dict(by_rule.most_common(_TOP)),
        "by_tool": dict(by_tool.most_common(_TOP)),
        "timeline": hourly,
        "latency_us": {
            "p50": pct(0.5),
            "p99": pct(0.99),
            "mean": round(statistics.fmean(lat), 1) if lat else None,
            "of": len(lat),
        },
        "rollup_upto": bound,
        "filter": f.to_params(),
    }


def _timeline(buckets: dict[str, Counter[str]], f: ActionFilter, now: datetime | None) -> dict[str, Any]:
    """Hourly points, or daily ones when the range is longer than three days."""
    if not buckets:
        return {"unit": "hour", "points": []}
    keys = sorted(buckets)
    start = f.since or datetime.fromisoformat(keys[0])
    end = f.until or max(now or datetime.now(UTC), datetime.fromisoformat(keys[-1]))
    unit = "day" if end - start > timedelta(days=3) else "hour"
    merged: dict[str, Counter[str]] = {}
    for k in keys:
        slot = k[:10] + "T00:00:00+00:00" if unit == "day" else k
        merged.setdefault(slot, Counter()).update(buckets[k])
    return {"unit": unit, "points": [{"t": k, **dict(v)} for k, v in sorted(merged.items())]}
