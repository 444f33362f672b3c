"""Typed resources (kind:value), their matching rules, and how arguments map to kinds."""

from __future__ import annotations

import pytest

from agentgate import scope
from agentgate._call import ToolCall, ToolSpec
from agentgate.analyzers.base import AnalyzerSettings
from agentgate.analyzers.classify import classify
from agentgate.eval.resolver import eval_resolver
from agentgate.policy._resources import match_pattern, normalize_pattern

from .conftest import make_fw


@pytest.mark.parametrize(
    ("pattern", "value", "kind", "ok"),
    [
        ("account: checking", "checking", "account", True),
        ("account:checking", "savings", "account", False),
        ("account:DE44*", "de44 5001 0517 5407 3249 31", "account", True),
        ("customer:42", "42", "customer", True),
        ("customer:42", "420", "customer", False),
        ("customers", "420", "customer", True),
        ("invoice:INV-2026-*", "inv-2026-0042", "invoice", True),
        ("scheduled:nightly-*", "weekly-report", "scheduled", False),
        ("namespace:prod-*", "prod-eu", "namespace", True),
        ("namespace:prod-*", "staging", "namespace", False),
        ("#eng-alerts", "eng-alerts", "channel", True),
        ("channel:#eng-alerts", "#ENG-Alerts", "channel", True),
        ("#eng-alerts", "eng-alerts-archive", "channel", False),
        ("github:acme/*", "https://github.com/acme/api.git", "github", True),
        ("github:acme/*", "git@github.com:evil/acme.git", "github", False),
        ("s3://reports/*", "reports/q3.csv", "s3", True),
        ("s3://reports/*", "reports/2026/q3.csv", "s3", True),
        ("s3://reports/*", "reports-old/q3.csv", "s3", False),
        ("s3://Reports/2026/*", "reports/2026/Q3.csv", "s3", True),
        ("s3://reports/2026/*", "reports/2025/q3.csv", "s3", False),
        ("s3://reports", "reports/q3.csv", "s3", False),
        ("table:orders", "public.orders", "table", True),
        ("phone:+4930*", "+49 (30) 1234-567", "phone", True),
        ("phone:+4930*", "+49 40 1234567", "phone", False),
        ("*@acme.com", "Bob@ACME.com", "email", True),
        ("email:*@acme.com", "bob@acme.com.evil.io", "email", False),
        ("customer:42", "42", "invoice", False),
        # a trailing /** admits the folder itself, not a sibling sharing its prefix
        ("path:photos/2026-trip/**", "photos/2026-trip", "path", True),
        ("path:photos/2026-trip/**", "photos/2026-trip/a.jpg", "path", True),
        ("path:photos/2026-trip/**", "photos/2026-trip-old", "path", False),
        ("path:photos/*/raw/**", "photos/x/raw", "path", True),
        ("path:photos/*/raw/**", "photos/x/y/raw", "path", False),
    ],
)
def test_typed_pattern_matching(pattern: str, value: str, kind: str, ok: bool) -> None:
    """Typed patterns match only their kind, with that kind's normalisation."""
    assert match_pattern(pattern, value, kind) is ok


def test_typed_patterns_are_kept_in_canonical_spelling() -> None:
    """'account: checking' and 'account:checking' are one pattern."""
    assert normalize_pattern("account: checking") == "account:checking"
    assert normalize_pattern("channel: eng") == "#eng"
    with scope(allowed_resources=["account: checking"]) as _:
        pass


@pytest.mark.parametrize(
    ("tool", "args", "kinds"),
    [
        ("lookup_customer", {"customer_id": "42"}, {"customer_id": "customer"}),
        ("void_invoice", {"invoice_id": "INV-1"}, {"invoice_id": "invoice"}),
        ("post_message", {"channel": "#eng"}, {"channel": "channel"}),
        ("send_sms", {"to": "+49 30 1234567"}, {"to": "phone"}),
        ("slack_post", {"to": "#eng-alerts"}, {"to": "channel"}),
        ("list_pods", {"namespace": "prod"}, {"namespace": "namespace"}),
        ("open_issue", {"repo": "acme/api"}, {"repo": "github"}),
        ("put_object", {"bucket": "reports", "key": "q3.csv"}, {"bucket": "s3"}),
    ],
)
def test_arguments_map_to_kinds_by_name(tool: str, args: dict[str, str], kinds: dict[str, str]) -> None:
    """Argument names map to resource kinds when the tool spec says nothing."""
    got = {r.argument: r.kind for r in classify(ToolCall(tool, args)).resources}
    assert got == kinds


def test_the_tool_spec_declares_kinds_first() -> None:
    """A spec's resource_kinds beat name conventions."""
    spec = ToolSpec("generic", "write", resource_kinds=(("ref", "invoice"),))
    assert [(r.argument, r.kind) for r in classify(ToolCall("tag", {"ref": "INV-9"}), spec).resources] == [
        ("ref", "invoice")
    ]


