"""The SQL walk's per-statement accumulator, rule defaults and nested-SQL entry.

Shared by the statement walk (`_walk`) and the effect handlers (`_effects`): a
statement's class, tables and rule hits collect in one `_Acc`; SQL found inside a
statement (EXEC('...'), function bodies, query_to_xml('...')) goes through `_nested`.
"""

from __future__ import annotations

import functools

from sqlglot import exp

from agentgate._decision import Effect, Severity
from agentgate.analyzers.sql import _vocab as vocab
from agentgate.analyzers.sql._types import _CLASS_RANK, Hit, SqlAnalysis

_MAX_DEPTH = 3

# ---------------------------------------------------------------------- analyze


#: rule -> default (severity, effect); see the `agentgate.analyzers.sql` docstring for why.
_RULES: dict[str, tuple[Severity, Effect]] = {
    "sql.drop": (Severity.CRITICAL, Effect.BLOCK),
    "sql.truncate": (Severity.CRITICAL, Effect.BLOCK),
    "sql.alter": (Severity.HIGH, Effect.BLOCK),
    "sql.delete_all": (Severity.CRITICAL, Effect.BLOCK),
    "sql.update_all": (Severity.HIGH, Effect.BLOCK),
    "sql.tautology": (Severity.HIGH, Effect.BLOCK),
    "sql.privilege": (Severity.HIGH, Effect.BLOCK),
    "sql.file_access": (Severity.CRITICAL, Effect.BLOCK),
    "sql.os_command": (Severity.CRITICAL, Effect.BLOCK),
    "sql.network": (Severity.HIGH, Effect.BLOCK),
    "sql.credential_read": (Severity.HIGH, Effect.ESCALATE),
    "sql.credential_write": (Severity.HIGH, Effect.ESCALATE),
    "sql.dynamic": (Severity.HIGH, Effect.ESCALATE),
    "sql.unrecognized": (Severity.MEDIUM, Effect.ESCALATE),
    "sql.server_control": (Severity.HIGH, Effect.BLOCK),
    "sql.function": (Severity.MEDIUM, Effect.ESCALATE),
}


class _Acc:
    """Per-statement accumulator for the single AST walk."""

    __slots__ = ("cls", "depth", "dialect", "hits", "raw", "reads", "skip_ids", "star", "text", "write_ids", "writes")

    def __init__(self, dialect: str | None, depth: int, text: str) -> None:
        # Evidence is the source text: regenerating SQL from the AST (.sql()) copies
        # the tree and costs more than parsing a short query.
        self.text = text
        self.dialect = dialect
        self.depth = depth
        self.cls = ""
        self.reads: list[str] = []
        self.writes: list[str] = []
        self.write_ids: set[int] = set()
        self.skip_ids: set[int] = set()  # Table nodes that name a procedure, not data
        self.raw = False
        self.star = False  # some SELECT returns whole rows (SELECT * / t.*)
        self.hits: list[Hit] = []

    def klass(self, c: str) -> None:
        if _CLASS_RANK[c] > _CLASS_RANK[self.cls]:
            self.cls = c

    def hit(
        self,
        rule: str,
        msg: str,
        evidence: str,
        grant_op: str | None = None,
        severity: Severity | None = None,
        effect: Effect | None = None,
    ) -> None:
        sev, eff = _RULES[rule]
        self.hits.append(Hit(rule, severity or sev, effect or eff, msg, evidence[:120], grant_op, self.raw))

    def merge(self, sub: SqlAnalysis, where: str | None) -> None:
        for h in sub.hits:
            msg = f"{h.message} (inside {where})" if where else h.message
            self.hits.append(Hit(h.rule, h.severity, h.effect, msg, h.evidence, h.grant_op, h.raw or self.raw))
        for s in sub.statements:
            self.klass(s.sql_class)
            self.reads.extend(s.reads)
            self.writes.extend(s.writes)


def _tname(t: exp.Table) -> str:
    return ".".join(p for p in (t.catalog, t.db, t.name) if p)


@functools.lru_cache(maxsize=4096)
def _words(name: str) -> tuple[str, ...]:
    return tuple(w.lower() for w in vocab.NAME_SPLIT.split(name) if w)


def _parse(text: str, dialect: str | None, depth: int) -> SqlAnalysis:
    """Parse dynamic SQL found inside a statement (one level deeper).

    Imported at call time: the parser imports this walk at module level. Nested
    SQL is rare, so the import lookup stays off the hot path."""
    from agentgate.analyzers.sql._parse import _parse as parse

    return parse(text, dialect, depth)


def _nested(text: str, acc: _Acc, where: str) -> None:
    if acc.depth >= _MAX_DEPTH:
        acc.hit("sql.dynamic", f"{where} nests dynamic SQL too deeply to analyze", text[:120])
        return
    sub = _parse(text, acc.dialect, acc.depth + 1)
    if sub.error:
        acc.hit("sql.dynamic", f"{where} runs SQL that does not parse ({sub.error})", text[:120])
    acc.merge(sub, where)


def _target(node: exp.Expression | None, acc: _Acc) -> None:
    """Mark the table a statement writes to (unwrapping a Schema with column names)."""
    if isinstance(node, exp.Schema):
        node = node.this
    if isinstance(node, exp.Table):
        acc.write_ids.add(id(node))
