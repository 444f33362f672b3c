"""SQL parsing for the SQL analyzer: dialect guessing, statements, injection frames, caches.

`parse_sql` parses a text once (per thread, one tokenizer and parser per
dialect) and hands the statements to the AST walk in
`agentgate.analyzers.sql._walk`; `parse_fragment` frames a value the way
interpolation would. Both are cached in bounded LRUs.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Sequence
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.tokens import Token, TokenType  # type: ignore[attr-defined]  # re-exported from tokenizer_core

from agentgate._decision import Effect, Severity
from agentgate.analyzers.sql import _vocab as vocab
from agentgate.analyzers.sql._types import Hit, SqlAnalysis, Statement
from agentgate.analyzers.sql._walk import _analyze

__all__ = ["READINGS", "divergent", "mysql_text", "parse_fragment", "parse_sql"]


class _DropCommandFallback(logging.Filter):
    """sqlglot logs a warning for every statement it keeps as raw text (CREATE ROLE,
    EXPLAIN, ...). We handle those statements ourselves; the warning would only
    flood the host application's logs, once per analyzed call."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


_sqlglot_logger = logging.getLogger("sqlglot")
if not any(isinstance(f, _DropCommandFallback) for f in _sqlglot_logger.filters):
    _sqlglot_logger.addFilter(_DropCommandFallback())

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MAX_LEN = 200_000
# Reading a text once per dialect family multiplies the parse cost: bounded tighter.
_MULTI_MAX = 4_096


# ------------------------------------------------------------------------ parse


@functools.lru_cache(maxsize=4096)
def parse_sql(text: str, dialect: str | None = None, guess: bool = True) -> SqlAnalysis:
    """Parse *text* (in *dialect*, or under every plausible dialect) and analyze it.

    With no *dialect* (and *guess*), a text holding a token the dialects read
    differently (``#``, ``--`` without a space, nested or executable ``/* */``
    comments, backslashes, dollar quotes) is parsed as PostgreSQL, MySQL/MariaDB,
    SQLite and T-SQL, and the readings are merged: every hit of every reading
    counts, so what one database executes is never lost to what another calls a
    comment. Other texts are parsed once (sqlglot's default dialect first, then
    the others until one parses). Cached per ``(text, dialect, guess)``. Never
    raises: a text that does not parse comes back with ``error`` set (and any hits
    the token stream alone proves, such as ``INTO OUTFILE``).

    >>> parse_sql("DELETE FROM sessions WHERE expires_at < now()").statements[0].sql_class
    'delete'
    >>> [h.rule for h in parse_sql("SELECT * FROM users INTO OUTFILE '/tmp/x'").hits]
    ['sql.file_access']
    >>> [h.rule for h in parse_sql("DELETE FROM users WHERE id = 7 --1 OR 1=1").hits]  # MySQL: 7 - -1 OR 1=1
    ['sql.tautology']
    """
    return _parse(text, dialect, 0, guess)


#: Dialect families whose comment, string and quoting rules differ; one reading each.
READINGS = ("postgres", "mysql", "sqlite", "tsql")
_MYSQL_FAMILY = frozenset({"mysql", "mariadb", "singlestore", "doris", "starrocks"})
_ALIASES = {"mariadb": "mysql", "postgresql": "postgres", "mssql": "tsql", "sqlserver": "tsql"}
_DOLLAR_QUOTE = re.compile(r"\$\w*\$")


def divergent(text: str) -> bool:
    """Does *text* hold a token that PostgreSQL, MySQL/MariaDB, SQLite and T-SQL read differently?"""
    if "#" in text or "\\" in text or ("$" in text and _DOLLAR_QUOTE.search(text)):
        return True
    i = text.find("/*")
    if i >= 0 and (text.startswith(("/*!", "/*M!"), i) or text.find("/*", i + 2) >= 0):
        return True
    j = text.find("--")
    while j >= 0:
        nxt = text[j + 2 : j + 3]
        if nxt and not nxt.isspace():
            return True
        j = text.find("--", j + 2)
    return False


def mysql_text(text: str) -> str:
    """*text* as MySQL and MariaDB execute it, for a tokenizer that does not know two rules:
    ``/*! ... */`` (both) and ``/*M! ... */`` (MariaDB) comments are code, run with
    their version prefix dropped; ``--`` starts a comment only before whitespace, so
    ``--1`` is two minus signs. One linear scan that knows MySQL's strings
    (backslash escapes) and comments, so a quote or comment never hides a rewrite.

    >>> mysql_text("SELECT 1 /*!50000 , 2*/ /*M!100100 , 3*/ WHERE x = 1--1 # c")
    'SELECT 1   , 2    , 3  WHERE x = 1- -1 # c'
    """
    if "/*" not in text and "--" not in text:
        return text
    out: list[str] = []
    pos = 0
    in_code = False  # inside a /*! ... */ whose body runs
    for m in _MYSQL_TOKENS.finditer(text):
        tok = m.group()
        if tok == "-":  # a minus before another minus: "--1" is - -1
            out.append(text[pos : m.end()] + " ")
            pos = m.end()
        elif tok.startswith("/*") and m.group("code") is not None:
            out.append(text[pos : m.start()] + " ")
            pos = m.end()
            in_code = True
        elif tok == "*/" and in_code:
            out.append(text[pos : m.start()] + " ")
            pos = m.end()
            in_code = False
    out.append(text[pos:])
    return "".join(out)


