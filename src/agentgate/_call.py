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

import dataclasses
import enum
import inspect
import itertools
import json
import operator
import os
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["KINDS", "ArgumentWalk", "ToolCall", "ToolSpec", "bind_arguments", "make_binder"]

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
    _walk: ArgumentWalk | None = field(default=None, init=False, repr=False, compare=False)

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
        _set_walk(obj, None)
        return obj

    def string_arguments(self) -> tuple[tuple[str, str], ...]:
        """Every string inside the arguments, with a dotted path to it.

        Nested dicts and lists are walked (``body.to[0]``) so a URL or a path
        buried in a structure is still seen; so are the strings of bytes, paths,
        enums, dataclasses, pydantic models and JSON text (see `walk`).
        """
        return self.walk().strings

    def walk(self) -> ArgumentWalk:
        """The arguments read once into strings, argv lists, carried calls and problems (memoized)."""
        w = self._walk
        if w is None:
            w = walk_arguments(self.arguments)
            _set_walk(self, w)
        return w


_slots = ToolCall.__dict__
_set_tool = _slots["tool_name"].__set__
_set_args = _slots["arguments"].__set__
_set_framework = _slots["framework"].__set__
_set_call_id = _slots["call_id"].__set__
_set_spec = _slots["spec"].__set__
_set_raw = _slots["raw_payload"].__set__
_set_walk = _slots["_walk"].__set__


# --------------------------------------------------------------------- reading arguments

#: Limits of one walk. Past any of them the walk stops and says so (``ArgumentWalk.problems``):
#: the firewall escalates rather than deciding on a part of the arguments.
MAX_DEPTH = 32
MAX_ITEMS = 20_000  # values visited (a 1M-key dict stops here, in milliseconds)
MAX_STRINGS = 4_096
MAX_CHARS = 4_000_000  # total characters of all strings
MAX_JSON = 1_000_000  # JSON text longer than this is not parsed (it is still scanned as text)

# Keys naming the tool a structure calls, and keys holding that call's arguments
# (OpenAI ``function{name, arguments}``, Anthropic ``tool_use{name, input}``, MCP
# ``params{name, arguments}``, LangChain ``{tool, tool_input}``, ad-hoc dispatchers).
CALL_NAME_KEYS = frozenset({"tool", "tool_name", "toolname", "function", "function_name", "action", "name"})
CALL_ARGS_KEYS = frozenset(
    {"arguments", "args", "input", "inputs", "parameters", "params", "kwargs", "payload", "tool_input", "tool_args"}
)
# "name" is everyone's field; it names a tool only beside one of these (the common wire formats).
_NAME_ARGS_KEYS = frozenset({"arguments", "input", "parameters", "tool_input", "tool_args"})


@dataclass(frozen=True, slots=True)
class ArgumentWalk:
    """What the firewall could read out of one call's arguments.

    Attributes:
        strings: ``(path, text)`` for every string found (``body.to[0]``).
        argvs: ``(path, words)`` for every list whose items are all strings: an argv
            list is one command (``["rm", "-rf", "/"]``), not three strings.
        calls: ``(path, name key, tool name, arguments, args path)`` for every structure
            shaped like a tool call (``{"name": ..., "arguments": ...}``); *args path* is
            where its arguments sit, so a call nested in another's arguments can be told apart.
        problems: ``(path, problem)`` for what could not be read: ``depth``, ``items``,
            ``strings``, ``chars`` (a limit was hit: the rest was not read),
            ``unreadable:<type>`` (an object with no readable content),
            ``undecodable`` (bytes that are not UTF-8; read as Latin-1).
        chars: Total characters read.
        documents: Paths of strings that held JSON and were read as the structure they hold.
    """

    strings: tuple[tuple[str, str], ...]
    argvs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    calls: tuple[tuple[str, str, str, Any, str], ...] = ()
    problems: tuple[tuple[str, str], ...] = ()
    chars: int = 0
    documents: tuple[str, ...] = ()


class _Stop(Exception):  # noqa: N818 - control flow inside the walk, never raised out of it
    """A limit was hit: the walk ends (recorded in the problems)."""


