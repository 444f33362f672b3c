"""SQL analyzer: parse once with sqlglot, walk the AST once, report what the SQL does.

Every SQL string reaching a tool (declared by the tool spec, implied by the tool
or argument name, or sniffed in any string argument) is parsed with sqlglot into
statements. Each statement gets a class (``read``, ``write``, ``delete``, ``ddl``,
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
sql.delete_all         BLOCK (critical)    DELETE with no WHERE empties the table
sql.update_all         BLOCK (high)        UPDATE with no WHERE rewrites every row
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
sql.dynamic            ESCALATE (high)     EXEC(@s), PREPARE … FROM @v, EXECUTE name, DO blocks:
                                           the SQL that runs is not in the text we see
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
* Catalog reads (``information_schema``, ``pg_catalog``, ``sys``,
  ``sqlite_master``) are metadata discovery: exempt from the allowed-table list,
  but not from denied resources nor from the credential rules.

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

import functools
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.tokens import Token, TokenType  # type: ignore[attr-defined]  # re-exported from tokenizer_core

from agentgate._call import ToolCall
from agentgate._decision import Effect, Finding, Severity
from agentgate.analyzers import _sqlfold as fold
from agentgate.analyzers import _sqlvocab as vocab
from agentgate.analyzers.base import Context
from agentgate.policy import match_resource

__all__ = ["Hit", "SqlAnalysis", "Statement", "analyze_sql", "parse_fragment", "parse_sql"]


class _DropCommandFallback(logging.Filter):
    """sqlglot logs a warning for every statement it keeps as raw text (CREATE ROLE,
    EXPLAIN, ...). We handle those statements ourselves; the warning would only
    flood the host application's logs, once per analyzed call."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


_sqlglot_logger = logging.getLogger("sqlglot")
if not any(isinstance(f, _DropCommandFallback) for f in _sqlglot_logger.filters):
    _sqlglot_logger.addFilter(_DropCommandFallback())


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


# ------------------------------------------------------------------ vocabularies

_CLASS_OP = {"read": "read", "write": "write", "delete": "delete", "ddl": "admin", "dcl": "admin", "admin": "admin"}
_CLASS_RANK = {
    "": -1,
    "session": 0,
    "transaction": 0,
    "read": 1,
    "write": 2,
    "delete": 3,
    "ddl": 4,
    "dcl": 5,
    "admin": 6,
}


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MAX_LEN = 200_000
_MAX_DEPTH = 3


# ------------------------------------------------------------------------ parse


@functools.lru_cache(maxsize=4096)
def parse_sql(text: str, dialect: str | None = None, guess: bool = True) -> SqlAnalysis:
    """Parse *text* (in *dialect*, or guessing among the common ones) and analyze it.

    With no *dialect*, sqlglot's default dialect is tried, then (when *guess*)
    PostgreSQL, MySQL, T-SQL and SQLite. Cached per ``(text, dialect, guess)``. Never raises: a text that does not parse
    comes back with ``error`` set (and any hits the token stream alone proves,
    such as ``INTO OUTFILE``).

    >>> parse_sql("DELETE FROM sessions WHERE expires_at < now()").statements[0].sql_class
    'delete'
    >>> [h.rule for h in parse_sql("SELECT * FROM users INTO OUTFILE '/tmp/x'").hits]
    ['sql.file_access']
    """
    return _parse(text, dialect, 0, guess)


_MYSQL_EXEC_COMMENT = re.compile(r"/\*!\d*(.*?)\*/", re.DOTALL)


def _parse(text: str, dialect: str | None, depth: int, guess: bool = True) -> SqlAnalysis:
    if len(text) > _MAX_LEN:
        return SqlAnalysis(
            dialect, (), (), f"SQL text of {len(text)} characters exceeds the {_MAX_LEN}-character analysis limit"
        )
    if "/*!" in text and dialect in (None, "mysql", "singlestore", "doris", "starrocks"):
        # MySQL runs the body of /*! ... */ comments: analyze what it runs.
        text = _MYSQL_EXEC_COMMENT.sub(r" \1 ", text)
    parsed = _statements(text, dialect, guess)
    if isinstance(parsed, SqlAnalysis):
        return parsed
    stmts, d = parsed
    return _analyze(stmts, d, depth, text) if stmts else SqlAnalysis(d, (), ())


