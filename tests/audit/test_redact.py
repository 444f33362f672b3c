"""Redaction: secrets are masked before anything is persisted; benign look-alikes are kept."""

from __future__ import annotations

import pytest

from agentgate.audit._redact import MASK, Redactor, load_detector
from agentgate.audit._writer import base_row

from .conftest import AWS_KEY, GITHUB_TOKEN, decision

SECRETS = {
    "aws": AWS_KEY,
    "github": GITHUB_TOKEN,
    "openai": "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z" * 2,
    "slack": "xoxb-1234567890-abcdefghijklmnop",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}


@pytest.fixture(params=["detector", "builtin"])
def redactor(request: pytest.FixtureRequest) -> Redactor:
    """Both the analyzers' secrets detector and the built-in fallback set."""
    if request.param == "detector":
        if load_detector() is None:
            pytest.fail("agentgate.analyzers.secrets.redact should be wired in")
        return Redactor(())
    return Redactor((), detector=None)


def test_secrets_detector_is_wired_in() -> None:
    """When agentgate.analyzers.secrets exists, its redact() is what the audit uses first."""
    from agentgate.analyzers import secrets

    assert Redactor(()).detector is secrets.redact


@pytest.mark.parametrize("kind", sorted(SECRETS))
def test_token_in_any_argument_is_masked(redactor: Redactor, kind: str) -> None:
    """A credential in an argument with an innocent name is masked, the rest of the text kept."""
    out, changed = redactor.value({"body": f"deploy with {SECRETS[kind]} now"})
    assert changed
    assert SECRETS[kind] not in str(out)
    assert out["body"].startswith("deploy with ")
    assert out["body"].endswith(" now")


def test_obfuscated_nesting_and_odd_key_spelling(redactor: Redactor) -> None:
    """Secrets deep in lists/dicts/tuples and keys spelled DB-Password / X_API_KEY are still masked."""
    args = {
        "config": {"servers": [{"env": ("ok", {"note": f"key={AWS_KEY}"})}]},
        "DB-Password": "correct horse battery",
        "X_API_KEY": 12345678,
        "headers": {"Authorization": "Token abcdefghijklmnopqrstuvwx"},
    }
    out, changed = redactor.value(args)
    text = str(out)
    assert changed
    assert AWS_KEY not in text
    assert "correct horse battery" not in text
    assert "12345678" not in text
    assert "abcdefghijklmnopqrstuvwx" not in text
    assert out["DB-Password"] == MASK
    assert out["X_API_KEY"] == MASK


def test_secret_field_value_is_scrubbed_from_other_strings(redactor: Redactor) -> None:
    """A password given in a field and echoed in a command line is masked in both places."""
    out, _ = redactor.value({"password": "Tr0ub4dor&3x", "cmd": "mysql -pTr0ub4dor&3x -e 'select 1'"})
    assert "Tr0ub4dor&3x" not in str(out)


def test_connection_string_password_and_assignments(redactor: Redactor) -> None:
    """scheme://user:password@host and password=... keep their shape, lose the secret."""
    out, changed = redactor.value({"dsn": "postgres://app:s3cr3t-Pw9@db:5432/x", "cfg": "password = 'hunter2hunter2'"})
    assert changed
    assert "s3cr3t-Pw9" not in str(out)
    assert "hunter2hunter2" not in str(out)
    assert out["dsn"].startswith("postgres://app:")
    assert out["dsn"].endswith("@db:5432/x")


def test_user_redact_fields_exact_and_glob() -> None:
    """redact_fields adds names (case-insensitive) and globs to the always-masked set."""
    r = Redactor(["customer_ssn", "*_pin"], detector=None)
    out, changed = r.value({"Customer_SSN": "123-45-6789", "card_pin": "4321", "name": "Ada"})
    assert changed
    assert out == {"Customer_SSN": MASK, "card_pin": MASK, "name": "Ada"}


@pytest.mark.parametrize(
    "args",
    [
        {"query": "SELECT author, passport_no FROM books WHERE tokens > 3"},
        {"max_tokens": 256, "keyboard": "qwerty", "monkey": "banana"},
        {"path": "reports/q3-2026.csv", "sha": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
        {"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "url": "https://example.com/a?b=c"},
    ],
)
def test_benign_lookalikes_are_kept(redactor: Redactor, args: dict[str, object]) -> None:
    """Words like author/passport/max_tokens, hashes, UUIDs and plain URLs are not masked."""
    out, changed = redactor.value(args)
    assert not changed
    assert out == args


def test_record_masks_findings_evidence_and_reasoning() -> None:
    """The secret also disappears from the findings' evidence and the reasoning, and the row is marked."""
    call, verdict, _agent = decision(args={"body": f"token {GITHUB_TOKEN}"}, reasoning=f"saw {GITHUB_TOKEN}")
    from dataclasses import replace

    from agentgate._decision import Effect, Finding, Severity

    verdict = replace(
        verdict, findings=(Finding("secrets.github_token", Severity.HIGH, Effect.BLOCK, "token", GITHUB_TOKEN),)
    )
    row = base_row((0.0, call, verdict, "a", "t", "u", dict(call.arguments)), Redactor(()))
    assert GITHUB_TOKEN not in repr(row)
    assert row["redacted"] is True