class _Walker:
    __slots__ = ("argvs", "calls", "chars", "documents", "items", "problems", "stack", "strings")

    def __init__(self) -> None:
        self.strings: list[tuple[str, str]] = []
        self.argvs: list[tuple[str, tuple[str, ...]]] = []
        self.calls: list[tuple[str, str, str, Any, str]] = []
        self.problems: list[tuple[str, str]] = []
        self.documents: list[str] = []
        self.items = 0
        self.chars = 0
        self.stack: set[int] = set()

    def _limit(self, path: str, what: str) -> None:
        self.problems.append((path, what))
        raise _Stop

    def text(self, path: str, v: str, depth: int) -> None:
        if len(self.strings) >= MAX_STRINGS:
            self._limit(path, "strings")
        self.chars += len(v)
        if self.chars > MAX_CHARS:
            self._limit(path, "chars")
        self.strings.append((path, v))
        # JSON text is read as the structure it holds ('{"cmd": "rm -rf /"}', a call's arguments).
        head = v[:1] if v[:1] in "{[" else v.lstrip()[:1]
        if head in ("{", "[") and len(v) <= MAX_JSON and v.rstrip()[-1:] in ("}", "]"):
            try:
                inner = json.loads(v)
            except (ValueError, RecursionError):
                return
            if isinstance(inner, (dict, list)):
                self.documents.append(path)
                self.value(inner, path, depth + 1)

    def value(self, v: Any, path: str, depth: int) -> None:
        self.items += 1
        if self.items > MAX_ITEMS:
            self._limit(path, "items")
        if isinstance(v, str):
            self.text(path, v, depth)
            return
        if v is None or isinstance(v, (bool, int, float, complex)):
            return
        if isinstance(v, (bytes, bytearray, memoryview)):
            raw = bytes(v)
            try:
                self.text(path, raw.decode("utf-8"), depth)
            except UnicodeDecodeError:
                self.problems.append((path, "undecodable"))
                self.text(path, raw.decode("latin-1"), depth)
            return
        if isinstance(v, enum.Enum):
            self.value(v.value, path, depth)
            return
        if isinstance(v, os.PathLike):
            try:
                p = os.fspath(v)
            except Exception:  # a broken __fspath__ is unreadable, not a crash
                self.problems.append((path, f"unreadable:{type(v).__name__}"))
                return
            self.value(p, path, depth)
            return
        if depth >= MAX_DEPTH:
            self._limit(path, "depth")
        if id(v) in self.stack:
            return  # a cycle: everything on it is being read already
        self.stack.add(id(v))
        try:
            self.container(v, path, depth)
        finally:
            self.stack.discard(id(v))

    def container(self, v: Any, path: str, depth: int) -> None:
        if isinstance(v, Mapping):
            self.mapping(v, path, depth)
        elif isinstance(v, tuple) and hasattr(v, "_asdict"):  # NamedTuple: its field names are argument names
            self.mapping(v._asdict(), path, depth)
        elif isinstance(v, (list, tuple, set, frozenset)):
            if v and len(v) <= 4096 and all(isinstance(x, str) for x in v) and not isinstance(v, (set, frozenset)):
                self.argvs.append((path, tuple(v)))
            for i, x in enumerate(v):
                self.value(x, f"{path}[{i}]", depth + 1)
        elif dataclasses.is_dataclass(v) and not isinstance(v, type):
            self.mapping({f.name: getattr(v, f.name, None) for f in dataclasses.fields(v)}, path, depth)
        elif callable(getattr(type(v), "model_dump", None)) and not isinstance(v, type):  # pydantic v2
            try:
                dumped = v.model_dump()
            except Exception:
                self.problems.append((path, f"unreadable:{type(v).__name__}"))
                return
            self.value(dumped, path, depth + 1)
        elif _own_str(v):
            # The object says what it is as text (a Command, a Query, a URL object): read that.
            try:
                text = str(v)
            except Exception:
                self.problems.append((path, f"unreadable:{type(v).__name__}"))
                return
            self.text(path, text, depth)
        elif hasattr(v, "__attrs_attrs__"):
            self.mapping({a.name: getattr(v, a.name, None) for a in v.__attrs_attrs__}, path, depth)
        elif not callable(v) and isinstance(getattr(v, "__dict__", None), dict) and v.__dict__:
            self.mapping({k: x for k, x in v.__dict__.items() if not k.startswith("_")}, path, depth)
        elif not callable(v):
            self.problems.append((path, f"unreadable:{type(v).__name__}"))

    def mapping(self, m: Mapping[Any, Any], path: str, depth: int) -> None:
        if len(m) > MAX_ITEMS:
            self._limit(path, "items")  # decided before touching a million keys
        self.call_shape(m, path)
        for k, x in m.items():
            self.value(x, f"{path}.{k}" if path else str(k), depth + 1)

    def call_shape(self, m: Mapping[Any, Any], path: str) -> None:
        names = [k for k in m if isinstance(k, str) and k.lower() in CALL_NAME_KEYS and isinstance(m[k], str)]
        if not names:
            return
        arg_keys = [k for k in m if isinstance(k, str) and k.lower() in CALL_ARGS_KEYS]
        for nk in names:
            keys = _NAME_ARGS_KEYS if nk.lower() == "name" else CALL_ARGS_KEYS
            ak = next((k for k in arg_keys if k.lower() in keys), None)
            tool = m[nk].strip()
            if ak is None or not _TOOL_NAME_CHARS.issuperset(tool) or not 0 < len(tool) <= 128:
                continue
            prefix = f"{path}." if path else ""
            self.calls.append((path, nk, tool, m[ak], prefix + str(ak)))
            return


