"""The single AST walk of the SQL analyzer: classify each statement, collect its tables, hit rules.

`_analyze` turns the statements `agentgate.analyzers.sql._parse` parsed into an
`SqlAnalysis`; the rules and their default effects are documented in
`agentgate.analyzers.sql`.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from sqlglot import exp

from agentgate._decision import Effect, Severity
from agentgate.analyzers.sql import _builtins as builtins
from agentgate.analyzers.sql import _fold as fold
from agentgate.analyzers.sql import _vocab as vocab
from agentgate.analyzers.sql._types import _CLASS_OP, _CLASS_RANK, Hit, SqlAnalysis, Statement, _unique

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


def _target(node: exp.Expression | None, acc: _Acc) -> None:
    """Mark the table a statement writes to (unwrapping a Schema with column names)."""
    if isinstance(node, exp.Schema):
        node = node.this
    if isinstance(node, exp.Table):
        acc.write_ids.add(id(node))


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


def _tname(t: exp.Table) -> str:
    return ".".join(p for p in (t.catalog, t.db, t.name) if p)


@functools.lru_cache(maxsize=4096)
def _words(name: str) -> tuple[str, ...]:
    return tuple(w.lower() for w in vocab.NAME_SPLIT.split(name) if w)


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


_KNOWN_FUNCS = builtins.PG_PURE | builtins.MYSQL | builtins.SQLITE | vocab.HARMLESS_VOLATILE


def _string_args(f: exp.Func) -> list[str]:
    """The function's string-literal arguments, in order (quoted, national, dollar-quoted)."""
    args = [a for a in (f.this, *f.expressions) if isinstance(a, exp.Expression)]
    return [
        a.name
        for a in args
        if isinstance(a, (exp.Literal, exp.National, exp.RawString, exp.Heredoc))
        and (not isinstance(a, exp.Literal) or a.is_string)
    ]


def _function(f: exp.Func, acc: _Acc) -> None:
    if isinstance(f.parent, exp.Pragma):
        return  # PRAGMA table_info(t): the pragma's name, classified by the statement
    name = (f.name if isinstance(f, exp.Anonymous) else f.sql_name()).lower()
    if name in vocab.FILE_READERS:
        # DuckDB-style readers are how analytics agents load their own data files;
        # only a path outside the working tree is an escape.
        path = next((a.name for a in (f.this, *f.expressions) if isinstance(a, exp.Literal) and a.is_string), "")
        if path.startswith(("/", "~", "\\")) or ".." in path or re.match(r"[A-Za-z]:[\\/]", path):
            acc.hit("sql.file_access", f"{name}() reads {path!r}, outside the working tree", acc.text)
        return
    if name in vocab.SQL_ARG_FUNCS:
        # The string argument is SQL the server runs: analyze it like the statement around it.
        strings = _string_args(f)
        pos = vocab.SQL_ARG_FUNCS[name]
        query = strings[pos] if strings and (pos < 0 or pos < len(strings)) else None
        if query is not None:
            _nested(query, acc, f"{name}()")
        else:
            acc.hit("sql.dynamic", f"{name}() runs SQL built at run time; we cannot see it", acc.text)
    if name in vocab.FILE_FUNCS:
        acc.hit("sql.file_access", f"{name}() reads or writes files on the database server", acc.text)
    elif name in vocab.OS_FUNCS:
        acc.hit("sql.os_command", f"{name}() loads or runs code outside the database", acc.text)
    elif name in vocab.NET_FUNCS:
        acc.hit("sql.network", f"{name}() opens a connection out of the database server", acc.text)
    elif name in vocab.ADMIN_FUNCS:
        acc.klass("admin")
        acc.hit(
            "sql.server_control",
            f"{name}() controls the server or other sessions; not for agents",
            acc.text,
            grant_op="configure",
        )
    elif name in vocab.TABLE_ARG_FUNCS:
        for t in _string_args(f)[:1]:
            acc.reads.append(t)
            if t.lower().split(".")[-1] in vocab.SYS_CRED_TABLES:
                acc.hit(
                    "sql.credential_read",
                    f"{name}() dumps {t}, which holds password hashes",
                    t,
                    severity=Severity.CRITICAL,
                    effect=Effect.BLOCK,
                )
    elif name in vocab.DUMP_FUNCS:
        acc.hit("sql.credential_read", f"{name}() dumps every table of a schema or database", acc.text)
    elif name == "set_config":
        strings = _string_args(f)
        if strings:
            _setting(strings[0].lower(), strings[1] if len(strings) > 1 else None, acc)
    elif name in vocab.DELAY_FUNCS:
        acc.hit(
            "sql.function",
            f"{name}() stalls the server: the time-based blind-injection and denial-of-service shape",
            acc.text,
        )
    elif name in vocab.SQL_ARG_FUNCS:
        pass  # its SQL was analyzed above
    elif isinstance(f, exp.Anonymous) and name in builtins.PG_VOLATILE and name not in _KNOWN_FUNCS:
        acc.klass("write")
        acc.hit("sql.function", f"{name}() is a built-in with side effects (VOLATILE); judge it", name)
    elif isinstance(f, exp.Anonymous) and name not in _KNOWN_FUNCS:
        # A function no engine lists as a built-in is user code: it may write, call out or
        # run anything, so the statement is not a read (a read-only scope stops it).
        acc.klass("write")
        acc.hit(
            "sql.function",
            f"{name}() is not a known built-in: treated as a change, not a read",
            name,
            severity=Severity.INFO,
            effect=Effect.INFO,
        )


