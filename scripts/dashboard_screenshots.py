"""Regenerate the dashboard screenshots in docs/images/ (shown in the README and docs/dashboard.md).

    .venv/bin/python scripts/dashboard_screenshots.py

Builds a synthetic trail (bench/synthetic.py: valid chains, a realistic mix), rewrites one
record in the database to show how tampering is marked, serves the dashboard on a local
port and captures each page with Playwright driving Debian's chromium (``apt-get install
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
        server = uvicorn.Server(uvicorn.Config(create_app(url), host="127.0.0.1", port=8765, log_level="warning"))
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
                ctx.close()
                b.close()
        finally:
            server.should_exit = True
            th.join(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
