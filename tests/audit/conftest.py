"""Helpers for the audit tests: decisions to record, a unique PostgreSQL schema, a TCP proxy."""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from agentgate._call import ToolCall
from agentgate._context import AgentContext
from agentgate._decision import Effect, Finding, Severity, Verdict, VerdictType

AWS_KEY = "AKIAZ7QW3ERT5YUI8OPL"
GITHUB_TOKEN = "ghp_" + "a1B2" * 9


def decision(
    i: int = 0,
    *,
    tool: str = "execute_sql",
    args: dict[str, Any] | None = None,
    action: VerdictType = VerdictType.ALLOW,
    agent: str = "bot",
    task: str = "t1",
    mode: str = "enforce",
    would_block: bool = False,
    reasoning: str = "no rule matched",
) -> tuple[ToolCall, Verdict, AgentContext]:
    """One (call, verdict, agent) triple as the firewall passes it to `AuditWriter.record`."""
    call = ToolCall(tool, args if args is not None else {"query": f"SELECT {i}"}, call_id=f"call-{i}")
    findings: tuple[Finding, ...] = ()
    policy = ""
    if action is VerdictType.BLOCK or would_block:
        findings = (Finding("sql.drop", Severity.CRITICAL, Effect.BLOCK, "DROP TABLE destroys data", "DROP TABLE"),)
        policy = "sql.drop"
    verdict = Verdict(
        action,
        policy_name=policy,
        severity=Severity.CRITICAL if findings else Severity.LOW,
        reasoning=reasoning,
        findings=findings,
        decision_id=f"d-{i}",
        latency_us=10.0 + i % 7,
        policy_revision="rev1",
        mode=mode,
        would_block=would_block,
    )
    return call, verdict, AgentContext(agent_id=agent, task_id=task, user_id="u1")


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[tuple[str, str]]:
    """A fresh schema in the test database, dropped afterwards: ``(url_with_schema, schema)``."""
    import psycopg

    schema = f"ag_test_{uuid.uuid4().hex[:10]}"
    yield f"{postgres_url}?schema={schema}", schema
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class TcpProxy:
    """A local TCP proxy to PostgreSQL that a test can cut (close every connection, refuse new ones),
    blackhole (keep connections open, forward nothing: a network partition) and restore."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = _free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.hole = threading.Event()
        self.start()

    def blackhole(self) -> None:
        """From now on, bytes in either direction are swallowed and new connections hang after accept."""
        self.hole.set()

    def restore(self) -> None:
        """End the partition: connections that lived through it are closed (their protocol state is lost)."""
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
                c.close()
            self._conns.clear()
        self.hole.clear()

    def start(self) -> None:
        """Accept connections on `port` again."""
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(16)
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def stop(self) -> None:
        """Close the listener and every proxied connection: new connections are refused."""
        ls, self._listener = self._listener, None
        if ls is not None:
            with contextlib.suppress(OSError):
                ls.shutdown(socket.SHUT_RDWR)
            ls.close()
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
                c.close()
            self._conns.clear()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            if self.hole.is_set():  # accepted, never answered
                with self._lock:
                    self._conns.append(client)
                threading.Thread(target=_swallow, args=(client,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b, self.hole), daemon=True).start()


def _swallow(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while s.recv(65536):
            pass


def _pipe(a: socket.socket, b: socket.socket, hole: threading.Event) -> None:
    try:
        while data := a.recv(65536):
            if not hole.is_set():
                b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
