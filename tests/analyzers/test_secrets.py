"""Tests for the secrets analyzer: golden fixtures, the detector and redaction."""

from __future__ import annotations

import doctest
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentgate._call import ToolCall
from agentgate._decision import Effect, Finding
from agentgate.analyzers import secrets as secrets_module
from agentgate.analyzers.base import make_context
from agentgate.analyzers.secrets import analyze_secrets, find_secrets, redact

FIXTURES = Path(__file__).parent.parent / "fixtures" / "analyzers" / "secrets.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(FIXTURES.read_text(encoding="utf-8"))

GHP = "ghp_MFLZDe1f8rESQedUStPKR0CsTy4Qwb8DwkNh"
AKIA = "AKIAUJZDE8GXD6NCF10E"


def _run(case: dict[str, Any]) -> list[Finding]:
    call = ToolCall(case["tool"], case["args"])
    return analyze_secrets(call, make_context(call))


def _effect(findings: list[Finding]) -> str:
    if any(f.effect is Effect.BLOCK for f in findings):
        return "block"
    if any(f.effect is Effect.ESCALATE for f in findings):
        return "escalate"
    return "allow"


@pytest.mark.parametrize("case", CASES, ids=[f"{i:03d}-{c['note'][:40]}" for i, c in enumerate(CASES)])
def test_golden(case: dict[str, Any]) -> None:
    """Each fixture yields exactly its expected rules and combined effect."""
    findings = _run(case)
    rules = sorted({f.rule_id for f in findings if f.effect is not Effect.INFO})
    assert rules == sorted(case["expect"]), [f.to_dict() for f in findings]
    assert _effect(findings) == case["effect"], [f.to_dict() for f in findings]


def test_fixtures_cover_every_rule() -> None:
    """Every rule in the module docstring's table has at least one leak fixture."""
    documented = {
        line.split()[0].strip("`")
        for line in (secrets_module.__doc__ or "").splitlines()
        if line.startswith("``secrets.")
    }
    covered = {r for c in CASES for r in c["expect"]}
    assert documented
    assert documented <= covered, documented - covered


def test_findings_never_carry_the_secret() -> None:
    """Evidence is masked: a finding (which the audit trail stores) never contains the secret itself."""
    for case in CASES:
        raw = str(case["args"])
        for f in _run(case):
            for m in find_secrets(raw):
                secret = raw[m.start : m.end]
                assert secret[m.keep :] not in f.evidence, f.to_dict()
            assert "\n" not in f.message


def test_doctests() -> None:
    """The module's docstring examples run."""
    result = doctest.testmod(secrets_module)
    assert result.attempted > 0
    assert result.failed == 0


def test_redact_deep_copy() -> None:
    """redact masks nested secrets, keeps structure and types, and leaves the input untouched."""
    value = {
        "body": f"token {GHP}",
        "items": [AKIA, ("x", b"key " + AKIA.encode()), {"nested": {"api_key": "anything"}}],
        "count": 3,
        "flag": None,
        "tags": {"plain"},
    }
    before = repr(value)
    out, changed = redact(value)
    assert changed
    assert repr(value) == before
    assert out["body"] == "token ghp_[REDACTED:github_token]"
    assert out["items"][0] == "AKIA[REDACTED:aws_key]"
    assert out["items"][1] == ("x", b"key AKIA[REDACTED:aws_key]")
    assert out["items"][2] == {"nested": {"api_key": "[REDACTED]"}}
    assert (out["count"], out["flag"], out["tags"]) == (3, None, {"plain"})
    assert GHP not in repr(out)
    assert AKIA not in repr(out)


def test_redact_nothing_to_mask() -> None:
    """A value without secrets comes back equal, with changed=False."""
    value = {"query": "SELECT 1", "max_tokens": 100, "token_count": 5, "ids": ["550e8400-e29b-41d4-a716-446655440000"]}
    assert redact(value) == (value, False)


def test_redact_masks_examples_and_cards_keep_last_four() -> None:
    """Audit redaction masks documentation keys too, and card numbers keep only their last four digits."""
    out, changed = redact("AKIAIOSFODNN7EXAMPLE card 4532 0151 1283 0366")
    assert changed
    assert out == "AKIA[REDACTED:aws_key] card [REDACTED:card_number ****0366]"


def test_redact_private_key_block() -> None:
    """A PEM private key is replaced whole, keeping its BEGIN/END lines."""
    pem = "-----BEGIN PRIVATE KEY-----\n" + "QUJD" * 20 + "\n-----END PRIVATE KEY-----"
    out, _ = redact(f"a {pem} b")
    assert out == "a -----BEGIN PRIVATE KEY-----[REDACTED:private_key]-----END PRIVATE KEY----- b"


def test_detector_handles_large_and_adversarial_text() -> None:
    """Large and digit-heavy inputs are scanned without error; a secret at the end is still found."""
    filler = "1234 5678 " * 20000 + "x" * 10000
    assert [m.rule_id for m in find_secrets(filler + " " + GHP)] == ["secrets.github_token"]
    assert find_secrets("") == []


def test_never_raises_on_hostile_input() -> None:
    """Random mixes of token prefixes, PEM headers, digits and unicode never make the detector or redact raise."""
    import random

    rnd = random.Random(20261125)
    pieces = [
        "AKIA",
        "ghp_",
        "sk-",
        "sk_live_",
        "eyJ",
        ".",
        "-----BEGIN PRIVATE KEY-----",
        "\\n",
        "4242 ",
        "=",
        "password=",
        "postgres://u:",
        "@",
        "Authorization: Bearer ",
        "xoxb-",
        "①",
        "\x00",
        " ",
        "A1b2C3d4",
    ]
    for _ in range(3000):
        s = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 15)))
        for m in find_secrets(s):
            assert 0 <= m.start < m.end <= len(s)
        masked, _ = redact({"v": s, "b": s.encode()})
        assert isinstance(masked["v"], str)
        call = ToolCall("send_email", {"to": "a@b.io", "body": s})
        analyze_secrets(call, make_context(call))


def test_a_jwt_is_judged_by_the_clock_on_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """A token that expires between two identical calls is live on the first and expired on the second:
    neither the scan's cache nor the firewall's memo may keep the first answer."""
    import base64
    import json as _json

    import agentgate
    from agentgate.analyzers import secrets as sec

    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(_json.dumps(obj).encode()).decode().rstrip("=")

    token = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': 'svc-7', 'exp': 2_000_000_000})}.c2lnbmF0dXJlc2lnbmF0dXJl"
    text = f"Authorization: Bearer {token}"
    fw = agentgate.Firewall(audit=None)
    call = agentgate.ToolCall("send_email", {"to": "x@partner.example", "body": text})
    now = [1_999_999_000.0]
    monkeypatch.setattr(sec.time, "time", lambda: now[0])
    assert [m.example for m in sec.find_secrets(text)] == [False]
    live = fw.evaluate_tier1(call)
    now[0] = 2_000_000_100.0  # past exp
    assert [m.example for m in sec.find_secrets(text)] == [True]
    expired = fw.evaluate_tier1(call)
    assert live.action is not agentgate.VerdictType.ALLOW and "secrets.jwt" in {f.rule_id for f in live.findings}
    assert expired.action is agentgate.VerdictType.ALLOW, expired.reasoning  # an expired token opens nothing
