"""The dashboard and policy API over a real SQLite audit trail."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from agentgate import Firewall, ToolCall, agent_context, scope
from agentgate.policy._config import parse_config
from agentgate.server import create_app


@pytest.fixture
def audited(tmp_path: Path) -> str:
    """An audit trail holding two allows and two blocks from two agents."""
    url = f"sqlite:///{tmp_path}/audit.db"
    fw = Firewall(audit=url)
    with agent_context(agent_id="reporter"):
        fw.evaluate(ToolCall("read_file", {"path": "reports/q3.csv"}))
        with scope(allowed_operations=["read"]):
            fw.evaluate(ToolCall("delete_file", {"path": "reports/q3.csv"}))
    with agent_context(agent_id="mailer"):
        fw.evaluate(ToolCall("send_email", {"to": "bob@acme.com", "body": "hi"}))
        fw.evaluate(ToolCall("run_query", {"query": "DROP TABLE users"}))
    assert fw.flush(10)
    fw.shutdown()
    return url


def test_actions_filters_and_newest_first(audited: str) -> None:
    """/api/actions lists decisions newest first and filters by agent, tool and verdict."""
    c = TestClient(create_app(audited), base_url="http://localhost")
    rows = c.get("/api/actions").json()["actions"]
    assert [r["tool_name"] for r in rows] == ["run_query", "send_email", "delete_file", "read_file"]
    assert [r["tool_name"] for r in c.get("/api/actions", params={"verdict": "block"}).json()["actions"]] == [
        "run_query",
        "delete_file",
    ]
    assert [r["agent_id"] for r in c.get("/api/actions", params={"agent": "mailer"}).json()["actions"]] == [
        "mailer",
        "mailer",
    ]
    assert c.get("/api/actions", params={"tool": "read_file", "limit": 1}).json()["count"] == 1
    assert c.get("/api/actions", params={"limit": "x"}).status_code == 400
    assert c.get("/api/actions", params={"verdict": "maybe"}).status_code == 400


def test_stats(audited: str) -> None:
    """/api/stats counts by verdict, agent and rule and reports latency percentiles."""
    s = TestClient(create_app(audited), base_url="http://localhost").get("/api/stats").json()
    assert s["total"] == 4
    assert s["by_verdict"] == {"allow": 2, "block": 2}
    assert s["by_agent"] == {"reporter": 2, "mailer": 2}
    assert "scope.operation" in s["by_rule"]
    assert s["latency_us"]["p50"] is not None and s["latency_us"]["p50"] > 0


def test_verify_detects_tampering(audited: str, tmp_path: Path) -> None:
    """/api/verify is ok on an intact trail; the full verification names a record changed by an UPDATE."""
    c = TestClient(create_app(audited), base_url="http://localhost")
    ok = c.get("/api/verify").json()
    assert ok["ok"] is True and ok["records"] == 4
    db = sqlite3.connect(tmp_path / "audit.db")
    db.execute("UPDATE actions SET verdict = 'allow' WHERE tool_name = 'delete_file'")
    db.commit()
    db.close()
    assert c.get("/api/verify").json()["ok"] is True  # verified before the change, not the chain's latest
    bad = c.get("/api/verify", params={"full": "1"}).json()
    assert bad["ok"] is False and bad["first"]["record_id"] is not None
    assert c.get("/api/verify").json()["ok"] is False  # and it stays reported


def test_check_is_a_dry_run_with_the_loaded_policy(audited: str) -> None:
    """POST /api/check decides with the configured policy and writes nothing to the trail."""
    cfg = parse_config({"agents": {"default": {"allowed_operations": ["read"]}}})
    c = TestClient(create_app(audited, cfg), base_url="http://localhost")
    v = c.post("/api/check", json={"tool": "send_email", "arguments": {"to": "x@y.z"}}).json()
    assert v["action"] == "block" and v["policy_name"] == "scope.operation"
    assert c.post("/api/check", json={"tool": "read_file", "arguments": {"path": "a"}}).json()["action"] == "allow"
    assert c.post("/api/check", json={"arguments": {}}).status_code == 400
    assert c.post("/api/check", content=b"not json", headers={"content-type": "application/json"}).status_code == 400
    assert c.get("/api/stats").json()["total"] == 4
    assert c.get("/api/policy").json()["revision"] == cfg.revision()


def test_dashboard_page_and_missing_trail(tmp_path: Path) -> None:
    """/ serves the dashboard; a trail that does not exist yet is an empty answer saying how to start one."""
    app = create_app(f"sqlite:///{tmp_path}/none/audit.db", state_url=f"sqlite:///{tmp_path}/state.db")
    c = TestClient(app, base_url="http://localhost")
    page = c.get("/")
    assert page.status_code == 200 and "AgentGate" in page.text and "/static/app.js" in page.text
    assert "/api/actions" in c.get("/static/app.js").text
    r = c.get("/api/actions")
    assert r.status_code == 200 and r.json()["empty"] is True and "protect_all()" in r.json()["hint"]
    assert c.get("/api/stats").json()["empty"] is True
    assert not (tmp_path / "none").exists()  # reading never creates the database
    health = c.get("/healthz").json()
    assert health["ok"] is True and health["auth"] == "local"
