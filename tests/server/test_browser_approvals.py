"""The approvals page in a real browser (Playwright driving Debian's chromium).

An agent thread calls a guarded tool that its policy escalates with ``on_escalate: ask``
and ``approver: queue``; the thread waits in the queue while the test answers in the
page, then waits on the thread (events, never sleeps) to see the outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agentgate import FirewallBlockedError, agent_context, guard
from agentgate._firewall import Firewall
from agentgate.approvals import ApprovalQueue
from agentgate.policy._config import parse_config
from agentgate.server import create_app
from agentgate.server._tokens import TokenStore

from .conftest import serve

pytestmark = pytest.mark.slow


@dataclass
class Agent:
    """A guarded ``wire_money`` tool and an agent thread calling it once."""

    fw: Firewall
    ran: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    outcome: dict[str, Any] = field(default_factory=dict)

    def start(self, iban: str) -> threading.Thread:
        """Call the tool in a new thread, as an agent would; `finished` is set when the call returns or raises."""

        @guard(firewall=self.fw)
        def wire_money(iban: str, amount: int) -> str:
            self.ran.set()
            return f"sent {amount} to {iban}"

        def run() -> None:
            try:
                with agent_context(agent_id="payer", task_id="invoice-7"):
                    self.outcome["result"] = wire_money(iban, 5)
            except BaseException as e:  # the test asserts on it
                self.outcome["error"] = e
            finally:
                self.finished.set()

        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[str, str, Agent]]:
    """(audit url, state url, agent): a never-seen IBAN is escalated to the durable queue."""
    audit, state = f"sqlite:///{tmp_path}/audit.db", f"sqlite:///{tmp_path}/state.db"
    cfg = parse_config(
        {
            "on_escalate": "ask",
            "approver": {"kind": "queue", "url": state, "timeout": 300},
            "agents": {"default": {"history": [{"first_time": {"tool": "wire_money"}, "arguments": ["iban"]}]}},
        }
    )
    fw = Firewall(cfg, audit=audit)
    agent = Agent(fw)
    yield audit, state, agent
    if not agent.finished.is_set():  # never leave the agent waiting past the test
        q = ApprovalQueue(state)
        for a in q.list("pending"):
            q.decide(a.id, False, "test teardown", "test over")
        q.close()
        agent.finished.wait(60)
    fw.shutdown(5)


def _open_page(page: Any, base: str) -> None:
    from playwright.sync_api import expect

    page.goto(base + "/approvals")
    expect(page.locator("#live")).to_have_text("live")
    expect(page.locator("#empty")).to_contain_text("Nothing is waiting for an answer")


def test_approve_in_the_page_resumes_the_waiting_agent(page: Any, setup: tuple[str, str, Agent]) -> None:
    """The escalated call appears live with its agent, task and reason; approving with a reason runs the tool body."""
    from playwright.sync_api import expect

    audit, state, agent = setup
    with serve(create_app(audit, state_url=state)) as base:
        _open_page(page, base)
        agent.start("DE44500105175407324931")
        row = page.locator("#pending tr.approval")
        expect(row).to_have_count(1)  # arrived by the live stream: no reload
        expect(row).to_contain_text("wire_money")
        expect(row).to_contain_text("DE44500105175407324931")
        expect(row).to_contain_text("payer")
        expect(row).to_contain_text("invoice-7")
        expect(row.locator("td.why")).to_contain_text("first")
        expect(row.locator("td.age")).to_contain_text("expires in")
        assert not agent.finished.is_set() and not agent.ran.is_set()  # the agent is waiting for a human

        row.locator("button.approve").click()  # no reason: refused in the page, nothing sent
        expect(row.locator(".answer-msg")).to_contain_text("give a reason")
        q = ApprovalQueue(state)
        assert [a.status for a in q.list(None)] == ["pending"]

        row.locator("input.reason").fill("known supplier, invoice 7 checked")
        row.locator("button.approve").click()
        assert agent.finished.wait(60), "the agent did not resume after the approval"
        assert agent.ran.is_set() and agent.outcome == {"result": "sent 5 to DE44500105175407324931"}
        expect(page.locator("#pending tr.approval")).to_have_count(0)
        expect(page.locator("#empty")).to_be_visible()
        expect(page.locator("#recent")).to_contain_text("approved")
        expect(page.locator("#recent")).to_contain_text("known supplier, invoice 7 checked")
        (answered,) = q.list(None)
        assert answered.status == "approved" and answered.decided_by == "local"
        q.close()
        page.goto("about:blank")  # leave before the server stops: no stream left open


def test_deny_in_the_page_blocks_the_call_and_the_body_never_runs(page: Any, setup: tuple[str, str, Agent]) -> None:
    """Denying with a reason gives the waiting agent a block carrying that reason; the tool body does not run."""
    from playwright.sync_api import expect

    audit, state, agent = setup
    with serve(create_app(audit, state_url=state)) as base:
        _open_page(page, base)
        agent.start("FR7630006000011234567890189")
        row = page.locator("#pending tr.approval")
        expect(row).to_have_count(1)
        row.locator("input.reason").fill("unknown account, ask finance")
        row.locator("button.deny").click()
        assert agent.finished.wait(60), "the agent did not get the denial"
        err = agent.outcome.get("error")
        assert isinstance(err, FirewallBlockedError) and "unknown account, ask finance" in str(err)
        assert not agent.ran.is_set() and "result" not in agent.outcome
        expect(page.locator("#recent")).to_contain_text("denied")
        page.goto("about:blank")


def test_a_viewer_sees_the_queue_and_is_refused_an_answer(page: Any, setup: tuple[str, str, Agent]) -> None:
    """Signed in with a viewer token, the queue is shown with a note; an answer is refused by the server and the call stays pending."""
    from playwright.sync_api import expect

    audit, state, agent = setup
    tokens = TokenStore(state)
    _, secret = tokens.create("vic", "viewer")
    with serve(create_app(audit, state_url=state, tokens=tokens)) as base:
        page.goto(base + "/login")
        page.fill("input[name=token]", secret)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        page.goto(base + "/approvals")
        expect(page.locator("#who")).to_have_text("vic (viewer)")
        expect(page.locator("#role-note")).to_contain_text("answering needs the approver role")
        agent.start("NL91ABNA0417164300")
        row = page.locator("#pending tr.approval")
        expect(row).to_have_count(1)
        row.locator("input.reason").fill("looks fine to me")
        row.locator("button.approve").click()
        expect(row.locator(".answer-msg")).to_contain_text("refused: vic has role viewer")
        expect(row.locator(".answer-msg")).to_contain_text("needs approver")
        q = ApprovalQueue(state)
        assert [a.status for a in q.list(None)] == ["pending"]
        assert not agent.finished.is_set() and not agent.ran.is_set()
        q.close()
        page.goto("about:blank")
    tokens.close()


def test_an_approver_signed_in_with_a_token_answers_as_themselves(page: Any, setup: tuple[str, str, Agent]) -> None:
    """A browser session of an approver token answers (CSRF token sent by the page); who answered is the token's name."""
    from playwright.sync_api import expect

    audit, state, agent = setup
    tokens = TokenStore(state)
    _, secret = tokens.create("amy", "approver")
    with serve(create_app(audit, state_url=state, tokens=tokens)) as base:
        page.goto(base + "/login")
        page.fill("input[name=token]", secret)
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")
        page.goto(base + "/approvals")
        expect(page.locator("#who")).to_have_text("amy (approver)")
        expect(page.locator("#role-note")).to_be_hidden()
        agent.start("BE68539007547034")
        row = page.locator("#pending tr.approval")
        expect(row).to_have_count(1)
        row.locator("input.reason").fill("supplier on file")
        row.locator("button.approve").click()
        assert agent.finished.wait(60), "the agent did not resume after the approval"
        assert agent.ran.is_set() and agent.outcome == {"result": "sent 5 to BE68539007547034"}
        expect(page.locator("#recent")).to_contain_text("amy")
        q = ApprovalQueue(state)
        (answered,) = q.list(None)
        assert answered.status == "approved" and answered.decided_by == "amy"
        q.close()
        page.goto("about:blank")
    tokens.close()
