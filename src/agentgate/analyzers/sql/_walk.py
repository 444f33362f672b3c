"""The single AST walk of the SQL analyzer: classify each statement, collect its tables, hit rules.

`_analyze` turns the statements `agentgate.analyzers.sql._parse` parsed into an
`SqlAnalysis`; the rules and their default effects are documented in
`agentgate.analyzers.sql`.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from agentgate._decision import Effect, Severity
from agentgate.analyzers.sql import _fold as fold
from agentgate.analyzers.sql import _vocab as vocab
from agentgate.analyzers.sql._acc import _Acc, _target, _tname, _words
from agentgate.analyzers.sql._effects import _command, _copy, _execute, _function, _routine, _set_item
from agentgate.analyzers.sql._types import _CLASS_OP, Hit, SqlAnalysis, Statement, _unique

__all__ = ["_Acc", "_analyze"]

# ---------------------------------------------------------------------- analyze


def _analyze(stmts: list[exp.Expression], dialect: str | None, depth: int, text: str) -> SqlAnalysis:
    out: list[Statement] = []
    hits: list[Hit] = []
    for st in stmts:
        acc = _Acc(dialect, depth, text[:120])
        _statement(st, acc)
        kind = str(st.this).lower() if isinstance(st, exp.Command) else st.key
        cls = acc.cls or "session"
        out.append(Statement(kind, cls, _CLASS_OP.get(cls), _unique(acc.reads), _unique(acc.writes), acc.raw))
        hits.extend(acc.hits)
    if len(out) > 1:
        pivot = any(
            a.sql_class == "read" and any(b.sql_class not in ("read", "session", "transaction") for b in out[i + 1 :])
            for i, a in enumerate(out)
        )
        kinds = "; ".join(s.kind.upper() for s in out)
        if pivot:
            hits.append(
                Hit(
                    "sql.stacked",
                    Severity.MEDIUM,
                    Effect.ESCALATE,
                    f"{len(out)} stacked statements where a read is followed by a change ({kinds}): the stacked-injection shape; send one statement per call",
                    kinds[:120],
                )
            )
        else:
            hits.append(
                Hit(
                    "sql.stacked",
                    Severity.INFO,
                    Effect.INFO,
                    f"{len(out)} statements in one call ({kinds})",
                    kinds[:120],
                )
            )
    return SqlAnalysis(dialect, tuple(out), tuple(dict.fromkeys(hits)))


def _statement(st: exp.Expression, acc: _Acc) -> None:
    """Classify one top-level statement, then walk it once."""
    if isinstance(st, exp.Command):
        acc.raw = True
        _command(st, acc)
        return
    if isinstance(st, (exp.Transaction, exp.Commit, exp.Rollback)):
        acc.klass("transaction")
        return
    if isinstance(st, (exp.Set, exp.Use, exp.Declare)):
        acc.klass("session")
    elif isinstance(st, (exp.Show, exp.Describe)):
        acc.klass("read")
    elif isinstance(st, exp.Pragma):
        name = st.this.this.name if isinstance(st.this, exp.EQ) else st.this.name if st.this is not None else ""
        acc.klass("read" if name.lower() in vocab.READ_PRAGMAS else "admin")
        if name.lower() in ("writable_schema", "trusted_schema"):
            acc.hit(
                "sql.alter", f"PRAGMA {name} lets SQL rewrite the schema table itself", acc.text, grant_op="configure"
            )
    tables: list[exp.Table] = []
    ctes: set[str] = set()
    dispatch = _DISPATCH
    # sqlglot's walk visits a parent before its children, so a statement marks its
    # target tables (write_ids) before the walk reaches them.
    for node in st.walk():
        t = type(node)
        if t is exp.Table:
            tables.append(node)  # type: ignore[arg-type]
            continue
        if t is exp.CTE:
            ctes.add(node.alias.lower())
            continue
        h = dispatch.get(t, _MISSING)
        if h is _MISSING:
            h = _lookup(t)
        if h is not None:
            h(node, acc)  # type: ignore[operator]
    for tab in tables:
        _table(tab, acc, ctes)


def _lookup(t: type) -> object:
    h = next((_BASE_HANDLERS[b] for b in t.__mro__ if b in _BASE_HANDLERS), None)
    _DISPATCH[t] = h
    return h


def _on_select(node: exp.Select, acc: _Acc) -> None:
    acc.klass("read")
    if any(
        isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
        for e in node.expressions
    ):
        acc.star = True
    where = node.args.get("where")
    if where is not None and fold.or_neutralized(where.this):
        acc.hit(
            "sql.tautology",
            "SELECT whose WHERE is neutralized by an always-true OR branch (the injection signature); check the filter",
            acc.text,
            severity=Severity.MEDIUM,
            effect=Effect.ESCALATE,
        )
    into = node.args.get("into")
    if into is not None:
        acc.klass("write")
        _target(into.this, acc)


def _on_delete(node: exp.Delete, acc: _Acc) -> None:
    acc.klass("delete")
    _target(node.this, acc)
    for t in node.args.get("tables") or ():
        _target(t, acc)
    _unbounded(node, acc, "delete")


def _on_update(node: exp.Update, acc: _Acc) -> None:
    acc.klass("write")
    _target(node.this, acc)
    _unbounded(node, acc, "write")
    for eq in node.expressions:
        col = eq.this if isinstance(eq, exp.EQ) else None
        if isinstance(col, exp.Column) and _is_cred_column(col.name):
            acc.hit(
                "sql.credential_write",
                f"the UPDATE overwrites the credential column {col.name!r} (account takeover risk); confirm the task needs it",
                acc.text,
            )
        elif isinstance(col, exp.Column) and col.name.lower() in vocab.ROLE_COLUMNS and _grants_power(eq.expression):
            acc.hit(
                "sql.privilege",
                f"the UPDATE sets {col.name} = {eq.expression.sql(dialect=acc.dialect)[:40]}: an application-level privilege grant",
                acc.text,
                grant_op="configure",
                effect=Effect.ESCALATE,
            )


def _grants_power(value: exp.Expression) -> bool:
    c = fold.const(value)
    if isinstance(c, str):
        return bool(vocab.POWER_WORDS & set(_words(c)))
    return c is True or c == 1.0


def _on_insert(node: exp.Insert, acc: _Acc) -> None:
    acc.klass("write")
    _target(node.this, acc)
    schema, values = node.this, node.expression
    if not (isinstance(schema, exp.Schema) and isinstance(values, exp.Values)):
        return
    cols = [c.name.lower() for c in schema.expressions]
    for i, col in enumerate(cols):
        if col not in vocab.ROLE_COLUMNS:
            continue
        for row in values.expressions:
            vals = row.expressions if isinstance(row, exp.Tuple) else [row]
            if i < len(vals) and _grants_power(vals[i]):
                acc.hit(
                    "sql.privilege",
                    f"the INSERT gives {col} = {vals[i].sql(dialect=acc.dialect)[:40]}: an application-level privilege grant",
                    acc.text,
                    grant_op="configure",
                    effect=Effect.ESCALATE,
                )
                return


def _on_merge(node: exp.Merge, acc: _Acc) -> None:
    whens = node.args.get("whens")
    deletes = whens is not None and any(
        isinstance(w.args.get("then"), exp.Var) and w.args["then"].name.upper() == "DELETE" for w in whens.expressions
    )
    acc.klass("delete" if deletes else "write")
    _target(node.this, acc)


def _on_truncate(node: exp.TruncateTable, acc: _Acc) -> None:
    acc.klass("delete")
    for t in node.expressions:
        _target(t, acc)
    names = ", ".join(_tname(t) for t in node.expressions if isinstance(t, exp.Table)) or "the table"
    acc.hit("sql.truncate", f"TRUNCATE empties {names}; not reversible", acc.text)


_ADDITIVE = (exp.ColumnDef, exp.AddConstraint, exp.Constraint, exp.Index)


def _on_alter(node: exp.Alter, acc: _Acc) -> None:
    _target(node.this, acc)
    actions = node.args.get("actions") or []
    if (
        str(node.args.get("kind") or "").upper() == "TABLE"
        and actions
        and all(isinstance(a, _ADDITIVE) for a in actions)
    ):
        acc.klass("ddl")  # ADD COLUMN / ADD CONSTRAINT: additive, a write; nothing existing changes or goes
        return
    acc.klass("ddl")
    what = f"{node.args.get('kind') or ''} {_tname(node.this) if isinstance(node.this, exp.Table) else ''}".strip()
    # Additive changes (ADD COLUMN, RENAME) are writes a scope may grant; dropping a column never is.
    destructive = any(isinstance(a, exp.Drop) for a in node.args.get("actions") or ())
    acc.hit(
        "sql.alter",
        f"ALTER {what} changes the schema; run it as a reviewed migration",
        acc.text,
        grant_op=None if destructive else "write",
    )


def _on_grant(node: exp.Expression, acc: _Acc) -> None:
    acc.klass("dcl")
    _target(node.args.get("securable"), acc)
    verb = "GRANT" if isinstance(node, exp.Grant) else "REVOKE"
    acc.hit(
        "sql.privilege",
        f"{verb} changes database privileges; an agent must not grant or revoke access",
        acc.text,
        grant_op="configure",
    )


def _on_attach(node: exp.Attach, acc: _Acc) -> None:
    acc.klass("admin")
    src = node.this.this if isinstance(node.this, exp.Alias) else node.this
    path = src.name if isinstance(src, exp.Literal) else src.sql() if src is not None else ""
    if path not in ("", ":memory:"):
        acc.hit("sql.file_access", f"ATTACH DATABASE opens the file {path!r} on the database host", path)


def _on_detach(node: exp.Expression, acc: _Acc) -> None:
    acc.klass("admin")


def _on_comment(node: exp.Comment, acc: _Acc) -> None:
    acc.klass("ddl")
    _target(node.this, acc)


def _is_cte_ref(t: exp.Table, name: str) -> bool:
    """Is this unqualified table name a reference to a CTE visible at its position?
    A CTE body sees only the CTEs before it (and itself when RECURSIVE), so
    ``WITH users AS (SELECT * FROM users)`` still reads the real table."""
    child: Any = t
    parent: Any = t.parent
    last_cte: exp.Expression | None = None
    while parent is not None:
        if isinstance(parent, exp.CTE):
            last_cte = parent
        w = parent.args.get("with_") or parent.args.get("with")
        if isinstance(w, exp.With):
            ctes = w.expressions
            if child is w and last_cte is not None:
                idx = next((i for i, c in enumerate(ctes) if c is last_cte), len(ctes))
                visible = ctes[: idx + 1] if w.args.get("recursive") else ctes[:idx]
            else:
                visible = ctes
            if any(c.alias.lower() == name for c in visible):
                return True
        child, parent = parent, parent.parent
    return False


def _table(t: exp.Table, acc: _Acc, ctes: set[str]) -> None:
    if not isinstance(t.this, exp.Identifier) or id(t) in acc.skip_ids:
        return  # table functions (generate_series, pg_read_file AS x) are checked as functions
    name = t.name
    low = name.lower()
    if low in ctes and not t.args.get("db") and _is_cte_ref(t, low):
        return
    alias = t.args.get("alias")
    if low in _DANGEROUS_NAMES and isinstance(alias, exp.TableAlias) and alias.args.get("columns"):
        # FROM file('/etc/passwd', ...) read by a dialect without table functions: a call all the same.
        _function(exp.Anonymous(this=name, expressions=list(alias.args["columns"])), acc)
        return
    full = _tname(t)
    (acc.writes if id(t) in acc.write_ids else acc.reads).append(full)
    if low in vocab.SYS_CRED_TABLES or (low in vocab.MYSQL_CRED_TABLES and t.db.lower() == "mysql"):
        acc.hit(
            "sql.credential_read",
            f"{full} holds the database's password hashes; agents must not read or change it",
            full,
            severity=Severity.CRITICAL,
            effect=Effect.BLOCK,
        )
        return
    if low in vocab.DATA_CATALOG_TABLES:
        acc.hit(
            "sql.credential_read",
            f"{full} holds data, other sessions' queries or authentication rules, not metadata; confirm the task needs it",
            full,
        )
        return
    words = _words(name)
    # Whole rows of a secrets table leave (SELECT *, COPY) or it is written; a count or
    # a metadata column does not leak a secret (credential columns are checked apart).
    dumps = acc.star or id(t) in acc.write_ids or isinstance(t.parent, exp.Copy)
    if dumps and words and (words[-1] in vocab.CRED_TABLE_WORDS or words[-2:] in vocab.CRED_TABLE_PAIRS):
        acc.hit(
            "sql.credential_read", f"table {full} looks like it stores credentials; confirm the task needs it", full
        )


def _in_projection(c: exp.Expression) -> bool:
    child: Any = c
    parent: Any = c.parent
    while parent is not None and not isinstance(parent, exp.Select):
        if isinstance(parent, exp.Query):  # a subquery's own projection decides
            return False
        child, parent = parent, parent.parent
    return parent is not None and child.arg_key == "expressions"


def _is_cred_column(name: str) -> bool:
    words = _words(name)
    return bool(words) and (words[-1] in vocab.CRED_WORDS or words[-2:] in vocab.CRED_PAIRS)


def _on_column(c: exp.Column, acc: _Acc) -> None:
    if _is_cred_column(c.name) and _in_projection(c):
        acc.hit(
            "sql.credential_read",
            f"the query returns the credential column {c.name!r}; confirm the task needs secrets",
            acc.text,
        )


def _unbounded(node: exp.Delete | exp.Update, acc: _Acc, op: str) -> None:
    verb = "DELETE" if op == "delete" else "UPDATE"
    rule = "sql.delete_all" if op == "delete" else "sql.update_all"
    sev = Severity.CRITICAL if op == "delete" else Severity.HIGH
    target = _tname(node.this) if isinstance(node.this, exp.Table) else "the table"
    where = node.args.get("where")
    if where is None:
        acc.hit(
            rule,
            f"{verb} on {target} has no WHERE clause and hits every row; add a WHERE",
            acc.text,
            grant_op=op,
            severity=sev,
            effect=Effect.BLOCK,
        )
    elif fold.truth(where.this) is True or fold.or_neutralized(where.this):
        acc.hit(
            "sql.tautology",
            f"{verb} on {target} has an always-true WHERE ({where.this.sql(dialect=acc.dialect)[:60]}) and hits every row",
            acc.text,
            grant_op=op,
            severity=sev,
        )
    elif not fold.bounded(where.this):
        acc.hit(
            rule,
            f"{verb} on {target}: the WHERE ({where.this.sql(dialect=acc.dialect)[:60]}) compares no column to a value, so nothing bounds the rows it hits",
            acc.text,
            grant_op=op,
            severity=sev,
            effect=Effect.BLOCK,
        )
    elif fold.matches_all_rows(where.this):
        acc.hit(
            "sql.tautology",
            f"{verb} on {target} is filtered only by {where.this.sql(dialect=acc.dialect)[:60]}, which likely matches every row",
            acc.text,
            grant_op=op,
            severity=Severity.MEDIUM,
            effect=Effect.ESCALATE,
        )


def _drop(node: exp.Drop, acc: _Acc) -> None:
    kind = str(node.args.get("kind") or "").upper()
    acc.klass("ddl_drop")
    if isinstance(node.parent, exp.Alter):
        return  # ALTER TABLE ... DROP COLUMN: reported once, as sql.alter
    tables = [t for t in (node.args.get("tables") or [node.this]) if isinstance(t, exp.Table)]
    for t in tables:
        _target(t, acc)
    names = ", ".join(_tname(t) for t in tables) or ""
    acc.hit(
        "sql.drop",
        f"DROP {kind} {names} destroys it and its data; not reversible".replace("  ", " "),
        acc.text,
    )


def _create(node: exp.Create, acc: _Acc) -> None:
    kind = str(node.args.get("kind") or "").upper()
    acc.klass("ddl")  # additive DDL: CREATE TABLE [AS SELECT] / INDEX / VIEW (a write, docs/policy.md)
    this = node.this
    if kind in ("FUNCTION", "PROCEDURE"):
        if isinstance(this, exp.UserDefinedFunction) and isinstance(this.this, exp.Table):
            acc.skip_ids.add(id(this.this))  # the function's name is not a table
        props = node.args.get("properties")
        lang = "sql"
        for p in props.expressions if props is not None else ():
            if isinstance(p, exp.LanguageProperty):
                lang = p.name.lower()
        body = node.expression
        text = body.name if isinstance(body, (exp.Heredoc, exp.Literal)) else None
        _routine(kind, lang, text, acc)
        if text is not None and isinstance(body, exp.Expression):
            for n in body.walk():
                acc.skip_ids.add(id(n))
        return  # the function's name is not a table
    if isinstance(this, exp.Index):
        _target(this.args.get("table"), acc)
    else:
        _target(this, acc)


# ------------------------------------------------------------------- dispatch

_MISSING = object()


def _on_func(node: exp.Func, acc: _Acc) -> None:
    _function(node, acc)


_BASE_HANDLERS: dict[type, object] = {
    exp.Select: _on_select,
    exp.Delete: _on_delete,
    exp.Update: _on_update,
    exp.Insert: _on_insert,
    exp.Merge: _on_merge,
    exp.Drop: _drop,
    exp.TruncateTable: _on_truncate,
    exp.Alter: _on_alter,
    exp.Create: _create,
    exp.Grant: _on_grant,
    exp.Revoke: _on_grant,
    exp.Copy: _copy,
    exp.Execute: _execute,
    exp.ExecuteSql: _execute,
    exp.Attach: _on_attach,
    exp.Detach: _on_detach,
    exp.SetItem: _set_item,
    exp.Comment: _on_comment,
    exp.Column: _on_column,
    exp.Anonymous: _on_func,
}
_DANGEROUS_NAMES = vocab.FILE_FUNCS | vocab.OS_FUNCS | vocab.NET_FUNCS | vocab.FILE_READERS
# A dialect may give a dangerous function its own class one day; route those too.
for _cls in exp.ALL_FUNCTIONS:
    if _cls is not exp.Anonymous and any(n.lower() in _DANGEROUS_NAMES for n in _cls.sql_names()):
        _BASE_HANDLERS[_cls] = _on_func
_DISPATCH: dict[type, object] = dict(_BASE_HANDLERS)
