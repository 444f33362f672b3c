"""Reading the trail: one filter, one query builder, the same answers on SQLite and PostgreSQL.

`ActionFilter` is what every reader filters by (the CLI's ``audit query``, the
dashboard's list, its counts, its exports, its live stream). `parse_filter`
builds one from query parameters and rejects what it cannot mean, saying why
(``since=yesterday`` is an error, never an empty answer; ``limit=-5`` is an
error, never "everything").

Semantics, identical on both databases:

* ``agent``, ``task``, ``user``, ``tool``, ``rule`` (the rule that decided,
  ``policy_name``), ``revision`` (``policy_revision``), ``tier``: equality.
* ``verdict``: ``allow``, ``block``, ``escalate``, or ``would_block`` (a
  monitor-mode decision enforce mode would have blocked).
* ``since`` / ``until``: ``[since, until)`` on the decision time; an ISO 8601
  timestamp (UTC when it has no zone) or a relative age (``30m``, ``24h``, ``7d``).
* ``text``: a case-insensitive (ASCII letters) substring of the tool name, the
  redacted arguments or the reason. It is the one filter no index serves.
* Paging is keyset on the ingest id (``rowid`` / ``ingest_id``), never OFFSET:
  a page costs the same at row 10 and at row 1,000,000, and rows written while
  someone pages do not shift the pages.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from ._record import format_ts

__all__ = [
    "SORTS",
    "VERDICTS",
    "ActionFilter",
    "Dialect",
    "Executor",
    "FilterError",
    "Page",
    "SqlStore",
    "action_query",
    "decode_cursor",
    "dimension_clauses",
    "encode_cursor",
    "parse_filter",
    "parse_limit",
    "parse_sort",
    "parse_time",
    "where_clause",
]

#: Values of the ``verdict`` filter.
VERDICTS = ("allow", "block", "escalate", "would_block")
#: ``sort`` values: the column and direction of the order (ties broken by ingest id).
SORTS: dict[str, tuple[str, bool]] = {
    "newest": ("id", True),
    "oldest": ("id", False),
    "slowest": ("latency", True),
    "fastest": ("latency", False),
}
_REL = re.compile(r"^(\d{1,9})(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX_TEXT = 200
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")

#: Runs one statement inside `SqlStore.transaction` and returns its rows as tuples.
Executor = Callable[..., list[tuple[Any, ...]]]


class FilterError(ValueError):
    """A query parameter that cannot be used; the message names it and says what would be accepted."""


def parse_time(value: str, name: str, *, now: datetime | None = None) -> datetime:
    """An ISO 8601 timestamp (UTC when it has no zone) or a relative age (``15m``, ``24h``, ``7d``) ago.

    >>> parse_time("2026-01-02T03:04:05+01:00", "since").isoformat()
    '2026-01-02T02:04:05+00:00'
    >>> parse_time("2h", "since", now=datetime(2026, 1, 1, 12, tzinfo=UTC)).hour
    10
    >>> parse_time("yesterday", "since")
    Traceback (most recent call last):
    ...
    agentgate.audit._query.FilterError: since must be an ISO 8601 time (2026-01-31T09:30:00Z) or an age like 30m, 24h, 7d; not 'yesterday'
    """
    v = value.strip()
    m = _REL.match(v)
    if m:
        base = now if now is not None else datetime.now(UTC)
        return base - timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    try:
        dt = datetime.fromisoformat(v[:-1] + "+00:00" if v.endswith(("Z", "z")) else v)
    except ValueError:
        raise FilterError(
            f"{name} must be an ISO 8601 time (2026-01-31T09:30:00Z) or an age like 30m, 24h, 7d; not {value!r}"
        ) from None
    return (dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ActionFilter:
    """Which decisions to read (every field None: all of them). See the module docstring for each."""

    agent: str | None = None
    task: str | None = None
    user: str | None = None
    tool: str | None = None
    verdict: str | None = None
    rule: str | None = None
    tier: int | None = None
    revision: str | None = None
    text: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: int | None = None

    def __post_init__(self) -> None:
        if self.verdict is not None and self.verdict not in VERDICTS:
            raise FilterError(f"verdict must be one of {', '.join(VERDICTS)}; not {self.verdict!r}")
        if self.text is not None and len(self.text) > _MAX_TEXT:
            raise FilterError(f"text is longer than {_MAX_TEXT} characters")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise FilterError("since must be before until")

    def to_params(self) -> dict[str, str]:
        """The query parameters that give this filter back through `parse_filter` (times as ISO UTC)."""
        out: dict[str, str] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is not None:
                out[f.name] = v.isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else str(v)
        return out

    @property
    def rollup_only(self) -> bool:
        """True when only dimensions of the hourly rollup (and a time range) are set."""
        return self.task is None and self.user is None and self.text is None and self.after is None


_STR_PARAMS = ("agent", "task", "user", "tool", "verdict", "rule", "revision", "text")


def _int(params: Mapping[str, str], name: str, lo: int, hi: int) -> int | None:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        n = int(raw)
    except ValueError:
        raise FilterError(f"{name} must be an integer, not {raw!r}") from None
    if not lo <= n <= hi:
        raise FilterError(f"{name} must be between {lo} and {hi}, not {n}")
    return n


def parse_filter(params: Mapping[str, str], *, now: datetime | None = None) -> ActionFilter:
    """An `ActionFilter` from query parameters; empty values mean "no filter". Raises `FilterError`.

    >>> parse_filter({"agent": "bot", "verdict": "block", "since": "", "tier": "2"})
    ActionFilter(agent='bot', task=None, user=None, tool=None, verdict='block', rule=None, tier=2, revision=None, text=None, since=None, until=None, after=None)
    """
    kw: dict[str, Any] = {}
    for name in _STR_PARAMS:
        v = params.get(name)
        if v is not None and v.strip() != "":
            kw[name] = v.strip() if name != "text" else v
    for name in ("since", "until"):
        v = params.get(name)
        if v is not None and v.strip() != "":
            kw[name] = parse_time(v, name, now=now)
    kw["tier"] = _int(params, "tier", 1, 2)
    kw["after"] = _int(params, "after", 0, 2**62)
    return ActionFilter(**kw)


def parse_limit(params: Mapping[str, str], default: int, maximum: int) -> int:
    """``limit`` between 1 and *maximum* (default *default*). Raises `FilterError`."""
    n = _int(params, "limit", 1, maximum)
    return default if n is None else n


def parse_sort(params: Mapping[str, str]) -> str:
    """``sort``: one of `SORTS` (default ``newest``). Raises `FilterError`."""
    s = (params.get("sort") or "newest").strip()
    if s not in SORTS:
        raise FilterError(f"sort must be one of {', '.join(SORTS)}; not {s!r}")
    return s


def encode_cursor(sort: str, row: Mapping[str, Any]) -> str:
    """The opaque ``cursor`` that continues after *row* in order *sort*."""
    key = SORTS[sort][0]
    value = row.get("latency_us") if key == "latency" else None
    raw = json.dumps([sort, row["ingest_id"], value], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: str, cursor: str) -> tuple[int, float | None]:
    """``(ingest_id, sort value)`` of a cursor made by `encode_cursor` for the same *sort*. Raises `FilterError`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        s, iid, value = json.loads(raw)
        if s != sort or not isinstance(iid, int) or not (value is None or isinstance(value, int | float)):
            raise ValueError
    except (ValueError, TypeError):
        raise FilterError(
            "cursor is not one this list gave out (for this sort order); start again without it"
        ) from None
    return iid, (float(value) if value is not None else None)


