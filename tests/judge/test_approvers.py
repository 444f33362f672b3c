"""Human approval: a webhook to a local approval service, the console, callables."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from agentgate._decision import VerdictType
from agentgate._errors import ConfigError
from agentgate._escalation import EscalationRequest, Escalator
from agentgate.judge import CallableApprover, ConsoleApprover, WebhookApprover

from .conftest import MakeReq
from .servers import ApprovalServer, Decision


@pytest.fixture
def service() -> Iterator[ApprovalServer]:
    """A local approval service (approves by default)."""
    svc = ApprovalServer()
    yield svc
    svc.stop()


def test_webhook_approval(service: ApprovalServer, make_req: MakeReq) -> None:
    """The request is POSTed with the call and findings; the service's yes allows, naming the approver."""
    out = Escalator(on_escalate="ask", approver=WebhookApprover(service.url, timeout=2)).resolve(make_req())
    assert out.action is VerdictType.ALLOW
    assert out.policy_name == "escalation.approved"
    assert "webhook:alice" in out.reasoning
    sent = service.received[0]
    assert sent["tool"] == "execute_sql"
    assert sent["arguments"] == {"query": "SELECT f(amount) FROM sales_data"}
    assert sent["findings"][0]["rule_id"] == "sql.unknown_function"
    assert sent["task"].startswith("Summarize")
    assert sent["agent"]["agent_id"] == "report-bot"


async def test_webhook_approval_async(service: ApprovalServer, make_req: MakeReq) -> None:
    """Same on the async path."""
    out = await Escalator(on_escalate="ask", approver=WebhookApprover(service.url, timeout=2)).aresolve(make_req())
    assert out.action is VerdictType.ALLOW


@pytest.mark.parametrize("path", ["sync", "async"])
async def test_webhook_timeout_blocks(service: ApprovalServer, make_req: MakeReq, path: str) -> None:
    """A service that does not answer within the timeout: block, without waiting for its late answer."""
    answer = threading.Event()  # the service answers only after the decision: waiting for it would hang
    service.answer = Decision(gate=answer)
    esc = Escalator(on_escalate="ask", approver=WebhookApprover(service.url, timeout=0.3))
    try:
        out = esc.resolve(make_req()) if path == "sync" else await esc.aresolve(make_req())
    finally:
        answer.set()
    assert out.action is VerdictType.BLOCK
    assert out.policy_name == "escalation.no_answer"
    assert "no answer from the webhook within 0.3s" in out.reasoning


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (Decision({"approved": False, "approver": "bob", "reason": "not in scope"}), "not in scope"),
        (Decision({"approved": "yes"}), "no boolean 'approved'"),
        (Decision("<html>ok</html>"), "not JSON"),
        (Decision({"approved": True}, status=500), "HTTP 500"),
        (Decision({"approved": True}, status=302), "HTTP 302"),
    ],
    ids=["denied", "string-yes", "not-json", "500", "redirect"],
)
def test_webhook_anything_but_yes_blocks(
    service: ApprovalServer, make_req: MakeReq, answer: Decision, why: str
) -> None:
    """A no, a malformed answer, an error status or a redirect blocks."""
    service.answer = answer
    out = Escalator(on_escalate="ask", approver=WebhookApprover(service.url, timeout=2)).resolve(make_req())
    assert out.action is VerdictType.BLOCK
    assert why in out.reasoning


@pytest.mark.parametrize("path", ["sync", "async"])
async def test_webhook_poll_flow(service: ApprovalServer, make_req: MakeReq, path: str) -> None:
    """202 + poll_url: the approver polls until the answer arrives."""
    service.answer = Decision({"approved": True, "approver": "carol"}, poll=True)
    esc = Escalator(on_escalate="ask", approver=WebhookApprover(service.url, timeout=3, poll_interval=0.05))
    out = esc.resolve(make_req()) if path == "sync" else await esc.aresolve(make_req())
    assert out.action is VerdictType.ALLOW
    assert "carol" in out.reasoning
    assert service.polls == 3


def test_webhook_poll_that_never_resolves_blocks(service: ApprovalServer, make_req: MakeReq) -> None:
    """Pending forever: block at the timeout."""
    service.answer = Decision(poll=True)
    service.pending_polls = 10_000
    out = Escalator(on_escalate="ask", approver=WebhookApprover(service.url, timeout=0.4, poll_interval=0.05)).resolve(
        make_req()
    )
    assert out.action is VerdictType.BLOCK
    assert "within 0.4s" in out.reasoning


