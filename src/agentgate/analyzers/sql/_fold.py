"""Constant folding of SQL conditions: is a WHERE always true?

Three-valued evaluation over sqlglot expressions: `truth` returns True or False
when a condition does not depend on the row (``1=1``, ``'a'='a'``, ``0x61 = 'a'``,
``NOT FALSE``, ``x LIKE '%'``, ``id = id``), None when it does or we cannot tell.

>>> import sqlglot
>>> truth(sqlglot.parse_one("SELECT 1 WHERE 'a' = 'a' OR id = 3").args["where"].this)
True
>>> or_neutralized(sqlglot.parse_one("SELECT 1 WHERE name = 'x' OR 2 > 1").args["where"].this)
True
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp

__all__ = ["NO", "bounded", "const", "matches_all_rows", "or_neutralized", "truth"]

NO = object()


def const(e: exp.Expression) -> object:
    """The constant value of *e*, or NO when it is not a constant."""
    while isinstance(e, exp.Paren):
        e = e.this
    if isinstance(e, exp.Literal):
        if e.is_string:
            return e.this
        try:
            return float(e.this)
        except ValueError:
            return NO
    if isinstance(e, exp.Boolean):
        return bool(e.this)
    if isinstance(e, exp.HexString):
        try:
            return bytes.fromhex(e.this).decode("latin-1")
        except ValueError:
            return NO
    if isinstance(e, exp.Null):
        return None
    if isinstance(e, exp.Neg):
        v = const(e.this)
        return -v if isinstance(v, float) else NO
    if isinstance(e, (exp.Add, exp.Sub, exp.Mul)):
        a, b = const(e.this), const(e.expression)
        if isinstance(a, float) and isinstance(b, float):
            return a + b if isinstance(e, exp.Add) else a - b if isinstance(e, exp.Sub) else a * b
        return NO
    if isinstance(e, exp.Cast):
        return const(e.this)
    return NO


def same(a: exp.Expression, b: exp.Expression) -> bool:
    return isinstance(a, exp.Column) and isinstance(b, exp.Column) and a == b


def cmp(e: exp.Binary) -> bool | None:
    if same(e.this, e.expression):
        return isinstance(e, (exp.EQ, exp.GTE, exp.LTE, exp.NullSafeEQ))
    a, b = const(e.this), const(e.expression)
    if a is NO or b is NO or a is None or b is None:
        return None
    if type(a) is not type(b):
        try:  # MySQL and SQLite compare '1' = 1 and TRUE = 1 numerically
            a, b = float(a), float(b)  # type: ignore[arg-type]
        except ValueError:
            return None
    if isinstance(e, (exp.EQ, exp.NullSafeEQ)):
        return a == b
    if isinstance(e, exp.NEQ):
        return a != b
    try:
        if isinstance(e, exp.GT):
            return bool(a > b)  # type: ignore[operator]
        if isinstance(e, exp.GTE):
            return bool(a >= b)  # type: ignore[operator]
        if isinstance(e, exp.LT):
            return bool(a < b)  # type: ignore[operator]
        if isinstance(e, exp.LTE):
            return bool(a <= b)  # type: ignore[operator]
    except TypeError:
        return None
    return None


def truth(e: exp.Expression) -> bool | None:
    """Three-valued constant evaluation of a condition: True/False when it does not
    depend on the row, None when it does (or we cannot tell)."""
    while isinstance(e, exp.Paren):
        e = e.this
    if e.args.get("negate"):  # some dialects parse x NOT IN (...) as In(negate=True)
        v = _truth(e)
        return None if v is None else not v
    return _truth(e)


def _truth(e: exp.Expression) -> bool | None:
    if isinstance(e, exp.Boolean):
        return bool(e.this)
    if isinstance(e, exp.Not):
        v = truth(e.this)
        return None if v is None else not v
    if isinstance(e, exp.Or):
        left, right = truth(e.this), truth(e.expression)
        return True if left is True or right is True else False if left is False and right is False else None
    if isinstance(e, exp.And):
        left, right = truth(e.this), truth(e.expression)
        return False if left is False or right is False else True if left is True and right is True else None
    if isinstance(e, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ)):
        return cmp(e)
    if isinstance(e, (exp.Like, exp.ILike)):
        pat = const(e.expression)
        if isinstance(pat, str) and pat and set(pat) == {"%"}:
            return True  # anything LIKE '%' (only NULLs escape it)
        subject = const(e.this)
        if isinstance(subject, str) and isinstance(pat, str) and "%" not in pat and "_" not in pat:
            return subject == pat
        return None
    if isinstance(e, exp.In):
        subject = const(e.this)
        vals = [const(x) for x in e.expressions]
        if subject is NO or subject is None or not vals or any(v is NO for v in vals):
            return None
        return subject in vals
    if isinstance(e, exp.Between):
        subject, lo, hi = const(e.this), const(e.args["low"]), const(e.args["high"])
        if isinstance(subject, float) and isinstance(lo, float) and isinstance(hi, float):
            return lo <= subject <= hi
        return None
    if isinstance(e, exp.Is):
        if isinstance(e.expression, exp.Null):
            subject = const(e.this)
            return None if subject is NO else subject is None
        return None
    c = const(e)
    if isinstance(c, bool):
        return c
    if isinstance(c, float):
        return c != 0
    return None


def or_neutralized(e: exp.Expression) -> bool:
    """True when some OR in the condition has a constant-true branch (``x = 5 OR 1=1``)."""
    return any(truth(o.this) is True or truth(o.expression) is True for o in e.find_all(exp.Or))


def matches_all_rows(cond: exp.Expression) -> bool:
    """A lone ``col IS NOT NULL`` or ``id > 0`` / ``id >= 0``: not a constant, but on a
    key or a filled column it selects every row (a common way to dodge a no-WHERE check)."""
    while isinstance(cond, exp.Paren):
        cond = cond.this
    if isinstance(cond, exp.Not) and isinstance(cond.this, exp.Is) and isinstance(cond.this.expression, exp.Null):
        return isinstance(cond.this.this, exp.Column)
    if isinstance(cond, exp.Is) and cond.args.get("negate") and isinstance(cond.expression, exp.Null):
        return isinstance(cond.this, exp.Column)
    if isinstance(cond, (exp.GT, exp.GTE)) and isinstance(cond.this, exp.Column):
        name = cond.this.name.lower()
        bound = const(cond.expression)
        return (name == "id" or name.endswith("_id")) and isinstance(bound, float) and bound <= 0
    return False


# Functions that normalize a column without changing which rows an equality selects.
_NORMALIZERS = frozenset({"lower", "upper", "trim", "ltrim", "rtrim", "lcase", "ucase", "date", "coalesce"})


def _has_column(e: exp.Expression) -> bool:
    """Does *e* reference a column outside any subquery (a subquery is one value here)?"""
    if isinstance(e, exp.Column):
        return True
    return any(
        isinstance(n, exp.Column) and not any(isinstance(p, (exp.Subquery, exp.Query)) for p in _parents(n, e))
        for n in e.find_all(exp.Column)
    )


def _parents(n: exp.Expression, stop: exp.Expression) -> list[Any]:
    out: list[Any] = []
    p: Any = n.parent
    while p is not None and p is not stop:
        out.append(p)
        p = p.parent
    return out


def _bare_column(e: exp.Expression, *, normalized: bool) -> bool:
    while isinstance(e, exp.Paren):
        e = e.this
    if isinstance(e, exp.Column) and not isinstance(e.this, exp.Star):
        return not _parameter(e)
    if normalized and isinstance(e, exp.Cast):
        return _bare_column(e.this, normalized=True)
    if normalized and isinstance(e, exp.Func):
        f: Any = e
        name = (f.name if isinstance(f, exp.Anonymous) else f.sql_name()).lower()
        args = [a for a in (f.this, *f.expressions) if isinstance(a, exp.Expression)]
        return name in _NORMALIZERS and len(args) >= 1 and _bare_column(args[0], normalized=False)
    return False


def _value(e: exp.Expression) -> bool:
    """A literal, a parameter, a column-free expression or a scalar subquery."""
    while isinstance(e, exp.Paren):
        e = e.this
    if isinstance(e, exp.Subquery) or _parameter(e):
        return True
    return not _has_column(e) and not isinstance(e, exp.Null)


def _parameter(e: exp.Expression) -> bool:
    """A bind parameter some dialect reads as a column (``$1``, ``:id``, ``@id``)."""
    return isinstance(e, exp.Column) and e.name[:1] in ("$", ":", "@", "?")


def _match_all_pattern(e: exp.Expression) -> bool:
    pat = const(e)
    return isinstance(pat, str) and bool(pat) and set(pat) <= {"%", "_"}


def bounded(cond: exp.Expression) -> bool:
    """Does the condition really bound the rows: some conjunct compares a column to a value?

    ``id = 5``, ``email IN ('a', 'b')``, ``created_at < now() - interval '30 days'``,
    ``lower(name) = 'x'``, ``id = $1``, ``id IN (SELECT ... WHERE ...)`` bound; ``1 = 1``,
    ``id = id``, ``id <> 5``, ``NOT (id = 5)``, ``name LIKE '%'``, ``x IS NOT NULL`` and an
    OR with one unbounded branch do not. No attempt is made to prove tautologies: what is
    not a bound is unbounded.
    """
    while isinstance(cond, exp.Paren):
        cond = cond.this
    if cond.args.get("negate"):
        return False  # NOT IN / NOT LIKE / IS NOT NULL select everything but a few rows
    if isinstance(cond, exp.And):
        return bounded(cond.this) or bounded(cond.expression)
    if isinstance(cond, exp.Or):
        return bounded(cond.this) and bounded(cond.expression)
    if isinstance(cond, (exp.EQ, exp.NullSafeEQ)):
        a, b = cond.this, cond.expression
        return (_bare_column(a, normalized=True) and _value(b)) or (_bare_column(b, normalized=True) and _value(a))
    if isinstance(cond, (exp.GT, exp.GTE, exp.LT, exp.LTE)):
        a, b = cond.this, cond.expression
        return (_bare_column(a, normalized=False) and _value(b)) or (_bare_column(b, normalized=False) and _value(a))
    if isinstance(cond, exp.In):
        if not _bare_column(cond.this, normalized=True):
            return False
        query = cond.args.get("query")
        if query is not None:
            inner = query.this if isinstance(query, exp.Subquery) else query
            where = inner.args.get("where") if isinstance(inner, exp.Select) else None
            return where is not None and bounded(where.this)
        return bool(cond.expressions) and all(_value(x) for x in cond.expressions)
    if isinstance(cond, exp.Between):
        return _bare_column(cond.this, normalized=False) and _value(cond.args["low"]) and _value(cond.args["high"])
    if isinstance(cond, (exp.Like, exp.ILike)):
        return (
            _bare_column(cond.this, normalized=True)
            and _value(cond.expression)
            and not _match_all_pattern(cond.expression)
        )
    if isinstance(cond, exp.Is):
        return _bare_column(cond.this, normalized=False) and isinstance(cond.expression, exp.Null)
    if isinstance(cond, exp.Exists):
        inner = cond.this
        where = inner.args.get("where") if isinstance(inner, exp.Select) else None
        return where is not None
    # WHERE is_expired: a boolean column selects what the data says.
    return isinstance(cond, exp.Column)