_local = threading.local()


def _engine(dialect: str | None) -> tuple[Any, Any]:
    """This thread's tokenizer and parser for *dialect*: building them costs more
    than tokenizing a short query, and both reset their state on every call."""
    cache: dict[str | None, tuple[Any, Any]] | None = getattr(_local, "engines", None)
    if cache is None:
        cache = _local.engines = {}
    engine = cache.get(dialect)
    if engine is None:
        dia = Dialect.get_or_raise(dialect)
        engine = cache[dialect] = (dia.tokenizer(), dia.parser())
    return engine


def _statements(
    text: str, dialect: str | None, guess: bool = True
) -> tuple[list[exp.Expression], str | None] | SqlAnalysis:
    """Parse *text* into statements, trying the common dialects when none is given;
    a failure comes back as an SqlAnalysis carrying the error."""
    candidates: tuple[str | None, ...] = (
        (dialect,) if dialect or not guess else (None, "postgres", "mysql", "tsql", "sqlite")
    )
    first_error: str | None = None
    first_tokens: list[Token] | None = None
    for d in candidates:
        try:
            tokenizer, parser = _engine(d)
        except (ValueError, SqlglotError) as e:
            return SqlAnalysis(d, (), (), f"unknown SQL dialect {d!r}: {e}")
        try:
            tokens = tokenizer.tokenize(text)
        except (TokenError, SqlglotError) as e:
            first_error = first_error or _describe(e)
            continue
        if first_tokens is None:
            first_tokens = tokens
        try:
            trees = parser.parse(tokens, text)
        except (ParseError, SqlglotError) as e:
            first_error = first_error or _describe(e)
            continue
        except RecursionError:
            first_error = first_error or "SQL nests too deeply to analyze"
            continue
        # A trailing "; -- comment" parses as an empty Semicolon statement: not a statement.
        stmts: list[exp.Expression] = [
            t for t in trees if isinstance(t, exp.Expression) and not isinstance(t, exp.Semicolon)
        ]
        bad = next((t for t in stmts if not _is_statement(t)), None)
        if bad is not None:
            first_error = first_error or f"not a SQL statement: {text[:60]!r}"
            continue
        return stmts, d
    hits = _token_hits(first_tokens) if first_tokens else ()
    return SqlAnalysis(dialect, (), hits, first_error or "empty or invalid SQL")


# A value can only leave its slot through a quote, a statement separator, a comment,
# a UNION or a boolean operator followed by a comparison ("5 OR 1=1").
_BREAKOUT = re.compile(
    r"['\";]|--|/\*|\bunion\b|\b(?:or|and)\b\s+\S+\s*(?:=|<|>|!|\blike\b)|\b(?:or|and)\s+true\b", re.IGNORECASE
)

# Where interpolated values land: inside a string literal, or as a WHERE expression.
# These are analysis frames, never executed.
_FRAME = "__agentgate_frame"
_FRAMES = (
    ("string", f"SELECT * FROM {_FRAME} WHERE {_FRAME}_c = '", "'"),  # noqa: S608
    ("expression", f"SELECT * FROM {_FRAME} WHERE ", ""),  # noqa: S608
)


