"""Reading agentgate.yaml safely: one parse, bounded, every problem with its line.

The file is decoded as UTF-8 (a bad byte is reported with its line), parsed once
with libyaml's event parser (the pure-Python parser when libyaml is missing), and
composed into nodes **iteratively** here, so that:

* nesting deeper than `MAX_DEPTH` is an error with the line where it gets too deep
  (no recursion, no stack overflow);
* aliases may add at most `MAX_ALIAS_NODES` nodes beyond the document itself (a
  "billion laughs" file is rejected after reading it once, in milliseconds);
* a key repeated in one mapping is an error with both lines;
* the key path → line map used in error messages comes from the same nodes.

>>> data, lines = load_yaml_text("agents:\\n  default: {allowed_operations: [read]}\\n", "x.yaml")
>>> data["agents"]["default"], lines[("agents", "default")]
({'allowed_operations': ['read']}, 2)
"""

from __future__ import annotations

from typing import Any

import yaml

from .._errors import ConfigError, ConfigProblem

__all__ = ["MAX_ALIAS_NODES", "MAX_DEPTH", "decode_config", "load_yaml_text"]

MAX_DEPTH = 64
MAX_ALIAS_NODES = 100_000

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_resolve: Any = yaml.resolver.Resolver().resolve


def decode_config(raw: bytes, source: str) -> str:
    """UTF-8 text of a config file (a BOM is dropped); a bad byte is a ConfigError with its line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(
            [ConfigProblem(f"not UTF-8: byte 0x{raw[e.start]:02x} at offset {e.start} ({e.reason})", source, line)]
        ) from None


def _compose(text: str, source: str) -> yaml.Node | None:
    loader = _Loader(text)
    problems: list[ConfigProblem] = []
    anchors: dict[str, yaml.Node] = {}
    stack: list[tuple[yaml.Node, list[Any]]] = []
    root: yaml.Node | None = None
    nodes = 0
    alias_nodes = 0
    sizes: dict[int, int] = {}
    documents = 0

    def attach(node: yaml.Node) -> None:
        nonlocal root
        if stack:
            stack[-1][1].append(node)
        else:
            root = node

    try:
        while loader.check_event():
            ev: Any = loader.get_event()
            # Dispatch on the class name: the C and Python parsers' events (and marks) differ in type.
            name = type(ev).__name__
            if name == "DocumentStartEvent":
                documents += 1
                if documents > 1:
                    problems.append(ConfigProblem("more than one YAML document", source, ev.start_mark.line + 1))
                    break
            elif name == "ScalarEvent":
                tag = ev.tag if ev.tag not in (None, "!") else _resolve(yaml.ScalarNode, ev.value, ev.implicit)
                node: yaml.Node = yaml.ScalarNode(tag, ev.value, ev.start_mark, ev.end_mark, style=ev.style)
                nodes += 1
                sizes[id(node)] = 1
                if ev.anchor:
                    anchors[ev.anchor] = node
                attach(node)
            elif name in ("SequenceStartEvent", "MappingStartEvent"):
                if len(stack) >= MAX_DEPTH:
                    problems.append(
                        ConfigProblem(f"nested deeper than {MAX_DEPTH} levels", source, ev.start_mark.line + 1)
                    )
                    break
                cls: Any = yaml.SequenceNode if name == "SequenceStartEvent" else yaml.MappingNode
                tag = ev.tag if ev.tag not in (None, "!") else _resolve(cls, None, ev.implicit)
                node = cls(tag, [], ev.start_mark, None, flow_style=ev.flow_style)
                nodes += 1
                if ev.anchor:
                    anchors[ev.anchor] = node
                stack.append((node, []))
            elif name in ("SequenceEndEvent", "MappingEndEvent"):
                node, items = stack.pop()
                node.end_mark = ev.end_mark
                if isinstance(node, yaml.MappingNode):
                    pairs = list(zip(items[::2], items[1::2], strict=False))
                    node.value = pairs
                    _duplicates(pairs, source, problems)
                else:
                    node.value = items
                sizes[id(node)] = 1 + sum(sizes.get(id(c), 1) for c in items)
                attach(node)
            elif name == "AliasEvent":
                target = anchors.get(ev.anchor)
                if target is None:
                    problems.append(ConfigProblem(f"unknown alias *{ev.anchor}", source, ev.start_mark.line + 1))
                    break
                if any(n is target for n, _ in stack):
                    problems.append(
                        ConfigProblem(f"alias *{ev.anchor} refers to itself", source, ev.start_mark.line + 1)
                    )
                    break
                alias_nodes += sizes.get(id(target), 1)
                if alias_nodes > MAX_ALIAS_NODES:
                    problems.append(
                        ConfigProblem(
                            f"aliases expand to more than {MAX_ALIAS_NODES} nodes (a YAML bomb?)",
                            source,
                            ev.start_mark.line + 1,
                        )
                    )
                    break
                attach(target)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        problems.append(ConfigProblem(f"invalid YAML: {problem}", source, mark.line + 1 if mark is not None else None))
    finally:
        loader.dispose()
    if problems:
        raise ConfigError(problems)
    return root


def _duplicates(pairs: list[tuple[yaml.Node, yaml.Node]], source: str, problems: list[ConfigProblem]) -> None:
    seen: dict[str, int] = {}
    for k, _ in pairs:
        if not isinstance(k, yaml.ScalarNode) or (k.value == "<<" and k.tag == "tag:yaml.org,2002:merge"):
            continue
        line = k.start_mark.line + 1
        if k.value in seen:
            problems.append(ConfigProblem(f"duplicate key {k.value!r} (first on line {seen[k.value]})", source, line))
        else:
            seen[k.value] = line


def _lines(root: yaml.Node) -> dict[tuple[str | int, ...], int]:
    lines: dict[tuple[str | int, ...], int] = {(): root.start_mark.line + 1}
    todo: list[tuple[yaml.Node, tuple[str | int, ...]]] = [(root, ())]
    while todo:
        node, path = todo.pop()
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else str(k)
                lines[(*path, key)] = k.start_mark.line + 1
                todo.append((v, (*path, key)))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, i)] = item.start_mark.line + 1
                todo.append((item, (*path, i)))
    return lines


def load_yaml_text(text: str, source: str) -> tuple[Any, dict[tuple[str | int, ...], int]]:
    """Parse *text* once; returns (data, key path → line). Raises ConfigError with lines."""
    root = _compose(text, source)
    if root is None:
        return None, {}
    constructor = yaml.constructor.SafeConstructor()
    try:
        data = constructor.construct_document(root)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(
            [ConfigProblem(f"invalid YAML: {problem}", source, mark.line + 1 if mark is not None else None)]
        ) from None
    return data, _lines(root)
