"""Scopes and the effective policy of one call.

A `ScopePolicy` says what an agent may do: which operations, on which resources.
The policy in force for a call is the **intersection** of its layers: the agent's
policy from agentgate.yaml (or ``default``) and every active ``scope()``, outermost
first. Combination rules:

* An operation is allowed iff every layer that lists ``allowed_operations`` lists
  it (no operation implies another) and no layer lists it in ``deny_operations``.
  ``deny_operations`` always wins.
* A resource is allowed iff every layer that lists ``allowed_resources`` has a
  pattern matching it, and no layer's ``denied_resources`` matches it.
* A layer with no list places no restriction on that dimension; a nested scope
  can therefore only narrow, never widen.
* Tool lists, value rules and history rules of every layer apply (all must pass).
* A layer with ``refuse`` set (an agent id not listed in a policy that has no
  ``agents.default``) refuses every call.

Resource matching is explicit (no fuzzy prefix matching): a pattern is an exact
name, a glob or a typed ``kind:value`` (see ``_resources``). See docs/policy.md.

>>> s = ScopePolicy(allowed_operations=("read",), allowed_resources=("sales_data", "reports/**", "*@acme.com"))
>>> p = EffectivePolicy((s,))
>>> p.allows_operation("read"), p.allows_operation("delete")
(True, False)
>>> p.allows_resource("SALES_DATA", "table"), p.allows_resource("bob@ACME.com", "email"), p.allows_resource("eve@evil.com", "email")
(True, True, False)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from ._operations import check_operation, subsumes
from ._resources import RESOURCE_KINDS, _normalized, match_pattern, match_resource, normalize_pattern, split_pattern
from ._rules import ToolLists, ValueRule

if TYPE_CHECKING:
    from .._plan import Plan
    from ._history import HistoryRule

__all__ = ["RESOURCE_KINDS", "SCOPE_DATA_KEYS", "EffectivePolicy", "ScopePolicy", "make_scope", "match_resource"]

#: The ``agentgate.scope(...)`` arguments a scope written as data may give (a policy test
#: file, a ``POST /v1/decide`` body): everything but the caller's identities and a plan object.
SCOPE_DATA_KEYS = frozenset(
    {
        "task",
        "allowed_resources",
        "allowed_operations",
        "deny_operations",
        "denied_resources",
        "max_rate",
        "tools",
        "arguments",
        "history",
    }
)


@dataclass(frozen=True, slots=True)
class ScopePolicy:
    """One layer of policy (a ``scope()`` block or an agent entry in agentgate.yaml).

    Empty tuples mean "no restriction on this dimension". Operation names are
    validated by `make_scope` and the config loader; resource patterns are kept in
    their canonical spelling (``account: x`` → ``account:x``).
    """

    task: str = ""
    allowed_resources: tuple[str, ...] = ()
    allowed_operations: tuple[str, ...] = ()
    deny_operations: tuple[str, ...] = ()
    denied_resources: tuple[str, ...] = ()
    max_rate: int | None = None
    name: str = "scope"
    tools: ToolLists = field(default_factory=ToolLists)
    value_rules: tuple[ValueRule, ...] = ()
    history: tuple[HistoryRule, ...] = ()
    refuse: str = ""
    #: A task plan enforced on top of this layer (``scope(plan=...)``): calls outside it escalate.
    plan: Plan | None = None
    _ops: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)
    _deny: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)
    _names: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __hash__(self) -> int:
        # Computed once: a layer is hashed on every decision (the tier-1 memo is keyed by the
        # layers in force), and a policy's layer may list 100,000s of patterns.
        h = self._hash
        if not h:
            h = hash(tuple(getattr(self, f.name) for f in fields(self) if f.compare)) or 1
            object.__setattr__(self, "_hash", h)
        return h

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ops", frozenset(o.strip().lower() for o in self.allowed_operations))
        object.__setattr__(self, "_deny", frozenset(o.strip().lower() for o in self.deny_operations))
        # One split per pattern (a policy may list 100,000s; the split's cache is smaller).
        allowed: list[str] = []
        names: list[str] = []
        for p in self.allowed_resources:
            kind, value = split_pattern.__wrapped__(p)
            norm = _normalized(p, kind, value)
            allowed.append(norm)
            if (kind is None and _untyped_name(norm)) or (kind == "channel" and _name_pattern(norm)):
                names.append(norm)  # an untyped pattern is its stripped text; "#" alone is untyped
        object.__setattr__(self, "allowed_resources", tuple(allowed))
        object.__setattr__(self, "denied_resources", tuple(normalize_pattern(p) for p in self.denied_resources))
        object.__setattr__(self, "_names", tuple(names))

    def allows_operation(self, op: str) -> bool:
        """This layer alone: is *op* allowed?"""
        if self._denies(op):
            return False
        if not self.allowed_operations:
            return True
        return any(subsumes(a, op) for a in self._ops)

    def _denies(self, op: str) -> bool:
        return any(subsumes(d, op) for d in self._deny)

    def allows_resource(self, value: str, kind: str) -> bool:
        """This layer alone: is *value* (of resource *kind*) allowed?

        A ``generic`` resource (an argument whose kind nothing declares: ``branch``,
        ``service``, ``key``) is held only to the layer's untyped name patterns, and a
        record id (`RECORD_KINDS`: ``customer:``, ``invoice:``, ``scheduled:``,
        ``namespace:``) to those and the patterns of its kind (``customer:42``): a layer
        that lists only paths, URLs or other kinds says nothing about it. Recipients, accounts, paths,
        hosts, tables, buckets and repositories are held to every layer that lists resources.
        """
        if self.denied_resources and any(match_pattern(p, value, kind) for p in self.denied_resources):
            return False
        if not self.allowed_resources:
            return True
        if kind == "generic":
            names = self._names
            return not names or any(match_pattern(p, value, kind) for p in names)
        if kind in RECORD_KINDS:
            own = [p for p in self.allowed_resources if _names_kind(p, kind) or p in self._names]
            return not own or any(match_pattern(p, value, kind) for p in own)
        return any(match_pattern(p, value, kind) for p in self.allowed_resources)


#: Kinds that identify records rather than destinations; see `ScopePolicy.allows_resource`.
RECORD_KINDS = frozenset({"customer", "invoice", "scheduled", "namespace"})


def _names_kind(p: str, kind: str) -> bool:
    pk, value = split_pattern(p)
    if pk is not None:
        return pk == kind
    low = value.lower()
    return low in (kind, kind + "s")


def _name_pattern(p: str) -> bool:
    """An untyped pattern that can name a generic resource (not a path, URL or address glob)."""
    kind, value = split_pattern(p)
    return kind is None and _untyped_name(value)


def _untyped_name(value: str) -> bool:
    return not ("/" in value or "\\" in value or value.startswith(("~", ".")) or "@" in value)


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """The intersection of policy layers in force for one call (outermost first).

    Instances are reused across calls by the firewall, so answers are memoized
    (bounded); the layers are immutable, so a memo can never go stale.
    """

    layers: tuple[ScopePolicy, ...] = ()
    restricts_operations: bool = field(default=False, init=False, compare=False)
    restricts_resources: bool = field(default=False, init=False, compare=False)
    has_resource_rules: bool = field(default=False, init=False, compare=False)
    has_call_rules: bool = field(default=False, init=False, compare=False)
    has_history: bool = field(default=False, init=False, compare=False)
    plan: Plan | None = field(default=None, init=False, compare=False)
    #: The tightest ``max_rate`` of any layer (calls per minute), or None.
    max_rate: int | None = field(default=None, init=False, compare=False)
    _memo: dict[tuple[str, str], bool] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lays = self.layers
        object.__setattr__(self, "restricts_operations", any(x.allowed_operations or x.deny_operations for x in lays))
        object.__setattr__(self, "restricts_resources", any(x.allowed_resources for x in lays))
        object.__setattr__(self, "has_resource_rules", any(x.allowed_resources or x.denied_resources for x in lays))
        object.__setattr__(
            self,
            "has_call_rules",
            any(x.refuse or x.value_rules or x.tools.allow or x.tools.deny for x in lays),
        )
        object.__setattr__(self, "has_history", any(x.history for x in lays))
        # The innermost layer's plan is the task's plan (a nested scope is a narrower task).
        object.__setattr__(self, "plan", next((x.plan for x in reversed(lays) if x.plan is not None), None))
        rates = [lay.max_rate for lay in lays if lay.max_rate is not None]
        object.__setattr__(self, "max_rate", min(rates) if rates else None)

    @property
    def task(self) -> str:
        """The innermost non-empty task description."""
        for lay in reversed(self.layers):
            if lay.task:
                return lay.task
        return ""

    def allows_operation(self, op: str) -> bool:
        """Is *op* allowed by every layer?"""
        key = ("op", op)
        hit = self._memo.get(key)
        if hit is None:
            c = op.strip().lower()
            hit = all(lay.allows_operation(c) for lay in self.layers)
            self._remember(key, hit)
        return hit

    def allows_resource(self, value: str, kind: str = "generic") -> bool:
        """Is *value* allowed by every layer (and denied by none)?"""
        if kind == "path":  # relative paths depend on the cwd, which may change between calls
            return all(lay.allows_resource(value, kind) for lay in self.layers)
        key = (kind, value)
        hit = self._memo.get(key)
        if hit is None:
            hit = all(lay.allows_resource(value, kind) for lay in self.layers)
            self._remember(key, hit)
        return hit

    def resource_layer(self, value: str, kind: str = "generic") -> ScopePolicy | None:
        """The first layer that refuses the resource, for messages and ``policy explain``."""
        for lay in self.layers:
            if not lay.allows_resource(value, kind):
                return lay
        return None

    def _remember(self, key: tuple[str, str], value: bool) -> None:
        if len(self._memo) > 4096:
            self._memo.clear()
        self._memo[key] = value

    def denying_layer(self, op: str) -> ScopePolicy | None:
        """The first layer that forbids *op*, for messages."""
        c = op.strip().lower()
        for lay in self.layers:
            if not lay.allows_operation(c):
                return lay
        return None

    def resource_patterns(self) -> list[str]:
        """Every allowed-resource pattern, for messages."""
        return [p for lay in self.layers for p in lay.allowed_resources]

    def narrowed(self, layer: ScopePolicy) -> EffectivePolicy:
        """A new policy with *layer* added innermost."""
        return EffectivePolicy((*self.layers, layer))

    def describe(self) -> str:
        """Short human summary (judge prompt, messages)."""
        parts = []
        for lay in self.layers:
            bits = []
            if lay.refuse:
                bits.append("refuses every call")
            if lay.allowed_operations:
                bits.append("ops=" + ",".join(lay.allowed_operations))
            if lay.deny_operations:
                bits.append("deny=" + ",".join(lay.deny_operations))
            if lay.allowed_resources:
                bits.append("resources=" + ",".join(lay.allowed_resources))
            if lay.denied_resources:
                bits.append("denied_resources=" + ",".join(lay.denied_resources))
            if lay.tools.allow or lay.tools.deny:
                bits.append(f"tools(allow={','.join(lay.tools.allow) or '*'}; deny={','.join(lay.tools.deny) or '-'})")
            if lay.value_rules:
                bits.append(f"{len(lay.value_rules)} value rules")
            if lay.history:
                bits.append(f"{len(lay.history)} history rules")
            parts.append(f"{lay.name}({'; '.join(bits) or 'unrestricted'})")
        return " ∩ ".join(parts) or "unrestricted"


def make_scope(
    *,
    task: str = "",
    allowed_resources: Iterable[str] | None = None,
    allowed_operations: Iterable[str] | None = None,
    deny_operations: Iterable[str] | None = None,
    denied_resources: Iterable[str] | None = None,
    max_rate: int | None = None,
    name: str = "scope",
    tools: Mapping[str, Sequence[str]] | None = None,
    arguments: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
    history: Sequence[Mapping[str, Any]] | None = None,
    declared: Iterable[str] | None = None,
) -> ScopePolicy:
    """Build a ScopePolicy from user values, validating them (every problem in one `ConfigError`).

    Operation names must be built-in or declared (*declared*, else the process's
    `declare_operations`); retired names say what replaces them.
    """
    from .._errors import ConfigError, ConfigProblem

    problems: list[ConfigProblem] = []
    for label, val in (
        ("allowed_resources", allowed_resources),
        ("allowed_operations", allowed_operations),
        ("deny_operations", deny_operations),
        ("denied_resources", denied_resources),
    ):
        if isinstance(val, str):
            problems.append(ConfigProblem(f"must be a list of strings, not the string {val!r}", key=label))
        elif val is not None and not all(isinstance(x, str) for x in val):
            problems.append(ConfigProblem("must be a list of strings", key=label))
    if not problems:
        decl = list(declared) if declared is not None else None
        for label, ops in (("allowed_operations", allowed_operations), ("deny_operations", deny_operations)):
            for i, op in enumerate(ops or ()):
                try:
                    check_operation(op, decl)
                except ValueError as e:
                    problems.append(ConfigProblem(str(e), key=f"{label}[{i}]"))
    tool_lists = ToolLists()
    rules: tuple[ValueRule, ...] = ()
    hist: tuple[HistoryRule, ...] = ()
    if tools is not None:
        bad = set(tools) - {"allow", "deny"}
        if bad or any(isinstance(v, str) for v in tools.values()):
            problems.append(ConfigProblem("tools takes {allow: [globs], deny: [globs]}", key="tools"))
        else:
            tool_lists = ToolLists(tuple(tools.get("allow", ())), tuple(tools.get("deny", ())))
    if arguments:
        from ._rules import compile_value_rules

        try:
            rules = compile_value_rules(arguments)
        except ValueError as e:
            problems.append(ConfigProblem(str(e), key="arguments"))
    if history:
        from ._history import compile_history

        try:
            hist = compile_history(history, name)
        except ValueError as e:
            problems.append(ConfigProblem(str(e), key="history"))
    if problems:
        raise ConfigError(problems)
    return ScopePolicy(
        task=task,
        allowed_resources=tuple(allowed_resources or ()),
        allowed_operations=tuple(allowed_operations or ()),
        deny_operations=tuple(deny_operations or ()),
        denied_resources=tuple(denied_resources or ()),
        max_rate=max_rate,
        name=name,
        tools=tool_lists,
        value_rules=rules,
        history=hist,
    )
