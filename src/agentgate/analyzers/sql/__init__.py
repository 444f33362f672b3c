"""SQL analyzer: parse with sqlglot, walk the AST once, report what the SQL does.

Every SQL string reaching a tool (declared by the tool spec, implied by the tool
or argument name, or sniffed in any string argument) is parsed with sqlglot into
statements. With no dialect configured, a text holding a token the databases
read differently (``#``, ``--`` without a space, nested or executable ``/*! */``
and ``/*M! */`` comments, backslashes in strings, dollar quotes) is read once per
dialect family (PostgreSQL, MySQL/MariaDB, SQLite, T-SQL) and every reading's
findings count: what one database executes is never lost to what another calls
a comment (proved against the real PostgreSQL, MariaDB and SQLite in the tests). Each statement gets a class (``read``, ``write``, ``delete``, ``ddl``,
``dcl``, ``admin``, ``session``, ``transaction``), the tables it reads and writes
(through CTEs, subqueries, joins, schema-qualified and quoted names; CTE names
are not tables, but a CTE that shadows a table still reads the real table in its
own body), and the rule hits below. Obfuscation (comments, case, whitespace,
quoting, hex) disappears in the tokenizer and parser, so no rule is a keyword
regex: ``WHERE note = 'DROP TABLE'`` is a string literal, ``drop_off_date`` a
column. Parsed results are cached per ``(text, dialect)`` in a bounded LRU.

=====================  ==================  ===================================================
rule                   effect              why
=====================  ==================  ===================================================
sql.drop               BLOCK (critical)    DROP destroys objects and their data; no undo
sql.truncate           BLOCK (critical)    TRUNCATE empties a table without row-level undo
sql.alter              BLOCK (high)        schema/server changes belong in reviewed migrations
sql.delete_all         BLOCK (critical)    DELETE with no real bound: no WHERE, or one where no
                                           conjunct compares a column to a value (``id <> 0``,
                                           ``NOT (id = 5)``, ``x IS NOT NULL``, ``id IN (SELECT id
                                           FROM t)``); we do not try to prove tautologies
sql.update_all         BLOCK (high)        UPDATE with no real bound, the same way
sql.tautology          BLOCK / ESCALATE    an always-true WHERE (``1=1``, ``'a'='a'``, ``OR TRUE``)
                                           in DELETE/UPDATE hits every row (BLOCK); ``x OR 1=1``
                                           in a SELECT is the injection signature, and a lone
                                           ``id > 0`` / ``IS NOT NULL`` likely hits every row
                                           (ESCALATE: not provably constant)
sql.privilege          BLOCK / ESCALATE    GRANT/REVOKE, CREATE/ALTER/DROP USER|ROLE, SET ROLE
                                           (BLOCK); ``SET role = 'admin'`` in application data
                                           (ESCALATE: an admin agent may mean it)
sql.file_access        BLOCK (critical)    server-side files: COPY to/from a path, pg_read_file,
                                           lo_import, LOAD_FILE, INTO OUTFILE/DUMPFILE, ATTACH
sql.os_command         BLOCK (critical)    code outside the database: COPY … PROGRAM,
                                           xp_cmdshell, load_extension, untrusted languages
sql.network            BLOCK (high)        connections out of the server (dblink, OPENQUERY)
sql.credential_read    BLOCK / ESCALATE    system credential catalogs (pg_shadow, mysql.user:
                                           BLOCK); password/token/key columns or tables of the
                                           application (ESCALATE: rarely legitimate, judge it)
sql.credential_write   ESCALATE (high)     UPDATE … SET password_hash = …: account takeover shape
sql.dynamic            ESCALATE (high)     EXEC(@s), PREPARE … FROM @v, EXECUTE name, procedural
                                           statements we cannot read: the SQL that runs is not
                                           in the text we see (``EXEC('…')``, ``sp_executesql``,
                                           ``query_to_xml('…')``, ``dblink(…, '…')``, SQL and
                                           PL/pgSQL function and DO bodies are read and judged)
sql.server_control     BLOCK (high)        other sessions and the server: pg_terminate_backend,
                                           pg_cancel_backend, pg_reload_conf, replication slots;
                                           a guard setting switched off by SET or set_config
                                           (session_replication_role = replica, row_security,
                                           log_statement, sql_log_bin, foreign_key_checks)
sql.function           ESCALATE (medium)   a VOLATILE built-in with side effects (lo_creat) or a
                                           delay (pg_sleep, SLEEP, BENCHMARK). A function that
                                           no engine lists as a built-in is user code: the
                                           statement counts as a change, not a read (INFO)
sql.stacked            ESCALATE / INFO     several statements where a read pivots into a change
                                           is the stacked-injection shape (ESCALATE); other
                                           scripts (BEGIN; UPDATE …; COMMIT) are noted (INFO)
sql.unparsable         ESCALATE (medium)   SQL we cannot parse is never allowed unseen
sql.unrecognized       ESCALATE (medium)   a statement sqlglot keeps as raw text that we do not
                                           know to be harmless
sql.injection          BLOCK (high)        a value in a non-SQL tool that, framed as a string
                                           literal or a WHERE expression, breaks out of it
                                           (``x' UNION SELECT …``, ``1; DROP TABLE t``)
sql.scope_operation    BLOCK (high)        a statement's operation is outside the scope
sql.scope_table        BLOCK (high)        a table (in the SQL, or a table argument) is outside
                                           the scope's allowed resources, or denied
=====================  ==================  ===================================================

Context changes effects, never silently to ALLOW:

* A scope that explicitly grants the operation (``allowed_operations: [admin]``
  for DROP, ``[delete]`` for a full DELETE, ``[write]`` for a full UPDATE)
  downgrades the destructive rules (drop, truncate, alter, privilege,
  delete_all, update_all, tautology) from BLOCK to ESCALATE: the judge checks
  them against the task. Escapes and credential reads never downgrade.
* A *sniffed* string (SQL-looking text in a tool that is not a SQL tool) is not
  known to be executed: a parse failure or a statement sqlglot keeps as raw text
  ("Create a table of results") is just text, unless framing it as an
  interpolated value shows an injection (`parse_fragment`); scope checks do not
  apply; BLOCK findings become ESCALATE (an injection stays BLOCK); in tools
  that only carry text (file, e-mail, message tools) every finding is INFO.
* Metadata catalog reads (``information_schema``, ``pg_class``, ``pg_tables``,
  ``sys.tables``, ``sqlite_master``) are discovery: exempt from the allowed-table
  list, but not from denied resources. Catalogs that hold data, queries or
  credentials (``pg_authid``, ``pg_shadow``, ``pg_stats``, ``pg_largeobject``,
  ``pg_stat_activity``, ``mysql.user``) are tables like any other.
* Additive DDL (``CREATE TABLE [AS SELECT]``, ``CREATE INDEX``, ``CREATE VIEW``,
  ``ALTER TABLE … ADD COLUMN``/``ADD CONSTRAINT``) is a ``write``; ``OR REPLACE``,
  drops, renames and type changes stay schema changes.
* Built-in function names come from the engines themselves
  (``scripts/gen_sql_builtins.py``: PostgreSQL's IMMUTABLE/STABLE functions, MariaDB's
  help topics, SQLite's function list).

>>> from agentgate._call import ToolCall
>>> from agentgate.analyzers.base import make_context
>>> call = ToolCall("execute_sql", {"query": "DROP/**/TABLE users"})
>>> [(f.rule_id, f.effect.value) for f in analyze_sql(call, make_context(call))]
[('sql.drop', 'block')]
>>> a = parse_sql("WITH recent AS (SELECT * FROM orders) SELECT drop_off_date FROM recent JOIN shop.\\"Users\\" u ON true")
>>> a.statements[0].sql_class, a.tables_read, a.hits
('read', ('shop.Users', 'orders'), ())
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agentgate._call import ToolCall
from agentgate._decision import Effect, Finding, Severity
from agentgate.analyzers.base import Context
from agentgate.analyzers.sql import _vocab as vocab
from agentgate.analyzers.sql._parse import _parse as _parse
from agentgate.analyzers.sql._parse import parse_fragment, parse_sql
from agentgate.analyzers.sql._types import Hit, SqlAnalysis, Statement
from agentgate.policy import match_resource

# Parsing and the dialect readings live in _parse, the statement walk in _walk, function/setting/
# routine/raw-statement effects in _effects (sharing the accumulator in _acc), the result types in
# _types, constant folding and bounds in _fold, vocabularies in _vocab and engine built-ins in
# _builtins; the public names are re-exported here, where callers and tests import them
# (``_parse`` is the uncached parse the tests compare the cache against).
__all__ = ["Hit", "SqlAnalysis", "Statement", "analyze_sql", "parse_fragment", "parse_sql"]


# ----------------------------------------------------------------- the analyzer

_GRANTABLE = frozenset(
    {
        "sql.drop",
        "sql.truncate",
        "sql.alter",
        "sql.privilege",
        "sql.delete_all",
        "sql.update_all",
        "sql.tautology",
        "sql.server_control",
    }
)
_BOUND = re.compile(r"(?:params|parameters|bind|binds|bindings|bind_params|query_params|bind_values)\b", re.IGNORECASE)
_TEXT_CARRIERS = frozenset({"file", "email", "message"})


def _dialect_for(call: ToolCall, ctx: Context) -> str | None:
    spec = call.spec
    if spec is not None and spec.dialect:
        return spec.dialect
    return ctx.settings.sql_dialect


def analyze_sql(call: ToolCall, ctx: Context) -> Sequence[Finding]:
    """Analyze every SQL target of *call* (see the module docstring for the rules)."""
    policy = ctx.policy
    out: list[Finding] = []
    if policy.has_resource_rules:
        # Tables named by argument (export_table(table=...)) are checked like tables in SQL.
        for r in ctx.resources("table"):
            if not policy.allows_resource(r.value, "table"):
                pats = ", ".join(policy.resource_patterns()) or "none"
                out.append(
                    Finding(
                        "sql.scope_table",
                        Severity.HIGH,
                        Effect.BLOCK,
                        f"the call names table {r.value!r}, outside the scope (allowed: {pats})",
                        r.value,
                        r.argument,
                    )
                )
    targets = ctx.targets("sql")
    if not targets:
        return out
    dialect = _dialect_for(call, ctx)
    for tgt in targets:
        sniffed = tgt.source == "sniff"
        # Sniffed text is parsed in one dialect: prose that merely starts like SQL
        # should not pay for five failed parses.
        a = parse_sql(tgt.value, dialect, guess=not sniffed)
        ctx.scratch.setdefault("sql", {})[tgt.argument] = a
        if sniffed and ctx.classification.kind == "sql" and _BOUND.match(tgt.argument):
            continue  # a bound parameter of a SQL tool is data, never SQL text
        if sniffed:
            if a.error is not None or all(st.raw for st in a.statements):
                # Not a statement sqlglot understands: maybe a value meant to be
                # interpolated into one (injection), else just text.
                frag = parse_fragment(tgt.value, dialect)
                if frag is None:
                    continue
                a = frag
            _sniffed_findings(a, ctx, tgt.argument, out)
            continue
        if a.error is not None:
            out.append(
                Finding(
                    "sql.unparsable",
                    Severity.MEDIUM,
                    Effect.ESCALATE,
                    f"cannot parse the SQL ({a.error}); it is not run unseen",
                    tgt.value[:120],
                    tgt.argument,
                )
            )
        for h in a.hits:
            eff = h.effect
            msg = h.message
            if eff is Effect.BLOCK and h.grant_op and h.rule in _GRANTABLE and _grants(ctx, h.grant_op):
                eff = Effect.ESCALATE
                msg = f"{h.message} (escalated, not blocked: the scope grants {h.grant_op})"
            out.append(Finding(h.rule, h.severity, eff, msg, h.evidence, tgt.argument))
        if not policy.layers:
            continue
        if policy.restricts_operations:
            for st in a.statements:
                if st.operation is not None and not policy.allows_operation(st.operation):
                    out.append(
                        Finding(
                            "sql.scope_operation",
                            Severity.HIGH,
                            Effect.BLOCK,
                            f"{st.kind.upper()} is a {st.operation!r} operation, outside the scope {policy.describe()}",
                            st.kind.upper(),
                            tgt.argument,
                        )
                    )
        if policy.has_resource_rules:
            _scope_tables(a, ctx, tgt.argument, out)
    return _dedupe(out)


def _sniffed_findings(a: SqlAnalysis, ctx: Context, argument: str, out: list[Finding]) -> None:
    """Findings for SQL-looking text in a tool not declared as SQL: we do not know
    the tool runs it. Raw-text (Command) hits are prose-level evidence and dropped;
    a text-carrying tool only gets INFO notes; elsewhere BLOCK becomes ESCALATE,
    except an injection payload, which is never a legitimate value."""
    kind = ctx.classification.kind
    carrier = kind in _TEXT_CARRIERS
    for h in a.hits:
        if h.raw or h.effect is Effect.INFO:
            continue
        if carrier:
            eff, msg = (
                Effect.INFO,
                f"{h.message} (noted only: SQL-looking text carried by a {kind} tool, not run by it)",
            )
        elif h.effect is Effect.BLOCK and h.rule != "sql.injection":
            eff, msg = Effect.ESCALATE, f"{h.message} (escalated: SQL-looking text in a tool not declared as SQL)"
        else:
            eff, msg = h.effect, h.message
        out.append(Finding(h.rule, h.severity, eff, msg, h.evidence, argument))


def _grants(ctx: Context, op: str) -> bool:
    """True when some layer explicitly lists *op* (or admin) as allowed."""
    pol = ctx.policy
    return pol.restricts_operations and any(lay.allowed_operations for lay in pol.layers) and pol.allows_operation(op)


def _is_catalog(name: str) -> bool:
    """A metadata table (schemas, tables, columns, indexes): not data. Catalogs that hold
    data, queries or credentials (pg_stats, pg_largeobject, pg_authid) are not exempt."""
    parts = name.lower().split(".")
    last, quals = parts[-1], parts[:-1]
    if last in vocab.DATA_CATALOG_TABLES or last in vocab.ACTIVITY_TABLES or last in vocab.SYS_CRED_TABLES:
        return False
    if any(p in vocab.CATALOG_SCHEMAS for p in quals):
        return True
    return last in vocab.CATALOG_TABLES or (last in vocab.SYS_CATALOG_VIEWS and bool(quals) and quals[-1] == "sys")


def _scope_tables(a: SqlAnalysis, ctx: Context, argument: str, out: list[Finding]) -> None:
    pol = ctx.policy
    written = set(a.tables_written)
    for name in (*a.tables_written, *a.tables_read):
        if name not in written and _is_catalog(name):
            # Metadata discovery: not data, so the allow-list does not apply; denials do.
            denied = any(match_resource(p, name, "table") for lay in pol.layers for p in lay.denied_resources)
            if not denied:
                continue
        if not pol.allows_resource(name, "table"):
            how = "writes" if name in written else "reads"
            pats = ", ".join(pol.resource_patterns()) or "none"
            out.append(
                Finding(
                    "sql.scope_table",
                    Severity.HIGH,
                    Effect.BLOCK,
                    f"the SQL {how} table {name!r}, outside the scope (allowed: {pats})",
                    name,
                    argument,
                )
            )


def _dedupe(items: list[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, str | None]] = set()
    out: list[Finding] = []
    for f in items:
        key = (f.rule_id, f.evidence, f.argument)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
