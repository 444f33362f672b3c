"""Rules on argument values and per-agent tool lists (stateless; checked on every call).

A value rule constrains one argument of the tools it names (a tool name or glob;
``*`` is every tool)::

    arguments:
      send_payment:
        amount: {max: 500}              # a number <= 500 (min: inclusive lower bound)
        currency: {in: [EUR]}           # one of (strings compare case-insensitively)
        iban: {glob: "DE*"}             # a glob, case-insensitive
        reference: {regex: "INV-[0-9]+", required: true}   # whole value; RE2 (linear time)
        bcc: {forbidden: true}          # must not be passed
        line_items: {max_items: 20}     # a list/dict of at most 20 entries

A value the rule cannot check (``amount: "lots"`` under ``max``, a non-string under
``regex``, a value longer than 65,536 characters) violates it: never fail open.

>>> r = compile_value_rules({"send_payment": {"amount": {"max": 500}, "currency": {"in": ["EUR"]}}})
>>> [v for v in check_values(r, "send_payment", {"amount": "900.00", "currency": "eur"})]
['amount=900.00 is above the maximum 500']
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from decimal import Decimal, InvalidOperation
from typing import Any

from ._resources import _glob_regex

__all__ = ["ToolLists", "ValueRule", "check_tools", "check_values", "compile_value_rules", "number"]

_MAX_TEXT = 65536
_CONSTRAINTS = ("min", "max", "in", "not_in", "glob", "regex", "max_items", "max_length", "required", "forbidden")


@dataclass(frozen=True, slots=True)
class ValueRule:
    """One compiled constraint set on one argument of the tools matching *tool*."""

    tool: str
    argument: str
    min: Decimal | None = None
    max: Decimal | None = None
    one_of: frozenset[str] | None = None
    none_of: frozenset[str] | None = None
    glob: str | None = None
    regex: Any = None  # a compiled RE2 pattern
    regex_text: str | None = None
    max_items: int | None = None
    max_length: int | None = None
    required: bool = False
    forbidden: bool = False
    # Derived once (checked on every call): the glob as a regex, and whether the rule reads items.
    _glob_rx: Any = dc_field(default=None, init=False, repr=False, compare=False)
    _per_item: bool = dc_field(default=False, init=False, repr=False, compare=False)
    # What the rule says of one scalar value (the same amounts, currencies and payees recur).
    _answers: dict[tuple[type, Any], tuple[str, ...]] = dc_field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.glob is not None:
            object.__setattr__(self, "_glob_rx", _glob_regex(self.glob.lower(), "", True))
        per_item = (
            self.one_of is not None
            or self.none_of is not None
            or self.glob is not None
            or self.regex is not None
            or self.max_length is not None
        )
        object.__setattr__(self, "_per_item", per_item)


@dataclass(frozen=True, slots=True)
class ToolLists:
    """``tools: {allow: [...], deny: [...]}`` of one agent (globs on tool names)."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


