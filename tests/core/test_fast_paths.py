"""The decision path's shortcuts give exactly what the general code gives.

Each shortcut (performance work, measured by ``make bench``) is checked here against
the general path it skips, on the inputs it takes and on the look-alikes it must hand on.
"""

from __future__ import annotations

import enum
from types import MappingProxyType
from typing import Any

import pytest

from agentgate._call import _flat_walk, walk_arguments


class _Color(enum.Enum):
    RED = "rm -rf /"


class _Str(str):
    pass


FLAT = [
    {},
    {"item_id": "sku-123"},
    {"amount": 120.0, "currency": "EUR", "iban": "DE44500105175407324931", "n": 3, "ok": True, "x": None},
    {"query": "SELECT 1", "path": "/etc/passwd", "url": "http://169.254.169.254/"},
    {"command": "rm -rf / # {not json"},
    {"text": "ünïcödé \u202e\U000e0041 tag"},
]
# Everything the walker reads differently from a flat dict of scalars: the shortcut must hand these on.
NOT_FLAT = [
    {"payload": '{"cmd": "rm -rf /"}'},
    {"payload": '  ["rm", "-rf", "/"]'},
    {"payload": "\n{}"},
    {"empty": ""},
    {"tool": "run_shell", "input": "rm -rf /"},
    {"Name": "x"},
    {"action": "delete"},
    {"argv": ["rm", "-rf", "/"]},
    {"data": b"rm -rf /"},
    {"color": _Color.RED},
    {"sub": _Str("rm -rf /")},
    {1: "numeric key"},
    {"nested": {"cmd": "ls"}},
]


@pytest.mark.parametrize("args", FLAT)
def test_flat_walk_equals_the_walker(args: dict[str, Any]) -> None:
    fast = _flat_walk(args)
    assert fast is not None
    assert fast == walk_arguments(MappingProxyType(args))  # a non-dict mapping takes the walker
    assert walk_arguments(args) == fast


@pytest.mark.parametrize("args", NOT_FLAT)
def test_flat_walk_hands_on_what_it_does_not_read(args: dict[str, Any]) -> None:
    assert _flat_walk(args) is None
    assert walk_arguments(args) == walk_arguments(MappingProxyType(args))