@dataclass(frozen=True)
class Dialect:
    """What differs between SQLite and PostgreSQL in the queries of this package."""

    name: str
    ph: str
    id_col: str

    def time(self, dt: datetime) -> Any:
        """A bound time: SQLite compares the stored UTC text, PostgreSQL a ``timestamptz``."""
        return format_ts(dt) if self.name == "sqlite" else dt

    def like(self, col: str) -> str:
        """A case-insensitive (ASCII) substring test of *col* against one bound pattern."""
        if self.name == "sqlite":  # SQLite's LIKE folds ASCII case only; PostgreSQL's ILIKE folds more, so fold ASCII
            return f"{col} LIKE {self.ph} ESCAPE '\\'"
        return f"lower({col}::text COLLATE \"C\") LIKE {self.ph} ESCAPE '\\'"

    @property
    def payload_text(self) -> str:
        """The redacted arguments as text."""
        return "payload" if self.name == "sqlite" else "payload::text"


SQLITE = Dialect("sqlite", "?", "rowid")
POSTGRES = Dialect("postgres", "%s", "ingest_id")


def _like_pattern(text: str, dialect: Dialect) -> str:
    esc = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if dialect.name == "postgres":
        esc = "".join(c.lower() if "A" <= c <= "Z" else c for c in esc)
    return f"%{esc}%"