def test_webhook_poll_sleep_overrunning_the_deadline_times_out(
    service: ApprovalServer, make_req: MakeReq, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A poll sleep that ends after the deadline (a loaded machine) is a timeout, not a bad timeout value."""
    import time as real_time
    from types import SimpleNamespace

    from agentgate.judge import approvers

    service.answer = Decision(poll=True)
    service.pending_polls = 10_000
    # Every sleep overruns the whole 0.4 s budget, as a descheduled process would.
    monkeypatch.setattr(
        approvers, "time", SimpleNamespace(monotonic=real_time.monotonic, sleep=lambda _s: real_time.sleep(0.5))
    )
    out = Escalator(on_escalate="ask", approver=WebhookApprover(service.url, timeout=0.4, poll_interval=0.05)).resolve(
        make_req()
    )
    assert out.action is VerdictType.BLOCK
    assert "within 0.4s" in out.reasoning


def test_webhook_signature(make_req: MakeReq) -> None:
    """With a secret, the body is HMAC-signed so the service can check who asked."""
    svc = ApprovalServer(secret="s3cret")
    try:
        WebhookApprover(svc.url, timeout=2, secret="s3cret").approve(make_req())
        WebhookApprover(svc.url, timeout=2, secret="wrong").approve(make_req())
    finally:
        svc.stop()
    assert svc.signatures_ok == [True, False]


def test_webhook_unreachable_blocks(make_req: MakeReq) -> None:
    """Nothing listening: block with the reason."""
    out = Escalator(on_escalate="ask", approver=WebhookApprover("http://127.0.0.1:9/x", timeout=1)).resolve(make_req())
    assert out.action is VerdictType.BLOCK
    assert "unreachable" in out.reasoning


def test_webhook_rejects_bad_url() -> None:
    """Only http(s) URLs are accepted."""
    with pytest.raises(ConfigError):
        WebhookApprover("file:///etc/passwd")


class FakeTTY(io.StringIO):
    """A StringIO that claims to be a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("typed", "expected"), [("y\n", True), ("YES\n", True), ("n\n", False), ("\n", False), ("sure\n", False)]
)
def test_console_answers(make_req: MakeReq, typed: str, expected: bool) -> None:
    """Only y/yes approves; Enter, n and anything else deny."""
    out = io.StringIO()
    approver = ConsoleApprover(timeout=2, stdin=FakeTTY(typed), stdout=out)
    decision = approver.approve(make_req())
    assert decision.approved is expected
    shown = out.getvalue()
    assert "execute_sql" in shown
    assert "sql.unknown_function" in shown
    assert "Allow this call? [y/N]" in shown


def test_console_timeout_blocks(make_req: MakeReq) -> None:
    """Nobody types: no answer after the timeout, so the call is blocked."""
    r, w = os.pipe()
    try:
        stdin = os.fdopen(r, "r")
        approver = ConsoleApprover(timeout=0.2, stdin=stdin, stdout=io.StringIO(), require_tty=False)
        out = Escalator(on_escalate="ask", approver=approver).resolve(make_req())  # nobody ever writes: no hang
        assert out.action is VerdictType.BLOCK
        assert "no answer within 0.2s" in out.reasoning
    finally:
        stdin.close()
        os.close(w)


async def test_console_async(make_req: MakeReq) -> None:
    """The console approver works from async code (its read runs on a worker thread)."""
    approver = ConsoleApprover(timeout=2, stdin=FakeTTY("y\n"), stdout=io.StringIO())
    out = await Escalator(on_escalate="ask", approver=approver).aresolve(make_req())
    assert out.action is VerdictType.ALLOW


def test_console_escapes_control_characters(make_req: MakeReq) -> None:
    """ANSI escapes and carriage returns in arguments cannot redraw the question."""
    out = io.StringIO()
    req = make_req(args={"query": "SELECT 1\x1b[2K\r[AgentGate] judge approved: press y"})
    ConsoleApprover(timeout=1, stdin=FakeTTY("n\n"), stdout=out).approve(req)
    shown = out.getvalue()
    assert "\x1b" not in shown
    assert "\r" not in shown
    assert "\\u001b" in shown


def test_console_without_tty_blocks(make_req: MakeReq) -> None:
    """A non-interactive stdin (CI, a server) is no answer."""
    d = ConsoleApprover(stdin=io.StringIO("y\n"), stdout=io.StringIO()).approve(make_req())
    assert d.approved is None
    assert "no interactive terminal" in d.reason


def test_callable_timeout_blocks(make_req: MakeReq) -> None:
    """A slow sync callable is abandoned at its timeout: block."""

    release = threading.Event()

    def slow(req: EscalationRequest) -> bool:
        release.wait(5.0)
        return True

    d = CallableApprover(slow, timeout=0.1).approve(make_req())
    finished_first = release.is_set()  # still False: the callable is blocked until we release it below
    release.set()
    assert not finished_first
    assert d.approved is None


async def test_callable_timeout_blocks_async(make_req: MakeReq) -> None:
    """Same for an async callable on the async path."""
    import asyncio

    async def slow(req: EscalationRequest) -> bool:
        await asyncio.sleep(1.0)
        return True

    d = await CallableApprover(slow, timeout=0.1).aapprove(make_req())
    assert d.approved is None
    assert "no answer within 0.1s" in d.reason


def test_callable_name() -> None:
    """The approver's name comes from the function."""

    def on_call(req: Any) -> bool:
        return True

    assert CallableApprover(on_call).name.endswith("on_call")


def test_webhook_payload_masks_secrets(service: ApprovalServer, make_req: MakeReq) -> None:
    """Secrets in arguments are [REDACTED] before the request leaves the process."""
    req = make_req(args={"query": "SELECT 1", "password": "hunter2hunter2"})
    WebhookApprover(service.url, timeout=2).approve(req)
    sent = service.received[0]
    assert sent["arguments"] == {"query": "SELECT 1", "password": "[REDACTED]"}
