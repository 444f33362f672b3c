"""The analyzers' fast paths are exact: with them off, every call of the corpus finds the same."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from agentgate._call import ToolCall
from agentgate.analyzers import _fastpath, _secretcodec
from agentgate.analyzers import secrets as secrets_module
from agentgate.analyzers.base import WINDOW, make_context

from .findings_corpus import findings

ROOT = Path(__file__).parent.parent.parent


def test_corpus_findings_are_the_same_without_fast_paths(tmp_path: Path) -> None:
    """Every eval case, fixture, bench input and adversarial text: identical findings both ways."""
    out = tmp_path / "reference.json"
    # A fresh interpreter: no cache there holds a result a fast path computed.
    subprocess.run(
        [sys.executable, "-m", "tests.analyzers.findings_corpus", "write", str(out), "--reference"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    reference = json.loads(out.read_text(encoding="utf-8"))
    fast = findings()
    assert _fastpath.ENABLED
    assert len(fast) > 3000
    differ = sorted(k for k in reference.keys() | fast.keys() if reference.get(k) != fast.get(k))
    assert not differ, {k: (reference.get(k), fast.get(k)) for k in differ[:5]}


def _marker_soup(rng: random.Random) -> str:
    marks = list(secrets_module._MARKER_OWNER)
    parts = [rng.choice(marks)[: rng.randint(1, 8)] if rng.random() < 0.3 else rng.choice(marks) for _ in range(40)]
    return "".join(p + rng.choice(["", "", " ", "x", "A", "_", "-"]) for p in parts)


def test_marker_scan_matches_the_flat_alternation() -> None:
    """The trie scan, gated by punctuation, finds the providers the flat longest-first alternation finds."""
    rng = random.Random(7)
    for _ in range(3000):
        text = _marker_soup(rng)
        flat = {secrets_module._MARKER_OWNER[k] for k in secrets_module._MARKER_FLAT_RE.findall(text)}
        assert secrets_module._MARKER_RE.findall(text) == secrets_module._MARKER_FLAT_RE.findall(text), text
        assert secrets_module._markers_present(text) == flat, text
    # Overlapping markers: the longest at a position wins, and what it covers is not a marker.
    assert secrets_module._markers_present("sk-ant-x") == {"anthropic"}
    assert secrets_module._markers_present("ghp_v1_") == {"github"}


@pytest.mark.parametrize(
    ("chars", "n", "text", "expect"),
    [
        ("0123456789 -", 13, "card 4111 1111 1111 1111", True),
        ("0123456789 -", 13, "call 555 1234 or 555 9876", False),
        ("0123456789", 4, "١٢٣", True),  # not ASCII: no proof, the regex decides
    ],
)
def test_has_run(chars: str, n: int, text: str, expect: bool) -> None:
    """The run prefilter answers False only when the class run is absent from ASCII text."""
    assert _secretcodec.has_run(chars, n)(text) is expect


class _Counting:
    """A compiled pattern whose scans are counted."""

    def __init__(self, rx: re.Pattern[str]) -> None:
        self.rx, self.scans = rx, 0

    def finditer(self, *a: object) -> object:
        self.scans += 1
        return self.rx.finditer(*a)  # type: ignore[arg-type]

    def search(self, *a: object) -> object:
        self.scans += 1
        return self.rx.search(*a)  # type: ignore[arg-type]


def test_prefilters_skip_the_run_regexes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prose without a 16-character base64 run or a 13-character digit run never runs those regexes."""
    b64, hexes, card = (
        _Counting(_secretcodec._B64_RUN),
        _Counting(_secretcodec._HEX_RUN),
        _Counting(secrets_module._CARD_RUN),
    )
    monkeypatch.setattr(_secretcodec, "_B64_RUN", b64)
    monkeypatch.setattr(_secretcodec, "_HEX_RUN", hexes)
    monkeypatch.setattr(secrets_module, "_CARD_RUN", card)
    prose = "the weekly report is attached, call me at 555 0199 with questions " * 40
    list(_secretcodec.decoded_views(prose))
    secrets_module._find(prose)
    assert (b64.scans, hexes.scans, card.scans) == (0, 0, 0)
    monkeypatch.setattr(_fastpath, "ENABLED", False)
    list(_secretcodec.decoded_views(prose))
    secrets_module._find(prose)
    assert (b64.scans, hexes.scans, card.scans) == (1, 1, 1)


def test_periodic_text_scans_each_distinct_window_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A megabyte-like periodic text costs its distinct windows, not its length; the finding stays."""
    calls: list[int] = []
    real = secrets_module.find_secrets

    def counting(text: str) -> list[secrets_module.SecretMatch]:
        calls.append(len(text))
        return real(text)

    monkeypatch.setattr(secrets_module, "find_secrets", counting)
    text = "password=" * 40_000  # 360,000 characters, 29 windows; period 9 -> 3 distinct windows
    call = ToolCall("write_file", {"path": "notes.txt", "content": text})
    found = secrets_module.analyze_secrets(call, make_context(call))
    windows = [n for n in calls if n == WINDOW]
    assert [f.rule_id for f in found] == ["secrets.password"]
    assert 0 < len(windows) <= 3 * 2  # each distinct window: its text and its reversed view


def test_repeated_prefix_spans_are_expanded_once() -> None:
    """A token prefix repeated with the same next 160 characters yields its split views once."""
    views = [v for v in _secretcodec.decoded_views("AKIA-UJZD-E8GX " * 50) if v[0] == "split"]
    _fastpath.ENABLED = False
    try:
        slow = [v for v in _secretcodec.decoded_views("AKIA-UJZD-E8GX " * 50) if v[0] == "split"]
    finally:
        _fastpath.ENABLED = True
    assert {v[3] for v in slow} == {v[3] for v in views}
    assert len(views) < len(slow) / 4


def test_path_tables_name_what_the_alternation_matches() -> None:
    """Each path pattern searched alone names the same pattern the alternation's search does."""
    from agentgate.analyzers import filesystem

    rng = random.Random(11)
    words = [
        "", "etc", "ssh", ".ssh", "id_rsa", "id_rsa.pub", ".aws", ".env", ".env.example", "passwd", "shadow",
        "home", "ana", ".bashrc", "cron.d", "systemd", ".git", "hooks", "config", "proc", "self", "environ",
        "c:", "windows", "system32", "sam", "x.pem", "google-chrome", "default", "login data", ".kube", "run",
        "secrets", ".config", "gcloud", "site-packages", "a.pth", "library", "launchagents", "var", "spool",
    ]  # fmt: skip
    for _ in range(4000):
        path = "/".join(rng.choice(words) for _ in range(rng.randint(1, 7)))
        for table in (filesystem._SENSITIVE, filesystem._PERSISTENCE):
            m = table.alternation.search(path)
            assert table.first(path) == (m.lastgroup if m else None), path


def test_lined_findings_keep_every_other_field() -> None:
    """The code analyzer's line prefix changes only the message and argument of a routed finding."""
    import dataclasses

    from agentgate._decision import Effect, Finding, Severity
    from agentgate.analyzers.code._model import Hit
    from agentgate.analyzers.code._route import _lined

    f = Finding("shell.destructive", Severity.HIGH, Effect.BLOCK, "rm -rf ~", "rm -rf ~", "command")
    (got,) = _lined([f], Hit("shell", "rm -rf ~", 3), "code")
    assert got == dataclasses.replace(f, message="line 3: rm -rf ~", argument="code")
