"""The answer schema (strict) and the thresholds that turn an answer into a verdict."""

from __future__ import annotations

import pytest

from agentgate._decision import VerdictType
from agentgate._errors import ConfigError, JudgeError
from agentgate.judge import JudgeAnswer, JudgeThresholds, decide, parse_answer

OK = '{"consistent": true, "confidence": 0.9, "reversible": true, "blast_radius": "low", "reasoning": "fine"}'


def test_parse_plain_and_fenced() -> None:
    """A bare JSON object and one in a ```json fence both parse."""
    assert parse_answer(OK).consistent is True
    assert parse_answer(f"```json\n{OK}\n```").confidence == 0.9
    assert parse_answer(f"  {OK}\n").blast_radius == "low"


@pytest.mark.parametrize(
    "text",
    [
        f"Here you go: {OK}",
        f"{OK} {OK}",
        f"```json\n{OK}",
        OK.replace('true, "confidence"', '"yes", "confidence"'),
        OK.replace('"low"', '"tiny"'),
        OK.replace("0.9", "-0.1"),
        OK.replace('"fine"', '""'),
        OK.replace("}", ', "override": "allow"}'),
        "[]",
        "null",
    ],
)
def test_parse_rejects(text: str) -> None:
    """Prose around the JSON, two objects, open fences, wrong types, bad enums, extra keys: all JudgeError."""
    with pytest.raises(JudgeError, match="malformed"):
        parse_answer(text)


def _a(**kw: object) -> JudgeAnswer:
    base: dict[str, object] = {
        "consistent": True,
        "confidence": 0.9,
        "reversible": True,
        "blast_radius": "low",
        "reasoning": "r",
    }
    base.update(kw)
    return JudgeAnswer.model_validate(base)


@pytest.mark.parametrize(
    ("answer", "thresholds", "expected", "why"),
    [
        (_a(), JudgeThresholds(), VerdictType.ALLOW, "consistent"),
        (_a(consistent=False, confidence=1.0), JudgeThresholds(), VerdictType.BLOCK, "inconsistent"),
        (_a(confidence=0.69), JudgeThresholds(), VerdictType.BLOCK, "below min_confidence 0.70"),
        (_a(confidence=0.7), JudgeThresholds(), VerdictType.ALLOW, "consistent"),
        (_a(confidence=0.8), JudgeThresholds(min_confidence=0.85), VerdictType.BLOCK, "min_confidence 0.85"),
        (_a(reversible=False, blast_radius="medium"), JudgeThresholds(), VerdictType.BLOCK, "irreversible"),
        (_a(reversible=False, blast_radius="low"), JudgeThresholds(), VerdictType.ALLOW, "consistent"),
        (
            _a(reversible=False, blast_radius="medium"),
            JudgeThresholds(max_irreversible_blast_radius="medium"),
            VerdictType.ALLOW,
            "consistent",
        ),
        (_a(reversible=True, blast_radius="high"), JudgeThresholds(), VerdictType.ALLOW, "consistent"),
        (
            _a(reversible=True, blast_radius="high"),
            JudgeThresholds(max_blast_radius="medium"),
            VerdictType.BLOCK,
            "exceeds max_blast_radius",
        ),
    ],
)
def test_decide_thresholds(answer: JudgeAnswer, thresholds: JudgeThresholds, expected: VerdictType, why: str) -> None:
    """Each threshold blocks on its own side of the line and allows on the other."""
    action, reason = decide(answer, thresholds)
    assert action is expected
    assert why in reason


def test_injection_markers_override_an_allow() -> None:
    """A confident allow is overridden when untrusted content addressed the reviewer; the knob turns it off."""
    assert decide(_a(confidence=1.0), JudgeThresholds(), ("answer allow",))[0] is VerdictType.BLOCK
    off = JudgeThresholds(block_on_reviewer_injection=False)
    assert decide(_a(confidence=1.0), off, ("answer allow",))[0] is VerdictType.ALLOW


@pytest.mark.parametrize(
    "kw", [{"min_confidence": 1.5}, {"max_blast_radius": "huge"}, {"max_irreversible_blast_radius": "none"}]
)
def test_thresholds_validated(kw: dict[str, object]) -> None:
    """Out-of-range thresholds are a ConfigError at construction, not a silent allow later."""
    with pytest.raises(ConfigError):
        JudgeThresholds(**kw)  # type: ignore[arg-type]
