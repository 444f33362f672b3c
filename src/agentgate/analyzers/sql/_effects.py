"""Effects the SQL walk reads from functions, settings, procedures and raw statements.

Functions by effect (files, network, code, server control, SQL-string arguments,
volatile and unknown functions), SET/set_config guards, COPY, EXEC, routine and DO
bodies (SQL and PL/pgSQL read statement by statement), and the statements sqlglot
keeps as raw text. The rules are documented in `agentgate.analyzers.sql`.
"""

from __future__ import annotations

import re

from sqlglot import exp

from agentgate._decision import Effect, Severity
from agentgate.analyzers.sql import _builtins as builtins
from agentgate.analyzers.sql import _vocab as vocab
from agentgate.analyzers.sql._acc import _MAX_DEPTH, _Acc, _nested, _parse, _target

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
