"""The one filter builder behind every store's ``actions()`` (SQLite and PostgreSQL differ only in placeholders)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["SqlStore", "action_query"]


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


class SqlStore:
    """What the SQLite and PostgreSQL readers share: ``actions()`` over their own ``_rows``."""

    _select = "SELECT * FROM actions"
    _order_col = "ingest_id"
    _ph = "%s"

    def _rows(self, sql: str, params: Sequence[Any]) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

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
