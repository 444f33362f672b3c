"""Run one documentation snippet as written, checking the claims its comments make.

Usage: ``python docs_runner.py SETUP.py SNIPPET.py`` (run by tests/test_doc_snippets.py in a fresh
process per snippet). SETUP defines the stand-ins for the user's own objects the docs assume
(``agent``, ``db``, a model...). The snippet then runs statement by statement; a trailing comment is a
claim that is checked:

* ``# raises NameError`` / ``# FirewallBlockedError: ...`` / ``# DestinationBlockedError``: the statement
  must raise that exception (by class name, anywhere in its MRO);
* ``# blocked ...``: it must raise an AgentGate "blocked" error (FirewallBlockedError or
  DestinationBlockedError);
* ``# allowed`` / ``# fine``: AgentGate must let it through; a network error *after* that (this
  machine has no outside network) is accepted for these lines only;
* any other statement must not raise.

``with`` blocks are entered and their bodies run the same way, so claims inside them are checked too;
an exception no claim expects is handed to the context manager (``pytest.raises`` may expect it).
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from typing import Any

_RAISES = re.compile(r"(?:\braises\s+|^)([A-Z]\w*(?:Error|Exception))\b")
_BLOCKED = re.compile(r"^blocked\b", re.IGNORECASE)
_ALLOWED = re.compile(r"^(?:allowed|fine)\b", re.IGNORECASE)
_BLOCK_ERRORS = ("FirewallBlockedError", "DestinationBlockedError")


def _comments(src: str) -> dict[int, str]:
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string.lstrip("#").strip()
    return out


def _names(exc: BaseException) -> set[str]:
    return {c.__name__ for c in type(exc).__mro__}


def _claim(stmt: ast.stmt, comments: dict[int, str]) -> tuple[str, str] | None:
    for line in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1):
        text = comments.get(line, "")
        if m := _RAISES.search(text):
            return ("raises", m.group(1))
        if _BLOCKED.search(text):
            return ("blocked", "")
        if _ALLOWED.search(text):
            return ("allowed", "")
    return None


def _run(stmts: list[ast.stmt], src: str, comments: dict[int, str], ns: dict[str, Any], *, inner: bool = False) -> None:
    for stmt in stmts:
        where = f"line {stmt.lineno}: {ast.get_source_segment(src, stmt)!r}"
        if isinstance(stmt, ast.With) and len(stmt.items) == 1 and stmt.items[0].optional_vars is None:
            manager = eval(compile(ast.Expression(stmt.items[0].context_expr), "<snippet>", "eval"), ns)
            manager.__enter__()
            try:
                _run(stmt.body, src, comments, ns, inner=True)
            except BaseException as e:
                if not manager.__exit__(type(e), e, e.__traceback__):
                    raise
            else:
                manager.__exit__(None, None, None)
            continue
        code = compile(ast.Module(body=[stmt], type_ignores=[]), "<snippet>", "exec")
        claim = _claim(stmt, comments) if not isinstance(stmt, (ast.Try, ast.FunctionDef, ast.ClassDef)) else None
        try:
            exec(code, ns)
        except Exception as e:
            names = _names(e)
            if claim is not None and claim[0] == "raises" and claim[1] in names:
                print(f"ok ({claim[1]} as documented): {where}")
                continue
            if claim is not None and claim[0] == "blocked" and names & set(_BLOCK_ERRORS):
                print(f"ok (blocked as documented): {where}")
                continue
            if claim is not None and claim[0] == "allowed" and "OSError" in names and not names & set(_BLOCK_ERRORS):
                print(f"ok (allowed; then no network here: {type(e).__name__}): {where}")
                continue
            if inner:
                raise  # the enclosing `with` (pytest.raises, a scope) sees the exception itself
            raise AssertionError(f"{where} raised {type(e).__name__}: {e}") from e
        if claim is not None and claim[0] in ("raises", "blocked"):
            raise AssertionError(f"{where} did not raise, but the doc says: {claim[0]} {claim[1]}".rstrip())


def main() -> None:
    setup_path, snippet_path = sys.argv[1], sys.argv[2]
    ns: dict[str, Any] = {"__name__": "__main__"}
    with open(setup_path, encoding="utf-8") as f:
        exec(compile(f.read(), setup_path, "exec"), ns)
    with open(snippet_path, encoding="utf-8") as f:
        src = f.read()
    _run(ast.parse(src).body, src, _comments(src), ns)
    print("snippet ran")


if __name__ == "__main__":
    main()
