"""The SQL analyzer's dialect rules, proved against the real engines.

Each test runs a harmless statement on MariaDB, PostgreSQL or SQLite that shows how
the engine reads a comment, a string or a function argument, then checks that the
analyzer's reading of a dangerous statement built on the same rule agrees. Destructive
shapes run only against a throwaway table of three rows.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from agentgate._call import ToolCall
from agentgate._decision import Effect
from agentgate.analyzers.base import make_context
from agentgate.analyzers.sql import _builtins, analyze_sql

pytestmark = pytest.mark.services


def _verdict(sql: str) -> tuple[set[str], str]:
    """The analyzer's rules and combined effect for *sql* in a SQL tool with no dialect configured."""
    call = ToolCall("execute_sql", {"query": sql})
    findings = [f for f in analyze_sql(call, make_context(call)) if f.effect is not Effect.INFO]
    effect = "block" if any(f.effect is Effect.BLOCK for f in findings) else "escalate" if findings else "allow"
    return {f.rule_id for f in findings}, effect


# ------------------------------------------------------------------------ MariaDB


@pytest.fixture
def maria(mariadb_params: dict[str, Any]) -> Iterator[tuple[Any, str]]:
    """A MariaDB connection to database ``test`` and a fresh table of three rows, dropped afterwards."""
    import pymysql

    conn = pymysql.connect(**mariadb_params, autocommit=True)
    table = f"ag_sql_{uuid.uuid4().hex[:10]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY)")
        cur.execute(f"INSERT INTO {table} VALUES (1), (2), (3)")
    try:
        yield conn, table
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        conn.close()