def number(value: Any) -> Decimal | None:
    """*value* as a finite Decimal (ints, floats, numeric strings), else None. Booleans are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value)) if math.isfinite(value) else None
    if isinstance(value, str) and len(value) < 64:
        try:
            d = Decimal(value.strip().replace("_", ""))
        except InvalidOperation:
            return None
        return d if d.is_finite() else None
    return None


def _compile_regex(text: str) -> Any:
    try:
        import re2  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - google-re2 is a core dependency
        raise ValueError("regex rules need the google-re2 package (linear-time matching)") from None
    try:
        return re2.compile(text)
    except Exception as e:  # re2.error
        raise ValueError(f"invalid regex {text!r}: {e}") from None


def compile_value_rules(raw: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> tuple[ValueRule, ...]:
    """Compile ``{tool: {argument: {constraint: value}}}``; raises ValueError naming the bad part."""
    out: list[ValueRule] = []
    for tool, args in raw.items():
        for arg, cons in args.items():
            bad = sorted(set(cons) - set(_CONSTRAINTS))
            if bad:
                raise ValueError(
                    f"{tool}.{arg}: unknown constraint {bad[0]!r}; expected one of {', '.join(_CONSTRAINTS)}"
                )
            kw: dict[str, Any] = {}
            for key in ("min", "max"):
                if key in cons:
                    n = number(cons[key])
                    if n is None:
                        raise ValueError(f"{tool}.{arg}.{key}: {cons[key]!r} is not a number")
                    kw[key] = n
            for key, field in (("in", "one_of"), ("not_in", "none_of")):
                if key in cons:
                    vals = cons[key]
                    if isinstance(vals, (str, bytes)) or not isinstance(vals, Sequence):
                        raise ValueError(f"{tool}.{arg}.{key}: a list of values, not {vals!r}")
                    kw[field] = frozenset(_text(v).lower() for v in vals)
            if "glob" in cons:
                kw["glob"] = str(cons["glob"])
            if "regex" in cons:
                kw["regex"] = _compile_regex(str(cons["regex"]))
                kw["regex_text"] = str(cons["regex"])
            for key in ("max_items", "max_length"):
                if key in cons:
                    v = cons[key]
                    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                        raise ValueError(f"{tool}.{arg}.{key}: a non-negative integer, not {v!r}")
                    kw[key] = v
            for key in ("required", "forbidden"):
                if key in cons:
                    if not isinstance(cons[key], bool):
                        raise ValueError(f"{tool}.{arg}.{key}: true or false, not {cons[key]!r}")
                    kw[key] = cons[key]
            out.append(ValueRule(str(tool), str(arg), **kw))
    return tuple(out)


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


_MISSING = object()


def _lookup(args: Mapping[str, Any], path: str) -> Any:
    if path in args:
        return args[path]
    cur: Any = args
    for part in path.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return _MISSING
    return cur


def _tool_matches(pattern: str, tool: str) -> bool:
    return pattern in ("*", tool) or fnmatch.fnmatchcase(tool, pattern)


def check_values(rules: Sequence[ValueRule], tool: str, args: Mapping[str, Any]) -> Iterator[str]:
    """Yield a message per violated constraint for a call of *tool* with *args*."""
    for r in rules:
        pat = r.tool
        if pat != tool and pat != "*" and not fnmatch.fnmatchcase(tool, pat):
            continue
        name = r.argument
        v = args[name] if name in args else _lookup(args, name)
        if v is _MISSING or v is None:
            if r.required:
                yield f"{name} is required for {tool}"
            continue
        if r.forbidden:
            yield f"{name} must not be passed to {tool}"
            continue
        t = type(v)
        if (t is str and len(v) <= 256) or t is int or t is float or t is bool:
            # Exact keys: 1, 1.0 and True differ, and so do 0.0 and -0.0.
            k = (t, repr(v) if t is float else v)
            said = r._answers.get(k)
            if said is None:
                said = tuple(_value_messages(r, v))
                if len(r._answers) >= _ANSWERS_MAX:
                    r._answers.clear()
                r._answers[k] = said
            yield from said
        else:
            yield from _value_messages(r, v)


_ANSWERS_MAX = 1024


def _value_messages(r: ValueRule, v: Any) -> Iterator[str]:
    """What rule *r* says of a present, allowed value *v* (bounds, items, sets, patterns)."""
    name = r.argument
    if r.min is not None or r.max is not None:
        n = number(v)
        if n is None:
            yield f"{name}={_show(v)} is not a number, so its bounds cannot be checked"
        elif r.max is not None and n > r.max:
            yield f"{name}={_show(v)} is above the maximum {r.max}"
        elif r.min is not None and n < r.min:
            yield f"{name}={_show(v)} is below the minimum {r.min}"
    if r.max_items is not None:
        count = len(v) if isinstance(v, (list, tuple, set, frozenset, dict)) else 1
        if count > r.max_items:
            yield f"{name} has {count} items, more than {r.max_items}"
    if not r._per_item:
        return
    items = list(v) if isinstance(v, (list, tuple, set, frozenset)) else [v]
    if r.one_of is not None or r.none_of is not None:
        for it in items:
            t = _text(it).lower()
            if r.one_of is not None and t not in r.one_of:
                yield f"{name}={_show(it)} is not one of {', '.join(sorted(r.one_of))}"
            if r.none_of is not None and t in r.none_of:
                yield f"{name}={_show(it)} is one of the forbidden values"
    if r.glob is not None or r.regex is not None or r.max_length is not None:
        for it in items:
            if not isinstance(it, (str, int, float, Decimal)) or isinstance(it, bool):
                yield f"{name}={_show(it)} is not text, so its pattern cannot be checked"
                continue
            t = str(it)
            if len(t) > _MAX_TEXT:
                yield f"{name} is longer than {_MAX_TEXT} characters; not checked, so refused"
                continue
            if r.max_length is not None and len(t) > r.max_length:
                yield f"{name} is {len(t)} characters long, more than {r.max_length}"
            if r._glob_rx is not None and not r._glob_rx.match(t.lower()):
                yield f"{name}={_show(it)} does not match {r.glob!r}"
            if r.regex is not None and r.regex.fullmatch(t) is None:
                yield f"{name}={_show(it)} does not match the pattern {r.regex_text!r}"


def check_tools(lists: ToolLists, tool: str) -> str | None:
    """A message when *tool* is denied or not allowed by *lists*, else None."""
    for p in lists.deny:
        if _tool_matches(p, tool):
            return f"tool {tool!r} is denied ({p!r})"
    if lists.allow and not any(_tool_matches(p, tool) for p in lists.allow):
        return f"tool {tool!r} is not in the allowed tools ({', '.join(lists.allow)})"
    return None


def _show(v: Any) -> str:
    s = str(v)
    return s if len(s) <= 60 else s[:57] + "..."
