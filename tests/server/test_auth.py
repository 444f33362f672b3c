"""Tokens, roles, the Host allowlist and CSRF protection of ``agentgate serve``."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from agentgate._errors import ConfigError
from agentgate.approvals import ApprovalQueue
from agentgate.cli import cli
from agentgate.server import create_app
from agentgate.server._auth import needed_roles
from agentgate.server._tokens import TokenStore

LOCAL = "http://localhost"
JSON = {"content-type": "application/json"}


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A fresh SQLite trail (which also holds the tokens and the approval queue)."""
    return f"sqlite:///{tmp_path}/audit.db"


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _pending(db: str) -> str:
    q = ApprovalQueue(db)
    a = q.submit({"tool": "wire_money", "arguments": {"amount": 5}, "agent": {"agent_id": "payer"}}, 60)
    q.close()
    return a.id


def test_loopback_without_tokens_is_local_mode_until_the_first_token(db: str) -> None:
    """On loopback with no token every request acts as admin; creating a token ends that at once."""
    store = TokenStore(db)
    c = TestClient(create_app(db, tokens=store), base_url=LOCAL)
    assert c.get("/v1/session").json()["via"] == "local"
    assert c.get("/api/actions").status_code == 200
    _, secret = store.create("alice", "viewer")
    r = c.get("/api/actions")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert c.get("/api/actions", headers=_bearer(secret)).status_code == 200
    assert c.get("/api/actions", headers=_bearer(secret + "x")).status_code == 401
    assert c.get("/api/actions", headers={"Authorization": f"Basic {secret}"}).status_code == 401
    assert c.get("/healthz").json()["auth"] == "tokens"  # health stays open for load balancers


def test_roles_are_enforced(db: str) -> None:
    """viewer reads but cannot approve, push a policy or decide; agent decides and reads nothing; wrong role is 403."""
    store = TokenStore(db)
    viewer = _bearer(store.create("vic", "viewer")[1])
    approver = _bearer(store.create("ann", "approver")[1])
    editor = _bearer(store.create("ed", "editor")[1])
    agent = _bearer(store.create("bot", "agent")[1])
    c = TestClient(create_app(db, tokens=store), base_url=LOCAL)
    aid = _pending(db)
    call = {"tool": "read_file", "arguments": {"path": "a.txt"}}

    assert c.get("/api/actions", headers=viewer).status_code == 200
    assert c.get("/v1/approvals", headers=viewer).json()["count"] == 1
    r = c.post(f"/v1/approvals/{aid}/approve", json={"reason": "ok"}, headers=viewer)
    assert r.status_code == 403 and "approver" in r.json()["error"]
    assert c.post("/v1/policies", json={}, headers=viewer).status_code == 403
    assert c.post("/v1/decide", json=call, headers=viewer).status_code == 403

    assert c.post("/v1/decide", json=call, headers=agent).json()["action"] == "allow"
    assert c.post("/api/check", json=call, headers=agent).status_code == 200
    assert c.get("/api/actions", headers=agent).status_code == 403
    assert c.get("/v1/approvals", headers=agent).status_code == 403

    assert c.post("/v1/decide", json=call, headers=editor).status_code == 403  # decide is the agent's
    r = c.post(f"/v1/approvals/{aid}/deny", json={"reason": "not today"}, headers=approver)
    assert r.status_code == 200 and r.json()["decided_by"] == "ann"
    assert c.get("/v1/session", headers=approver).json() == {
        "name": "ann",
        "role": "approver",
        "via": "token",
        "csrf": None,
    }


def test_role_table_fails_closed() -> None:
    """A write the table does not list needs admin; a read needs viewer."""
    assert needed_roles("POST", "/v1/something-new") == ("admin",)
    assert needed_roles("DELETE", "/api/actions") == ("admin",)
    assert needed_roles("GET", "/v1/something-new") == ("viewer",)
    assert needed_roles("PUT", "/v1/policies/x") == ("editor",)


