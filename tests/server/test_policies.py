"""/v1/policies on the policy store: roles, validation before apply, history, diff, rollback, hot reload."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from agentgate.policy.store import open_policy_store
from agentgate.server import create_app
from agentgate.server._tokens import TokenStore

LOCAL = "http://localhost"
READ_ONLY = "agents:\n  default:\n    allowed_operations: [read]\n"
READ_WRITE = "agents:\n  default:\n    allowed_operations: [read, write]\n"


@pytest.fixture(params=["file", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A policy store holding READ_ONLY: a file, or a fresh schema of the real PostgreSQL."""
    if request.param == "file":
        url = str(tmp_path / "agentgate.yaml")
        Path(url).write_text(READ_ONLY)
        with open_policy_store(url) as s:
            s.push(READ_ONLY, author="setup", message="first")
        yield url
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"ag_pol_{uuid.uuid4().hex[:10]}"
    url = f"{base}?schema={schema}"
    with open_policy_store(url) as s:
        s.push(READ_ONLY, author="setup", message="first")
    yield url
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _until(cond: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _app(tmp_path: Path, store_url: str, tokens: TokenStore | None = None) -> tuple[TestClient, Any]:
    store = open_policy_store(store_url)
    head = store.get()
    app = create_app(f"sqlite:///{tmp_path}/audit.db", head.config(), tokens=tokens, policy_store=store)
    return TestClient(app, base_url=LOCAL), store


def test_push_is_validated_applied_and_followed(store_url: str, tmp_path: Path) -> None:
    """An editor's push becomes the head and decisions follow it; an invalid one is 400 with line and key, not stored."""
    tokens = TokenStore(f"sqlite:///{tmp_path}/audit.db")
    editor = {"Authorization": f"Bearer {tokens.create('ed', 'editor')[1]}"}
    agent = {"Authorization": f"Bearer {tokens.create('gw', 'agent')[1]}"}
    c, store = _app(tmp_path, store_url, tokens)
    with c:
        write = {"tool": "write_file", "arguments": {"path": "out.txt", "content": "x"}}
        assert c.post("/v1/decide", json=write, headers=agent).json()["action"] == "block"
        before = c.get("/v1/policies", headers=editor).json()
        assert before["head"]["message"] == "first" and len(before["history"]) == 1

        bad = c.post(
            "/v1/policies",
            json={"text": "agents:\n  default:\n    allowed_operations: [raed]\n", "message": "typo"},
            headers=editor,
        )
        assert bad.status_code == 400
        (problem,) = bad.json()["problems"]
        assert problem["line"] == 3 and "raed" in problem["message"] and problem["key"]
        assert len(c.get("/v1/policies", headers=editor).json()["history"]) == 1  # nothing stored

        r = c.post("/v1/policies", json={"text": READ_WRITE, "message": "reports may be written"}, headers=editor)
        assert r.status_code == 201 and r.json()["author"] == "ed"
        new = r.json()["revision"]
        _until(lambda: c.get("/v1/policies", headers=editor).json()["in_force"] == new, "the push to apply")
        v = c.post("/v1/decide", json=write, headers=agent).json()
        assert v["action"] == "allow" and v["policy_revision"] == new
        assert c.get("/healthz").json()["policy_store"]["revision"] == new

        got = c.get(f"/v1/policies/{new}", headers=editor).json()
        assert got["text"] == READ_WRITE and got["parent"] == before["head"]["revision"]
        diff = c.get("/v1/policies/diff", params={"a": "HEAD~1"}, headers=editor).json()["diff"]
        assert "-    allowed_operations: [read]" in diff and "+    allowed_operations: [read, write]" in diff
        assert c.get("/v1/policies/ffff0000", headers=editor).status_code == 404

        back = c.post("/v1/policies/rollback", json={"revision": "HEAD~1", "message": "too wide"}, headers=editor)
        assert back.status_code == 201 and back.json()["revision"] == before["head"]["revision"]
        _until(lambda: c.post("/v1/decide", json=write, headers=agent).json()["action"] == "block", "the rollback")
    store.close()


def test_viewer_cannot_push_and_no_token_is_401(store_url: str, tmp_path: Path) -> None:
    """Reading policies needs viewer, pushing and rolling back editor; nothing changes on a refusal."""
    tokens = TokenStore(f"sqlite:///{tmp_path}/audit.db")
    viewer = {"Authorization": f"Bearer {tokens.create('vic', 'viewer')[1]}"}
    approver = {"Authorization": f"Bearer {tokens.create('ann', 'approver')[1]}"}
    c, store = _app(tmp_path, store_url, tokens)
    body = {"text": READ_WRITE, "message": "sneaky"}
    assert c.get("/v1/policies", headers=viewer).status_code == 200
    assert c.post("/v1/policies", json=body, headers=viewer).status_code == 403
    assert c.post("/v1/policies", json=body, headers=approver).status_code == 403
    assert c.post("/v1/policies/rollback", json={"revision": "HEAD", "message": "x"}, headers=viewer).status_code == 403
    assert c.post("/v1/policies", json=body).status_code == 401
    assert c.get("/v1/policies").status_code == 401
    assert [h.message for h in store.history()] == ["first"]
    store.close()


def test_openapi_lists_the_policy_routes(tmp_path: Path) -> None:
    """With a store, the OpenAPI description lists exactly the app's /v1 routes, policies included."""
    url = str(tmp_path / "agentgate.yaml")
    Path(url).write_text(READ_ONLY)
    with open_policy_store(url) as s:
        s.push(READ_ONLY, author="setup", message="first")
    c, store = _app(tmp_path, url)
    doc = c.get("/v1/openapi.json").json()
    routes: dict[str, set[str]] = {}
    for r in c.app.routes:  # type: ignore[attr-defined]
        if isinstance(r, Route) and r.path.startswith("/v1"):
            routes.setdefault(r.path, set()).update(m.lower() for m in (r.methods or ()) if m != "HEAD")
    assert set(doc["paths"]) == set(routes) and "/v1/policies/{revision}" in routes
    for path, methods in routes.items():
        assert set(doc["paths"][path]) == methods, path
    store.close()


def test_serve_refuses_a_store_it_cannot_read(tmp_path: Path) -> None:
    """agentgate serve --store on an unreachable store exits 2 instead of deciding under an unknown policy."""
    from click.testing import CliRunner

    from agentgate.cli import cli

    out = CliRunner().invoke(
        cli, ["serve", "--db", f"sqlite:///{tmp_path}/a.db", "--store", "postgresql://nobody@127.0.0.1:1/none"]
    )
    assert out.exit_code == 2 and "policy store cannot be read" in out.output