def dimension_clauses(f: ActionFilter, d: Dialect, *, plus: str = "") -> tuple[list[str], list[Any]]:
    """Equality conditions for *f*'s columns (agent, task, user, tool, rule, revision, verdict, tier).

    Shared by `where_clause` (on ``actions``) and the rollups (`agentgate.audit._stats`), which
    keep those columns under the same names. *plus* (``"+"``) keeps SQLite's planner off
    their indexes.
    """
    where: list[str] = []
    params: list[Any] = []
    p = d.ph
    for col, val in (
        ("agent_id", f.agent),
        ("task_id", f.task),
        ("user_id", f.user),
        ("tool_name", f.tool),
        ("policy_name", f.rule),
        ("policy_revision", f.revision),
    ):
        if val is not None:
            where.append(f"{plus}{col} = {p}")
            params.append(val)
    if f.verdict == "would_block":
        where.append(f"{plus}would_block = {p}")
        params.append(True)
    elif f.verdict is not None:
        where.append(f"{plus}verdict = {p}")
        params.append(f.verdict)
    if f.tier is not None:
        where.append(f"tier_used = {p}")
        params.append(f.tier)
    return where, params


def where_clause(f: ActionFilter, d: Dialect, *, time_first: bool = False) -> tuple[list[str], list[Any]]:
    """SQL conditions (joined with AND by the caller) and their parameters for *f*.

    *time_first*: keep SQLite's planner off the equality indexes (``+col``), for a short time
    range the ``created_at`` index serves best.
    """
    p = d.ph
    where, params = dimension_clauses(f, d, plus="+" if time_first and d.name == "sqlite" else "")
    if f.since is not None:
        where.append(f"created_at >= {p}")
        params.append(d.time(f.since))
    if f.until is not None:
        where.append(f"created_at < {p}")
        params.append(d.time(f.until))
    if f.after is not None:
        where.append(f"{d.id_col} > {p}")
        params.append(f.after)
    if f.text:
        pat = _like_pattern(f.text, d)
        where.append(
            "(" + " OR ".join(d.like(c) for c in ("tool_name", d.payload_text, "coalesce(reasoning, '')")) + ")"
        )
        params += [pat, pat, pat]
    return where, params


def action_query(
    *,
    agent: str | None,
    task: str | None,
    tool: str | None,
    verdict: str | None,
    since: str | None,
    after: int | None,
    limit: int | None,
    newest_first: bool,
    select: str,
    order_col: str,
    ph: str,
) -> tuple[str, list[Any]]:
    """``SELECT ... WHERE ... ORDER BY ... LIMIT ...`` and its parameters; *ph* is the placeholder (``?``/``%s``).

    >>> action_query(agent="a", task=None, tool=None, verdict="block", since=None, after=3, limit=5,
    ...              newest_first=True, select="SELECT * FROM actions", order_col="rowid", ph="?")
    ('SELECT * FROM actions WHERE agent_id = ? AND verdict = ? AND rowid > ? ORDER BY rowid DESC LIMIT ?', ['a', 'block', 3, 5])
    """
    if limit is not None and limit < 0:
        raise FilterError(f"limit must not be negative, not {limit}")
    where: list[str] = []
    params: list[Any] = []
    for col, val in (("agent_id", agent), ("task_id", task), ("tool_name", tool), ("verdict", verdict)):
        if val is not None:
            where.append(f"{col} = {ph}")
            params.append(val)
    if since is not None:
        where.append(f"created_at >= {ph}")
        params.append(since)
    if after is not None:
        where.append(f"{order_col} > {ph}")
        params.append(after)
    sql = select
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order_col} " + ("DESC" if newest_first else "ASC")
    if limit is not None:
        sql += f" LIMIT {ph}"
        params.append(int(limit))
    return sql, params


@dataclass(frozen=True, slots=True)
class Page:
    """One page of decisions and the cursor of the next one (None: this was the last)."""

    rows: list[dict[str, Any]]
    next_cursor: str | None