@functools.lru_cache(maxsize=2048)
def parse_fragment(text: str, dialect: str | None = None) -> SqlAnalysis | None:
    """Analyze *text* as a value interpolated into a query (SQL injection).

    A sniffed value that is not a statement of its own ("x' UNION SELECT ...",
    "1=1; DROP TABLE t; --") is placed where such values land: inside a string
    literal and as a WHERE expression. If it then parses and breaks out of its
    slot (ends the literal, adds a UNION or more statements, or carries a rule
    hit), the analysis of the framed query is returned with an ``sql.injection``
    hit; otherwise None (it is just text: "O'Brien" does not parse in either frame).

    >>> [h.rule for h in parse_fragment("x' OR 'a'='a").hits]
    ['sql.tautology', 'sql.injection']
    >>> parse_fragment("O'Brien") is None
    True
    """
    if len(text) > 4096 or not _BREAKOUT.search(text):
        return None
    for slot, head, tail in _FRAMES:
        parsed = _statements(head + text + tail, dialect, guess=False)
        if isinstance(parsed, SqlAnalysis) or not parsed[0]:
            continue
        stmts, d = parsed
        first = stmts[0]
        where = first.args.get("where") if isinstance(first, exp.Select) else None
        broke = len(stmts) > 1 or not isinstance(first, exp.Select)
        if slot == "string" and not broke:
            cond = where.this if where is not None else None
            lit = cond.expression if isinstance(cond, exp.EQ) else None
            # The literal must hold the whole value; "admin'--" closes it early and
            # comments out the rest of the query.
            broke = not isinstance(lit, exp.Literal) or lit.this not in (
                text,
                text.replace("''", "'"),
                text.replace("\\'", "'"),
            )
        a = _analyze(stmts, d, 1, text)
        if any(st.raw for st in a.statements):
            continue  # raw text after the value ("...; drop by tomorrow") is prose, not SQL
        if not broke and not any(h.effect is not Effect.INFO for h in a.hits):
            continue
        how = (
            "adds statements or a UNION to"
            if len(stmts) > 1 or not isinstance(first, exp.Select)
            else ("breaks out of the string literal of" if slot == "string" else "rewrites the condition of")
        )
        inj = Hit(
            "sql.injection",
            Severity.HIGH,
            Effect.BLOCK,
            f"the value {how} the query it is interpolated into: a SQL injection payload",
            text[:120],
        )
        hits = tuple(h for h in a.hits if h.rule != "sql.stacked")
        stmts_out = tuple(
            Statement(
                st.kind,
                st.sql_class,
                st.operation,
                tuple(t for t in st.reads if t != _FRAME),
                tuple(t for t in st.writes if t != _FRAME),
                st.raw,
            )
            for st in a.statements
        )
        return SqlAnalysis(d, stmts_out, (*hits, inj))
    return None


def _describe(e: Exception) -> str:
    errors = getattr(e, "errors", None)
    if errors:
        first = errors[0]
        return _ANSI.sub("", f"{first.get('description')} at line {first.get('line')}, column {first.get('col')}")
    return _ANSI.sub("", str(e).splitlines()[0] if str(e) else type(e).__name__)


def _is_statement(t: exp.Expression) -> bool:
    # A bare function call or column ("EXEC(@s)" in the default dialect) parses as an
    # expression, not a statement: try another dialect.
    return isinstance(t, exp.Query) or not isinstance(t, (exp.Condition, exp.Alias, exp.Identifier, exp.Paren))


_TOKEN_FILE_WORDS = {
    "OUTFILE": "INTO OUTFILE writes a file on the database server",
    "DUMPFILE": "INTO DUMPFILE writes a file on the database server",
    "INFILE": "LOAD DATA INFILE reads a file into the database",
    "OPENROWSET": "OPENROWSET reads files or remote data sources",
    "OPENDATASOURCE": "OPENDATASOURCE connects to remote data sources",
}


