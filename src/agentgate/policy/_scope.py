"""Scopes and the effective policy of one call.

A `ScopePolicy` says what an agent may do: which operations, on which resources.
The policy in force for a call is the **intersection** of its layers: the agent's
policy from agentgate.yaml (or ``default``) and every active ``scope()``, outermost
first. Combination rules:

* An operation is allowed iff every layer that lists ``allowed_operations`` allows
  it (directly, by synonym, or by subsumption) and no layer lists it in
  ``deny_operations``. ``deny_operations`` always wins.
* A resource is allowed iff every layer that lists ``allowed_resources`` has a
  pattern matching it, and no layer's ``denied_resources`` matches it.
* A layer with no list places no restriction on that dimension; a nested scope
  can therefore only narrow, never widen.

Resource matching is explicit (no fuzzy prefix matching): a pattern is an exact
name or a glob. ``*`` matches within one path segment, ``**`` across segments,
``?`` one character. Case rules: host names, e-mail addresses, SQL identifiers and
other names compare case-insensitively; file paths compare case-sensitively
(POSIX). See docs/policy.md.

>>> s = ScopePolicy(allowed_operations=("read",), allowed_resources=("sales_data", "reports/**", "*@acme.com"))
>>> p = EffectivePolicy((s,))
>>> p.allows_operation("select"), p.allows_operation("delete")
(True, False)
>>> p.allows_resource("SALES_DATA", "table"), p.allows_resource("bob@ACME.com", "email"), p.allows_resource("eve@evil.com", "email")
(True, True, False)
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ._operations import BUILTIN_OPERATIONS, canonical, subsumes

__all__ = ["RESOURCE_KINDS", "EffectivePolicy", "ScopePolicy", "match_resource"]

#: Resource kinds with their own matching rules.
RESOURCE_KINDS = frozenset({"path", "url", "host", "table", "email", "account", "generic"})


@dataclass(frozen=True, slots=True)
class ScopePolicy:
    """One layer of policy (a ``scope()`` block or an agent entry in agentgate.yaml).

    Empty tuples mean "no restriction on this dimension".
    """

    task: str = ""
    allowed_resources: tuple[str, ...] = ()
    allowed_operations: tuple[str, ...] = ()
    deny_operations: tuple[str, ...] = ()
    denied_resources: tuple[str, ...] = ()
    max_rate: int | None = None
    name: str = "scope"
    _ops: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)
    _deny: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ops", frozenset(canonical(o) for o in self.allowed_operations))
        object.__setattr__(self, "_deny", frozenset(canonical(o) for o in self.deny_operations))

    def allows_operation(self, op: str) -> bool:
        """This layer alone: is *op* (canonical) allowed?"""
        if self._denies(op):
            return False
        if not self.allowed_operations:
            return True
        return any(subsumes(a, op) for a in self._ops)

    def _denies(self, op: str) -> bool:
        # Denying a broad operation denies what it subsumes: deny [admin] denies everything.
        return any(subsumes(d, op) for d in self._deny)

    def allows_resource(self, value: str, kind: str) -> bool:
        """This layer alone: is *value* (of resource *kind*) allowed?"""
        if self.denied_resources and any(match_resource(p, value, kind) for p in self.denied_resources):
            return False
        if not self.allowed_resources:
            return True
        return any(match_resource(p, value, kind) for p in self.allowed_resources)


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
    _memo: dict[tuple[str, str], bool] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lays = self.layers
        object.__setattr__(self, "restricts_operations", any(x.allowed_operations or x.deny_operations for x in lays))
        object.__setattr__(self, "restricts_resources", any(x.allowed_resources for x in lays))
        object.__setattr__(self, "has_resource_rules", any(x.allowed_resources or x.denied_resources for x in lays))

    @property
    def task(self) -> str:
        """The innermost non-empty task description."""
        for lay in reversed(self.layers):
            if lay.task:
                return lay.task
        return ""

    @property
    def max_rate(self) -> int | None:
        """The tightest ``max_rate`` of any layer (calls per minute)."""
        rates = [lay.max_rate for lay in self.layers if lay.max_rate is not None]
        return min(rates) if rates else None

    def allows_operation(self, op: str) -> bool:
        """Is *op* (any spelling) allowed by every layer?"""
        key = ("op", op)
        hit = self._memo.get(key)
        if hit is None:
            c = canonical(op)
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

    def _remember(self, key: tuple[str, str], value: bool) -> None:
        if len(self._memo) > 4096:
            self._memo.clear()
        self._memo[key] = value

    def denying_layer(self, op: str) -> ScopePolicy | None:
        """The first layer that forbids *op*, for messages."""
        c = canonical(op)
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
            if lay.allowed_operations:
                bits.append("ops=" + ",".join(lay.allowed_operations))
            if lay.deny_operations:
                bits.append("deny=" + ",".join(lay.deny_operations))
            if lay.allowed_resources:
                bits.append("resources=" + ",".join(lay.allowed_resources))
            if lay.denied_resources:
                bits.append("denied_resources=" + ",".join(lay.denied_resources))
            parts.append(f"{lay.name}({'; '.join(bits) or 'unrestricted'})")
        return " ∩ ".join(parts) or "unrestricted"


# --------------------------------------------------------------------------- matching


@functools.lru_cache(maxsize=4096)
def _glob_regex(pattern: str, sep: str, ignore_case: bool) -> re.Pattern[str]:
    """Translate a glob to a regex. ``*`` stays within *sep*-separated segments; ``**`` crosses them."""
    i, n, out = 0, len(pattern), []
    not_sep = f"[^{re.escape(sep)}]" if sep else "."
    while i < n:
        c = pattern[i]
        if c == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 2
                # "a/**/b" also matches "a/b"
                if sep and i < n and pattern[i] == sep:
                    out.append(f"(?:.*{re.escape(sep)})?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append(f"{not_sep}*")
        elif c == "?":
            out.append(not_sep)
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : j].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.IGNORECASE if ignore_case else 0)


def _is_glob(p: str) -> bool:
    return any(ch in p for ch in "*?[")


def _norm_path(p: str, cwd: str | None = None) -> str:
    p = os.path.expanduser(p)
    if not posixpath.isabs(p):
        p = posixpath.join(cwd or os.getcwd(), p)
    return posixpath.normpath(p)


def _match_path(pattern: str, value: str) -> bool:
    """Path containment: the value (already resolved by the caller when it can be)
    must equal the pattern's path or lie under it; globs are matched against the
    normalized absolute path."""
    v = _norm_path(value)
    if _is_glob(pattern):
        return bool(_glob_regex(_norm_path(pattern), "/", False).match(v))
    root = _norm_path(pattern)
    return v == root or v.startswith(root.rstrip("/") + "/")


def _host_of(value: str) -> str:
    v = value.strip()
    if "://" in v:
        v = v.split("://", 1)[1]
    v = v.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    v = v.rsplit("@", 1)[-1]
    if v.startswith("["):
        return v[1 : v.find("]")] if "]" in v else v
    return v.rsplit(":", 1)[0] if v.count(":") == 1 else v


def match_resource(pattern: str, value: str, kind: str = "generic") -> bool:
    """Does *value* (a resource of *kind*) match *pattern*? See module docstring.

    >>> match_resource("reports", "reports/q3.csv", "path"), match_resource("reports", "reports2/x", "path")
    (True, False)
    >>> match_resource("*.example.com", "api.example.com", "host"), match_resource("*.example.com", "example.com.evil.io", "host")
    (True, False)
    >>> match_resource("public.orders", "PUBLIC.ORDERS", "table"), match_resource("orders", "public.orders", "table")
    (True, True)
    """
    if not pattern:
        return False
    if kind == "path":
        return _match_path(pattern, value)
    if kind in ("url", "host"):
        host = _host_of(value).rstrip(".").lower()
        pat = pattern.strip().lower()
        if "://" in pat or "/" in pat:
            # A URL pattern matches the whole URL (scheme, host, path), case-insensitively.
            return (
                bool(_glob_regex(pat, "/", True).match(value.strip().lower()))
                if _is_glob(pat)
                else value.strip().lower().rstrip("/") == pat.rstrip("/")
            )
        pat = pat.rstrip(".")
        if _is_glob(pat):
            return bool(_glob_regex(pat, "", True).match(host))
        return host == pat
    if kind == "table":
        v = value.strip().strip('"`[]').lower()
        pat = pattern.strip().lower()
        if "." not in pat:
            v = v.rsplit(".", 1)[-1]  # a bare pattern names the table in any schema
        if _is_glob(pat):
            return bool(_glob_regex(pat, "", True).match(v))
        return v == pat
    if kind == "email":
        v = value.strip().lower()
        pat = pattern.strip().lower()
        if _is_glob(pat):
            return "@" in v and v.count("@") == 1 and bool(_glob_regex(pat, "", True).match(v))
        return v == pat
    if kind == "account":
        # IBANs and card numbers are printed in groups; spaces and dashes are not part of them.
        v = "".join(value.split()).replace("-", "").lower()
        pat = "".join(pattern.split()).replace("-", "").lower()
        return bool(_glob_regex(pat, "", True).match(v)) if _is_glob(pat) else v == pat
    # generic names: case-insensitive, exact or glob
    v = value.strip().lower()
    pat = pattern.strip().lower()
    if _is_glob(pat):
        return bool(_glob_regex(pat, "/", True).match(v))
    return v == pat


def make_scope(
    *,
    task: str = "",
    allowed_resources: Iterable[str] | None = None,
    allowed_operations: Iterable[str] | None = None,
    deny_operations: Iterable[str] | None = None,
    denied_resources: Iterable[str] | None = None,
    max_rate: int | None = None,
    name: str = "scope",
) -> ScopePolicy:
    """Build a ScopePolicy from user lists (validating types; strings are not lists)."""
    for label, val in (
        ("allowed_resources", allowed_resources),
        ("allowed_operations", allowed_operations),
        ("deny_operations", deny_operations),
        ("denied_resources", denied_resources),
    ):
        if isinstance(val, str):
            from .._errors import ConfigError

            raise ConfigError(f"{label} must be a list of strings, not the string {val!r}")
    return ScopePolicy(
        task=task,
        allowed_resources=tuple(allowed_resources or ()),
        allowed_operations=tuple(allowed_operations or ()),
        deny_operations=tuple(deny_operations or ()),
        denied_resources=tuple(denied_resources or ()),
        max_rate=max_rate,
        name=name,
    )


def is_builtin(op: str) -> bool:
    """True for the ten built-in operations (after synonyms)."""
    return canonical(op) in BUILTIN_OPERATIONS
