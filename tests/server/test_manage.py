"""The approvals and policy pages' own API: validate, preview (edit vs. the policy in force), the approvals stream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from agentgate import agent_context
from agentgate._call import ToolCall
from agentgate._firewall import Firewall
from agentgate.policy.store import open_policy_store, parse_document
from agentgate.server import create_app
from agentgate.server._manage import preview
from agentgate.server._tokens import TokenStore

LOCAL = "http://127.0.0.1"
OPEN = "agents:\n  default:\n    allowed_operations: [read, write, delete]\n"
READ_WRITE = "agents:\n  default:\n    allowed_operations: [read, write]\n"
READ_ONLY = "agents:\n  default:\n    allowed_operations: [read]\n"


def _record(audit: str, text: str) -> list[dict[str, Any]]:
    """A read, a write and a delete decided under *text*, written to *audit*; returns the rows."""
    fw = Firewall(parse_document(text, "t"), audit=audit)
    with agent_context(agent_id="ops", task_id="t1"):
        for call in (
            ToolCall("read_file", {"path": "a.txt"}),
            ToolCall("write_file", {"path": "b.txt", "content": "x"}),
            ToolCall("delete_file", {"path": "c.txt"}),
        ):
            fw.evaluate(call)
    fw.shutdown(10)
    from agentgate.audit import open_store

    store = open_store(audit)
    try:
        return list(store.actions())
    finally:
        store.close()


def test_preview_lists_what_the_edit_changes_not_what_earlier_edits_did(tmp_path: Path) -> None:
    """Calls recorded under an open policy, head read+write, edit read-only: only the write flips (the delete was already blocked by the head)."""
    rows = _record(f"sqlite:///{tmp_path}/a.db", OPEN)
    out = preview(parse_document(READ_WRITE, "head"), parse_document(READ_ONLY, "edit"), rows)
    assert out["replayed"] == 3
    assert out["summary"] == {"allow→block": 1}
    (only,) = out["changes"]
    assert only["tool_name"] == "write_file" and only["rule_after"] == "scope.operation"
    back = preview(parse_document(READ_ONLY, "head"), parse_document(OPEN, "edit"), rows)
    assert back["summary"] == {"block→allow": 2}  # undoing: both return to what was recorded


def test_validate_reports_line_and_key_and_preview_refuses_an_invalid_edit(tmp_path: Path) -> None:
    """Validation answers every problem with line and key; a preview of an invalid document is a 400 with them."""
    c = TestClient(create_app(f"sqlite:///{tmp_path}/none.db", state_url=f"sqlite:///{tmp_path}/s.db"), base_url=LOCAL)
    bad = "agents:\n  default:\n    allowed_operations: [fly]\n"
    r = c.post("/v1/policies/validate", json={"text": bad})
    assert r.status_code == 200 and r.json()["ok"] is False
    assert r.json()["problems"][0]["line"] == 3
    assert r.json()["problems"][0]["key"] == "agents.default.allowed_operations[0]"
    ok = c.post("/v1/policies/validate", json={"text": READ_ONLY}).json()
    assert ok["ok"] is True and len(ok["revision"]) == 12
    r = c.post("/v1/policies/preview", json={"text": bad})
    assert r.status_code == 400 and r.json()["problems"][0]["line"] == 3
    r = c.post("/v1/policies/preview", json={"text": READ_ONLY})
    assert r.status_code == 200 and r.json()["trail"] is False and r.json()["replayed"] == 0
    assert c.post("/v1/policies/validate", json={"nope": 1}).status_code == 400


def test_preview_compares_with_the_store_head_and_needs_the_editor_role(tmp_path: Path) -> None:
    """With a store, the baseline is its head; a viewer's preview is refused (403), an editor's answered."""
    audit = f"sqlite:///{tmp_path}/audit.db"
    _record(audit, OPEN)
    path = tmp_path / "agentgate.yaml"
    path.write_text(READ_WRITE)
    store = open_policy_store(str(path))
    store.push(READ_WRITE, author="ana", message="first")
    tokens = TokenStore(f"sqlite:///{tmp_path}/state.db")
    _, viewer = tokens.create("vic", "viewer")
    _, editor = tokens.create("eve", "editor")
    app = create_app(audit, store.get().config(), tokens=tokens, policy_store=store)
    c = TestClient(app, base_url=LOCAL)
    r = c.post("/v1/policies/preview", json={"text": READ_ONLY}, headers={"Authorization": f"Bearer {viewer}"})
    assert r.status_code == 403 and "needs editor" in r.json()["error"]
    r = c.post("/v1/policies/preview", json={"text": READ_ONLY}, headers={"Authorization": f"Bearer {editor}"})
    body = r.json()
    assert r.status_code == 200 and body["trail"] is True and body["cut"] is False
    assert body["baseline_revision"] == store.get().revision
    assert body["summary"] == {"allow→block": 1}
    store.close()
    tokens.close()


def test_approvals_page_and_stream_are_served(tmp_path: Path) -> None:
    """The page is HTML; the stream's first event is the queue as it is (empty here), sent at once."""
    app = create_app(f"sqlite:///{tmp_path}/none.db", state_url=f"sqlite:///{tmp_path}/s.db")
    c = TestClient(app, base_url=LOCAL)
    r = c.get("/approvals")
    assert r.status_code == 200 and 'data-page="approvals"' in r.text
    assert 'data-page="policy"' in c.get("/policy").text
    with c.stream("GET", "/api/approvals/events") as s:
        lines = s.iter_lines()
        assert next(lines) == "retry: 2000"
        assert next(lines) == ""
        assert next(lines) == "event: approvals"
        data = json.loads(next(lines)[len("data: ") :])
    assert data["pending"] == [] and data["recent"] == []
