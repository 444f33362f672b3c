"""The policy page in a real browser (Playwright driving Debian's chromium).

The trail holds calls an agent made under the head policy (reads and writes allowed);
the test edits the policy in the page to read-only, sees validation errors with line and
key, sees the replay preview list the two writes that would now be blocked, saves, and
sees the new revision in the history and the diff.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentgate import agent_context
from agentgate._call import ToolCall
from agentgate._firewall import Firewall
from agentgate.policy.store import open_policy_store
from agentgate.server import create_app

from .conftest import serve

pytestmark = pytest.mark.slow

READ_WRITE = "agents:\n  default:\n    allowed_operations: [read, write]\n"
READ_ONLY = "agents:\n  default:\n    allowed_operations: [read]\n"
INVALID = "agents:\n  default:\n    allowed_operations: [fly]\n"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """(base URL, store): the dashboard on a file policy store whose head allows reads and writes, over a trail made under it."""
    path = tmp_path / "agentgate.yaml"
    path.write_text(READ_WRITE)
    store = open_policy_store(str(path))
    store.push(READ_WRITE, author="ana", message="reports may be written")
    audit = f"sqlite:///{tmp_path}/audit.db"
    fw = Firewall(store.get().config(), audit=audit)
    with agent_context(agent_id="reporter", task_id="q3"):
        for call in (
            ToolCall("read_file", {"path": "reports/q3.csv"}),
            ToolCall("write_file", {"path": "reports/q3-summary.txt", "content": "up 4%"}),
            ToolCall("write_file", {"path": "reports/q3-notes.txt", "content": "ok"}),
        ):
            assert fw.evaluate(call).action.value == "allow"
    fw.shutdown(10)
    app = create_app(audit, store.get().config(), state_url=f"sqlite:///{tmp_path}/state.db", policy_store=store)
    with serve(app) as base:
        yield base, store
    store.close()


def test_edit_validate_preview_and_save_a_policy(page: Any, site: tuple[str, Any]) -> None:
    """Errors show line and key; the preview lists the calls the edit flips; saving makes a new head shown in history and diff."""
    from playwright.sync_api import expect

    base, store = site
    first = store.get()
    page.goto(base + "/policy")
    head = page.locator("#head")
    expect(head).to_contain_text(first.revision)
    expect(head).to_contain_text("ana")
    expect(head).to_contain_text("reports may be written")
    expect(page.locator("#editor")).to_have_value(READ_WRITE)

    page.fill("#editor", INVALID)  # validated as one types
    problems = page.locator("#validation li.problem")
    expect(problems).to_have_count(1)
    expect(problems).to_contain_text("line 3, key agents.default.allowed_operations[0]")
    expect(problems).to_contain_text("unknown operation 'fly'")

    page.fill("#editor", READ_ONLY)
    expect(page.locator("#validation")).to_contain_text("valid: would be revision")
    page.click("#preview")
    summary = page.locator("#preview-summary")
    expect(summary).to_contain_text("3 calls since")
    expect(summary).to_contain_text("2 would be decided differently (2 allow→block)")
    flips = page.locator("#preview-rows tr.flip")
    expect(flips).to_have_count(2)
    expect(flips.first).to_contain_text("write_file")
    expect(flips.first).to_contain_text("scope.operation")
    assert store.get().revision == first.revision  # a preview stores nothing

    page.click("#save")  # without saying why: refused in the page
    expect(page.locator("#save-result")).to_contain_text("say why the policy changes")
    page.fill("#message", "read-only while the auditors are in")
    page.click("#save")
    expect(page.locator("#save-result")).to_contain_text("saved as revision")
    new = store.get()
    assert new.text == READ_ONLY and new.author == "local" and new.parent == first.revision
    expect(head).to_contain_text(new.revision)
    expect(head).to_contain_text("read-only while the auditors are in")
    newest = page.locator("#history tr.rev").first
    expect(newest).to_contain_text(f"{new.revision} (head)")
    expect(newest).to_contain_text("read-only while the auditors are in")
    expect(page.locator("#history tr.rev")).to_have_count(2)

    page.click("#diff-show")  # from the previous revision to the new head
    diff = page.locator("#diff")
    expect(diff.locator("span.del")).to_contain_text("allowed_operations: [read, write]")
    expect(diff.locator("span.add")).to_contain_text("allowed_operations: [read]")
    page.goto("about:blank")


def test_without_a_policy_store_the_page_says_how_to_get_one(page: Any, tmp_path: Path) -> None:
    """A server started without --store shows one sentence saying how to start one, not an error."""
    from playwright.sync_api import expect

    app = create_app(f"sqlite:///{tmp_path}/audit.db", state_url=f"sqlite:///{tmp_path}/state.db")
    with serve(app) as base:
        page.goto(base + "/policy")
        expect(page.locator("#empty")).to_contain_text("No policy store: start the server with agentgate serve --store")
        expect(page.locator("#error")).to_be_hidden()
        expect(page.locator("#policy")).to_be_hidden()
        page.goto("about:blank")
