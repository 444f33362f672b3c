"""CrewAI integration: both execution paths are stopped by a before-tool-call hook that truly blocks.

CrewAI pins openai<3 / mcp<2 / pydantic<2.13, so these tests run in their own
environment: ``.venv-crewai/bin/pytest -m crewai tests/integrations/test_crewai.py``.
The main environment deselects them with ``-m "not crewai"``; there, the
imports below fail and only the unmarked test runs. A missing crewai in the
crewai environment fails the tests (the ``crew_kit`` fixture), never skips them.

The crew runs against a scripted ``BaseLLM`` (no network): native function
calling (``supports_function_calling() -> True``, the model returns tool-call
dicts) and the ReAct text protocol (``Action:`` / ``Action Input:``). The
destructive call is ``delete_records(table="users")`` inside
``scope(allowed_operations=["read"])``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import warnings
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import Field

import agentgate
from agentgate import agent_context, scope
from agentgate.audit import AuditRecord, MemorySink
from agentgate.integrations import crewai as cr

# Offline and quiet: no telemetry or trace upload attempts from crewai. Only where crewai is
# installed: OTEL_SDK_DISABLED would also switch off the OpenTelemetry SDK the telemetry tests use.
if importlib.util.find_spec("crewai") is not None:
    for _var, _val in (
        ("CREWAI_DISABLE_TELEMETRY", "true"),
        ("OTEL_SDK_DISABLED", "true"),
        ("CREWAI_TRACING_ENABLED", "false"),
    ):
        os.environ.setdefault(_var, _val)

try:
    # crewai's import raises an ImportWarning of its own (crewai.rag); the suite turns warnings into errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImportWarning)
        from crewai import Agent, Crew, Task
        from crewai.hooks import clear_all_global_hooks, get_before_tool_call_hooks
        from crewai.llms.base_llm import BaseLLM
        from crewai.tools import BaseTool, tool

    CREWAI_ERROR: ImportError | None = None
except ImportError as exc:  # the main environment; these tests are deselected there
    CREWAI_ERROR = exc

READ_ONLY = {"allowed_operations": ["read"]}

# crewai 1.15 reads its own deprecated fields on every kickoff; those warnings are crewai's, not ours.
pytestmark = pytest.mark.filterwarnings(r"ignore::DeprecationWarning:crewai\..*")

ran: list[tuple[str, Any]] = []


class _Audit:
    """The firewall's real audit trail (``agentgate.audit``), kept in a MemorySink."""

    def __init__(self) -> None:
        self.sink = MemorySink()

    @property
    def records(self) -> list[AuditRecord]:
        assert agentgate.flush(5.0), "audit writer did not drain"
        return list(self.sink.records)

    def decisions(self) -> list[tuple[str, str]]:
        return [(r.tool_name, r.verdict) for r in self.records]


