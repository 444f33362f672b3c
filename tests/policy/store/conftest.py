"""Fixtures for the policy store tests: a file store in tmp_path, a PostgreSQL store in a fresh schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentgate.policy.store import PolicyStore, open_policy_store

READ_ONLY = "agents:\n  default:\n    allowed_operations: [read]\n"
READ_WRITE = "agents:\n  default:\n    allowed_operations: [read, write]\n"
BROKEN = "agents:\n  default:\n    allowed_operations: [reed]\n    allowed_operations: [read]\n"


@pytest.fixture
def pg_store_url(postgres_url: str) -> Iterator[str]:
    """URL of a PostgreSQL policy store in a schema of its own, dropped afterwards."""
    import psycopg

    schema = f"ag_pol_{uuid.uuid4().hex[:10]}"
    yield f"{postgres_url}?schema={schema}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["file", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PolicyStore]:
    """Each backend, empty."""
    if request.param == "file":
        s = open_policy_store(tmp_path / "agentgate.yaml")
    else:
        s = open_policy_store(request.getfixturevalue("pg_store_url"))
    yield s
    s.close()
