"""The dashboard's HTTP API: paging, filters in the URL, counts, exports, decisions, live events."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from agentgate import Firewall, ToolCall, agent_context, scope
from agentgate.server import create_app

from .conftest import serve


def _run_agent(url: str, n: int = 0) -> None:
    fw = Firewall(audit=url)
    with agent_context(agent_id="reporter", task_id="task-7", user_id="ana"):
        fw.evaluate(ToolCall("read_file", {"path": "reports/q3.csv"}))
        with scope(allowed_operations=["read"]):
            fw.evaluate(ToolCall("delete_file", {"path": "reports/q3.csv"}))
    with agent_context(agent_id="mailer", task_id="task-8"):
        fw.evaluate(ToolCall("send_email", {"to": "bob@acme.com", "body": "hi", "api_key": "AKIAZ7QW3ERT5YUI8OPL"}))
        fw.evaluate(ToolCall("run_query", {"query": "DROP TABLE users"}))
        for i in range(n):
            fw.evaluate(ToolCall("read_file", {"path": f"f{i}.txt"}))
    assert fw.flush(10)
    fw.shutdown()


@pytest.fixture
def audited(tmp_path: Path) -> str:
    """A SQLite trail with two agents, three blocks (one for a secret, stored redacted)."""
    url = f"sqlite:///{tmp_path}/audit.db"
    _run_agent(url)
    return url


@pytest.fixture
def client(audited: str) -> Iterator[TestClient]:
    """A test client over the trail."""
    with TestClient(create_app(audited), base_url="http://localhost") as c:
        yield c


def test_bad_parameters_are_400_with_the_reason(client: TestClient) -> None:
    """since=yesterday and limit=-5 (once an empty answer and everything) are 400s naming the parameter."""
    for params, words in (
        ({"since": "yesterday"}, "since must be an ISO 8601 time"),
        ({"limit": "-5"}, "limit must be between 1 and 1000, not -5"),
        ({"limit": "5000"}, "limit must be between 1 and 1000"),
        ({"verdict": "maybe"}, "verdict must be one of"),
        ({"sort": "up"}, "sort must be one of"),
        ({"cursor": "garbage"}, "cursor is not one this list gave out"),
    ):
        r = client.get("/api/actions", params=params)
        assert r.status_code == 400 and words in r.json()["error"], (params, r.text)
    assert client.get("/api/stats", params={"until": "tomorrow"}).status_code == 400
    assert client.get("/api/export", params={"format": "xml"}).status_code == 400
    assert client.get("/api/events", params={"since": "soon"}).status_code == 400


def test_pages_chain_by_cursor_and_rows_carry_redacted_arguments(client: TestClient) -> None:
    """limit + next cursor walk the list once; each row has its (redacted) arguments."""
    first = client.get("/api/actions", params={"limit": 3}).json()
    assert first["count"] == 3 and first["next"]
    rest = client.get("/api/actions", params={"limit": 3, "cursor": first["next"]}).json()
    assert rest["next"] is None
    tools = [r["tool_name"] for r in first["actions"] + rest["actions"]]
    assert tools == ["run_query", "send_email", "delete_file", "read_file"]
    email = first["actions"][1]["payload"]["arguments"]
    assert email["to"] == "bob@acme.com" and "AKIAZ7QW3ERT5YUI8OPL" not in json.dumps(email)


def test_filters_and_counts_agree(client: TestClient) -> None:
    """Every filter narrows the list and the counts alike (rule, task, user, time, text)."""
    for params, n in (
        ({"rule": "scope.operation"}, 1),
        ({"task": "task-8"}, 2),
        ({"user": "ana"}, 2),
        ({"since": "1h"}, 4),
        ({"until": "2000-01-01T00:00:00Z"}, 0),
        ({"text": "drop table"}, 1),
        ({"verdict": "block", "agent": "mailer"}, 2),
        ({"rule": "secrets.aws_key"}, 1),
    ):
        rows = client.get("/api/actions", params=params).json()["actions"]
        stats = client.get("/api/stats", params=params).json()
        assert len(rows) == n == stats["total"], params
    s = client.get("/api/stats").json()
    assert s["by_verdict"] == {"allow": 1, "block": 3} and s["timeline"]["points"]


def test_export_streams_the_filtered_set(client: TestClient) -> None:
    """CSV and JSONL exports hold exactly the filtered decisions, arguments redacted."""
    r = client.get("/api/export", params={"format": "csv", "verdict": "block"})
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [x["tool_name"] for x in rows] == ["delete_file", "send_email", "run_query"]
    assert json.loads(rows[1]["arguments"]) == {"api_key": "[REDACTED]", "body": "hi", "to": "bob@acme.com"}
    assert rows[1]["rules"] == "secrets.aws_key" and "AKIAZ7QW3ERT5YUI8OPL" not in r.text
    lines = client.get("/api/export", params={"format": "jsonl", "agent": "mailer"}).text.splitlines()
    assert [json.loads(x)["tool_name"] for x in lines] == ["send_email", "run_query"]
    assert "AKIAZ7QW3ERT5YUI8OPL" not in "".join(lines)


def test_decision_page_data(client: TestClient) -> None:
    """/api/actions/{id}: the call, its findings, the earlier actions of its task, its intact chain links."""
    blocked = client.get("/api/actions", params={"rule": "scope.operation"}).json()["actions"][0]
    d = client.get(f"/api/actions/{blocked['decision_id']}").json()
    assert d["action"]["id"] == blocked["id"] and d["arguments"] == {"path": "reports/q3.csv"}
    assert [f["rule_id"] for f in d["action"]["findings"]] == ["scope.operation"]
    assert [r["tool_name"] for r in d["history"]["actions"]] == ["read_file"] and d["history"]["same_task"]
    c = d["chain"]
    assert c["hash_ok"] and c["prev_ok"] and c["next_ok"] and c["seq"] == 2
    assert client.get(f"/api/actions/{blocked['id']}").json()["action"]["id"] == blocked["id"]
    assert client.get("/api/actions/nope").status_code == 404
    assert client.get(f"/decisions/{blocked['id']}").text.count("/static/app.js") == 1


def test_tampered_record_is_marked_on_its_page(client: TestClient, tmp_path: Path) -> None:
    """After an UPDATE, the full verification names the record and its page shows the broken hash."""
    target = client.get("/api/actions", params={"tool": "send_email"}).json()["actions"][0]
    db = sqlite3.connect(tmp_path / "audit.db")
    db.execute("UPDATE actions SET payload = '{}' WHERE id = ?", (target["id"],))
    db.commit()
    db.close()
    rep = client.get("/api/verify", params={"full": "1"}).json()
    assert [p["record_id"] for p in rep["problems"]] == [target["id"]]
    d = client.get(f"/api/actions/{target['id']}").json()
    assert d["chain"]["hash_ok"] is False and d["problems"][0]["kind"] == "altered"


def _events(
    base: str, params: dict[str, str], headers: dict[str, str], want: int, on_ready: Any = None
) -> list[dict[str, Any]]:
    """Read the first *want* decision events of a live stream (calling *on_ready* at its start), then hang up."""
    got: list[dict[str, Any]] = []
    with httpx.Client(timeout=30) as h, h.stream("GET", base + "/api/events", params=params, headers=headers) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        event, eid = None, None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("id: "):
                eid = line[4:]
            elif line.startswith("data: ") and event == "ready" and on_ready is not None:
                on_ready()
            elif line.startswith("data: ") and event == "decision":
                got.append({**json.loads(line[6:]), "event_id": eid})
                if len(got) >= want:
                    return got
    return got


def test_live_events_resume_from_last_event_id(audited: str) -> None:
    """/api/events sends each decision once with its ingest id; Last-Event-ID resumes after it, with filters."""
    with serve(create_app(audited)) as base:
        everything = _events(base, {}, {"Last-Event-ID": "0"}, 4)
        assert [e["tool_name"] for e in everything] == ["read_file", "delete_file", "send_email", "run_query"]
        resumed = _events(base, {}, {"Last-Event-ID": everything[1]["event_id"]}, 2)
        assert [e["tool_name"] for e in resumed] == ["send_email", "run_query"]
        blocked = _events(base, {"verdict": "block", "agent": "mailer"}, {"Last-Event-ID": "0"}, 2)
        assert [e["tool_name"] for e in blocked] == ["send_email", "run_query"]


def test_live_events_deliver_a_decision_made_after_connecting(audited: str) -> None:
    """A stream opened without Last-Event-ID starts at the newest record and delivers the next decision."""
    import threading

    with serve(create_app(audited)) as base:
        result: list[list[dict[str, Any]]] = []
        ready = threading.Event()
        t = threading.Thread(target=lambda: result.append(_events(base, {"agent": "mailer"}, {}, 1, ready.set)))
        t.start()
        assert ready.wait(60)
        _run_agent(audited, n=1)
        t.join(60)
        assert result and [(e["agent_id"], e["tool_name"]) for e in result[0]] == [("mailer", "send_email")]