class SqlStore:
    """What the SQLite and PostgreSQL readers share: filtered, keyset-paged reads over their own ``_rows``."""

    _select = "SELECT * FROM actions"
    _order_col = "ingest_id"
    _ph = "%s"
    sql_dialect: Dialect = POSTGRES

    def _rows(self, sql: str, params: Sequence[Any]) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (outside `transaction`: on its own) and return its rows as tuples."""
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[Executor]:
        """A write transaction that serializes with every other dashboard's (its executor returns tuples)."""
        raise NotImplementedError

    def settled_bound(self, ex: Executor) -> int:
        """The highest ingest id below which no row can still appear (see `_stats`); called in `transaction`."""
        raise NotImplementedError

    def ensure_dashboard(self) -> None:
        """Create the dashboard's tables and indexes if missing (`_schema.dashboard_migrations`)."""
        raise NotImplementedError

    def get_action(self, key: str) -> dict[str, Any] | None:
        """The decision whose record id or decision id is *key*, or None."""
        d = self.sql_dialect
        for col in ("id", "decision_id"):
            if col == "id" and d.name == "postgres" and not _UUID.match(key):
                continue  # not a uuid: comparing would be an error, and it cannot match
            sql = f"{self._select} WHERE {col} = {d.ph} ORDER BY {d.id_col} LIMIT 1"
            for r in self._rows(sql, [key]):
                return r
        return None

    def chain_row(self, writer_id: str, seq: int) -> dict[str, Any] | None:
        """The record at position *seq* of *writer_id*'s chain, or None."""
        d = self.sql_dialect
        sql = f"{self._select} WHERE writer_id = {d.ph} AND seq = {d.ph} LIMIT 1"
        return next(iter(self._rows(sql, [writer_id, seq])), None)

    def chain_after(self, writer_id: str, seq: int) -> Iterator[dict[str, Any]]:
        """*writer_id*'s records after position *seq*, in chain order."""
        d = self.sql_dialect
        sql = f"{self._select} WHERE writer_id = {d.ph} AND seq > {d.ph} ORDER BY seq, {d.id_col}"
        return self._rows(sql, [writer_id, seq])

    def actions(
        self,
        *,
        agent: str | None = None,
        task: str | None = None,
        tool: str | None = None,
        verdict: str | None = None,
        since: str | None = None,
        after: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Action rows matching every filter given, in storage order (``ingest_id``)."""
        sql, params = action_query(
            agent=agent,
            task=task,
            tool=tool,
            verdict=verdict,
            since=since,
            after=after,
            limit=limit,
            newest_first=newest_first,
            select=self._select,
            order_col=self._order_col,
            ph=self._ph,
        )
        return self._rows(sql, params)

    def _filtered_sql(
        self, f: ActionFilter, *, sort: str, cursor: str | None, limit: int | None, columns: str | None = None
    ) -> tuple[str, list[Any]]:
        d = self.sql_dialect
        where, params = where_clause(f, d)
        key, desc = SORTS[sort]
        op = "<" if desc else ">"
        order = "DESC" if desc else "ASC"
        if key == "id":
            if cursor is not None:
                iid, _ = decode_cursor(sort, cursor)
                where.append(f"{d.id_col} {op} {d.ph}")
                params.append(iid)
            order_by = f"{d.id_col} {order}"
        else:
            # NULL latencies sort as -1 (before every real one), so the keyset stays total.
            lat = "coalesce(latency_us, -1)"
            if cursor is not None:
                iid, value = decode_cursor(sort, cursor)
                v = -1.0 if value is None else value
                where.append(f"({lat} {op} {d.ph} OR ({lat} = {d.ph} AND {d.id_col} {op} {d.ph}))")
                params += [v, v, iid]
            order_by = f"{lat} {order}, {d.id_col} {order}"
        select = self._select if columns is None else f"SELECT {columns} FROM actions"  # noqa: S608 - our constants
        sql = select + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY {order_by}"
        if limit is not None:
            sql += f" LIMIT {d.ph}"
            params.append(limit)
        return sql, params

    def page(self, f: ActionFilter, *, sort: str = "newest", cursor: str | None = None, limit: int = 50) -> Page:
        """One page of the decisions matching *f*, in order *sort*, after *cursor* (from the previous page)."""
        if limit < 1:
            raise FilterError(f"limit must be at least 1, not {limit}")
        sql, params = self._filtered_sql(f, sort=sort, cursor=cursor, limit=limit + 1)
        rows = list(self._rows(sql, params))
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, encode_cursor(sort, rows[-1]) if more and rows else None)

    def iter_filtered(self, f: ActionFilter, *, sort: str = "oldest", batch: int = 2000) -> Iterator[dict[str, Any]]:
        """Every decision matching *f*, in keyset batches (exports: no transaction held open for the whole set)."""
        cursor: str | None = None
        while True:
            page = self.page(f, sort=sort, cursor=cursor, limit=batch)
            yield from page.rows
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def latencies(self, f: ActionFilter, limit: int) -> list[float]:
        """Decision latencies (µs) of the newest *limit* decisions matching *f*."""
        sql, params = self._filtered_sql(f, sort="newest", cursor=None, limit=limit, columns="latency_us")
        return [float(v) for (v,) in self._exec(sql, params) if v is not None]
