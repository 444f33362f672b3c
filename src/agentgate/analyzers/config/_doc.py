"""Read a configuration call's arguments as one document tree.

Arguments arrive as nested dicts and lists, or as JSON/YAML documents inside
strings (``policy_document='{"Statement": ...}'``); `load` parses the strings that
are documents and returns plain dicts, lists and scalars. Keys are compared by
their words (`key_words`): ``FromPort``, ``from_port`` and ``from-port`` are the
same key. Limits (depth, nodes, document size) are reported, never truncated
silently: the caller escalates.

>>> tree, problems = load({"policy": '{"Statement": [{"Effect": "Allow", "Action": "*"}]}'})
>>> tree["policy"]["Statement"][0]["Action"], problems
('*', [])
>>> key_words("IpPermissions"), key_words("from-port"), key_words("CidrIpv6")
(('ip', 'permissions'), ('from', 'port'), ('cidr', 'ipv6'))
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from enum import Enum
from typing import Any

import yaml

__all__ = ["MAX_DOC", "Node", "falsy", "key_words", "load", "nodes", "truthy"]

# Real policies and rule sets are small (an AWS managed policy is at most 6,144 characters):
# past these limits the change escalates instead of being read slowly or partly.
MAX_DOC = 16_384
_MAX_DEPTH = 24
_MAX_NODES = 1_000

_SPLIT = re.compile(r"[^A-Za-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


@functools.lru_cache(maxsize=4096)
def key_words(key: str) -> tuple[str, ...]:
    """Lower-case words of a key (snake, kebab, camel and dotted spellings agree)."""
    return tuple(w.lower() for w in _SPLIT.split(_CAMEL.sub("_", key)) if w)


class _Budget:
    __slots__ = ("left", "only", "problems")

    def __init__(self, only: re.Pattern[str] | None) -> None:
        self.left = _MAX_NODES
        self.problems: list[str] = []
        self.only = only  # parse a multi-line text only when it mentions one of these


_SafeBase: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10x faster


class _TagTolerantLoader(_SafeBase):  # type: ignore[misc]
    """A safe loader that reads CloudFormation-style tags (``!Ref x``, ``!Sub '...'``)
    as the plain value they tag instead of failing: the document still gets read."""


def _untagged(loader: Any, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_TagTolerantLoader.add_multi_constructor("!", _untagged)


def _looks_document(s: str) -> bool:
    t = s.lstrip()[:1]
    if t in ("{", "["):
        return True
    # A YAML mapping spans lines ("Statement:\n  - Effect: Allow"); HCL and TOML have "=".
    return "\n" in s and (":" in s or "{" in s or "=" in s) and not s.lstrip().startswith(("#!", "<"))


def _parse_document(s: str, budget: _Budget) -> Any:
    if len(s) > MAX_DOC:
        budget.problems.append(f"a document of {len(s)} characters exceeds the {MAX_DOC}-character limit")
        return s
    stripped = s.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except (ValueError, RecursionError):
            pass
    try:
        doc = yaml.load(stripped, Loader=_TagTolerantLoader)  # noqa: S506  # a SafeLoader subclass
    except (yaml.YAMLError, RecursionError, ValueError, TypeError):
        hcl = hcl_document(stripped)
        if hcl is not None:
            return hcl
        toml = _toml(stripped, None)
        if toml is not None:
            return toml
        if stripped[:1] in ("{", "["):
            budget.problems.append("a JSON document does not parse")
        return s
    if not isinstance(doc, (dict, list)):
        hcl = hcl_document(stripped)  # YAML reads HCL and TOML as one scalar
        if hcl is not None:
            return hcl
        return _toml(stripped, s)
    # YAML reads most prose as one scalar: only a mapping or a list is a document.
    return doc


# Possessive quantifiers: a line that is not a block header fails in linear time.
def _toml(text: str, default: Any) -> Any:
    """A TOML document (agent settings such as ``.codex/config.toml``) as a dict, else *default*."""
    if "=" not in text:
        return default
    try:
        doc = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return default
    return doc if doc else default


_HCL_BLOCK = re.compile(r'^([A-Za-z_][\w-]*+)((?:\s++"[^"]*+"|\s++[A-Za-z_][\w-]*+)*+)\s*+\{\s*+$')
_HCL_ATTR = re.compile(r"^([A-Za-z_][\w-]*+)\s*+=(.*)$")


def hcl_document(text: str) -> dict[str, Any] | None:
    """A Terraform/HCL text as nested dicts (blocks by type, then labels; attributes as
    JSON-like values, anything else as its text), or None when it is not HCL.

    >>> hcl_document('resource "aws_security_group_rule" "r" {\\n  from_port = 22\\n  cidr_blocks = ["0.0.0.0/0"]\\n}')
    {'resource': {'aws_security_group_rule': {'r': {'from_port': 22, 'cidr_blocks': ['0.0.0.0/0']}}}}
    """
    if "{" not in text or "=" not in text:
        return None
    root: dict[str, Any] = {}
    stack: list[dict[str, Any]] = [root]
    blocks = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "//")):
            continue
        if line == "}":
            if len(stack) == 1:
                return None
            stack.pop()
            continue
        m = _HCL_BLOCK.match(line) if line.endswith("{") else None
        if m:
            cur = stack[-1]
            for name in (m.group(1), *(w.strip('"') for w in m.group(2).split())):
                nxt = cur.get(name)
                if not isinstance(nxt, dict):
                    nxt = cur[name] = {}
                cur = nxt
            stack.append(cur)
            blocks += 1
            continue
        a = _HCL_ATTR.match(line)
        if a is None:
            return None
        value: Any = a.group(2).strip().rstrip(",").strip()
        with contextlib.suppress(ValueError):
            value = json.loads(value)
        stack[-1][a.group(1)] = value
    return root if blocks and len(stack) == 1 else None


def _convert(value: Any, depth: int, budget: _Budget) -> Any:
    budget.left -= 1
    if budget.left < 0:
        if budget.left == -1:
            budget.problems.append(f"the arguments hold more than {_MAX_NODES} values")
        return None
    if depth > _MAX_DEPTH:
        budget.problems.append(f"the arguments nest deeper than {_MAX_DEPTH} levels")
        return None
    if isinstance(value, str):
        if _looks_document(value) and (
            budget.only is None or value.lstrip()[:1] in ("{", "[") or budget.only.search(value[:65536])
        ):
            doc = _parse_document(value, budget)
            if doc is not value:
                return _convert(doc, depth + 1, budget)
        return value
    if isinstance(value, (bytes, bytearray)):
        return _convert(bytes(value).decode("utf-8", "replace"), depth, budget)
    if isinstance(value, Enum):
        return _convert(value.value, depth, budget)
    if isinstance(value, Mapping):
        return {str(k): _convert(v, depth + 1, budget) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_convert(v, depth + 1, budget) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(dump):
        return _convert(dump(), depth + 1, budget)
    fields = getattr(value, "__dataclass_fields__", None)
    if isinstance(fields, dict):
        return _convert({k: getattr(value, k, None) for k in fields}, depth + 1, budget)
    return str(value)


def load(arguments: Mapping[str, Any], only: re.Pattern[str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The arguments as a plain tree (documents in strings parsed), and any limit hit.

    *only*: parse a multi-line YAML/HCL text only when it matches (JSON always parses);
    other tools' long texts (files, messages) are not configuration documents."""
    budget = _Budget(only)
    tree = {str(k): _convert(v, 1, budget) for k, v in arguments.items()}
    return tree, budget.problems


