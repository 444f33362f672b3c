"""Shared fixtures: real services, a fresh default firewall per test."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from typing import NoReturn

import pytest

POSTGRES_URL = os.environ.get("AGENTGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("AGENTGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def unavailable(msg: str) -> NoReturn:
    """Something a test needs from the machine is missing: skip, unless AGENTGATE_REQUIRE_SERVICES=1 (CI) fails."""
    if os.environ.get("AGENTGATE_REQUIRE_SERVICES") == "1":
        pytest.fail(msg + " (AGENTGATE_REQUIRE_SERVICES=1)")
    pytest.skip(msg)


def require_service(name: str, host: str, port: int) -> None:
    """The service answers on host:port, or `unavailable`."""
    if not _reachable(host, port):
        unavailable(f"{name} not reachable on {host}:{port}")


def require_program(name: str) -> None:
    """The command-line program is installed, or `unavailable`."""
    if shutil.which(name) is None:
        unavailable(f"{name} is not installed")


@pytest.fixture
def postgres_url() -> str:
    """URL of the real PostgreSQL on 127.0.0.1:5432 (database ``test``)."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture
def mariadb_params() -> dict[str, object]:
    """Connection parameters of the real MariaDB on 127.0.0.1:3306 (root, no password, database ``test``)."""
    require_service("MariaDB", "127.0.0.1", 3306)
    return {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "database": "test"}


@pytest.fixture
def redis_url() -> str:
    """URL of the real Redis on 127.0.0.1:6379."""
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture(autouse=True)
def _isolated_default_firewall(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Every test starts with no configured default firewall and audits to a temp dir."""
    audit_dir = tmp_path_factory.mktemp("audit")
    monkeypatch.setenv("AGENTGATE_AUDIT_URL", f"sqlite:///{audit_dir}/audit.db")
    monkeypatch.setenv("XDG_STATE_HOME", str(audit_dir / "state"))  # the default spool lives there
    monkeypatch.delenv("AGENTGATE_AUDIT_SPOOL", raising=False)
    for var in (
        "AGENTGATE_CONFIG",
        "AGENTGATE_MODE",
        "AGENTGATE_JUDGE_MODEL",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "AGENTGATE_JUDGE_API_KEY",
        "AGENTGATE_JUDGE_BASE_URL",
        "SUPABASE_URL",
        "SUPABASE_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    try:
        import agentgate._firewall as fw
    except ImportError:  # during bootstrap, before the firewall module exists
        yield
        return
    fw._reset_default_for_tests()
    yield
    fw._reset_default_for_tests()