def test_tokens_are_stored_hashed_and_revocable(db: str, tmp_path: Path) -> None:
    """Only sha256 of a token is stored; a revoked token (and its sessions) stop working."""
    store = TokenStore(db)
    info, secret = store.create("alice", "admin")
    rows = sqlite3.connect(f"{tmp_path}/audit.db").execute("SELECT hash FROM agentgate_tokens").fetchall()
    assert rows == [(hashlib.sha256(secret.encode()).hexdigest(),)]
    dump = b"".join(Path(p).read_bytes() for p in tmp_path.glob("audit.db*"))
    assert secret.encode() not in dump
    c = TestClient(create_app(db, tokens=store), base_url=LOCAL)
    assert c.post("/login", json={"token": secret}).status_code == 200
    assert c.get("/api/actions").status_code == 200  # by the session cookie
    assert [t.id for t in store.revoke(info.id)] == [info.id]
    assert c.get("/api/actions").status_code == 401
    assert c.get("/api/actions", headers=_bearer(secret)).status_code == 401
    # Revoking the last token locks the server; it does not fall back to local mode.
    assert not store.any_active() and c.get("/v1/session").status_code == 401


def test_non_loopback_bind_without_auth_refuses_to_start(db: str, tmp_path: Path) -> None:
    """0.0.0.0 or a LAN address with no token is refused with the fix in the message; a token and named hosts allow it."""
    store = TokenStore(db)
    with pytest.raises(ConfigError, match="not a loopback address and no API token exists"):
        create_app(db, tokens=store, host="0.0.0.0")
    with pytest.raises(ConfigError, match="no API token"):
        create_app(db, tokens=store, host="192.168.1.20")
    store.create("ops", "admin")
    with pytest.raises(ConfigError, match="--allowed-host"):
        create_app(db, tokens=store, host="0.0.0.0")
    create_app(db, tokens=store, host="0.0.0.0", allowed_hosts=["gate.internal"])
    create_app(db, tokens=store, host="192.168.1.20")

    fresh = f"sqlite:///{tmp_path}/fresh.db"
    out = CliRunner().invoke(cli, ["serve", "--db", fresh, "--host", "0.0.0.0", "--port", "1"])
    assert out.exit_code == 2 and "refusing to serve on 0.0.0.0" in out.output


def test_host_allowlist_refuses_rebound_names(db: str) -> None:
    """A Host other than loopback names and --allowed-host (DNS rebinding) is refused, even for GET."""
    app = create_app(db, allowed_hosts=["gate.internal"])
    assert TestClient(app, base_url="http://evil.example:8765").get("/api/actions").status_code == 421
    assert TestClient(app, base_url="http://evil.example:8765").get("/healthz").status_code == 421
    for ok in ("http://localhost:8765", "http://127.0.0.1:8765", "http://[::1]:8765", "http://gate.internal"):
        assert TestClient(app, base_url=ok).get("/api/actions").status_code == 200, ok
    assert TestClient(app, base_url="http://gate.internal.evil.example").get("/api/actions").status_code == 421


def test_attack_page_cannot_change_state(db: str) -> None:
    """A cross-site page's POST (form or fetch) to approve is refused in local mode; the approval stays pending."""
    c = TestClient(create_app(db), base_url="http://127.0.0.1:8765")
    aid = _pending(db)
    attacks = [
        # a <form> auto-submitted by the attacker's page
        {"origin": "http://evil.example", "sec-fetch-site": "cross-site", "content-type": "text/plain"},
        # an old browser: Origin only
        {"origin": "http://evil.example", "content-type": "application/json"},
        # a sandboxed iframe
        {"origin": "null", "content-type": "application/json"},
        # no Origin at all but a simple content type (a request a page can send without preflight)
        {"content-type": "text/plain"},
        {"sec-fetch-site": "same-site", "content-type": "application/json"},
    ]
    for headers in attacks:
        r = c.post(f"/v1/approvals/{aid}/approve", content=b'{"reason": "pwned"}', headers=headers)
        assert r.status_code == 403, headers
    assert c.get(f"/v1/approvals/{aid}").json()["status"] == "pending"
    same = {"origin": "http://127.0.0.1:8765", "sec-fetch-site": "same-origin", **JSON}
    r = c.post(f"/v1/approvals/{aid}/approve", content=b'{"reason": "mine"}', headers=same)
    assert r.status_code == 200 and r.json()["status"] == "approved"