# One pass over what MySQL treats specially; every branch is possessive or bounded, and an
# unterminated string or comment runs to the end, so the scan is linear on any input.
_MYSQL_TOKENS = re.compile(
    r"""'(?:[^'\\]|\\(?:.|$)|'')*+(?:'|$)"""
    r"""|"(?:[^"\\]|\\(?:.|$)|"")*+(?:"|$)"""
    r"|`[^`]*+(?:`|$)"
    r"|\#[^\n]*+"
    r"|--(?:\s|$)[^\n]*+"
    r"|-(?=-)"
    r"|(?P<code>/\*M?!\d{0,6})"
    r"|/\*(?:[^*]|\*(?!/))*+(?:\*/|$)"
    r"|\*/",
    re.DOTALL,
)


def _parse(text: str, dialect: str | None, depth: int, guess: bool = True) -> SqlAnalysis:
    if len(text) > _MAX_LEN:
        return SqlAnalysis(
            dialect, (), (), f"SQL text of {len(text)} characters exceeds the {_MAX_LEN}-character analysis limit"
        )
    dialect = _ALIASES.get(dialect, dialect) if dialect else dialect
    if dialect is None and guess and divergent(text):
        if len(text) > _MULTI_MAX:
            return SqlAnalysis(
                None,
                (),
                (),
                f"SQL text of {len(text)} characters with dialect-dependent comments or quotes exceeds the "
                f"{_MULTI_MAX}-character limit for reading it under every dialect; configure the dialect",
            )
        return _readings(text, depth)
    if dialect in _MYSQL_FAMILY:
        text = mysql_text(text)
    parsed = _statements(text, dialect, guess)
    if isinstance(parsed, SqlAnalysis):
        return parsed
    stmts, d = parsed
    return _analyze(stmts, d, depth, text) if stmts else SqlAnalysis(d, (), ())


def _readings(text: str, depth: int) -> SqlAnalysis:
    """Analyze *text* once per dialect family and merge the readings (most severe wins).

    Each family tokenizes the text (cheap); families whose token streams agree (the
    divergent token means the same to them) share one parse."""
    readings: list[SqlAnalysis] = []
    partial: list[SqlAnalysis] = []
    seen: set[tuple[tuple[Any, str], ...]] = set()
    for d in READINGS:
        t = mysql_text(text) if d == "mysql" else text
        tokenizer, parser = _engine(d)
        try:
            tokens = tokenizer.tokenize(t)
        except (TokenError, SqlglotError):
            continue  # e.g. an unterminated nested comment: this engine rejects the text
        key = tuple((tok.token_type, tok.text) for tok in tokens)
        if key in seen:
            continue
        seen.add(key)
        stmts = _parse_tokens(parser, tokens, t)
        if stmts is None:
            # A database runs a script statement by statement until one fails: what
            # parses before (or after) the broken part still runs in this dialect.
            several = any(tok.token_type is TokenType.SEMICOLON for tok in tokens[:-1])
            each = _each_statement(parser, tokens, t) if several else []
            hits = _token_hits(tokens)
            if each or hits:
                a = _analyze(each, d, depth, t) if each else SqlAnalysis(d, (), ())
                partial.append(SqlAnalysis(d, a.statements, (*a.hits, *hits)))
            continue
        readings.append(_analyze(stmts, d, depth, t) if stmts else SqlAnalysis(d, (), ()))
    if readings and partial:
        readings.extend(partial)
    elif partial:
        # No reading parses whole: report the statements that do, and the failure.
        failed = _statements(text, None, guess=True)
        error = failed.error if isinstance(failed, SqlAnalysis) else None
        merged = _merge(partial)
        return SqlAnalysis(merged.dialect, merged.statements, merged.hits, error or "no dialect parses the whole text")
    if not readings:
        failed = _statements(text, None, guess=True)
        if isinstance(failed, SqlAnalysis):
            return failed
        stmts_any, found = failed
        return _analyze(stmts_any, found, depth, text) if stmts_any else SqlAnalysis(found, (), ())
    return _merge(readings)


def _parse_tokens(parser: Any, tokens: list[Token], text: str) -> list[exp.Expression] | None:
    """The statements of a token stream, or None when it does not parse as statements."""
    try:
        trees = parser.parse(tokens, text)
    except (ParseError, SqlglotError, RecursionError):
        return None
    stmts = [t for t in trees if isinstance(t, exp.Expression) and not isinstance(t, exp.Semicolon)]
    return None if any(not _is_statement(t) for t in stmts) else stmts


def _merge(readings: list[SqlAnalysis]) -> SqlAnalysis:
    """One analysis holding every hit and statement of every reading."""
    if len(readings) == 1:
        return readings[0]
    # A reading that kept raw text it does not understand, where another reading parsed
    # every statement, is that dialect failing on the other's syntax (PostgreSQL's $$
    # bodies read as MySQL), not a statement we missed.
    understood = any(not any(h.rule == "sql.unrecognized" for h in a.hits) for a in readings)
    hits: dict[tuple[str, str, Effect], Hit] = {}
    for a in readings:
        for h in a.hits:
            if understood and h.rule == "sql.unrecognized":
                continue
            hits.setdefault((h.rule, h.evidence, h.effect), h)
    stmts_all = tuple(dict.fromkeys(s for a in readings for s in a.statements))
    return SqlAnalysis(readings[0].dialect, stmts_all, tuple(hits.values()))


def _each_statement(parser: Any, tokens: list[Token], text: str) -> list[exp.Expression]:
    """The statements of a token stream that parse on their own, split at semicolons."""
    out: list[exp.Expression] = []
    chunk: list[Token] = []
    for tok in [*tokens, None]:
        if tok is not None and tok.token_type is not TokenType.SEMICOLON:
            chunk.append(tok)
            continue
        if chunk:
            out.extend(_parse_tokens(parser, chunk, text) or ())
        chunk = []
    return out


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