def _setting(name: str, value: str | None, acc: _Acc) -> None:
    """A server setting changed by SET or set_config()."""
    if name in ("role", "session_authorization"):
        acc.klass("dcl")
        acc.hit("sql.privilege", f"setting {name} switches identity", acc.text, grant_op="configure")
    elif name in vocab.FILE_SETTINGS:
        acc.klass("admin")
        acc.hit(
            "sql.file_access", f"setting {name} points server files somewhere else (a web-shell technique)", acc.text
        )
    elif name in vocab.GUARD_SETTINGS and (
        value is None or value.strip().strip("'\"").lower() in vocab.GUARD_OFF_VALUES
    ):
        acc.klass("admin")
        acc.hit(
            "sql.server_control",
            f"setting {name} to {value!r} switches off a guard (triggers, auditing, integrity or read-only mode)",
            acc.text,
            grant_op="configure",
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


def _copy(node: exp.Copy, acc: _Acc) -> None:
    from_file = bool(node.args.get("kind"))  # True: COPY t FROM ..., False: COPY t TO ...
    if from_file:
        acc.klass("write")
        _target(node.this, acc)
    else:
        acc.klass("read")
    for f in node.args.get("files") or ():
        name = f.name if isinstance(f, (exp.Identifier, exp.Literal, exp.Var)) else f.sql()
        up = name.upper()
        if isinstance(f, exp.Identifier) and up in ("STDIN", "STDOUT"):
            continue
        if isinstance(f, exp.Identifier) and up == "PROGRAM":
            acc.hit(
                "sql.os_command",
                "COPY … PROGRAM runs a shell command on the database host",
                acc.text,
            )
        else:
            acc.hit(
                "sql.file_access",
                f"COPY {'FROM' if from_file else 'TO'} the server path {name!r} touches the database host's files; use STDIN/STDOUT",
                name,
            )


def _execute(node: exp.Expression, acc: _Acc) -> None:
    acc.klass("exec")
    this = node.this
    if isinstance(this, exp.Subquery):  # EXEC('...') / EXEC(@s)
        this = this.this
        if isinstance(this, exp.Table) and isinstance(this.this, exp.Identifier) and this.this.quoted:
            acc.skip_ids.add(id(this))  # EXEC('text'): the "table" is the SQL string
            _nested(this.this.this, acc, "EXEC(...)")
            return
        acc.hit(
            "sql.dynamic",
            "EXEC of a variable runs SQL we cannot see; inline the statement",
            acc.text,
        )
        return
    proc = this.name.lower() if isinstance(this, exp.Table) else ""
    if isinstance(this, exp.Table):
        acc.skip_ids.add(id(this))  # the procedure's name is not a table
    args = node.expressions
    if isinstance(node, exp.ExecuteSql) or proc == "sp_executesql":
        lit = args[0] if args else None
        if isinstance(lit, exp.National) or (isinstance(lit, exp.Literal) and lit.is_string):
            _nested(lit.name, acc, "sp_executesql")
        else:
            acc.hit(
                "sql.dynamic",
                "sp_executesql of a variable runs SQL we cannot see; inline the statement",
                acc.text,
            )
        return
    if proc in vocab.OS_PROCS:
        acc.hit("sql.os_command", f"{proc} runs operating-system commands from the database", acc.text)
    elif proc == "sp_configure":
        acc.hit(
            "sql.alter",
            "sp_configure changes server configuration (it is how xp_cmdshell gets enabled)",
            acc.text,
            grant_op="configure",
        )
    elif proc in vocab.PRIV_PROCS:
        acc.hit(
            "sql.privilege",
            f"{proc} changes logins or role membership",
            acc.text,
            grant_op="configure",
        )


def _set_item(node: exp.SetItem, acc: _Acc) -> None:
    kind = str(node.args.get("kind") or "").upper()
    eq = node.this
    name = (
        eq.this.name.lower()
        if isinstance(eq, exp.EQ) and isinstance(eq.this, (exp.Column, exp.Identifier, exp.Var))
        else ""
    )
    if kind == "GLOBAL" or name in vocab.FILE_SETTINGS:
        acc.klass("admin")
        if name in vocab.FILE_SETTINGS:
            acc.hit(
                "sql.file_access",
                f"SET {name} points server logs at a file (a web-shell technique)",
                acc.text,
            )
        else:
            acc.hit(
                "sql.alter",
                "SET GLOBAL changes server configuration for every session",
                acc.text,
                grant_op="configure",
            )
    elif name in ("role", "session_authorization"):
        acc.klass("dcl")
        acc.hit(
            "sql.privilege",
            "SET ROLE / SESSION AUTHORIZATION switches identity",
            acc.text,
            grant_op="configure",
        )
    elif name in vocab.GUARD_SETTINGS and isinstance(eq, exp.EQ):
        value = eq.expression
        if isinstance(value, exp.Boolean):
            text = "true" if value.this else "false"
        elif isinstance(value, (exp.Literal, exp.Column, exp.Identifier, exp.Var)):
            text = value.name
        else:
            text = value.sql()
        _setting(name, text, acc)


def _parse(text: str, dialect: str | None, depth: int) -> SqlAnalysis:
    """Parse dynamic SQL found inside a statement (one level deeper).

    Imported at call time: the parser imports this walk at module level. Nested
    SQL is rare, so the import lookup stays off the hot path."""
    from agentgate.analyzers.sql._parse import _parse as parse

    return parse(text, dialect, depth)


def _routine(kind: str, lang: str, body: str | None, acc: _Acc) -> None:
    """A function, procedure or DO body: what it would run, by language."""
    what = f"the {kind.lower()} body"
    if lang in vocab.UNTRUSTED_LANGS:
        acc.hit(
            "sql.os_command",
            f"{kind} in the untrusted language {lang} runs arbitrary code on the database host",
            lang,
        )
        return
    if body is None:
        return  # RETURN expr / BEGIN ATOMIC bodies are part of the parsed statement and walked with it
    if lang == "sql":
        _nested(body, acc, what)
    elif lang in ("plpgsql", "plsql", "tsql", ""):
        _procedural(body, acc, what)
    else:
        acc.hit("sql.dynamic", f"{kind} in the language {lang}: a body the analyzer cannot read", lang)


_PL_OPEN = frozenset({"BEGIN", "DECLARE", "ELSE", "LOOP", "EXCEPTION", "ATOMIC"})
_PL_COND = {"IF": "THEN", "ELSIF": "THEN", "WHEN": "THEN", "WHILE": "LOOP"}
_PL_SKIP = frozenset({"END", "RAISE", "NULL", "EXIT", "CONTINUE", "GET", "OPEN", "CLOSE", "FETCH", "ASSERT"})
_BEGIN = re.compile(r"\bBEGIN\b", re.IGNORECASE)
_ASSIGN = re.compile(r"^[A-Za-z_][\w.]*\s*(?::=|=)\s*")


def _pl_statements(chunk: str) -> list[str] | None:
    """The SQL statements in one ``;``-separated piece of PL/pgSQL (control words
    dropped, ``PERFORM`` read as ``SELECT``); None when the piece is not readable."""
    out: list[str] = []
    t = chunk.strip()
    while t:
        parts = t.split(None, 1)
        w = parts[0].upper()
        rest = parts[1] if len(parts) > 1 else ""
        if w.startswith("<<") or w in _PL_OPEN:
            t = rest
            continue
        if w in _PL_SKIP:
            return out
        if w in _PL_COND:
            i = rest.upper().find(f" {_PL_COND[w]}")
            if i < 0:
                return out
            t = rest[i + len(_PL_COND[w]) + 1 :]
            continue
        if w == "FOR":
            up = rest.upper()
            i, j = up.find(" IN "), up.rfind(" LOOP")
            if i >= 0 and j > i:
                out.append(rest[i + 4 : j])
                t = rest[j + 5 :]
                continue
            return None
        if w == "EXECUTE":
            lit = rest.strip().rstrip(";").strip()
            # EXECUTE 'literal' runs the literal; anything built at run time is unreadable.
            if len(lit) >= 2 and lit[0] == lit[-1] == "'" and "'" not in lit[1:-1].replace("''", ""):
                out.append(lit[1:-1].replace("''", "'"))
                return out
            return None
        if w == "PERFORM":
            out.append("SELECT " + rest)
        elif w == "RETURN":
            body = rest[6:] if rest.upper().startswith("QUERY ") else rest
            if body.strip():
                out.append(body if rest.upper().startswith("QUERY ") else "SELECT " + body)
        elif _ASSIGN.match(t) and not t.upper().startswith(("SET ", "UPDATE ")):
            out.append("SELECT " + t[_ASSIGN.match(t).end() :])  # type: ignore[union-attr]
        else:
            out.append(t)
        return out
    return out


def _procedural(body: str, acc: _Acc, where: str) -> None:
    """Analyze a procedural body statement by statement; what we cannot read escalates."""
    unread = 0
    chunks = _split_statements(body)
    if chunks and chunks[0].lstrip().upper().startswith("DECLARE"):
        # Declarations run up to BEGIN; the statements start after it.
        for i, chunk in enumerate(chunks):
            m = _BEGIN.search(chunk)
            if m:
                chunks = [chunk[m.end() :], *chunks[i + 1 :]]
                break
        else:
            chunks = []
    for chunk in chunks:
        stmts = _pl_statements(chunk)
        if stmts is None:
            unread += 1
            continue
        for st in stmts:
            if acc.depth >= _MAX_DEPTH:
                unread += 1
                continue
            sub = _parse(st, acc.dialect or "postgres", acc.depth + 1)
            if sub.error:
                unread += 1
            acc.merge(sub, where)
    if unread:
        acc.hit(
            "sql.dynamic",
            f"{where} holds {unread} statement(s) the analyzer cannot read; it is not run unseen",
            body[:120],
        )


def _split_statements(body: str) -> list[str]:
    """*body* split at the semicolons outside strings, quoted names and comments."""
    out: list[str] = []
    start = 0
    for m in _PL_TOKENS.finditer(body):
        if m.group() == ";":
            out.append(body[start : m.start()])
            start = m.end()
    out.append(body[start:])
    return [c for c in out if c.strip()]


# Strings, quoted names, comments (skipped whole, possessively: linear) and semicolons.
_PL_TOKENS = re.compile(
    r"'(?:[^']|'')*+(?:'|$)|\"[^\"]*+(?:\"|$)|--[^\n]*+|/\*(?:[^*]|\*(?!/))*+(?:\*/|$)|\$\w*\$|;",
    re.DOTALL,
)


def _nested(text: str, acc: _Acc, where: str) -> None:
    if acc.depth >= _MAX_DEPTH:
        acc.hit("sql.dynamic", f"{where} nests dynamic SQL too deeply to analyze", text[:120])
        return
    sub = _parse(text, acc.dialect, acc.depth + 1)
    if sub.error:
        acc.hit("sql.dynamic", f"{where} runs SQL that does not parse ({sub.error})", text[:120])
    acc.merge(sub, where)


_PRIV_OBJECTS = ("USER", "ROLE", "LOGIN", "GROUP")


def _command(cmd: exp.Command, acc: _Acc) -> None:
    """Statements sqlglot keeps as raw text: dispatch on the leading keyword(s)."""
    kw = str(cmd.this or "").upper()
    rest_e = cmd.expression
    rest = (
        rest_e.name
        if isinstance(rest_e, exp.Literal)
        else (rest_e.sql() if isinstance(rest_e, exp.Expression) else str(rest_e or ""))
    )
    words = rest.split(None, 3)
    w0 = words[0].upper() if words else ""
    w1 = words[1].upper() if len(words) > 1 else ""
    text = f"{kw} {rest}".strip()
    if kw in ("CREATE", "ALTER", "DROP", "RENAME") and w0 in _PRIV_OBJECTS:
        acc.klass("dcl")
        acc.hit("sql.privilege", f"{kw} {w0} changes database accounts or roles", text, grant_op="configure")
    elif kw == "SET" and (w0 == "ROLE" or (w0 == "SESSION" and w1 in ("AUTHORIZATION", "ROLE")) or w0 == "PASSWORD"):
        acc.klass("dcl")
        acc.hit(
            "sql.privilege",
            "SET ROLE / SESSION AUTHORIZATION / PASSWORD switches identity or credentials",
            text,
            grant_op="configure",
        )
    elif kw == "CREATE" and w0 == "EXTENSION":
        acc.klass("ddl")
        ext = next((w for w in rest.split()[1:] if w.upper() not in ("IF", "NOT", "EXISTS")), "").strip('"').lower()
        if ext in vocab.DANGEROUS_EXT:
            acc.hit(
                "sql.os_command",
                f"CREATE EXTENSION {ext} gives SQL access to files, the network or untrusted code",
                text,
            )
    elif kw in ("CREATE", "ALTER") and _routine_kind(words) is not None:
        acc.klass("ddl")
        body, lang = _routine_text(rest)
        kind = _routine_kind(words)
        if body is None and lang is None:
            acc.hit("sql.unrecognized", f"{kw} {kind} is not understood by the analyzer; review it", text)
        else:
            _routine(f"CREATE {kind}", lang or "sql", body, acc)
    elif kw in ("CREATE", "ALTER", "DROP"):
        acc.klass("ddl_drop" if kw == "DROP" else "ddl")
        if kw == "DROP":
            acc.hit("sql.drop", f"DROP {w0} destroys a database object", text)
        elif kw == "ALTER":
            acc.hit(
                "sql.alter",
                f"ALTER {w0} changes {'server configuration' if w0 == 'SYSTEM' else 'the schema'}; not for agents",
                text,
                grant_op="configure",
            )
        else:
            acc.hit("sql.unrecognized", f"CREATE {w0} is not understood by the analyzer; review it", text)
    elif kw == "EXPLAIN":
        analyze = w0 in ("ANALYZE", "ANALYSE") or (
            rest.lstrip().startswith("(") and "ANALY" in rest.upper().split(")", 1)[0]
        )
        inner = rest.lstrip()
        if inner.startswith("("):
            inner = inner.split(")", 1)[1] if ")" in inner else ""
        for opt in ("ANALYZE", "VERBOSE", "ANALYSE"):
            if inner.lstrip().upper().startswith(opt):
                inner = inner.lstrip()[len(opt) :]
        sub = _parse(inner, acc.dialect, acc.depth + 1) if acc.depth < _MAX_DEPTH else None
        if sub is None or sub.error:
            acc.klass("read")
            return
        if analyze:  # EXPLAIN ANALYZE executes the statement
            acc.merge(sub, "EXPLAIN ANALYZE")
        else:
            acc.klass("read")
            acc.reads.extend((*sub.tables_read, *sub.tables_written))
    elif kw == "PREPARE":
        # MySQL: PREPARE s FROM 'text' | @var; PostgreSQL: PREPARE q [(types)] AS statement
        m = re.search(r"\bFROM\s+'((?:[^']|'')*)'\s*$", rest, re.IGNORECASE | re.DOTALL)
        m2 = re.search(r"\bAS\s+(.*)$", rest, re.IGNORECASE | re.DOTALL)
        acc.klass("admin")
        if m:
            _nested(m.group(1).replace("''", "'"), acc, "PREPARE")
        elif m2 and not re.search(r"\bFROM\s+@", rest, re.IGNORECASE):
            _nested(m2.group(1), acc, "PREPARE")
        else:
            acc.hit("sql.dynamic", "PREPARE from a variable builds SQL we cannot see; inline the statement", text)
    elif kw in ("EXECUTE", "EXEC") and w0 == "IMMEDIATE":
        acc.klass("admin")
        m = re.fullmatch(r"\s*IMMEDIATE\s+'((?:[^']|'')*)'\s*;?\s*", rest, re.IGNORECASE | re.DOTALL)
        if m:  # EXECUTE IMMEDIATE 'literal' (Oracle, BigQuery, Snowflake): analyze the literal
            _nested(m.group(1).replace("''", "'"), acc, "EXECUTE IMMEDIATE")
        else:
            acc.hit("sql.dynamic", "EXECUTE IMMEDIATE of an expression runs SQL we cannot see; inline it", text)
    elif kw in ("EXECUTE", "EXEC"):
        acc.klass("exec")
        if acc.dialect != "tsql" and acc.depth < _MAX_DEPTH:
            # EXEC proc / EXEC('...') is T-SQL; other dialects keep it as raw text.
            sub = _parse(text, "tsql", acc.depth + 1)
            if sub.error is None:
                acc.merge(sub, None)
                return
        acc.hit("sql.dynamic", "EXECUTE runs a prepared or dynamic statement we cannot see; inline it", text)
    elif kw == "DO":
        acc.klass("exec")
        body, lang = _routine_text(rest)
        if body is None:
            acc.hit("sql.dynamic", "DO runs an anonymous procedural block the analyzer cannot inspect", text)
        else:
            _routine("DO", lang or "plpgsql", body, acc)
    elif kw == "LOAD":
        acc.klass("admin")
        if w0 == "DATA":
            acc.hit("sql.file_access", "LOAD DATA reads a file into the database", text)
        else:
            acc.hit("sql.os_command", "LOAD loads a shared library into the database server", text)
    elif kw == "REPLACE":
        acc.klass("write")
        sub = _parse("INSERT " + rest, acc.dialect, acc.depth + 1) if acc.depth < _MAX_DEPTH else None
        if sub is not None and not sub.error:
            acc.merge(sub, "REPLACE")
    elif kw == "GRANT" or kw == "REVOKE":
        acc.klass("dcl")
        acc.hit("sql.privilege", f"{kw} changes database privileges", text, grant_op="configure")
    elif kw.lower() in vocab.COMMAND_CLASS:
        acc.klass(vocab.COMMAND_CLASS[kw.lower()])
        if kw == "SET" and w0 == "GLOBAL":
            acc.klass("admin")
            acc.hit("sql.alter", "SET GLOBAL changes server configuration", text, grant_op="configure")
    else:
        acc.klass("admin")
        acc.hit("sql.unrecognized", f"{kw} is not a statement the analyzer understands; review it", text)


def _routine_kind(words: list[str]) -> str | None:
    """FUNCTION or PROCEDURE when the raw CREATE [OR REPLACE] text defines one."""
    ws = [w.upper() for w in words[:3]]
    if ws[:2] == ["OR", "REPLACE"]:
        ws = ws[2:]
    return ws[0] if ws and ws[0] in ("FUNCTION", "PROCEDURE") else None


_LANGUAGE = re.compile(r"\bLANGUAGE\s+'?([A-Za-z0-9_]+)", re.IGNORECASE)


def _routine_text(rest: str) -> tuple[str | None, str | None]:
    """The body (dollar-quoted or a string literal after AS) and language of a routine."""
    m = _LANGUAGE.search(rest)
    lang = m.group(1).lower() if m else None
    i = rest.find("$")
    while i >= 0:
        j = rest.find("$", i + 1)
        if j < 0:
            break
        tag = rest[i : j + 1]
        if tag[1:-1].replace("_", "a").isalnum() or tag == "$$":
            end = rest.find(tag, j + 1)
            if end >= 0:
                return rest[j + 1 : end], lang
            return None, lang
        i = rest.find("$", i + 1)
    up = rest.upper()
    k = up.find(" AS '")
    if k < 0 and up.startswith("'"):
        k = -4
    if k >= -4 and (k >= 0 or up.startswith("'")):
        start = k + 5 if k >= 0 else 1
        body: list[str] = []
        n = start
        while n < len(rest):
            c = rest[n]
            if c == "'":
                if rest[n + 1 : n + 2] == "'":
                    body.append("'")
                    n += 2
                    continue
                return "".join(body), lang
            body.append(c)
            n += 1
    return None, lang


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
