"""Delegation only narrows: a nested agent_context keeps its parent's policy and task budget."""

from __future__ import annotations

from pathlib import Path

from agentgate import agent_context, scope
from agentgate._call import ToolCall

from .conftest import make_fw

POLICY = """\
agents:
  planner:
    allowed_operations: [read, send]
    allowed_resources: ["*@acme.com", "reports/**"]
  mailer:
    allowed_operations: [read, send, delete]
    allowed_resources: ["*@acme.com", "*@gmail.com", "reports/**"]
  default:
    allowed_operations: [read]
"""


def test_a_sub_agent_cannot_widen_its_parent(tmp_path: Path) -> None:
    """mailer alone may delete and mail gmail; inside planner it may do neither, and still mails acme."""
    fw = make_fw(tmp_path, POLICY)
    gmail = ToolCall("send_email", {"to": "x@gmail.com", "body": "hi"})
    acme = ToolCall("send_email", {"to": "x@acme.com", "body": "hi"})
    rm = ToolCall("delete_file", {"path": "reports/old.csv"})
    with agent_context(agent_id="mailer"):
        assert fw.evaluate(gmail).allowed and fw.evaluate(rm).allowed
    with agent_context(agent_id="planner", task_id="t-1"), agent_context(agent_id="mailer") as child:
        assert child.task_id == "t-1"
        assert fw.evaluate(gmail).blocked and fw.evaluate(rm).blocked
        assert fw.evaluate(acme).allowed


def test_narrowing_composes_with_scopes_and_depth(tmp_path: Path) -> None:
    """A grandchild under an outer scope is bound by every ancestor and the scope."""
    fw = make_fw(tmp_path, POLICY)
    with (
        agent_context(agent_id="mailer"),
        scope(allowed_resources=["*@acme.com"]),
        agent_context(agent_id="planner"),
        agent_context(agent_id="mailer"),
    ):
        assert fw.evaluate(ToolCall("send_email", {"to": "x@acme.com", "body": "hi"})).allowed
        assert fw.evaluate(ToolCall("delete_file", {"path": "reports/old.csv"})).blocked


def test_an_unknown_sub_agent_gets_default_within_its_parent(tmp_path: Path) -> None:
    """An unlisted child id gets agents.default intersected with its parent."""
    fw = make_fw(tmp_path, POLICY)
    with agent_context(agent_id="planner"), agent_context(agent_id="helper-7"):
        assert fw.evaluate(ToolCall("read_file", {"path": "reports/a.csv"})).allowed
        assert fw.evaluate(ToolCall("send_email", {"to": "x@acme.com", "body": "hi"})).blocked


def test_siblings_are_not_parents(tmp_path: Path) -> None:
    """A context entered after another one exited is not its sub-agent."""
    fw = make_fw(tmp_path, POLICY)
    with agent_context(agent_id="planner"):
        pass
    with agent_context(agent_id="mailer") as ctx:
        assert ctx.parent is None
        assert fw.evaluate(ToolCall("send_email", {"to": "x@gmail.com", "body": "hi"})).allowed