def _build_kit() -> SimpleNamespace:
    """The crewai-dependent test doubles, built only where crewai is importable."""

    class ScriptedLLM(BaseLLM):  # type: ignore[misc]
        """A BaseLLM replaying a script; ``native`` picks the execution path."""

        script: list[Any] = Field(default_factory=list)
        native: bool = True
        seen: list[Any] = Field(default_factory=list)

        def supports_function_calling(self) -> bool:
            return self.native

        def call(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
            self.seen.append(json.loads(json.dumps(messages, default=str)))
            return self.script.pop(0) if self.script else "Thought: done\nFinal Answer: done"

        async def acall(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
            return self.call(messages, *args, **kwargs)

    @tool("delete_records")
    def delete_records(table: str) -> str:
        """Delete every record of a table."""
        ran.append(("delete_records", table))
        return f"deleted {table}"

    @tool("read_records")
    def read_records(table: str) -> str:
        """Read the records of a table."""
        ran.append(("read_records", table))
        return f"3 rows from {table}"

    class DeleteRecordsTool(BaseTool):  # type: ignore[misc]
        name: str = "delete_records"
        description: str = "Delete every record of a table."

        def _run(self, table: str) -> str:
            ran.append(("delete_records", table))
            return f"deleted {table}"

    return SimpleNamespace(
        ScriptedLLM=ScriptedLLM,
        delete_tools={"@tool": delete_records, "BaseTool-subclass": DeleteRecordsTool()},
        read_records=read_records,
    )


@pytest.fixture(scope="module")
def crew_kit() -> SimpleNamespace:
    """The fake LLM and tools; fails (never skips) when crewai is missing in the crewai environment."""
    if CREWAI_ERROR is not None:
        pytest.fail(f"crewai is not importable in this environment: {CREWAI_ERROR}")
    return _build_kit()


@pytest.fixture
def crew_protect(crew_kit: SimpleNamespace) -> Iterator[Callable[..., _Audit]]:
    """``protect(on_block=...)`` patches CrewAI through protect_all and returns its audit trail."""

    def protect(on_block: str = "raise") -> _Audit:
        audit = _Audit()
        assert agentgate.protect_all(audit=audit.sink, on_block=on_block, frameworks=["crewai"]) == ["crewai"]
        return audit

    cr.uninstall()
    ran.clear()
    yield protect
    cr.uninstall()


@pytest.fixture
def crew_audit(crew_protect: Callable[..., _Audit]) -> _Audit:
    """CrewAI patched with the default settings."""
    return crew_protect()


def _llm(kit: SimpleNamespace, path: str, name: str, args: dict[str, Any]) -> Any:
    if path == "native":
        call = {"id": "call-1", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
        return kit.ScriptedLLM(model="scripted", native=True, script=[[call], "done"])
    react = f"Thought: I will use the tool.\nAction: {name}\nAction Input: {json.dumps(args)}"
    return kit.ScriptedLLM(model="scripted", native=False, script=[react, "Thought: done\nFinal Answer: done"])


def _crew(llm: Any, tools: list[Any]) -> Any:
    agent = Agent(role="DBA", goal="Maintain tables", backstory="Careful.", llm=llm, tools=tools, max_iter=3)
    task = Task(description="Handle the users table.", expected_output="A short report.", agent=agent)
    return Crew(agents=[agent], tasks=[task])


def _tool_result_seen_by_model(llm: Any) -> str:
    """The text the model was given back after its tool call (second LLM request)."""
    assert len(llm.seen) >= 2, "the model was never called back after the tool call"
    return json.dumps(llm.seen[1])


PATHS = ["native", "react"]
TOOL_IDS = ["@tool", "BaseTool-subclass"]


# ------------------------------------------------------------------- blocks


@pytest.mark.crewai
@pytest.mark.parametrize("tool_id", TOOL_IDS)
@pytest.mark.parametrize("path", PATHS)
def test_kickoff_blocked_on_both_paths(crew_audit: _Audit, crew_kit: SimpleNamespace, path: str, tool_id: str) -> None:
    """``kickoff``: the tool body never runs and the model reads our refusal, on both execution paths."""
    llm = _llm(crew_kit, path, "delete_records", {"table": "users"})
    with scope(**READ_ONLY):
        out = _crew(llm, [crew_kit.delete_tools[tool_id]]).kickoff()
    assert ran == []
    assert "Tool execution blocked by AgentGate (scope.operation)" in _tool_result_seen_by_model(llm)
    assert out.raw == "done"
    assert crew_audit.decisions() == [("delete_records", "block")]


@pytest.mark.crewai
@pytest.mark.parametrize("path", PATHS)
async def test_kickoff_async_blocked(crew_audit: _Audit, crew_kit: SimpleNamespace, path: str) -> None:
    """``kickoff_async`` goes through the same hook; nothing deleted."""
    llm = _llm(crew_kit, path, "delete_records", {"table": "users"})
    with scope(**READ_ONLY):
        await _crew(llm, [crew_kit.delete_tools["@tool"]]).kickoff_async()
    assert ran == []
    assert "blocked by AgentGate" in _tool_result_seen_by_model(llm)


@pytest.mark.crewai
@pytest.mark.parametrize("path", PATHS)
def test_benign_call_runs_and_audit_holds_both(crew_audit: _Audit, crew_kit: SimpleNamespace, path: str) -> None:
    """A read runs and its output reaches the model; the audit holds the allowed read and the blocked delete."""
    read_llm = _llm(crew_kit, path, "read_records", {"table": "users"})
    delete_llm = _llm(crew_kit, path, "delete_records", {"table": "users"})
    with scope(**READ_ONLY):
        _crew(read_llm, [crew_kit.read_records]).kickoff()
        _crew(delete_llm, [crew_kit.delete_tools["@tool"]]).kickoff()
    assert ran == [("read_records", "users")]
    assert "3 rows from users" in _tool_result_seen_by_model(read_llm)
    assert crew_audit.decisions() == [("read_records", "allow"), ("delete_records", "block")]
    rec = crew_audit.records[0]
    assert (rec.framework, rec.payload["arguments"]) == ("crewai", {"table": "users"})
    assert crew_audit.records[1].policy_name == "scope.operation"


@pytest.mark.crewai
@pytest.mark.parametrize("path", PATHS)
def test_result_recorded_in_agent_history(crew_audit: _Audit, crew_kit: SimpleNamespace, path: str) -> None:
    """The allowed tool's raw result is attached to the agent's history entry."""
    llm = _llm(crew_kit, path, "read_records", {"table": "sales"})
    with agent_context(agent_id="reporter") as ctx:
        _crew(llm, [crew_kit.read_records]).kickoff()
    assert [(r.tool_name, r.verdict, r.result) for r in ctx.action_history] == [
        ("read_records", "allow", "3 rows from sales")
    ]


@pytest.mark.crewai
def test_internal_error_blocks_instead_of_failing_open(
    crew_audit: _Audit, crew_kit: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CrewAI ignores hook exceptions and runs the tool, so an error while deciding must block."""

    def broken(self: Any, call: Any) -> Any:
        raise RuntimeError("policy store unreachable")

    # Firewalls are immutable: break the method on the class for this test.
    monkeypatch.setattr(type(agentgate.get_firewall()), "check", broken)
    llm = _llm(crew_kit, "native", "read_records", {"table": "users"})
    _crew(llm, [crew_kit.read_records]).kickoff()
    assert ran == []
    assert "could not decide this tool call" in _tool_result_seen_by_model(llm)


@pytest.mark.crewai
def test_return_error_setting_accepted(crew_protect: Callable[..., _Audit], crew_kit: SimpleNamespace) -> None:
    """``on_block="return_error"`` installs too; CrewAI hands the model the refusal either way."""
    crew_protect("return_error")
    llm = _llm(crew_kit, "react", "delete_records", {"table": "users"})
    with scope(**READ_ONLY):
        _crew(llm, [crew_kit.delete_tools["@tool"]]).kickoff()
    assert ran == []
    assert "blocked by AgentGate" in _tool_result_seen_by_model(llm)


# ---------------------------------------------------------------- delegation

# CrewAI's delegation tool is decided like any tool; a scope cannot tell what it does unless declared.
DELEGATION_TOOLS = "tools:\n  delegate_work_to_coworker: {operation: read, side_effect: false}\n"


def _delegating_crew(kit: SimpleNamespace, path: str, table: str) -> Any:
    """A manager (allow_delegation) whose model hands "delete <table>" to the writer, who calls delete_records."""
    delegate = {"task": f"delete {table}", "context": "cleanup", "coworker": "writer"}
    if path == "native":
        manager_llm = _llm(kit, "native", "delegate_work_to_coworker", delegate)
    else:
        manager_llm = _llm(kit, "react", "Delegate work to coworker", delegate)
    manager = Agent(role="manager", goal="Keep tables tidy", backstory="Delegates.", llm=manager_llm,
                    allow_delegation=True, max_iter=3)  # fmt: skip
    writer = Agent(role="writer", goal="Change tables", backstory="Careful.", max_iter=3,
                   llm=_llm(kit, path, "delete_records", {"table": table}), tools=[kit.delete_tools["@tool"]])  # fmt: skip
    task = Task(description="Clean up.", expected_output="A short report.", agent=manager)
    return Crew(agents=[manager, writer], tasks=[task])


def _protect_with(tmp_path: Any, policy: str) -> _Audit:
    path = tmp_path / "agentgate.yaml"
    path.write_text(policy)
    audit = _Audit()
    assert agentgate.protect_all(config=str(path), audit=audit.sink, frameworks=["crewai"]) == ["crewai"]
    return audit


@pytest.mark.crewai
@pytest.mark.parametrize("path", PATHS)
def test_delegated_call_outside_parent_scope_never_runs(
    crew_protect: Callable[..., _Audit], crew_kit: SimpleNamespace, tmp_path: Any, path: str
) -> None:
    """A coworker the manager delegates to is held to the scope the crew runs under: its delete never runs."""
    audit = _protect_with(tmp_path, DELEGATION_TOOLS)
    with scope(**READ_ONLY):
        _delegating_crew(crew_kit, path, "users").kickoff()
    assert ran == []
    assert audit.decisions() == [("delegate_work_to_coworker", "allow"), ("delete_records", "block")]
    assert audit.records[1].policy_name == "scope.operation"


@pytest.mark.crewai
@pytest.mark.parametrize("path", PATHS)
def test_delegated_coworker_cannot_widen_the_manager(
    crew_protect: Callable[..., _Audit], crew_kit: SimpleNamespace, tmp_path: Any, path: str
) -> None:
    """The coworker decides as the manager's sub-agent: its own wider policy, and the crew's, cannot widen the manager's."""
    audit = _protect_with(
        tmp_path,
        DELEGATION_TOOLS + "agents:\n"
        "  crew: {allowed_operations: [read, delete], allowed_resources: [invoices, users]}\n"
        "  manager: {allowed_operations: [read, delete], allowed_resources: [invoices]}\n"
        "  writer: {allowed_operations: [read, delete], allowed_resources: [invoices, users]}\n",
    )
    with agent_context(agent_id="crew"):
        _delegating_crew(crew_kit, path, "users").kickoff()  # crew and writer allow users; the manager does not
    assert ran == []
    with agent_context(agent_id="crew"):
        _delegating_crew(crew_kit, path, "invoices").kickoff()
    assert ran == [("delete_records", "invoices")]
    deletes = [r for r in audit.records if r.tool_name == "delete_records"]
    assert [(r.verdict, r.agent_id) for r in deletes] == [("block", "writer"), ("allow", "writer")]
    assert "agent:manager" in deletes[0].reasoning


# ---------------------------------------------------------- install contract


@pytest.mark.crewai
def test_install_is_idempotent_and_uninstall_restores(crew_kit: SimpleNamespace) -> None:
    """Hooks are registered once however often install runs; uninstall removes them and stops guarding."""
    try:
        assert cr.install()
        assert cr.install()
        assert get_before_tool_call_hooks().count(cr._before_tool_call) == 1
        assert cr.installed()
    finally:
        cr.unpatch()
    assert not cr.installed()
    assert cr._before_tool_call not in get_before_tool_call_hooks()
    ran.clear()
    with scope(**READ_ONLY):
        _crew(
            _llm(crew_kit, "native", "delete_records", {"table": "users"}), [crew_kit.delete_tools["@tool"]]
        ).kickoff()
    assert ran == [("delete_records", "users")]  # unguarded again: uninstall really removed the hook


@pytest.mark.crewai
def test_cleared_hooks_are_reported_and_reinstalled(crew_kit: SimpleNamespace) -> None:
    """``clear_all_global_hooks()`` makes ``installed()`` False; install registers the hooks again."""
    try:
        cr.install()
        clear_all_global_hooks()
        assert not cr.installed()
        cr.install()
        assert cr.installed()
    finally:
        cr.uninstall()


@pytest.mark.crewai
def test_contract_attributes(crew_kit: SimpleNamespace) -> None:
    """The module exposes the integration contract protect_all relies on."""
    assert cr.FRAMEWORK == "crewai"
    assert cr.available()
    assert "crewai" in cr.TESTED_VERSIONS
    assert cr.unpatch is cr.uninstall
    with pytest.raises(agentgate.ConfigError):
        cr.install(on_block="ignore")


def test_install_without_crewai_returns_false(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where crewai is not installed, install reports False and registers nothing (runs in both environments)."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "crewai" else real(name, *a))
    assert not cr.available()
    assert cr.install() is False
    assert not cr.installed()
