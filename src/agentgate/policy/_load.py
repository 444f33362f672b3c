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

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from .._errors import ConfigError, ConfigProblem

__all__ = ["MAX_ALIAS_NODES", "MAX_DEPTH", "decode_config", "load_yaml_text"]

MAX_DEPTH = 64
MAX_ALIAS_NODES = 100_000

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Resolver = yaml.resolver.Resolver
_resolve: Any = _Resolver().resolve
_SCALAR, _ALIAS, _DOC_START = yaml.ScalarEvent, yaml.AliasEvent, yaml.DocumentStartEvent
_SEQ_START, _SEQ_END = yaml.SequenceStartEvent, yaml.SequenceEndEvent
_MAP_START, _MAP_END = yaml.MappingStartEvent, yaml.MappingEndEvent


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
    # One pass over the events with as little Python per event as possible: a 10 MB
    # policy is ~300,000 events. The C and Python parsers both emit `yaml.events` classes.
    loader = _Loader(text)
    problems: list[ConfigProblem] = []
    anchors: dict[str, yaml.Node] = {}
    stack: list[tuple[yaml.Node, list[Any]]] = []
    root: yaml.Node | None = None
    alias_nodes = 0
    sizes: dict[int, int] = {}  # expanded size of each collection (a scalar counts 1, the default)
    documents = 0
    get_event = loader.get_event
    scalar_node, sequence_node, mapping_node = yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode
    str_tag, seq_tag, map_tag = (
        _Resolver.DEFAULT_SCALAR_TAG,
        _Resolver.DEFAULT_SEQUENCE_TAG,
        _Resolver.DEFAULT_MAPPING_TAG,
    )
    plain_tags: dict[str, str] = {}  # implicit tag of a plain scalar, by value (configs repeat words)

    try:
        while (ev := get_event()) is not None:
            t = type(ev)
            node: yaml.Node
            if t is _SCALAR:
                tag = ev.tag
                if tag is None or tag == "!":
                    if ev.implicit[0]:
                        v = ev.value
                        tag = plain_tags.get(v)
                        if tag is None:
                            tag = _resolve(scalar_node, v, ev.implicit)
                            if len(plain_tags) < 4096:
                                plain_tags[v] = tag
                    else:
                        tag = str_tag
                node = scalar_node(tag, ev.value, ev.start_mark, ev.end_mark, style=ev.style)
                if ev.anchor:
                    anchors[ev.anchor] = node
                if stack:
                    stack[-1][1].append(node)
                else:
                    root = node
            elif t is _SEQ_START or t is _MAP_START:
                if len(stack) >= MAX_DEPTH:
                    problems.append(
                        ConfigProblem(f"nested deeper than {MAX_DEPTH} levels", source, ev.start_mark.line + 1)
                    )
                    break
                tag = ev.tag
                if t is _SEQ_START:
                    node = sequence_node(
                        seq_tag if tag is None or tag == "!" else tag, [], ev.start_mark, None, flow_style=ev.flow_style
                    )
                else:
                    node = mapping_node(
                        map_tag if tag is None or tag == "!" else tag, [], ev.start_mark, None, flow_style=ev.flow_style
                    )
                if ev.anchor:
                    anchors[ev.anchor] = node
                stack.append((node, []))
            elif t is _SEQ_END or t is _MAP_END:
                node, items = stack.pop()
                node.end_mark = ev.end_mark
                if t is _MAP_END:
                    pairs = list(zip(items[::2], items[1::2], strict=False))
                    node.value = pairs
                    _duplicates(pairs, source, problems)
                else:
                    node.value = items
                if anchors:  # sizes matter only to aliases
                    sizes[id(node)] = 1 + sum([sizes.get(id(c), 1) for c in items])
                if stack:
                    stack[-1][1].append(node)
                else:
                    root = node
            elif t is _ALIAS:
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
                if stack:
                    stack[-1][1].append(target)
                else:
                    root = target
            elif t is _DOC_START:
                documents += 1
                if documents > 1:
                    problems.append(ConfigProblem("more than one YAML document", source, ev.start_mark.line + 1))
                    break
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


class _Lines(Mapping[tuple[str | int, ...], int]):
    """Key path → line, worked out from the nodes on first use: only a config with a problem
    asks (walking a 10 MB file's nodes for nothing cost as much as parsing it)."""

    def __init__(self, root: yaml.Node) -> None:
        self._root: yaml.Node | None = root
        self._lines: dict[tuple[str | int, ...], int] = {}

    def _get(self) -> dict[tuple[str | int, ...], int]:
        if self._root is not None:
            self._lines = _lines(self._root)
            self._root = None
        return self._lines

    def __getitem__(self, key: tuple[str | int, ...]) -> int:
        return self._get()[key]

    def __iter__(self) -> Iterator[tuple[str | int, ...]]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def load_yaml_text(text: str, source: str) -> tuple[Any, Mapping[tuple[str | int, ...], int]]:
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
    return data, _Lines(root)