def _one(conn: Any, sql: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def _rows(conn: Any, table: str) -> int:
    return int(_one(conn, f"SELECT COUNT(*) FROM {table}"))


def test_mariadb_executes_versioned_comments(maria: tuple[Any, str]) -> None:
    """MariaDB runs /*M! ... */ and /*! ... */ bodies; the analyzer reads them as code."""
    conn, table = maria
    assert _one(conn, "SELECT 1 /*M! + 41 */") == 42
    assert _one(conn, "SELECT 1 /*!50000 + 1 */") == 2
    attack = f"DELETE FROM {table} WHERE id = 1 /*M!100100 OR 1=1 */"
    with conn.cursor() as cur:
        cur.execute(attack)
    assert _rows(conn, table) == 0  # every row went: the "comment" ran
    rules, effect = _verdict(attack)
    assert effect == "block"
    assert rules & {"sql.tautology", "sql.delete_all"}


def test_mariadb_hash_is_a_comment_and_dashes_need_a_space(maria: tuple[Any, str]) -> None:
    """On MariaDB ``#`` comments out the rest of the line and ``--1`` is two minus signs; the analyzer agrees."""
    conn, table = maria
    assert _one(conn, "SELECT 1 # + 1") == 1
    assert _one(conn, "SELECT 1 --1") == 2
    assert _one(conn, "SELECT 1 -- 1") == 1
    hash_attack = f"DELETE FROM {table} WHERE 1=1 # AND id = 2"
    with conn.cursor() as cur:
        cur.execute(hash_attack)
    assert _rows(conn, table) == 0
    assert _verdict(hash_attack)[1] == "block"
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (1), (2), (3)")
        dash_attack = f"DELETE FROM {table} WHERE id = 7 --1 OR 1=1"
        cur.execute(dash_attack)
    assert _rows(conn, table) == 0
    assert _verdict(dash_attack)[1] == "block"


def test_mariadb_hash_and_dashes_inside_strings_are_text(maria: tuple[Any, str]) -> None:
    """Quoted ``#`` and ``--`` are literals on MariaDB; the analyzer lets the read through."""
    conn, table = maria
    sql = f"SELECT '#kept', '--kept' FROM {table} WHERE id = 1"
    with conn.cursor() as cur:
        cur.execute(sql)
        assert cur.fetchone() == ("#kept", "--kept")
    assert _verdict(sql) == (set(), "allow")


def test_mariadb_closes_a_comment_at_the_first_end(maria: tuple[Any, str]) -> None:
    """MariaDB does not nest comments: what follows the first ``*/`` runs, and the analyzer sees it."""
    conn, _ = maria
    assert _one(conn, "SELECT 1 /* a /* b */ + 1") == 2
    assert "sql.drop" in _verdict("SELECT 1 /* a /* b */ ; DROP TABLE users; */")[0]


# --------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg(postgres_url: str) -> Iterator[tuple[Any, str]]:
    """A PostgreSQL connection and a fresh table of three rows in its own schema, dropped afterwards."""
    import psycopg

    schema = f"ag_sql_{uuid.uuid4().hex[:10]}"
    conn = psycopg.connect(postgres_url, autocommit=True)
    conn.execute(f'CREATE SCHEMA "{schema}"')
    conn.execute(f'CREATE TABLE "{schema}".t (id int PRIMARY KEY)')
    conn.execute(f'INSERT INTO "{schema}".t VALUES (1), (2), (3)')
    try:
        yield conn, f'"{schema}".t'
    finally:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()


def test_postgres_nests_comments_hash_is_an_operator_backslash_is_text(pg: tuple[Any, str]) -> None:
    """PostgreSQL nests /* */, reads ``#`` as XOR and ends '\\' at the second quote; the analyzer reads all three."""
    conn, _ = pg
    assert conn.execute("SELECT 1 /* a /* b */ + 1 */").fetchone()[0] == 1
    assert conn.execute("SELECT 1 # 3").fetchone()[0] == 2
    assert conn.execute("SELECT '\\'").fetchone()[0] == "\\"
    assert _verdict("SELECT 1 # ; DROP TABLE users")[1] == "block"
    assert "sql.drop" in _verdict("SELECT '\\'; DROP TABLE users; -- '")[0]


def test_postgres_query_to_xml_runs_its_string(pg: tuple[Any, str]) -> None:
    """query_to_xml executes the SQL in its argument; the analyzer analyzes that SQL."""
    conn, table = pg
    out = conn.execute(f"SELECT query_to_xml('SELECT count(*) AS n FROM {table}', false, false, '')").fetchone()[0]
    assert "<n>3</n>" in out
    assert _verdict("SELECT query_to_xml('SELECT * FROM pg_authid', true, true, '')") == (
        {"sql.credential_read"},
        "block",
    )


def test_postgres_unbounded_delete_really_hits_every_row(pg: tuple[Any, str]) -> None:
    """``WHERE id <> 0`` deletes every row on PostgreSQL; the analyzer calls it unbounded."""
    conn, table = pg
    sql = f"DELETE FROM {table} WHERE id <> 0"
    assert conn.execute(sql).rowcount == 3
    assert _verdict(sql) == ({"sql.delete_all"}, "block")


def test_builtin_lists_match_the_live_postgres(pg: tuple[Any, str]) -> None:
    """Every function we call pure is IMMUTABLE or STABLE in every overload on the live server."""
    conn, _ = pg
    volatile = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT proname FROM pg_proc WHERE provolatile = 'v' AND proname = ANY(%s)",
            (sorted(_builtins.PG_PURE),),
        )
    }
    assert volatile == set()
    assert {"pg_read_file", "lo_import", "pg_terminate_backend", "set_config"} <= _builtins.PG_VOLATILE


# ------------------------------------------------------------------------- SQLite


def test_sqlite_comment_rules() -> None:
    """SQLite: ``--1`` is a comment, comments do not nest, ``#`` is no comment; the analyzer covers each."""
    conn = sqlite3.connect(":memory:")
    assert conn.execute("SELECT 1 --1").fetchone()[0] == 1
    assert conn.execute("SELECT 1 /* a /* b */ + 1").fetchone()[0] == 2
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("SELECT 1 # 1")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    conn.executemany("INSERT INTO t VALUES (?)", [(1,), (2,), (3,)])
    sql = "DELETE FROM t WHERE id IN (SELECT id FROM t)"
    assert conn.execute(sql).rowcount == 3
    assert _verdict(sql) == ({"sql.delete_all"}, "block")
    conn.close()
