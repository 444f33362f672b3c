"""Every call the analyzers are tested on, and what the default chain finds in each.

The corpus is every eval case of both splits, every analyzer fixture
(``tests/fixtures/analyzers/*.yaml``), the cold inputs of ``bench/analyzers.py`` and a few
long adversarial texts. `findings` runs the classification and every analyzer of
`DEFAULT_ANALYZERS` on each call and returns a JSON-ready record per call: the
classification's kind, operation and targets, and each analyzer's findings (or the
exception it raised).

Performance work uses it to show that a fast path changes no result: ``test_fast_paths``
compares the records with the fast paths on and off. Run as a script it writes or
compares a snapshot (to compare a branch with the commit it started from)::

    python -m tests.analyzers.findings_corpus write /tmp/before.json
    python -m tests.analyzers.findings_corpus compare /tmp/before.json

``--reference`` turns the fast paths off (`agentgate.analyzers._fastpath`) first.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from agentgate._call import ToolCall, ToolSpec
from agentgate.analyzers import DEFAULT_ANALYZERS
from agentgate.analyzers.base import AnalyzerSettings, make_context
from agentgate.analyzers.code import _extract
from agentgate.eval.resolver import eval_resolver
from agentgate.eval.runner import load_cases, sandbox_cwd

FIXTURES = Path(__file__).parent.parent / "fixtures" / "analyzers"
BENCH = Path(__file__).parent.parent.parent / "bench" / "analyzers.py"

#: Long texts whose every repetition looks like a secret, a URL or a command: the costly
#: shapes of tests/analyzers/test_bounded_cost.py, cut to a size a test runs quickly.
ADVERSARIAL: dict[str, tuple[str, str, str]] = {
    "password=": ("write_file", "content", "password=" * 3000),
    "password= email": ("send_email", "body", "password=" * 3000),
    "ghp_": ("write_file", "content", "ghp_ " * 5000),
    "AKIA-": ("send_email", "body", "AKIA-" * 5000),
    "AKIA- keys": ("send_email", "body", "key AKIA-UJZD-E8GX-D6NC-F10E " * 700),
    "ghp_ keys": ("send_email", "body", "ghp_MFLZDe1f8rESQedUStPKR0CsTy4Qwb8DwkNh\n" * 500),
    "mixed secrets": (
        "send_email",
        "body",
        "password=hunter2 AKIAUJZDE8GXD6NCF10E token ghp_MFLZDe1f8rESQedUStPKR0CsTy4Qwb8DwkNh " * 300,
    ),
    "eyJa.": ("http_get", "url", "eyJa." * 4000),
    "%41": ("http_get", "url", "http://a/?" + "%41" * 6000),
    "a@b.": ("run_shell", "command", "a@b." * 5000),
}

#: Texts at the thresholds of the analyzers' prefilters (shortest card, base64 and hex runs
#: that can match, markers that overlap, non-ASCII digits), so a prefilter one character too
#: strict changes a finding here.
EDGES: dict[str, str] = {
    "card 13": "card:4000000001236;",
    "card 15": "amex card 378282246312340 / 371449635398432",
    "card 16 bare": "billing: 5105105105101232",
    "card grouped": "4111-1111-1111-1236 exp 12/29",
    "card non-ascii digits": "card \u0664\u0661\u0661\u0661 4111111111111236",
    "b64 16": "note " + "Z2hwX2FiY2RlZmdo" + " end",
    "b64 key": "cfg " + "Z2hwX01GTFpEZTFmOHJFU1FlZFVTdFBLUjBDc1R5NFF3YjhEd2tOaA==",
    "hex 32": "blob 676870" + "5f" + "6162636465666768696a6b6c6d6e6f70717273747576777879" + " end",
    "hex key": "x " + b"ghp_MFLZDe1f8rESQedUStPKR0CsTy4Qwb8DwkNh".hex() + " y",
    "sk-ant overlap": "sk-ant-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8" + " and sk-" + "Zz9" * 12,
    "ghp_v1_": "ghp_v1_" + "a" * 64 + " dop_v1_" + "0123456789abcdef" * 4,
    "AKIA overlap": "AKIAIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q" + " :AKIA" + "UJZDE8GXD6NCF10E",
    "split AKIA": "key AKIA-UJZD-E8GX-D6NC-F10E then AKIA UJZD E8GX D6NC F10E",
    "split ghp": "ghp_MFLZ-De1f-8rES-QedU-StPK-R0Cs-Ty4Q-wb8D-wkNh",
    "reversed": "token " + "ghp_MFLZDe1f8rESQedUStPKR0CsTy4Qwb8DwkNh"[::-1],
    "url-encoded": "t=%67%68%70%5F" + "MFLZDe1f8rESQedUStPKR0CsTy4Qwb8DwkNh",
    "dsn": "Server=db.internal;Database=app;User Id=sa;Password=Xk9#vL2pQ7;",
    "password repeated": "password=Xk9vL2pQ7wR4 " * 30 + "password=hunter2 db_password='N0tS3cr3tAtAll!'",
}


def _fixture_call(name: str, entry: dict[str, Any]) -> ToolCall | None:
    """The ToolCall a fixture entry of *name*.yaml describes (the analyzers' test modules' own reading)."""
    spec = None
    if entry.get("dialect"):
        spec = ToolSpec(kind="sql", dialect=entry["dialect"])
    if "args" in entry:
        return ToolCall(entry.get("tool", "tool"), dict(entry["args"]), spec=spec)
    for key, tool, arg in (
        ("sql", "execute_sql", "query"),
        ("cmd", "bash", "command"),
        ("code", "run_python", "code"),
        ("path", "read_file", "path"),
        ("url", "fetch_url", "url"),
    ):
        if key in entry:
            return ToolCall(entry.get("tool", tool), {entry.get("arg", arg): entry[key]}, spec=spec)
    return None


def calls() -> Iterator[tuple[str, ToolCall]]:
    """``(label, call)`` for every call of the corpus, in a stable order."""
    for case in load_cases():
        yield f"eval:{case.split}:{case.id}", case.tool_call()
    for path in sorted(FIXTURES.glob("*.yaml")):
        for i, entry in enumerate(yaml.safe_load(path.read_text(encoding="utf-8")) or []):
            call = _fixture_call(path.stem, entry)
            if call is not None:
                yield f"fixture:{path.stem}:{i}", call
    spec = importlib.util.spec_from_file_location("_bench_analyzers", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for name, (_target, tool, arg, values) in bench.INPUTS.items():
        for i, value in enumerate(values):
            for n in (7, 1234):
                yield f"bench:{name}:{i}:{n}", ToolCall(tool, {arg: value.format(n=n)})
    for label, (tool, arg, text) in ADVERSARIAL.items():
        yield f"adversarial:{label}", ToolCall(tool, {arg: text})
    for label, text in EDGES.items():
        for tool, arg in (("send_email", "body"), ("write_file", "content"), ("http_post", "data")):
            yield f"edge:{label}:{tool}", ToolCall(tool, {arg: text})
        # Long enough for windows: the edge case repeated, then once more at the far end.
        long = (text + "\n") * (40_000 // (len(text) + 1)) + "x" * 9_000 + text
        yield f"edge:{label}:long", ToolCall("send_email", {"body": long})


def _record(call: ToolCall, settings: AnalyzerSettings, root: str) -> dict[str, Any]:
    ctx = make_context(call, settings=settings)
    c = ctx.classification
    out: dict[str, Any] = {
        "kind": c.kind,
        "operation": c.operation,
        "targets": {k: [(t.argument, t.value, t.source) for t in v] for k, v in sorted(c.targets.items())},
    }
    for analyzer in DEFAULT_ANALYZERS:
        try:
            found: Any = [f.to_dict() for f in analyzer(call, ctx)]
        except Exception as e:  # a raise is a result to compare, too
            found = f"raised {type(e).__name__}: {e}"
        out[analyzer.__name__] = found
    # The sandbox's temporary directory and this process's id differ per run; neither is a result.
    text = json.dumps(out, default=repr).replace(root, "<ROOT>").replace(f"/proc/{os.getpid()}/", "/proc/<PID>/")
    return json.loads(text)


def findings() -> dict[str, dict[str, Any]]:
    """Per corpus label, the classification and every default analyzer's findings (in a sandbox cwd).

    The code analyzer's wall-clock budget (20 ms a source) is lifted and its cache emptied for
    the run: on a loaded machine a source could otherwise stop early in one run and not the other.
    """
    settings = AnalyzerSettings(resolver=eval_resolver)
    limits = _extract.LIMITS
    _extract.LIMITS = dataclasses.replace(limits, budget_s=600.0)
    with _extract._lock:
        cached = dict(_extract._cache)
        _extract._cache.clear()
    try:
        with sandbox_cwd() as root:
            return {label: _record(call, settings, str(root)) for label, call in calls()}
    finally:
        _extract.LIMITS = limits
        with _extract._lock:
            _extract._cache.clear()
            _extract._cache.update(cached)


def main(argv: list[str]) -> int:
    """``write FILE`` or ``compare FILE``, optionally ``--reference``."""
    if "--reference" in argv:
        from agentgate.analyzers import _fastpath

        _fastpath.ENABLED = False
        argv = [a for a in argv if a != "--reference"]
    if len(argv) != 2 or argv[0] not in ("write", "compare"):
        print(__doc__)
        return 2
    now = findings()
    if argv[0] == "write":
        Path(argv[1]).write_text(json.dumps(now, indent=1, sort_keys=True), encoding="utf-8")
        print(f"{len(now)} calls written to {argv[1]}")
        return 0
    before = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    differ = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
    for k in differ[:20]:
        print(k, "\n  before:", json.dumps(before.get(k))[:600], "\n  now:   ", json.dumps(now.get(k))[:600])
    print(f"{len(now)} calls, {len(differ)} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
