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


@pytest.mark.parametrize(
    "run",
    [
        "QUtJQUlPU0ZPRE5ON0VYQU1QTEU=",  # AKIAIOSFODNN7EXAMPLE
        "Z2hwXzE2QzdlNDJGMjkyYzY5MTJFNzcxMGM4Mzgz-_",
        "aGVsbG8gd29ybGQ_Pz8-Pg",  # url-safe alphabet
        "DE44500105175407324931",
        "AAAAAAAAAAAAAAAAAAAA",
        "////////////////////",
    ],
)
def test_base64_views_match_the_stdlib_decoders(run: str) -> None:
    import base64
    import binascii

    from agentgate.analyzers._secretcodec import _b64

    def printable(b: bytes) -> str | None:
        try:
            s = b.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if not s or sum(c.isprintable() or c in "\n\r\t" for c in s) < 0.9 * len(s):
            return None
        return s

    body = run.rstrip("=")
    want = None
    if not (len(body) % 4 == 1 or body.isalpha() or body.isdigit()):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                want = printable(decode(body + "=" * (-len(body) % 4)))
            except (binascii.Error, ValueError):
                continue
            if want is not None:
                break
    assert _b64(run) == want


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: [x, 'y', \"z\", 1.5, true, null, ~, 0x1f, 2026-12-07, '', !!str 12]\n",
        "base: &b {allowed_operations: [read], max_rate: 5}\nagents:\n  x:\n    <<: *b\n    name: n\n  y: *b\n",
        "- &a [1, 2]\n- [*a, *a]\n- {k: *a}\n",
        "k: !!binary aGVsbG8=\nt: 1:20\ns: !!set {a, b}\n",
    ],
)
def test_policy_loader_reads_what_pyyaml_reads(text: str) -> None:
    """The event loop that composes policy files (depth, alias and duplicate checks) builds the
    same data as PyYAML's own safe loader."""
    import yaml

    from agentgate.policy._load import load_yaml_text

    data, lines = load_yaml_text(text, "x.yaml")
    assert data == yaml.safe_load(text)
    assert lines[()] == 1


def test_config_analyzer_checks_the_budget_across_many_arguments() -> None:
    """A call of thousands of short arguments is read name by name: the budget stops it."""
    from agentgate._call import ToolCall
    from agentgate.analyzers.base import BudgetExceeded, make_context
    from agentgate.analyzers.config import analyze_config

    call = ToolCall("run_tool", {f"a{i}": "x y" for i in range(1000)})
    ctx = make_context(call)
    assert analyze_config(call, ctx) == []  # no budget: read to the end
    ctx.deadline = 0  # spent before it starts
    with pytest.raises(BudgetExceeded):
        analyze_config(call, ctx)


def test_budget_counts_reading_the_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deadline runs from before the argument walk, not after it."""
    import time

    from agentgate._call import ToolCall
    from agentgate.analyzers import base

    clock = iter(range(0, 10**12, 10**9))  # each reading of the clock is one second later
    monkeypatch.setattr(time, "thread_time_ns", lambda: next(clock))
    call = ToolCall("run_tool", {"text": "x" * 5000})
    deadline = base.budget_deadline(call, base.AnalyzerSettings(time_budget_ms=50.0))
    assert deadline == 50_000_000  # the first reading (0), taken before the walk
