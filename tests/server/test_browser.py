"""The dashboard in a real browser: Playwright for Python driving Debian's chromium.

No tool downloads a browser here: the tests launch the ``chromium`` that apt installed
(``make test`` installs it when missing); without it they fail under CI
(AGENTGATE_REQUIRE_SERVICES=1) and skip elsewhere, through `require_program`.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agentgate._call import ToolCall
from agentgate._context import AgentContext
from agentgate._decision import Effect, Finding, Severity, Verdict, VerdictType
from agentgate.server import create_app

from .conftest import serve

pytestmark = pytest.mark.slow


@pytest.fixture
def site(page: Any, trail: tuple[str, Any]) -> Iterator[str]:
    """The dashboard over *trail*, served for real; the page leaves it before it stops (no stream left open)."""
    with serve(create_app(trail[0])) as base:
        yield base
        page.goto("about:blank")


def _v(i: int, action: VerdictType, rule: str = "", reason: str = "no rule matched", **kw: Any) -> Verdict:
    findings = (Finding(rule, Severity.CRITICAL, Effect.BLOCK, reason, "DROP TABLE"),) if rule else ()
    return Verdict(
        action,
        policy_name=rule,
        reasoning=reason,
        findings=findings,
        decision_id=f"dec-{i}",
        latency_us=40.0 + i,
        policy_revision="r-2026-12",
        **kw,
    )


@pytest.fixture
def trail(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A SQLite trail: a DROP two days ago and one an hour ago, reads around them, one task history."""
    from audit.trail import Trail

    url = f"sqlite:///{tmp_path}/audit.db"
    t = Trail(url)
    now = datetime.now(UTC)
    agent = AgentContext(agent_id="report-bot", task_id="task-42", user_id="ana")
    t.add(
        ToolCall("run_query", {"query": "DROP TABLE old_reports"}),
        _v(1, VerdictType.BLOCK, "sql.drop", "DROP TABLE destroys data"),
        agent,
        (now - timedelta(days=2)).timestamp(),
    )
    t.add(
        ToolCall("read_file", {"path": "reports/q3.csv"}),
        _v(2, VerdictType.ALLOW),
        agent,
        (now - timedelta(hours=2)).timestamp(),
    )
    t.add(
        ToolCall("run_query", {"query": "DROP TABLE users"}),
        _v(3, VerdictType.BLOCK, "sql.drop", "DROP TABLE destroys data"),
        agent,
        (now - timedelta(hours=1)).timestamp(),
    )
    t.add(
        ToolCall("send_email", {"to": "cfo@acme.example", "body": "Q3 numbers"}),
        _v(4, VerdictType.ALLOW, tier_used=2, judge_model="gpt-judge"),
        agent,
        (now - timedelta(minutes=30)).timestamp(),
    )
    t.flush()
    yield url, t
    t.close()


def test_filter_by_rule_and_time_with_a_permalink(page: Any, site: str) -> None:
    """Rule + "last 24 h" narrows the rows and the counts, the URL keeps the filters, and reloading it restores them."""
    from playwright.sync_api import expect

    base = site
    page.goto(base + "/")
    expect(page.locator("#rows tr")).to_have_count(4)
    expect(page.locator("#tz")).to_contain_text("Europe/Paris (UTC+01:00)")
    page.fill("input[name=rule]", "sql.drop")
    page.select_option("#range", "24h")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"rule=sql\.drop"))
    assert "since=24h" in page.url
    expect(page.locator("#rows tr")).to_have_count(1)
    expect(page.locator("#rows tr td").nth(4)).to_have_text('{"query":"DROP TABLE users"}')
    expect(page.locator("#c-total")).to_have_text("1")
    expect(page.locator("#c-block")).to_have_text("1")
    page.goto(page.url)  # the permalink
    expect(page.locator("input[name=rule]")).to_have_value("sql.drop")
    expect(page.locator("#rows tr")).to_have_count(1)
    page.fill("input[name=text]", "no such thing anywhere")
    page.click("button[type=submit]")
    expect(page.locator("#empty")).to_contain_text("No decision matches these filters")


def test_open_a_decision(page: Any, site: str) -> None:
    """Clicking a row opens its page: the call, the finding with rule and reason, the task's earlier actions, the chain."""
    from playwright.sync_api import expect

    base = site
    page.goto(base + "/?tool=run_query")
    page.locator("#rows tr", has_text="DROP TABLE users").click()
    expect(page).to_have_url(re.compile(r"/decisions/dec-3$"))
    expect(page.locator("#findings")).to_contain_text("sql.drop")
    expect(page.locator("#findings")).to_contain_text("DROP TABLE destroys data")
    expect(page.locator("#history tr")).to_have_count(2)  # the DROP two days ago and the read before it
    expect(page.locator("#verdict")).to_contain_text("r-2026-12")
    expect(page.locator("#chainview")).to_contain_text("content matches its hash")
    expect(page.locator("#chainview")).to_contain_text("seq 2: read_file")


def test_a_tampered_record_is_marked(page: Any, site: str, tmp_path: Path) -> None:
    """After a row is rewritten in the database, "re-verify all" marks it in the list and on its page."""
    from playwright.sync_api import expect

    base = site
    page.goto(base + "/")
    expect(page.locator("#chain")).to_have_text("chain: intact")
    db = sqlite3.connect(tmp_path / "audit.db")
    db.execute(
        "UPDATE actions SET payload = replace(payload, 'old_reports', 'tmp_reports') WHERE decision_id = 'dec-1'"
    )
    db.commit()
    db.close()
    page.click("#reverify")
    expect(page.locator("#chain")).to_have_text("chain: 1 problem")
    row = page.locator("#rows tr.tampered")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("DROP TABLE")
    expect(row).to_contain_text("altered")
    row.click()
    expect(page.locator("#chainview")).to_contain_text("tampered: content does not match its hash")
    expect(page.locator("#problems")).to_contain_text("altered")
    expect(page.locator("#call")).to_contain_text("tmp_reports")  # what the row says now, flagged


def test_a_new_decision_arrives_live(page: Any, site: str, trail: tuple[str, Any]) -> None:
    """With the page open, a decision written by an agent appears on top without a reload (server-sent events)."""
    from playwright.sync_api import expect

    base, t = site, trail[1]
    page.goto(base + "/")
    expect(page.locator("#rows tr")).to_have_count(4)
    expect(page.locator("#live")).to_have_text("live")
    t.add(
        ToolCall("delete_file", {"path": "/etc/passwd"}),
        _v(9, VerdictType.BLOCK, "fs.system", "a system file"),
        AgentContext(agent_id="ops-bot"),
        time.time(),
    )
    t.flush()
    expect(page.locator("#rows tr").first).to_contain_text("/etc/passwd")
    expect(page.locator("#c-total")).to_have_text("5")


def test_no_trail_yet_says_how_to_start_one(page: Any, tmp_path: Path) -> None:
    """An empty deployment shows one clear sentence, not an error (and not twice)."""
    from playwright.sync_api import expect

    with serve(create_app(f"sqlite:///{tmp_path}/none.db", state_url=f"sqlite:///{tmp_path}/state.db")) as base:
        page.goto(base + "/")
        expect(page.locator("#empty")).to_contain_text("No audit trail yet: run an agent with protect_all()")
        expect(page.locator("#error")).to_be_hidden()