def test_browser_session_cookie_and_csrf_token(db: str) -> None:
    """Login sets an HttpOnly SameSite=Strict cookie; writes with it need X-CSRF-Token; logout ends it."""
    store = TokenStore(db)
    _, secret = store.create("ann", "approver")
    c = TestClient(create_app(db, tokens=store), base_url=LOCAL)
    assert c.post("/login", json={"token": "agt_nope_nope"}).status_code == 401
    r = c.post("/login", json={"token": secret})
    assert r.status_code == 200 and r.json()["role"] == "approver"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    csrf = r.json()["csrf"]
    assert c.get("/v1/session").json()["csrf"] == csrf
    aid = _pending(db)
    assert c.post(f"/v1/approvals/{aid}/approve", json={"reason": "x"}).status_code == 403
    assert (
        c.post(f"/v1/approvals/{aid}/approve", json={"reason": "x"}, headers={"x-csrf-token": "0" * 64}).status_code
        == 403
    )
    r = c.post(f"/v1/approvals/{aid}/approve", json={"reason": "checked"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 200 and r.json()["decided_by"] == "ann"
    assert c.post("/logout", headers={"x-csrf-token": csrf, **JSON}).status_code == 200
    assert c.get("/v1/approvals").status_code == 401


def test_login_form_redirects_to_the_dashboard(db: str) -> None:
    """The sign-in page posts a form; success redirects to / with the session cookie set."""
    store = TokenStore(db)
    _, secret = store.create("vic", "viewer")
    c = TestClient(create_app(db, tokens=store), base_url=LOCAL, follow_redirects=False)
    assert "API token" in c.get("/login").text
    page = c.get("/", headers={"accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 303 and page.headers["location"] == "/login"  # a browser is sent to sign in
    r = c.post("/login", data={"token": secret}, headers={"origin": LOCAL})
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert c.get("/v1/session").json()["name"] == "vic"


def test_token_cli(db: str) -> None:
    """agentgate token create prints the secret once; list never shows it; revoke by name."""
    run = CliRunner()
    out = run.invoke(cli, ["token", "create", "--role", "editor", "--name", "ed", "--state", db])
    assert out.exit_code == 0, out.output
    secret = out.stdout.strip().splitlines()[0]
    assert secret.startswith("agt_") and TokenStore(db).verify(secret) is not None
    listing = run.invoke(cli, ["token", "list", "--state", db])
    assert "ed" in listing.output and secret not in listing.output and "active" in listing.output
    assert run.invoke(cli, ["token", "create", "--role", "root", "--name", "x", "--state", db]).exit_code == 2
    assert run.invoke(cli, ["token", "revoke", "ed", "--state", db]).exit_code == 0
    assert TokenStore(db).verify(secret) is None
    assert run.invoke(cli, ["token", "revoke", "ed", "--state", db]).exit_code == 2


def test_agent_token_bound_to_agent_ids_decides_only_for_them(db: str) -> None:
    """A gateway token bound to `mailer` and `report-*` cannot claim the policy of `payer`; with no
    agent_id its one literal agent is used; an unbound agent token may still name any agent."""
    from agentgate.policy._config import parse_config

    cfg = parse_config(
        {
            "agents": {
                "default": {"allowed_operations": ["read"]},
                "mailer": {"allowed_operations": ["read", "send"]},
                "payer": {"allowed_operations": ["read", "transfer"]},
                "report-weekly": {"allowed_operations": ["read", "write"]},
            }
        }
    )
    store = TokenStore(db)
    mailer = _bearer(store.create("mail-gw", "agent", ["mailer"])[1])
    multi = _bearer(store.create("multi-gw", "agent", ["mailer", "report-*"])[1])
    free = _bearer(store.create("any-gw", "agent")[1])
    c = TestClient(create_app(db, cfg, tokens=store), base_url=LOCAL)
    pay = {"tool": "send_payment", "arguments": {"iban": "DE89370400440532013000", "amount": 5}, "agent_id": "payer"}
    send = {"tool": "send_email", "arguments": {"to": "ana@corp.example", "body": "hi"}}

    r = c.post("/v1/decide", json=pay, headers=mailer)
    assert r.status_code == 403 and "mailer" in r.json()["error"] and "'payer'" in r.json()["error"]
    assert c.post("/api/check", json=pay, headers=mailer).status_code == 403  # the dry run too
    assert c.post("/v1/decide", json=send, headers=mailer).json()["action"] == "allow"  # acts as mailer
    assert c.post("/v1/decide", json={**send, "agent_id": "mailer"}, headers=mailer).json()["action"] == "allow"
    r = c.post("/v1/decide", json=send, headers=multi)  # two bindings: which one must be said
    assert r.status_code == 403 and "agent_id" in r.json()["error"]
    write = {"tool": "write_file", "arguments": {"path": "r.txt", "content": "x"}, "agent_id": "report-weekly"}
    assert c.post("/v1/decide", json=write, headers=multi).json()["action"] == "allow"
    assert c.post("/v1/decide", json={**write, "agent_id": "reporter"}, headers=multi).status_code == 403
    assert c.post("/v1/decide", json=pay, headers=free).json()["action"] == "allow"
    assert c.post("/v1/decide", json=send, headers=free).json()["action"] == "block"  # the default agent reads


def test_agent_binding_is_validated_listed_and_added_to_old_tables(db: str, tmp_path: Path) -> None:
    """Only agent tokens are bound; patterns are words; `token list --json` shows them; a tokens table
    made before bindings existed gains the column and its tokens stay unbound and usable."""
    store = TokenStore(db)
    with pytest.raises(ConfigError, match="only agent tokens"):
        store.create("ed", "editor", ["mailer"])
    with pytest.raises(ConfigError, match="without spaces"):
        store.create("gw", "agent", ["mail er"])
    run = CliRunner()
    out = run.invoke(cli, ["token", "create", "--role", "agent", "--name", "gw", "--agent", "mailer", "--state", db])
    assert out.exit_code == 0, out.output
    assert "agents mailer" in out.stderr
    import json

    listed = json.loads(run.invoke(cli, ["token", "list", "--json", "--state", db]).stdout)
    assert [t["agents"] for t in listed] == [["mailer"]]
    bad = run.invoke(cli, ["token", "create", "--role", "viewer", "--name", "v", "--agent", "x", "--state", db])
    assert bad.exit_code == 2 and "only agent tokens" in bad.output

    old = tmp_path / "old.db"
    con = sqlite3.connect(old)
    con.execute(
        "CREATE TABLE agentgate_tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,"
        " hash TEXT NOT NULL UNIQUE, created_at REAL NOT NULL, revoked_at REAL)"
    )
    secret = "agt_0000abcd_" + "s" * 43
    con.execute(
        "INSERT INTO agentgate_tokens VALUES ('0000abcd', 'old-gw', 'agent', ?, 1.0, NULL)",
        (hashlib.sha256(secret.encode()).hexdigest(),),
    )
    con.commit()
    con.close()
    migrated = TokenStore(f"sqlite:///{old}")
    info = migrated.verify(secret)
    assert info is not None and info.agents == () and info.may_act_for("anyone")
    assert migrated.create("new-gw", "agent", ["a-*"])[0].agents == ("a-*",)
    TokenStore(f"sqlite:///{old}")  # a second open finds the column there
