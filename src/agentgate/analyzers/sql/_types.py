"""Result types of the SQL analyzer (what one parse learned; cached, immutable) and the statement classes.

Kept apart from the parser (`_parse`) and the AST walk (`_walk`), which
both build them: the parser imports the walk, so the walk cannot import the
parser at module level for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agentgate._decision import Effect, Severity

__all__ = ["Hit", "SqlAnalysis", "Statement"]

# ------------------------------------------------------------------ vocabularies

# Statement class → operation (docs/policy.md): additive DDL (``ddl``: CREATE, ADD COLUMN) is a write;
# destructive DDL (``ddl_drop``: DROP, ALTER ... DROP) a delete, which the sql.drop/sql.alter rules
# still block whatever the scope grants; privileges and server settings configure; EXEC/CALL execute.
_CLASS_OP = {
    "read": "read",
    "write": "write",
    "delete": "delete",
    "ddl": "write",
    "ddl_drop": "delete",
    "exec": "execute",
    "dcl": "configure",
    "admin": "configure",
}
_CLASS_RANK = {
    "": -1,
    "session": 0,
    "transaction": 0,
    "read": 1,
    "write": 2,
    "delete": 3,
    "ddl": 4,
    "ddl_drop": 5,
    "exec": 6,
    "dcl": 7,
    "admin": 8,
}


# ----------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Hit:
    """A policy-independent rule hit found while parsing (turned into a Finding by `analyze_sql`).

    ``grant_op`` names the operation whose explicit grant by the scope downgrades
    this hit from BLOCK to ESCALATE (None: never downgraded).
    """

    rule: str
    severity: Severity
    effect: Effect
    message: str
    evidence: str
    grant_op: str | None = None
    raw: bool = False  # found in a statement sqlglot kept as raw text (a Command)


@dataclass(frozen=True, slots=True)
class Statement:
    """One parsed statement: its sqlglot kind, class, scope operation and tables."""

    kind: str
    sql_class: str
    operation: str | None
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    raw: bool = False  # sqlglot kept it as raw text (a Command) and we dispatched on its keyword


@dataclass(frozen=True, slots=True)
class SqlAnalysis:
    """Everything `parse_sql` learned from one SQL text (cached, immutable)."""

    dialect: str | None
    statements: tuple[Statement, ...]
    hits: tuple[Hit, ...]
    error: str | None = None

    @property
    def tables_read(self) -> tuple[str, ...]:
        """Tables read by any statement, in first-seen order."""
        return _unique(t for s in self.statements for t in s.reads)

    @property
    def tables_written(self) -> tuple[str, ...]:
        """Tables written, created, altered or destroyed by any statement."""
        return _unique(t for s in self.statements for t in s.writes)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