_OBJECT_STR: Any = object.__str__


def _own_str(v: Any) -> bool:
    """Does *v*'s class define what it is as text (``__str__`` other than ``object``'s)?"""
    return getattr(type(v), "__str__", _OBJECT_STR) is not _OBJECT_STR and not isinstance(v, type)


_TOOL_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:/")


def walk_arguments(arguments: Mapping[str, Any]) -> ArgumentWalk:
    """Read every argument value into text (see `ArgumentWalk`). Never raises."""
    if type(arguments) is dict and len(arguments) <= _FLAT_MAX:
        flat = _flat_walk(arguments)
        if flat is not None:
            return flat
    w = _Walker()
    try:
        w.mapping(arguments, "", -1) if isinstance(arguments, Mapping) else w.value(arguments, "", 0)
    except _Stop:
        pass
    except RecursionError:
        w.problems.append(("", "depth"))
    return ArgumentWalk(
        tuple(w.strings), tuple(w.argvs), tuple(w.calls), tuple(w.problems), w.chars, tuple(w.documents)
    )


# Most calls are a few top-level strings and numbers: `_flat_walk` reads those without the
# walker's machinery and gives up (None) on anything else, which the walker then reads.
_FLAT_MAX = 64
_FLAT_SCALARS = frozenset({int, float, bool, type(None)})
_NO_CALLS: tuple[tuple[str, str, str, Any, str], ...] = ()
_new_walk = ArgumentWalk.__new__
_walk_setters = tuple(ArgumentWalk.__dict__[f].__set__ for f in ArgumentWalk.__dataclass_fields__)


def _flat_walk(arguments: dict[str, Any]) -> ArgumentWalk | None:
    """The walk of a dict of top-level ``str`` / number / bool / None values, or None.

    Exactly what `_Walker` makes of such a dict: no value is a container, so there are no
    argvs or documents; None when a string may hold JSON, a key is not a ``str``, or a key
    could name a carried call (`_Walker.call_shape` decides those). Far below every limit.
    """
    strings = []
    chars = 0
    for k, v in arguments.items():
        if type(k) is not str or k.lower() in CALL_NAME_KEYS:
            return None
        t = type(v)
        if t is str:
            head = v[:1]
            if head in "{[" or head.isspace():  # JSON text, maybe (and "", which the walker reads)
                return None
            strings.append((k, v))
            chars += len(v)
        elif t not in _FLAT_SCALARS:
            return None
    if chars > MAX_CHARS:
        return None
    w = _new_walk(ArgumentWalk)
    deque(map(operator.call, _walk_setters, itertools.repeat(w), (tuple(strings), (), _NO_CALLS, (), chars, ())), 0)
    return w


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
