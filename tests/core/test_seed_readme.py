"""Every code example of the seed README runs as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

import agentgate
from agentgate import FirewallBlockedError, agent_context


def test_one_line_protection() -> None:
    """`agentgate.protect_all()` sets up the firewall and returns the patched frameworks."""
    patched = agentgate.protect_all(audit="none")
    assert isinstance(patched, list)
    assert agentgate.get_firewall().mode == "enforce"
    agentgate.unprotect_all()


def test_scope_declaration() -> None:
    """The README's scope: reads of sales_data and writes of reports run; anything else is stopped."""
    agentgate.protect_all(audit="none", frameworks=[])
    ran: list[str] = []

    @agentgate.guard
    def query_sales(table: str) -> None:
        ran.append(table)

    @agentgate.guard
    def write_report(path: str, content: str) -> None:
        ran.append(path)

    @agentgate.guard
    def delete_table(table: str) -> None:
        ran.append("deleted " + table)

    with agentgate.scope(
        task="Generate the monthly sales report",
        allowed_resources=["sales_data", "reports"],
        allowed_operations=["read", "write"],
    ):
        query_sales("sales_data")
        write_report("reports/monthly.md", "...")
        with pytest.raises(FirewallBlockedError):
            delete_table("sales_data")
        with pytest.raises(FirewallBlockedError):
            query_sales("customers")
    assert ran == ["sales_data", "reports/monthly.md"]


def test_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's agentgate.yaml applies to reporting_agent."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "agentgate.yaml").write_text(
        "operations: [aggregate]\n"
        "agents:\n"
        "  reporting_agent:\n"
        "    allowed_operations: [read, aggregate, write]\n"
        '    allowed_resources: [sales_data, "reports/**"]\n'
    )
    agentgate.protect_all(config="agentgate.yaml", audit="none", frameworks=[])

    @agentgate.guard
    def read_table(table: str) -> str:
        return table

    with agent_context(agent_id="reporting_agent"):
        assert read_table("sales_data") == "sales_data"
        with pytest.raises(FirewallBlockedError):
            read_table("payroll")


def test_guard_raw_functions() -> None:
    """@agentgate.guard: SELECT runs, DROP TABLE raises FirewallBlockedError."""
    agentgate.protect_all(audit="none", frameworks=[])
    ran: list[str] = []

    @agentgate.guard
    def execute_sql(query: str) -> str:
        ran.append(query)
        return "ok"

    assert execute_sql("SELECT * FROM users") == "ok"
    with pytest.raises(FirewallBlockedError):
        execute_sql("DROP TABLE users")
    assert ran == ["SELECT * FROM users"]


def test_context_propagation() -> None:
    """agent_context carries agent_id/task_id/user_id to every call inside."""
    agentgate.protect_all(audit="none", frameworks=[])

    @agentgate.guard
    def get_weather(city: str) -> str:
        return "sunny"

    with agent_context(agent_id="report-bot", task_id="run-42", user_id="alice") as ctx:
        get_weather("Paris")
        assert agentgate.get_context() is ctx
        assert (ctx.agent_id, ctx.task_id, ctx.user_id) == ("report-bot", "run-42", "alice")
        assert ctx.action_history[-1].tool_name == "get_weather"


def test_register_tools_seed_vocabulary() -> None:
    """The seed's register_tools example (action_type/resource_key) is accepted and used."""
    agentgate.protect_all(audit="none", frameworks=[])
    agentgate.register_tools(
        {
            "execute_sql": {"action_type": "database", "resource_key": "query"},
            "send_email": {"action_type": "communication", "resource_key": "to"},
            "read_logs": {"action_type": "read", "resource_key": "service"},
            "update_config": {"action_type": "config", "resource_key": "key"},
            "deploy_service": {"action_type": "deploy", "resource_key": "service"},
        }
    )

    @agentgate.guard
    def read_logs(service: str) -> str:
        return "..."

    with agentgate.scope(allowed_operations=["read"], allowed_resources=["billing"]):
        assert read_logs("billing") == "..."
        with pytest.raises(FirewallBlockedError):
            read_logs("auth")
