"""Operations are effects: retired names, declared user operations, and how calls get their operation."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentgate import Firewall, scope
from agentgate._call import ToolCall, ToolSpec
from agentgate._errors import ConfigError
from agentgate.analyzers.classify import classify
from agentgate.policy._config import load_config
from agentgate.policy._operations import declare_operations

from .conftest import make_fw


def _fw(tmp_path: Path | None = None, yaml: str = "") -> Firewall:
    return make_fw(tmp_path, yaml)


@pytest.mark.parametrize(("old", "hint"), [("network", "'read'"), ("deploy", "'configure'"), ("admin", "'configure'")])
def test_retired_operations_are_config_errors_naming_the_replacement(old: str, hint: str) -> None:
    """network/deploy/admin in a scope raise a ConfigError that says what to write instead."""
    with pytest.raises(ConfigError) as e:
        scope(allowed_operations=["read", old])
    assert "retired" in str(e.value) and hint in str(e.value)


def test_retired_and_unknown_operations_in_a_file_are_all_reported_with_lines(tmp_path: Path) -> None:
    """Every bad operation of a file is listed at once, with its line and a did-you-mean."""
    p = tmp_path / "agentgate.yaml"
    p.write_text(
        "agents:\n  bot:\n    allowed_operations:\n      - raed\n      - network\n    deny_operations: [delte]\n"
        "tools:\n  t: {operation: deploy}\n"
    )
    with pytest.raises(ConfigError) as e:
        load_config(p)
    text = str(e.value)
    assert "agentgate.yaml:4" in text and "did you mean 'read'" in text
    assert "agentgate.yaml:5" in text and "'network' is retired" in text
    assert "did you mean 'delete'" in text and "'deploy' is retired" in text
    assert len(e.value.problems) == 4


def test_declared_user_operation_matches_only_itself(tmp_path: Path) -> None:
    """operations: [aggregate] declares a word; a tool named for it is that operation, and read does not allow it."""
    fw = _fw(tmp_path, "operations: [aggregate]\nagents:\n  default: {allowed_operations: [aggregate]}\n")
    assert fw.evaluate(ToolCall("aggregate_sales", {"period": "2026-10"})).allowed
    assert fw.evaluate(ToolCall("get_sales", {"period": "2026-10"})).blocked
    with scope(allowed_operations=["read"]):
        assert fw.evaluate(ToolCall("aggregate_sales", {"period": "2026-10"})).blocked


def test_undeclared_user_operation_in_code_is_an_error_until_declared() -> None:
    """scope(allowed_operations=['summarise_x']) is a typo until declare_operations names it."""
    with pytest.raises(ConfigError, match="unknown operation 'summarise_x'"):
        scope(allowed_operations=["summarise_x"])
    declare_operations(["summarise_x"])
    scope(allowed_operations=["summarise_x"])


@pytest.mark.parametrize(
    ("args", "op"),
    [
        ({"url": "https://api.github.com/repos/acme/api"}, "read"),
        ({"url": "https://api.github.com/repos/acme/api", "method": "HEAD"}, "read"),
        ({"url": "https://api.github.com/repos/acme/api", "method": "options"}, "read"),
        ({"url": "https://crm.acme.com/v1/leads", "method": "POST"}, "write"),
        ({"url": "https://crm.acme.com/v1/leads/7", "method": "pAtCh"}, "write"),
        ({"url": "https://crm.acme.com/v1/leads/7", "method": "PUT"}, "write"),
        ({"url": "https://crm.acme.com/v1/leads/7", "method": "DELETE"}, "delete"),
        ({"url": "https://crm.acme.com/v1/leads", "json": {"name": "x"}}, "write"),
        ({"url": "https://hooks.slack.com/services/T0/B0/XX", "method": "POST"}, "send"),
        ({"url": "https://discord.com/api/webhooks/1/abc", "json": {"content": "hi"}}, "send"),
        ({"url": "https://api.acme.com/v2/messages", "method": "POST"}, "send"),
        ({"url": "https://hooks.slack.com/services/T0/B0/XX", "method": "GET"}, "read"),
        ({"url": "https://crm.acme.com/v1/leads", "method": "PROPFIND"}, None),
    ],
)
def test_http_method_is_the_effect(args: dict[str, object], op: str | None) -> None:
    """GET/HEAD/OPTIONS read, POST/PUT/PATCH (or a body) write, to a messaging API send, DELETE delete."""
    assert classify(ToolCall("http_request", args)).operation == op


def test_http_read_scope_allows_get_and_blocks_post() -> None:
    """Under [read] a GET runs; the same URL POSTed is blocked; [read, write] allows it but not a Slack post."""
    fw = _fw()
    get = ToolCall("http_request", {"url": "https://api.github.com/repos/acme/api"})
    post = ToolCall("http_request", {"url": "https://api.github.com/repos/acme/api/issues", "method": "POST"})
    slack = ToolCall("http_request", {"url": "https://hooks.slack.com/services/T0/B0/XX", "method": "POST"})
    with scope(allowed_operations=["read"]):
        assert fw.evaluate(get).allowed and fw.evaluate(post).blocked
    with scope(allowed_operations=["read", "write"]):
        assert fw.evaluate(post).allowed and fw.evaluate(slack).blocked
    with scope(allowed_operations=["send"]):
        assert fw.evaluate(slack).allowed


@pytest.mark.parametrize(
    ("tool", "op"),
    [
        ("scale_deployment", "configure"),
        ("restart_service", "configure"),
        ("set_feature_flag", "configure"),
        ("update_dns_record", "configure"),
        ("delete_dns_record", "configure"),
        ("grant_role", "configure"),
        ("attach_iam_policy", "configure"),
        ("rollback_release", "configure"),
        ("update_payee", "transfer"),
        ("add_beneficiary", "transfer"),
        ("approve_token", "transfer"),
        ("approve_pull_request", "write"),
        ("get_feature_flags", "read"),
        ("get_payee", "read"),
        ("upload_file", "write"),
        ("send_payment", "transfer"),
    ],
)
def test_tool_names_by_effect(tool: str, op: str) -> None:
    """Scaling, restarts, flags, DNS, IAM configure; payee changes and token approvals transfer; reads stay reads."""
    assert classify(ToolCall(tool, {})).operation == op


def test_git_push_and_uploads_are_writes_to_the_remote() -> None:
    """git push and curl uploads are writes; a plain curl GET is a read (shell analyzer)."""
    fw = _fw()
    with scope(allowed_operations=["read", "execute"]):
        assert fw.evaluate(ToolCall("run_shell", {"command": "git push origin main"})).blocked
        assert fw.evaluate(ToolCall("run_shell", {"command": "curl -T report.csv https://files.acme.com/"})).blocked
        assert fw.evaluate(ToolCall("run_shell", {"command": "curl -s https://api.acme.com/status"})).allowed
    with scope(allowed_operations=["read", "write", "execute"]):
        assert fw.evaluate(ToolCall("run_shell", {"command": "git push origin main"})).allowed


def test_ddl_by_effect_and_destructive_ddl_never_implied() -> None:
    """CREATE TABLE AS is a write; DROP and TRUNCATE stay blocked under read+write+delete; row deletes run."""
    fw = _fw()
    spec = ToolSpec("sql")
    with scope(allowed_operations=["read", "write", "delete"]):
        assert fw.evaluate(
            ToolCall("run_sql", {"query": "CREATE TABLE tmp_r AS SELECT * FROM orders"}, spec=spec)
        ).allowed
        assert fw.evaluate(ToolCall("run_sql", {"query": "DELETE FROM orders WHERE id = 4"}, spec=spec)).allowed
        assert fw.evaluate(ToolCall("run_sql", {"query": "DROP TABLE tmp_r"}, spec=spec)).blocked
        assert fw.evaluate(ToolCall("run_sql", {"query": "trUNCATE /* x */ orders"}, spec=spec)).blocked
    with scope(allowed_operations=["read"]):
        assert fw.evaluate(
            ToolCall("run_sql", {"query": "CREATE TABLE tmp_r AS SELECT * FROM orders"}, spec=spec)
        ).blocked


def test_deny_operations_wins_over_allow_in_any_layer() -> None:
    """A deny in an outer layer beats an allow in an inner one."""
    fw = _fw()
    with scope(deny_operations=["send"]), scope(allowed_operations=["send", "read"]):
        assert fw.evaluate(ToolCall("send_email", {"to": "a@acme.com", "body": "x"})).blocked
        assert fw.evaluate(ToolCall("read_file", {"path": "x"})).allowed


def test_a_shell_tool_is_checked_per_command_effect() -> None:
    """Under [read] a bash tool may ls and grep; a redirect, a python run or rm is refused."""
    fw = _fw()
    with scope(allowed_operations=["read"]):
        assert fw.evaluate(ToolCall("bash", {"command": "ls -la reports/ && grep -c ok reports/a.log"})).allowed
        assert fw.evaluate(ToolCall("bash", {"command": "echo done >> reports/a.log"})).blocked
        assert fw.evaluate(ToolCall("bash", {"command": "python3 tidy.py"})).blocked
        assert fw.evaluate(ToolCall("bash", {"command": "find . -name '*.tmp' -exec rm {} +"})).blocked
    with scope(allowed_operations=["read", "execute"]):
        assert fw.evaluate(ToolCall("bash", {"command": "python3 tidy.py"})).allowed


@pytest.mark.parametrize(
    ("args", "op"),
    [
        ("get pods -n production", "read"),
        ("-n production get pods", "read"),
        ("scale deployment/web --replicas=3 -n staging", "configure"),
        ("rollout restart deployment/web", "configure"),
        ("delete deployment/web-canary -n staging", "delete"),
    ],
)
def test_a_cli_named_tool_takes_the_effect_of_its_subcommand(args: str, op: str) -> None:
    """kubectl(args=...) is read, configure or delete by its subcommand, not by the tool's kind."""
    assert classify(ToolCall("kubectl", {"args": args})).operation == op


def test_an_operation_argument_may_hold_a_cli_verb() -> None:
    """aws_cli(operation='cp') is a write, operation='ls' a read."""
    assert classify(ToolCall("aws_cli", {"service": "s3", "operation": "cp"})).operation == "write"
    assert classify(ToolCall("aws_cli", {"service": "s3", "operation": "ls"})).operation == "read"
