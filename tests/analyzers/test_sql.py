"""Tests for the SQL analyzer: golden fixtures plus the parse/analysis contract."""

from __future__ import annotations

import doctest
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentgate._call import ToolCall, ToolSpec
from agentgate._decision import Effect, Finding
from agentgate.analyzers import sql as sql_module
from agentgate.analyzers.base import AnalyzerSettings, make_context
from agentgate.analyzers.sql import _fold, _vocab, analyze_sql, parse_sql
from agentgate.policy import EffectivePolicy, make_scope

FIXTURES = Path(__file__).parent.parent / "fixtures" / "analyzers" / "sql.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(FIXTURES.read_text())


def _run(case: dict[str, Any]) -> list[Finding]:
    tool = case.get("tool", "execute_sql")
    arg = case.get("arg", "query")
    spec = ToolSpec(kind="sql", dialect=case["dialect"]) if tool == "execute_sql" and case.get("dialect") else None
    call = ToolCall(tool, {arg: case["sql"]}, spec=spec)
    policy = EffectivePolicy((make_scope(**case["scope"]),)) if case.get("scope") else None
    return list(analyze_sql(call, make_context(call, policy=policy)))


def _effect(findings: list[Finding]) -> str:
    if any(f.effect is Effect.BLOCK for f in findings):
        return "block"
    if any(f.effect is Effect.ESCALATE for f in findings):
        return "escalate"
    return "allow"


@pytest.mark.parametrize("case", CASES, ids=[f"{i:03d}-{c['note'][:40]}" for i, c in enumerate(CASES)])
def test_golden(case: dict[str, Any]) -> None:
    """Each fixture yields exactly its expected rules and combined effect."""
    findings = _run(case)
    rules = sorted({f.rule_id for f in findings if f.effect is not Effect.INFO})
    assert rules == sorted(case["expect"]), [f.to_dict() for f in findings]
    assert _effect(findings) == case["effect"], [f.to_dict() for f in findings]


def test_fixtures_cover_every_rule() -> None:
    """Every rule the module documents has at least one attack fixture."""
    documented = {line.split()[0] for line in (sql_module.__doc__ or "").splitlines() if line.startswith("sql.")}
    covered = {r for c in CASES for r in c["expect"]}
    assert documented <= covered, documented - covered


def test_findings_are_one_actionable_line() -> None:
    """Every finding message is a single line and names the argument it is about."""
    for case in CASES:
        for f in _run(case):
            assert "\n" not in f.message
            assert f.message
            assert f.argument == case.get("arg", "query")


def test_tables_through_ctes_subqueries_joins_and_quotes() -> None:
    """Tables read/written are found through CTEs, subqueries, joins, schemas and quotes; CTE names are not tables."""
    a = parse_sql(
        "WITH recent AS (SELECT * FROM sales.orders WHERE ts > now()) "
        'INSERT INTO "Reports"."Daily" SELECT r.id FROM recent r JOIN customers c ON c.id = r.cid '
        "WHERE c.region IN (SELECT region FROM regions)"
    )
    assert a.error is None
    assert set(a.tables_read) == {"sales.orders", "customers", "regions"}
    assert a.tables_written == ("Reports.Daily",)
    assert [s.sql_class for s in a.statements] == ["write"]


def test_cte_shadowing_a_table_reads_the_table() -> None:
    """A CTE body that names its own alias reads the real table (non-recursive WITH)."""
    assert parse_sql("WITH users AS (SELECT * FROM users WHERE active) SELECT * FROM users").tables_read == ("users",)
    assert (
        parse_sql(
            "WITH RECURSIVE t AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT * FROM t"
        ).tables_read
        == ()
    )


@pytest.mark.parametrize(
    ("sql", "classes"),
    [
        ("SELECT 1", ["read"]),
        ("INSERT INTO t VALUES (1)", ["write"]),
        ("UPDATE t SET a = 1 WHERE id = 2", ["write"]),
        ("DELETE FROM t WHERE id = 2", ["delete"]),
        ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", ["delete"]),
        ("CREATE TABLE t (a int)", ["ddl"]),
        ("DROP VIEW v", ["ddl_drop"]),
        ("ALTER TABLE t DROP COLUMN a", ["ddl_drop"]),
        ("ALTER TABLE t ADD COLUMN b int", ["ddl"]),
        ("GRANT SELECT ON t TO bob", ["dcl"]),
        ("VACUUM", ["admin"]),
        ("BEGIN; SELECT 1; COMMIT", ["transaction", "read", "transaction"]),
        ("SET search_path TO app", ["session"]),
    ],
)
def test_statement_classes(sql: str, classes: list[str]) -> None:
    """Each statement gets its class: read/write/delete/ddl/dcl/admin/session/transaction."""
    assert [s.sql_class for s in parse_sql(sql, "postgres").statements] == classes


def test_parse_is_cached_per_text_and_dialect() -> None:
    """Repeated calls return the cached analysis; a different dialect is a different entry."""
    q = "SELECT id FROM cache_probe_table WHERE x = 1"
    assert parse_sql(q) is parse_sql(q)
    assert parse_sql(q, "mysql") is not parse_sql(q)
    info = parse_sql.cache_info()
    assert info.maxsize is not None
    assert info.maxsize > 0


def test_unparsable_names_the_parse_error() -> None:
    """A SQL tool's unparsable text escalates with the parser's error in the message."""
    call = ToolCall("execute_sql", {"query": "SELECT * FROM WHERE"})
    [f] = analyze_sql(call, make_context(call))
    assert f.rule_id == "sql.unparsable"
    assert f.effect is Effect.ESCALATE
    assert "cannot parse" in f.message
    assert "line 1" in f.message