def test_scoped_typed_resources_through_the_firewall() -> None:
    """customer:42 allows customer 42 only; 'customers' allows every customer; a channel pattern admits #name."""
    fw = make_fw()
    with scope(allowed_operations=["read"], allowed_resources=["customer:42"]):
        assert fw.evaluate(ToolCall("lookup_customer", {"customer_id": "42"})).allowed
        assert fw.evaluate(ToolCall("lookup_customer", {"customer_id": "43"})).blocked
    with scope(allowed_operations=["read"], allowed_resources=["customers"]):
        assert fw.evaluate(ToolCall("lookup_customer", {"customer_id": "43"})).allowed
    with scope(allowed_operations=["send"], allowed_resources=["channel:eng-alerts"]):
        assert fw.evaluate(ToolCall("post_message", {"channel": "#Eng-Alerts", "text": "green"})).allowed
        assert fw.evaluate(ToolCall("post_message", {"channel": "#general", "text": "green"})).blocked


def test_cte_names_are_not_tables() -> None:
    """A CTE named like an allowed table does not admit the table it reads."""
    fw = make_fw()
    spec = ToolSpec("sql")
    q = "WITH orders AS (SELECT * FROM payroll) SELECT * FROM orders"
    with scope(allowed_operations=["read"], allowed_resources=["orders"]):
        assert fw.evaluate(ToolCall("run_sql", {"query": q}, spec=spec)).blocked
    with scope(allowed_operations=["read"], allowed_resources=["table:payroll"]):
        assert fw.evaluate(ToolCall("run_sql", {"query": q}, spec=spec)).allowed


def test_loopback_host_port_matches_only_that_port() -> None:
    """An explicit loopback host:port in the scope admits that port of this machine and no other."""
    fw = make_fw(settings=AnalyzerSettings(resolver=eval_resolver))
    with scope(allowed_operations=["read"], allowed_resources=["host:localhost:8080"]):
        assert fw.evaluate(ToolCall("fetch_url", {"url": "http://localhost:8080/health"})).allowed
        assert fw.evaluate(ToolCall("fetch_url", {"url": "http://localhost:9000/admin"})).blocked
        assert fw.evaluate(ToolCall("fetch_url", {"url": "http://LOCALHOST:8080/health"})).allowed
        assert fw.evaluate(ToolCall("fetch_url", {"url": "http://localhost/health"})).blocked  # port 80
    with scope(allowed_operations=["read"], allowed_resources=["localhost:*", "api.acme.com"]):
        # only an exact host:port in every layer lets a request reach this machine
        assert fw.evaluate(ToolCall("fetch_url", {"url": "http://localhost:8080/health"})).blocked


def test_namespaces_of_cluster_commands_are_resources() -> None:
    """kubectl -n/--namespace values are checked against namespace: patterns, as a tool and inside bash."""
    fw = make_fw()
    with scope(allowed_operations=["read"], allowed_resources=["namespace:production"]):
        assert fw.evaluate(ToolCall("kubectl", {"args": "get pods --namespace=production"})).allowed
        assert fw.evaluate(ToolCall("kubectl", {"args": "get pods -n staging"})).blocked
        assert fw.evaluate(ToolCall("bash", {"command": "kubectl get pods -n staging"})).blocked
        assert fw.evaluate(ToolCall("bash", {"command": "kubectl get pods -A"})).blocked


def test_s3_urls_anywhere_are_bucket_resources_not_paths() -> None:
    """An s3:// URL nested in the arguments is checked against s3:// patterns, never as a local path or host."""
    fw = make_fw()
    scope_ = scope(allowed_operations=["read", "write"], allowed_resources=["reports/**", "s3://acme-reports/*"])
    with scope_:
        ok = ToolCall("upload_file", {"path": "reports/q3.csv", "destination": "s3://acme-reports/q3.csv"})
        bad = ToolCall("aws_cli", {"operation": "cp", "params": {"destination": "s3://acme-archive/q3.csv"}})
        assert fw.evaluate(ok).allowed and fw.evaluate(bad).blocked


def test_unknown_arguments_are_held_only_to_name_patterns() -> None:
    """A generic argument (branch) is not refused by a layer that lists only typed patterns; a name list holds it."""
    fw = make_fw()
    call = ToolCall("update_branch_protection", {"repo": "acme/web", "branch": "main"})
    with scope(allowed_operations=["configure"], allowed_resources=["github:acme/web"]):
        assert fw.evaluate(call).allowed
        assert fw.evaluate(ToolCall("update_branch_protection", {"repo": "acme/api", "branch": "main"})).blocked
    with scope(allowed_operations=["configure"], allowed_resources=["github:acme/web", "release-*"]):
        assert fw.evaluate(call).blocked
