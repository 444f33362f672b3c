"""Regenerate the dashboard screenshots in docs/images/ (shown in the README and docs/dashboard.md).

    .venv/bin/python scripts/dashboard_screenshots.py

Builds a synthetic trail (bench/synthetic.py: valid chains, a realistic mix), rewrites one
record in the database to show how tampering is marked, queues a few escalated calls for
the approvals page, keeps a policy with two revisions in a file store for the policy page
(where an edit is typed and its replay preview run), serves the dashboard on a local port
and captures each page with Playwright driving Debian's chromium (``apt-get install
chromium``; nothing downloads a browser).
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from synthetic import rows, write  # noqa: E402

OUT = ROOT / "docs" / "images"

POLICY_V1 = """# the reporting fleet
agents:
  default:
    allowed_operations: [read, write, send, execute]
  research-agent:
    allowed_operations: [read]
"""
POLICY_V2 = POLICY_V1.replace(
    "  research-agent:\n    allowed_operations: [read]\n", "  research-agent:\n    allowed_operations: [read, write]\n"
)
POLICY_EDIT = POLICY_V2.replace(
    "  research-agent:\n    allowed_operations: [read, write]\n",
    "  research-agent:\n    allowed_operations: [read]\n  deploy-bot:\n    allowed_operations: [read, execute]\n",
)


def _queue(state: str) -> None:
    """Three calls waiting for an answer and two answered ones."""
    from agentgate.approvals import ApprovalQueue

    q = ApprovalQueue(state)
    calls = [
        ("refund_payment", "billing-agent", "refund-8812", {"invoice": "INV-8812", "amount": 1840.0},
         "approval.amount", "refunds over 1,000 need a human", "Refund a duplicated annual plan"),
        ("run_shell", "ops-bot", "incident-311", {"command": "systemctl restart postgresql"},
         "shell.service", "restarting a database service", "Recover the reporting replica"),
        ("send_email", "support-agent", "ticket-5521", {"to": "legal@partner.example", "body": "Contract draft attached"},
         "data.external", "a document leaves the company", "Answer the partner's contract question"),
        ("http_request", "crm-sync", "sync-77", {"url": "https://api.partner.example/v2/contacts/export"},
         "http.bulk", "a bulk export of contacts", "Nightly CRM sync"),
        ("write_file", "deploy-bot", "release-42", {"path": "/etc/nginx/sites-enabled/app", "content": "..."},
         "fs.system", "a write to a system file", "Ship release 42"),
    ]  # fmt: skip
    ids = []
    for tool, agent, task, args, rule, msg, desc in calls:
        a = q.submit(
            {
                "tool": tool, "arguments": args, "kind": "generic", "operation": None, "task": desc,
                "agent": {"agent_id": agent, "task_id": task, "user_id": "ana"},
                "findings": [{"rule_id": rule, "severity": "high", "effect": "escalate", "message": msg}],
            },
            3600,
        )  # fmt: skip
        ids.append(a.id)
    q.decide(ids[3], True, "ana", "the partner asked for it in ticket 5519")
    q.decide(ids[4], False, "ana", "releases go through the pipeline, not the agent")
    q.close()


def main() -> int:
    import uvicorn
    from playwright.sync_api import sync_playwright

    from agentgate.server import create_app

    chromium = shutil.which("chromium")
    if chromium is None:
        print("chromium is not installed: apt-get install -y chromium", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "audit.db"
        url = f"sqlite:///{db}"
        write(url, rows(600, end=time.time() - 60, span=2 * 86400, seed=11))
        conn = sqlite3.connect(db)
        target = conn.execute(
            "SELECT id, decision_id FROM actions WHERE verdict = 'block' AND tool_name = 'run_query' ORDER BY rowid LIMIT 1"
        ).fetchone()
        judged = conn.execute(
            "SELECT decision_id FROM actions WHERE tier_used = 2 AND verdict = 'block' LIMIT 1"
        ).fetchone()
        conn.close()
        from agentgate.policy.store import open_policy_store

        state = f"sqlite:///{Path(tmp) / 'state.db'}"
        _queue(state)
        policy = Path(tmp) / "agentgate.yaml"
        policy.write_text(POLICY_V1)
        store = open_policy_store(str(policy))
        store.push(POLICY_V1, author="ana", message="first policy for the reporting fleet")
        store.push(POLICY_V2, author="ben", message="research-agent writes its own reports")
        app = create_app(url, store.get().config(), state_url=state, policy_store=store)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=8765, log_level="warning"))
        th = threading.Thread(target=server.run, daemon=True)
        th.start()
        while not server.started:
            time.sleep(0.05)
        base = "http://127.0.0.1:8765"
        try:
            with sync_playwright() as pw:
                b = pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
                ctx = b.new_context(viewport={"width": 1440, "height": 1000}, timezone_id="Europe/Berlin")
                page = ctx.new_page()

                def shot(path: str, name: str, ready: str, *, full: bool = False) -> None:
                    page.goto(base + path)
                    page.wait_for_selector(ready)
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=str(OUT / name), full_page=full)
                    print("wrote", OUT / name)

                shot("/", "dashboard-decisions.png", "#rows tr")
                shot("/?rule=sql.drop&since=7d", "dashboard-filtered.png", "#rows tr")
                shot(f"/decisions/{judged[0]}", "dashboard-decision.png", "#findings tr", full=True)
                conn = sqlite3.connect(db)
                conn.execute(
                    "UPDATE actions SET payload = replace(payload, 'DROP TABLE customers', 'SELECT 1') WHERE id = ?",
                    (target[0],),
                )
                conn.commit()
                conn.close()
                page.goto(base + "/")
                page.wait_for_selector("#rows tr")
                page.click("#reverify")
                page.wait_for_selector("#chain.bad")
                shot(f"/decisions/{target[1]}", "dashboard-tampered.png", "#chainview .link.bad", full=True)
                shot("/approvals", "dashboard-approvals.png", "#pending tr.approval")
                page.goto(base + "/policy")
                page.wait_for_selector("#history tr.rev")
                page.fill("#editor", POLICY_EDIT)
                page.wait_for_selector("#validation.ok")
                page.click("#preview")
                page.wait_for_selector("#preview-rows tr.flip")
                page.click("#diff-show")
                page.wait_for_selector("#diff span.add")
                page.screenshot(path=str(OUT / "dashboard-policy.png"), full_page=True)
                print("wrote", OUT / "dashboard-policy.png")
                ctx.close()
                b.close()
        finally:
            server.should_exit = True
            th.join(10)
            store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