def _token_hits(tokens: Sequence[Token]) -> tuple[Hit, ...]:
    """What the token stream alone proves, for text the parser rejects (MySQL's
    ``INTO OUTFILE`` is not in sqlglot's grammar). Comments and strings are
    already separate tokens, so ``'INTO OUTFILE'`` in a literal does not count."""
    out: list[Hit] = []
    for i, tok in enumerate(tokens):
        if tok.token_type in (TokenType.STRING, TokenType.NATIONAL_STRING, TokenType.HEX_STRING):
            continue
        word = tok.text.upper()
        if word in _TOKEN_FILE_WORDS:
            out.append(
                Hit(
                    "sql.file_access",
                    Severity.CRITICAL,
                    Effect.BLOCK,
                    _TOKEN_FILE_WORDS[word] + "; not allowed from an agent",
                    word,
                )
            )
        elif word == "BULK" and i + 1 < len(tokens) and tokens[i + 1].token_type is TokenType.INSERT:
            out.append(
                Hit(
                    "sql.file_access",
                    Severity.CRITICAL,
                    Effect.BLOCK,
                    "BULK INSERT reads a server file into a table",
                    "BULK INSERT",
                )
            )
        elif word.lower() in vocab.OS_PROCS or word.lower() in vocab.OS_FUNCS:
            out.append(
                Hit(
                    "sql.os_command",
                    Severity.CRITICAL,
                    Effect.BLOCK,
                    f"{tok.text} runs code outside the database",
                    tok.text,
                )
            )
        elif word.lower() in vocab.FILE_FUNCS and i + 1 < len(tokens) and tokens[i + 1].token_type is TokenType.L_PAREN:
            out.append(
                Hit(
                    "sql.file_access",
                    Severity.CRITICAL,
                    Effect.BLOCK,
                    f"{tok.text}() touches files on the database server",
                    tok.text,
                )
            )
    return tuple(dict.fromkeys(out))


# ---------------------------------------------------------------------- analyze


#: rule -> default (severity, effect); see the module docstring for why.
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
            acc.hit("sql.alter", f"PRAGMA {name} lets SQL rewrite the schema table itself", acc.text, grant_op="admin")
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
                grant_op="admin",
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
                    grant_op="admin",
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
    acc.hit("sql.truncate", f"TRUNCATE empties {names}; not reversible", acc.text, grant_op="delete")


def _on_alter(node: exp.Alter, acc: _Acc) -> None:
    acc.klass("ddl")
    _target(node.this, acc)
    what = f"{node.args.get('kind') or ''} {_tname(node.this) if isinstance(node.this, exp.Table) else ''}".strip()
    acc.hit(
        "sql.alter",
        f"ALTER {what} changes the schema; run it as a reviewed migration",
        acc.text,
        grant_op="admin",
    )


def _on_grant(node: exp.Expression, acc: _Acc) -> None:
    acc.klass("dcl")
    _target(node.args.get("securable"), acc)
    verb = "GRANT" if isinstance(node, exp.Grant) else "REVOKE"
    acc.hit(
        "sql.privilege",
        f"{verb} changes database privileges; an agent must not grant or revoke access",
        acc.text,
        grant_op="admin",
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


def _function(f: exp.Func, acc: _Acc) -> None:
    name = (f.name if isinstance(f, exp.Anonymous) else f.sql_name()).lower()
    if name in vocab.FILE_READERS:
        # DuckDB-style readers are how analytics agents load their own data files;
        # only a path outside the working tree is an escape.
        path = next((a.name for a in (f.this, *f.expressions) if isinstance(a, exp.Literal) and a.is_string), "")
        if path.startswith(("/", "~", "\\")) or ".." in path or re.match(r"[A-Za-z]:[\\/]", path):
            acc.hit("sql.file_access", f"{name}() reads {path!r}, outside the working tree", acc.text)
    elif name in vocab.FILE_FUNCS:
        acc.hit("sql.file_access", f"{name}() reads or writes files on the database server", acc.text)
    elif name in vocab.OS_FUNCS:
        acc.hit("sql.os_command", f"{name}() loads or runs code outside the database", acc.text)
    elif name in vocab.NET_FUNCS:
        acc.hit("sql.network", f"{name}() opens a connection out of the database server", acc.text)


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
    acc.klass("ddl")
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
        grant_op="admin",
    )


