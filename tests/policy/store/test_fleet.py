"""A fleet on the real PostgreSQL: three processes follow a push; an outage keeps the last good policy."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import agentgate
from agentgate import ToolCall, VerdictType
from agentgate.policy import store as policy_store
from agentgate.policy.store import open_policy_store

from .conftest import READ_ONLY, READ_WRITE

WORKER = r"""
import json, sys, threading, time
import agentgate
from agentgate import ToolCall

agentgate.protect_all(sys.argv[1], audit="none", frameworks=[])
call = ToolCall("write_file", {"path": "notes.txt", "content": "x"})
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
print(json.dumps({"ready": agentgate.get_firewall().policy_revision}), flush=True)
batch, sent = [], time.monotonic()
while not stop.is_set():
    fw = agentgate.get_firewall()  # one read of the firewall per decision
    v = fw.evaluate(call)
    batch.append([v.policy_revision, v.action.value, time.time()])
    if time.monotonic() - sent > 0.01:
        print(json.dumps({"decisions": batch}), flush=True)
        batch, sent = [], time.monotonic()
    time.sleep(0.002)  # a shared 2-core machine: decide in a loop, not a spin
print(json.dumps({"decisions": batch}), flush=True)
"""


class Worker:
    """One agent process: reads its (revision, verdict, time) reports on a thread."""

    def __init__(self, url: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.decisions: list[tuple[str, str, float]] = []
        self.ready = threading.Event()
        self.first_seen: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def seen(self, revision: str) -> threading.Event:
        with self.lock:
            ev = self.first_seen.setdefault(revision, threading.Event())
            if any(r == revision for r, _, _ in self.decisions):
                ev.set()
            return ev

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            msg = json.loads(line)
            if "ready" in msg:
                self.ready.set()
                continue
            with self.lock:
                for rev, verdict, t in msg["decisions"]:
                    self.decisions.append((rev, verdict, t))
                    ev = self.first_seen.get(rev)
                    if ev is not None:
                        ev.set()

    def stop(self) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.reader.join(10)
        assert self.proc.stderr is not None and self.proc.stdout is not None
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        self.proc.stdout.close()
        return err


def test_three_processes_follow_a_push(pg_store_url: str, tmp_path: Path) -> None:
    """Push: all three processes decide under the new revision, and no decision mixes revisions."""
    store = open_policy_store(pg_store_url)
    r1 = store.push(READ_ONLY, author="ana", message="read only")
    expected = {r1.revision: "block"}
    env = {**os.environ, "AGENTGATE_POLICY_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    workers = [Worker(pg_store_url, env) for _ in range(3)]
    try:
        for w in workers:
            assert w.ready.wait(60), "a worker did not start"
        for w in workers:
            assert w.seen(r1.revision).wait(30)
        r2 = store.push(READ_WRITE, author="bob", message="writes too")
        pushed = time.time()
        expected[r2.revision] = "allow"
        for w in workers:
            assert w.seen(r2.revision).wait(30), "a process never decided under the pushed revision"
    finally:
        errs = [w.stop() for w in workers]
    lags = []
    for w, err in zip(workers, errs, strict=True):
        assert "Traceback" not in err, err
        revs = [r for r, _, _ in w.decisions]
        # Every verdict is the one its own revision gives: no decision was made under a mix.
        assert all(expected[r] == v for r, v, _ in w.decisions), {(r, v) for r, v, _ in w.decisions}
        # Once a process decides under the new revision it never goes back.
        first_new = revs.index(r2.revision)
        assert set(revs[first_new:]) == {r2.revision}
        lags.append(w.decisions[first_new][2] - pushed)
    print(f"\nfleet convergence after push (s): {', '.join(f'{lag:.3f}' for lag in lags)}")
    store.close()


# -------------------------------------------------------------------- outage


class Proxy:
    """A TCP forwarder to PostgreSQL that the test can cut (every connection dropped) and restore."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(16)
        self.up = threading.Event()
        self.up.set()
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            if not self.up.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up.clear()
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        self.up.set()

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.sock.close()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    p = Proxy(("127.0.0.1", 5432))
    yield p
    p.close()


def test_store_outage_keeps_the_last_good_policy_and_recovers(
    pg_store_url: str, proxy: Proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL unreachable: the policy in force stays (never allow), health is degraded; on reconnect
    the head pushed during the outage is applied and health is ok again."""
    monkeypatch.setenv("AGENTGATE_POLICY_CACHE", str(tmp_path / "cache"))
    direct = open_policy_store(pg_store_url)
    r1 = direct.push(READ_ONLY, author="ana", message="read only")
    via_proxy = pg_store_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    write = ToolCall("write_file", {"path": "notes.txt", "content": "x"})
    try:
        agentgate.protect_all(via_proxy, audit="none", frameworks=[])
        sub = policy_store.current_subscription()
        assert sub is not None
        down, up, swapped = threading.Event(), threading.Event(), threading.Event()
        sub.on_status.append(lambda ok, _detail: (up if ok else down).set())
        sub.on_swap.append(lambda rev: swapped.set())

        proxy.cut()
        assert down.wait(20)
        st = sub.status()
        assert st["state"] == "degraded" and not st["connected"] and st["revision"] == r1.revision
        v = agentgate.get_firewall().evaluate(write)
        assert (v.action, v.policy_revision) == (VerdictType.BLOCK, r1.revision)

        r2 = direct.push(READ_WRITE, author="bob", message="pushed during the outage")
        proxy.restore()
        assert up.wait(30) and swapped.wait(30)
        st = sub.status()
        assert st["state"] == "ok" and st["connected"] and st["revision"] == r2.revision and st["outages"] >= 1
        v = agentgate.get_firewall().evaluate(write)
        assert (v.action, v.policy_revision) == (VerdictType.ALLOW, r2.revision)
    finally:
        agentgate.unprotect_all()
        direct.close()


def test_terminated_backend_is_reconnected(pg_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pg_terminate_backend on the listening connection: the watcher reconnects and still hears pushes."""
    import psycopg

    monkeypatch.setenv("AGENTGATE_POLICY_CACHE", str(tmp_path / "cache"))
    store = open_policy_store(pg_store_url)
    store.push(READ_ONLY, author="ana", message="read only")
    try:
        agentgate.protect_all(pg_store_url, audit="none", frameworks=[])
        sub = policy_store.current_subscription()
        assert sub is not None
        swapped: dict[str, threading.Event] = {}
        sub.on_swap.append(lambda rev: swapped.setdefault(rev.revision, threading.Event()).set())
        schema = pg_store_url.rsplit("schema=", 1)[1]
        base = pg_store_url.split("?", 1)[0]
        with psycopg.connect(base, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                (f"agentgate-policy:{schema}",),
            ).fetchall()
        assert rows, "no store connection found to terminate"
        r2 = store.push(READ_WRITE, author="bob", message="after the kill")
        ev = swapped.setdefault(r2.revision, threading.Event())
        if sub.revision is not None and sub.revision.revision == r2.revision:
            ev.set()
        assert ev.wait(30)
        assert agentgate.get_firewall().policy_revision == r2.revision
        assert sub.status()["state"] == "ok"
    finally:
        agentgate.unprotect_all()
        store.close()
