"""Tests for the config analyzer: golden fixtures per rule class plus the document contract."""

from __future__ import annotations

import doctest
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentgate._call import ToolCall
from agentgate._decision import Effect, Finding
from agentgate.analyzers import DEFAULT_ANALYZERS
from agentgate.analyzers import config as config_module
from agentgate.analyzers.base import make_context
from agentgate.analyzers.classify import classify
from agentgate.analyzers.config import _controls, _doc, _iam, _network, analyze_config

FIXTURES = Path(__file__).parent.parent / "fixtures" / "analyzers" / "config.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(FIXTURES.read_text())


def _run(tool: str, args: dict[str, Any]) -> list[Finding]:
    call = ToolCall(tool, args)
    return list(analyze_config(call, make_context(call)))


def _effect(findings: list[Finding]) -> str:
    if any(f.effect is Effect.BLOCK for f in findings):
        return "block"
    if any(f.effect is Effect.ESCALATE for f in findings):
        return "escalate"
    return "allow"


@pytest.mark.parametrize("case", CASES, ids=[f"{i:03d}-{c['note'][:40]}" for i, c in enumerate(CASES)])
def test_golden(case: dict[str, Any]) -> None:
    """Each fixture yields exactly its expected rules and combined effect."""
    findings = _run(case["tool"], case["args"])
    rules = sorted({f.rule_id for f in findings if f.effect is not Effect.INFO})
    assert rules == sorted(case["expect"]), [f.to_dict() for f in findings]
    assert _effect(findings) == case["effect"], [f.to_dict() for f in findings]


def test_fixtures_cover_every_rule() -> None:
    """Every documented rule has an attack fixture and a benign look-alike in its section."""
    documented = {line.split()[0] for line in (config_module.__doc__ or "").splitlines() if line.startswith("config.")}
    covered = {r for c in CASES for r in c["expect"]}
    assert documented == covered, documented ^ covered
    assert sum(1 for c in CASES if c["effect"] == "allow") >= len(documented)


def test_config_tools_are_classified_config_with_configure() -> None:
    """Security-configuration tool names are the config kind and a configure operation."""
    for tool in (
        "update_config",
        "set_flag",
        "modify_security_group",
        "authorize_security_group_ingress",
        "put_bucket_policy",
        "put_public_access_block",
        "update_iam_policy",
        "attach_role_policy",
        "update_branch_protection",
        "update_repo_settings",
    ):
        c = classify(ToolCall(tool, {"x": "y"}))
        assert (c.kind, c.operation) == ("config", "configure"), tool


def test_security_group_port_22_open_to_the_internet_blocks_through_the_firewall() -> None:
    """The default firewall blocks SSH opened to 0.0.0.0/0 and allows the same rule on 443."""
    import agentgate

    fw = agentgate.Firewall(analyzers=DEFAULT_ANALYZERS)
    rule = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    v = fw.evaluate(ToolCall("authorize_security_group_ingress", {"GroupId": "sg-1", "IpPermissions": [rule]}))
    assert v.action.value == "block"
    assert v.policy_name == "config.open_ingress"
    rule = {**rule, "FromPort": 443, "ToPort": 443}
    v = fw.evaluate(ToolCall("authorize_security_group_ingress", {"GroupId": "sg-1", "IpPermissions": [rule]}))
    assert v.action.value == "allow"
    fw.shutdown(5.0)


def test_iam_star_in_a_non_config_tool_is_read() -> None:
    """An IAM document handed to a generic API tool is read by the structured rules."""
    doc = json.dumps({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    assert [f.rule_id for f in _run("call_aws_api", {"service": "iam", "body": doc})] == ["config.iam_wildcard"]
    assert _run("call_aws_api", {"service": "iam", "body": '{"UserName": "bob"}'}) == []


def test_generic_toggles_only_in_config_tools() -> None:
    """A dict with ``verify: false`` in a non-config tool is data, not a setting change."""
    assert _run("create_ticket", {"fields": {"verify": False, "summary": "x"}}) == []
    assert [f.rule_id for f in _run("update_config", {"fields": {"verify": False}})] == ["config.disable_control"]


def test_limits_escalate_instead_of_truncating() -> None:
    """Arguments nested past the depth limit escalate in a config tool."""
    deep: dict[str, Any] = {}
    cur = deep
    for _ in range(40):
        cur["x"] = {}
        cur = cur["x"]
    findings = _run("update_config", {"doc": deep})
    assert [f.rule_id for f in findings] == ["config.unreadable"]
    assert findings[0].effect is Effect.ESCALATE


def test_many_small_public_prefixes_add_up() -> None:
    """256 public /16 sources on port 3389 are together a /8: open to the internet."""
    ranges = [{"CidrIp": f"{a}.{b}.0.0/16"} for a in (11, 12) for b in range(128)]
    perm = {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": ranges}
    assert [f.rule_id for f in _run("authorize_security_group_ingress", {"IpPermissions": [perm]})] == [
        "config.open_ingress"
    ]
    perm["IpRanges"] = ranges[:10]
    assert _run("authorize_security_group_ingress", {"IpPermissions": [perm]}) == []


def test_icmp_from_anywhere_is_not_a_port() -> None:
    """ICMP open to the internet (FromPort -1 is an ICMP type) exposes no TCP port."""
    perm = {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
    assert _run("authorize_security_group_ingress", {"IpPermissions": [perm]}) == []


@pytest.mark.parametrize("module", [config_module, _doc, _iam, _network, _controls], ids=lambda m: m.__name__)
def test_module_doctests(module: Any) -> None:
    """The config modules' docstring examples run."""
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0


def test_oversized_document_escalates() -> None:
    """A configuration document past the size limit escalates instead of being read slowly or partly."""
    doc = json.dumps({f"k{i}": {"enabled": True} for i in range(2000)})
    findings = _run("update_config", {"settings": doc})
    assert [f.rule_id for f in findings] == ["config.unreadable"]
    assert "limit" in findings[0].message