def _create(node: exp.Create, acc: _Acc) -> None:
    kind = str(node.args.get("kind") or "").upper()
    acc.klass("ddl")
    this = node.this
    if kind in ("FUNCTION", "PROCEDURE"):
        if isinstance(this, exp.UserDefinedFunction) and isinstance(this.this, exp.Table):
            acc.skip_ids.add(id(this.this))  # the function's name is not a table
        props = node.args.get("properties")
        for p in props.expressions if props is not None else ():
            if isinstance(p, exp.LanguageProperty) and p.name.lower() in vocab.UNTRUSTED_LANGS:
                acc.hit(
                    "sql.os_command",
                    f"CREATE {kind} in the untrusted language {p.name} runs arbitrary code on the database host",
                    p.name,
                )
        return  # the function's name is not a table; its body is not executed now
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
    acc.klass("admin")
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
            grant_op="admin",
        )
    elif proc in vocab.PRIV_PROCS:
        acc.hit(
            "sql.privilege",
            f"{proc} changes logins or role membership",
            acc.text,
            grant_op="admin",
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
                grant_op="admin",
            )
    elif name in ("role", "session_authorization"):
        acc.klass("dcl")
        acc.hit(
            "sql.privilege",
            "SET ROLE / SESSION AUTHORIZATION switches identity",
            acc.text,
            grant_op="admin",
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
        acc.hit("sql.privilege", f"{kw} {w0} changes database accounts or roles", text, grant_op="admin")
    elif kw == "SET" and (w0 == "ROLE" or (w0 == "SESSION" and w1 in ("AUTHORIZATION", "ROLE")) or w0 == "PASSWORD"):
        acc.klass("dcl")
        acc.hit(
            "sql.privilege",
            "SET ROLE / SESSION AUTHORIZATION / PASSWORD switches identity or credentials",
            text,
            grant_op="admin",
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
    elif kw in ("CREATE", "ALTER", "DROP"):
        acc.klass("ddl")
        if kw == "DROP":
            acc.hit("sql.drop", f"DROP {w0} destroys a database object", text, grant_op="admin")
        elif kw == "ALTER":
            acc.hit(
                "sql.alter",
                f"ALTER {w0} changes {'server configuration' if w0 == 'SYSTEM' else 'the schema'}; not for agents",
                text,
                grant_op="admin",
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
        acc.klass("admin")
        if acc.dialect != "tsql" and acc.depth < _MAX_DEPTH:
            # EXEC proc / EXEC('...') is T-SQL; other dialects keep it as raw text.
            sub = _parse(text, "tsql", acc.depth + 1)
            if sub.error is None:
                acc.merge(sub, None)
                return
        acc.hit("sql.dynamic", "EXECUTE runs a prepared or dynamic statement we cannot see; inline it", text)
    elif kw == "DO":
        acc.klass("admin")
        acc.hit("sql.dynamic", "DO runs an anonymous procedural block the analyzer cannot inspect", text)
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
        acc.hit("sql.privilege", f"{kw} changes database privileges", text, grant_op="admin")
    elif kw.lower() in vocab.COMMAND_CLASS:
        acc.klass(vocab.COMMAND_CLASS[kw.lower()])
        if kw == "SET" and w0 == "GLOBAL":
            acc.klass("admin")
            acc.hit("sql.alter", "SET GLOBAL changes server configuration", text, grant_op="admin")
    else:
        acc.klass("admin")
        acc.hit("sql.unrecognized", f"{kw} is not a statement the analyzer understands; review it", text)


# ----------------------------------------------------------------- the analyzer

_GRANTABLE = frozenset(
    {"sql.drop", "sql.truncate", "sql.alter", "sql.privilege", "sql.delete_all", "sql.update_all", "sql.tautology"}
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
    parts = name.lower().split(".")
    return parts[-1] in vocab.CATALOG_TABLES or any(p in vocab.CATALOG_SCHEMAS for p in parts[:-1])


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