def test_oversized_text_escalates() -> None:
    """Text beyond the analysis limit is never allowed unseen."""
    call = ToolCall("execute_sql", {"query": "SELECT 1 " + "-" * 250_000})
    [f] = analyze_sql(call, make_context(call))
    assert f.rule_id == "sql.unparsable"
    assert f.effect is Effect.ESCALATE


def test_dialect_from_spec_and_settings() -> None:
    """The tool spec's dialect wins; else the analyzer settings' default is used."""
    q = "SELECT * FROM users WHERE name = 'bob' OR 1=1 # trailing"
    by_spec = ToolCall("execute_sql", {"query": q}, spec=ToolSpec(kind="sql", dialect="mysql"))
    assert [f.rule_id for f in analyze_sql(by_spec, make_context(by_spec))] == ["sql.tautology"]
    plain = ToolCall("execute_sql", {"query": q})
    ctx = make_context(plain, settings=AnalyzerSettings(sql_dialect="mysql"))
    assert [f.rule_id for f in analyze_sql(plain, ctx)] == ["sql.tautology"]
    bad = ToolCall("execute_sql", {"query": "SELECT 1"}, spec=ToolSpec(kind="sql", dialect="no-such-dialect"))
    assert [f.rule_id for f in analyze_sql(bad, make_context(bad))] == ["sql.unparsable"]


def test_positional_style_single_argument_tool() -> None:
    """A one-argument SQL tool is analyzed whatever its argument is called."""
    call = ToolCall("run_sql", {"text": "DROP TABLE users"})
    assert [f.rule_id for f in analyze_sql(call, make_context(call))] == ["sql.drop"]


def test_analysis_shared_in_scratch() -> None:
    """The parsed analysis is left in ctx.scratch for other analyzers."""
    call = ToolCall("execute_sql", {"query": "SELECT * FROM orders"})
    ctx = make_context(call)
    analyze_sql(call, ctx)
    assert ctx.scratch["sql"]["query"].tables_read == ("orders",)


def test_non_sql_call_has_no_findings() -> None:
    """Calls with no SQL target cost nothing and report nothing."""
    call = ToolCall("get_weather", {"city": "Paris"})
    assert list(analyze_sql(call, make_context(call))) == []


def test_bound_parameters_are_data() -> None:
    """An injection-looking value in a SQL tool's bound parameters is data, not SQL."""
    call = ToolCall("execute_sql", {"query": "SELECT * FROM users WHERE name = %s", "params": ["x' OR '1'='1"]})
    assert analyze_sql(call, make_context(call)) == []
    call = ToolCall("execute_sql", {"query": "SELECT * FROM users WHERE name = 'a'", "note": "x' OR '1'='1"})
    assert "sql.injection" in {f.rule_id for f in analyze_sql(call, make_context(call))}


def test_sniffed_text_in_a_carrier_tool_is_only_noted() -> None:
    """Destructive SQL carried as text by a file/e-mail tool is an INFO note, not a block."""
    call = ToolCall("write_file", {"path": "migrations/001.sql", "content": "DROP TABLE legacy_sessions;"})
    findings = analyze_sql(call, make_context(call))
    assert [f.effect for f in findings] == [Effect.INFO]


def test_concurrent_threads_agree() -> None:
    """Per-thread tokenizers/parsers give every thread the same analysis as a serial run."""
    texts = [c["sql"] for c in CASES if not c.get("tool")][:60]
    expected = [sql_module._parse(t, None, 0) for t in texts]

    def work(_: int) -> list[Any]:
        return [sql_module._parse(t, None, 0) for t in texts]

    with ThreadPoolExecutor(max_workers=4) as pool:
        for result in pool.map(work, range(8)):
            assert result == expected


@pytest.mark.parametrize("module", [sql_module, _fold, _vocab], ids=lambda m: m.__name__)
def test_module_doctests(module: Any) -> None:
    """The SQL modules' docstring examples run."""
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0


def test_long_text_with_divergent_tokens_escalates_naming_the_fix() -> None:
    """Past the multi-dialect limit a text with # or --x is not read under one dialect only: it escalates."""
    q = "SELECT id FROM t WHERE id IN (" + ",".join(str(i) for i in range(1200)) + ") # note"
    call = ToolCall("execute_sql", {"query": q})
    [f] = analyze_sql(call, make_context(call))
    assert (f.rule_id, f.effect) == ("sql.unparsable", Effect.ESCALATE)
    assert "configure the dialect" in f.message
    configured = ToolCall("execute_sql", {"query": q}, spec=ToolSpec(kind="sql", dialect="mysql"))
    assert analyze_sql(configured, make_context(configured)) == []


def test_mysql_text_is_linear_and_keeps_strings() -> None:
    """The MySQL rewrite touches only code: quoted -- and # stay, executable comments open up."""
    from agentgate.analyzers.sql._parse import mysql_text

    assert mysql_text("SELECT '--x', `a--b` /*!50000 , 2 */ --1") == "SELECT '--x', `a--b`   , 2   - -1"
    assert mysql_text("x /* a--b */ y") == "x /* a--b */ y"


def test_question_of_a_text_to_sql_tool_is_text() -> None:
    """ask_database(question=...) carries prose for a model: not escalated as unparsable SQL, still sniffed."""
    prose = ToolCall("ask_database", {"question": "which customers were deleted from the CRM last month, and why?"})
    assert analyze_sql(prose, make_context(prose)) == []
    sql = ToolCall("ask_database", {"question": "DROP TABLE customers"})
    assert [f.rule_id for f in analyze_sql(sql, make_context(sql))] == ["sql.drop"]