class Node:
    """A dict in the tree with the keys of its enclosing dicts (nearest first)."""

    __slots__ = ("ancestors", "path", "value")

    def __init__(self, value: dict[str, Any], path: str, ancestors: tuple[dict[str, Any], ...]) -> None:
        self.value = value
        self.path = path
        self.ancestors = ancestors


def nodes(tree: dict[str, Any]) -> Iterator[Node]:
    """Every dict in *tree* (the root included), parents before children."""
    stack: list[tuple[Any, str, tuple[dict[str, Any], ...]]] = [(tree, "", ())]
    while stack:
        value, path, anc = stack.pop()
        if isinstance(value, dict):
            yield Node(value, path, anc)
            inner = (value, *anc)
            for k, v in reversed(list(value.items())):
                if isinstance(v, (dict, list)):
                    stack.append((v, f"{path}.{k}" if path else k, inner))
        elif isinstance(value, list):
            for i, v in reversed(list(enumerate(value))):
                if isinstance(v, (dict, list)):
                    stack.append((v, f"{path}[{i}]", anc))


_FALSY = frozenset({"false", "off", "no", "0", "disabled", "disable", "none", "null", "n", "f", ""})
_TRUTHY = frozenset({"true", "on", "yes", "1", "enabled", "enable", "y", "t", "all", "always"})


def falsy(v: Any) -> bool:
    """A value that switches a setting off (``False``, ``0``, ``"off"``, ``"disabled"``, ``None``)."""
    if v is None or v is False:
        return True
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return v == 0
    return isinstance(v, str) and v.strip().lower() in _FALSY


def truthy(v: Any) -> bool:
    """A value that switches a setting on (``True``, ``1``, ``"yes"``, ``"enabled"``)."""
    if v is True:
        return True
    if isinstance(v, bool) or v is None:
        return False
    if isinstance(v, (int, float)):
        return v != 0
    return isinstance(v, str) and v.strip().lower() in _TRUTHY
