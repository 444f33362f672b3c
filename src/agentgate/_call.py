"""ToolCall: one intercepted tool invocation, with arguments bound by name.

``execute_sql("DROP TABLE users")`` and ``execute_sql(query="DROP TABLE users")``
are the same call: positional arguments are bound to parameter names with the
function's signature, defaults are applied and ``**kwargs`` are flattened, so no
analyzer ever sees an anonymous ``args`` list (agentgate-py 0.1.0 did, and
positional calls skipped analysis).

>>> def execute_sql(query: str, limit: int = 10) -> None: ...
>>> bind_arguments(execute_sql, ("SELECT 1",), {})
{'query': 'SELECT 1', 'limit': 10}
>>> bind_arguments(execute_sql, (), {"query": "SELECT 1"}) == bind_arguments(execute_sql, ("SELECT 1",), {})
True
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "ToolCall", "ToolSpec", "bind_arguments", "make_binder"]

#: Tool kinds the analyzers understand. Users may declare others; they get the
#: scope check and content sniffing but no kind-specific analyzer.
KINDS = frozenset(
    {"sql", "file", "http", "shell", "email", "message", "payment", "config", "code", "deploy", "generic"}
)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What a tool is, declared by the user (``tools:`` in agentgate.yaml,
    ``register_tools``, ``@guard(kind=...)``). Declarations beat name heuristics.

    Attributes:
        kind: One of `KINDS` (``sql``, ``file``, ``http``, ``shell``, ...).
        operation: The operation the tool performs (``read``, ``send``, ...); ``None``
            lets the firewall derive it from the name and the arguments.
        resource_args: Names of the arguments that are resources checked against scope.
        content_args: Names of the arguments holding the payload to analyze (the SQL
            text, the command line, the URL); defaults to the resource arguments.
        side_effect: Whether the tool changes the world. ``False`` marks a pure read.
        dialect: SQL dialect for ``sql`` tools (sqlglot name: ``postgres``, ``mysql``...).
        resource_kinds: ``(argument, resource kind)`` pairs declaring what an argument names
            (``("to", "channel")``, ``("ref", "invoice")``); beats name conventions.
    """

    kind: str = "generic"
    operation: str | None = None
    resource_args: tuple[str, ...] = ()
    content_args: tuple[str, ...] = ()
    side_effect: bool | None = None
    dialect: str | None = None
    resource_kinds: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool invocation as the firewall sees it.

    Attributes:
        tool_name: The tool's name as the agent knows it.
        arguments: Arguments bound by parameter name (see `bind_arguments`).
        framework: Where it was intercepted (``python``, ``langchain``, ``openai``, ``mcp`` ...).
        call_id: The framework's tool-call id, when it has one.
        spec: A spec attached at the interception point (``@guard(kind=...)``); it
            wins over ``register_tools`` and the config file.
        raw_payload: The raw argument text when the framework passed a string
            (an LLM's JSON arguments), kept for the audit trail.
    """

    tool_name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    framework: str = "python"
    call_id: str | None = None
    spec: ToolSpec | None = None
    raw_payload: str | None = None
    _strings: tuple[tuple[str, str], ...] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def _fast(cls, tool_name: str, arguments: Mapping[str, Any], spec: ToolSpec | None) -> ToolCall:
        """A ``python`` call built without the frozen ``__init__`` (the guard's hot path)."""
        obj = object.__new__(cls)
        _set_tool(obj, tool_name)
        _set_args(obj, arguments)
        _set_framework(obj, "python")
        _set_call_id(obj, None)
        _set_spec(obj, spec)
        _set_raw(obj, None)
        _set_strings(obj, None)
        return obj

    def string_arguments(self) -> tuple[tuple[str, str], ...]:
        """Every string inside the arguments, with a dotted path to it.

        Nested dicts and lists are walked (``body.to[0]``) so a URL or a path
        buried in a structure is still seen. Computed once per call (classification
        and several analyzers read it).
        """
        if self._strings is None:
            out: list[tuple[str, str]] = []
            _walk_strings(self.arguments, "", out, 0)
            object.__setattr__(self, "_strings", tuple(out))
        return self._strings  # type: ignore[return-value]


_slots = ToolCall.__dict__
_set_tool = _slots["tool_name"].__set__
_set_args = _slots["arguments"].__set__
_set_framework = _slots["framework"].__set__
_set_call_id = _slots["call_id"].__set__
_set_spec = _slots["spec"].__set__
_set_raw = _slots["raw_payload"].__set__
_set_strings = _slots["_strings"].__set__

_MAX_DEPTH = 8
_MAX_STRINGS = 512


def _walk_strings(value: Any, path: str, out: list[tuple[str, str]], depth: int) -> None:
    if len(out) >= _MAX_STRINGS:
        return
    if isinstance(value, str):
        out.append((path, value))
    elif isinstance(value, bytes):
        out.append((path, value.decode("utf-8", "replace")))
    elif depth >= _MAX_DEPTH:
        return
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _walk_strings(v, f"{path}.{k}" if path else str(k), out, depth + 1)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for i, v in enumerate(value):
            _walk_strings(v, f"{path}[{i}]", out, depth + 1)


Binder = Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]]


def make_binder(fn: Callable[..., Any]) -> Binder:
    """Precompute how to bind ``(args, kwargs)`` of calls to *fn* by name.

    The common shapes (only positional-or-keyword parameters, no ``*args``) take a
    fast path without ``inspect.Signature.bind``; anything else falls back to it.
    Calls that do not fit the signature are still bound as well as possible so
    the firewall can analyze them; the function itself will raise ``TypeError``.
    """
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return _bind_unknown
    params = list(sig.parameters.values())
    kinds = {p.kind for p in params}
    var_kw = next((p.name for p in params if p.kind is p.VAR_KEYWORD), None)
    if kinds <= {
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
        inspect.Parameter.VAR_KEYWORD,
    }:
        positional = tuple(p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD)
        defaults = tuple(
            (p.name, p.default) for p in params if p.default is not p.empty and p.kind is not p.VAR_KEYWORD
        )
        npos = len(positional)

        def fast(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
            if len(args) > npos:
                return _bind_slow(sig, var_kw, args, kwargs)
            bound = dict(zip(positional, args, strict=False))  # len(args) <= npos checked above
            for k, v in kwargs.items():
                if k in bound:  # duplicate: let the function raise, but analyze both values
                    return _bind_slow(sig, var_kw, args, kwargs)
                bound[k] = v
            for k, d in defaults:
                if k not in bound:
                    bound[k] = d
            return bound

        return fast

    def slow(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        return _bind_slow(sig, var_kw, args, kwargs)

    return slow


def _bind_unknown(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    bound = {f"arg{i}": a for i, a in enumerate(args)}
    bound.update(kwargs)
    return bound


def _bind_slow(
    sig: inspect.Signature, var_kw: str | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    try:
        ba = sig.bind(*args, **kwargs)
    except TypeError:
        # The function will reject this call; still give analyzers every value.
        return _bind_unknown(args, kwargs)
    ba.apply_defaults()
    out: dict[str, Any] = {}
    for name, value in ba.arguments.items():
        param = sig.parameters[name]
        if param.kind is param.VAR_KEYWORD:
            out.update(value)  # flatten **kwargs: they are arguments like any other
        elif param.kind is param.VAR_POSITIONAL:
            if value:
                out[name] = list(value)
        else:
            out[name] = value
    return out


def bind_arguments(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Bind one call's arguments to *fn*'s parameter names (see module docstring)."""
    return make_binder(fn)(args, kwargs)
