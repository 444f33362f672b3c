"""AuditWriter: enqueue-only callers, batching, spool on failure, replay in order, nothing dropped."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agentgate._decision import VerdictType
from agentgate._errors import ConfigError
from agentgate.audit import MemorySink, Sink, open_auditor, verify_rows
from agentgate.audit._resolve import default_target, resolve_targets
from agentgate.audit._sqlite import SqliteSink

from .conftest import decision


class FlakySink(MemorySink):
    """A memory sink that can be taken down (raises) or held (blocks) by the test."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.gate = threading.Event()
        self.gate.set()
        self.calls = 0

    def write(self, rows: Sequence[dict[str, Any]], violations: Sequence[dict[str, Any]]) -> None:
        self.calls += 1
        self.gate.wait(30)
        if self.down:
            raise ConnectionError("sink down")
        super().write(rows, violations)


def _chain_ok(sink: MemorySink) -> None:
    rows = sorted((r.to_dict() for r in sink.records), key=lambda r: (r["writer_id"], r["seq"]))
    report = verify_rows(rows, sink.violations)
    assert report.ok, report.problems[:3]


def test_records_land_with_every_field(tmp_path: Path) -> None:
    """A recorded decision is stored with the seed columns, the new columns and a valid chain."""
    sink = MemorySink()
    w = open_auditor(sink, spool_dir=tmp_path)
    call, verdict, agent = decision(7, action=VerdictType.BLOCK)
    w.record(call, verdict, agent)
    assert w.flush(10)
    (rec,) = sink.records
    assert (rec.agent_id, rec.task_id, rec.user_id, rec.tool_name) == ("bot", "t1", "u1", "execute_sql")
    assert rec.verdict == "block"
    assert rec.policy_name == "sql.drop"
    assert rec.severity == "critical"
    assert rec.payload == {"arguments": {"query": "SELECT 7"}, "framework": "python", "call_id": "call-7"}
    assert rec.findings[0]["rule_id"] == "sql.drop"
    assert (rec.decision_id, rec.policy_revision, rec.mode, rec.seq) == ("d-7", "rev1", "enforce", 1)
    assert len(sink.violations) == 1
    assert sink.violations[0]["action_id"] == rec.id
    assert w.stats()["written"] == 1
    assert w.stats()["dropped"] == 0
    _chain_ok(sink)
    w.shutdown()


def test_caller_thread_never_encodes_or_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """record() only enqueues: conversion, redaction and hashing all run on the writer thread."""
    import agentgate.audit._writer as writer_mod

    seen: set[int] = set()
    real_base, real_link = writer_mod.base_row, writer_mod.link

    def spy_base(*a: Any) -> Any:
        seen.add(threading.get_ident())
        return real_base(*a)

    def spy_link(*a: Any) -> Any:
        seen.add(threading.get_ident())
        return real_link(*a)

    monkeypatch.setattr(writer_mod, "base_row", spy_base)
    monkeypatch.setattr(writer_mod, "link", spy_link)
    w = open_auditor(MemorySink(), spool_dir=tmp_path)
    for i in range(50):
        w.record(*decision(i))
    assert w.flush(10)
    assert seen
    assert threading.get_ident() not in seen
    w.shutdown()


def test_threads_keep_their_order_in_one_chain(tmp_path: Path) -> None:
    """Records from several threads form one gap-free chain; each thread's records keep their order."""
    sink = MemorySink()
    w = open_auditor(sink, spool_dir=tmp_path, batch_size=64)

    def work(t: int) -> None:
        for i in range(500):
            w.record(*decision(i, agent=f"t{t}"))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert w.flush(20)
    assert len(sink.records) == 2000
    assert [r.seq for r in sink.records] == list(range(1, 2001))
    for t in range(4):
        mine = [r.decision_id for r in sink.records if r.agent_id == f"t{t}"]
        assert mine == [f"d-{i}" for i in range(500)]
    _chain_ok(sink)
    w.shutdown()


def test_sink_outage_spools_then_replays_in_order(tmp_path: Path) -> None:
    """While the sink fails, batches go to the spool; once it is back they are replayed first, in order."""
    sink = FlakySink()
    w = open_auditor(sink, spool_dir=tmp_path, batch_size=10, flush_interval=0.01)
    for i in range(30):
        w.record(*decision(i))
    assert w.flush(10)
    sink.down = True
    for i in range(30, 130):
        w.record(*decision(i))
    assert not w.flush(0.5)  # cannot be stored yet...
    st = w.stats()
    assert st["spooled"] == 100
    assert st["errors"] >= 1
    assert st["dropped"] == 0
    assert list((tmp_path / sink.spool_key).glob("*.jsonl"))  # ...but it is on disk
    sink.down = False
    for i in range(130, 150):
        w.record(*decision(i))
    assert w.flush(15)
    assert [r.decision_id for r in sink.records] == [f"d-{i}" for i in range(150)]
    assert w.stats()["replayed"] >= 100
    assert w.stats()["spooled"] == 0
    _chain_ok(sink)
    w.shutdown()


def test_full_queue_spills_instead_of_dropping(tmp_path: Path) -> None:
    """on_full='spill': with the writer stuck, callers never block; overflow goes to disk, then is stored."""
    sink = FlakySink()
    sink.gate.clear()  # the writer thread blocks inside the first write
    w = open_auditor(sink, spool_dir=tmp_path, on_full="spill", queue_size=20, batch_size=5, flush_interval=0.01)
    w.record(*decision(0))
    time.sleep(0.2)
    t0 = time.perf_counter()
    for i in range(1, 200):
        w.record(*decision(i))
    assert time.perf_counter() - t0 < 2.0
    assert w.stats()["spilled"] > 0
    assert w.stats()["dropped"] == 0
    assert w.stats()["enqueued"] == 200
    sink.gate.set()
    assert w.flush(15)
    assert sorted(int(r.decision_id[2:]) for r in sink.records) == list(range(200))
    _chain_ok(sink)
    w.shutdown()


def test_block_policy_waits_then_spills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """on_full='block' (default): with the writer thread itself stuck, a caller waits up to block_timeout for room, then spills; none lost."""
    import agentgate.audit._writer as writer_mod

    gate, entered = threading.Event(), threading.Event()
    real = writer_mod.base_row

    def stuck(*a: Any) -> Any:
        entered.set()
        gate.wait(30)
        return real(*a)

    monkeypatch.setattr(writer_mod, "base_row", stuck)
    sink = MemorySink()
    w = open_auditor(sink, spool_dir=tmp_path, queue_size=5, batch_size=5, block_timeout=0.05, flush_interval=0.01)
    w.record(*decision(0))
    assert entered.wait(10)
    monkeypatch.setattr(writer_mod, "base_row", real)  # spilling callers convert for themselves
    for i in range(1, 20):
        w.record(*decision(i))
    st = w.stats()
    assert st["blocked"] > 0
    assert st["spilled"] > 0
    gate.set()
    assert w.flush(15)
    assert sorted(int(r.decision_id[2:]) for r in sink.records) == list(range(20))
    w.shutdown()


def test_records_after_shutdown_are_late_and_recovered(tmp_path: Path) -> None:
    """A record made after shutdown is spooled (stats 'late') and stored by the next writer."""
    db = tmp_path / "a.db"
    w = open_auditor(f"sqlite:///{db}", spool_dir=tmp_path / "spool")
    w.record(*decision(0))
    w.shutdown()
    w.record(*decision(1))
    assert w.stats()["late"] == 1
    sink = MemorySink()
    w2 = open_auditor([f"sqlite:///{db}", sink], spool_dir=tmp_path / "spool")
    w2.record(*decision(2))
    assert w2.flush(10)
    assert sorted(r.decision_id for r in sink.records) == ["d-1", "d-2"]
    assert w2.stats()["recovered"] == 1
    w2.shutdown()
    from agentgate.audit import verify

    assert verify(f"sqlite:///{db}").records == 3


def test_unconvertible_argument_is_still_recorded(tmp_path: Path) -> None:
    """An argument whose repr raises does not lose the decision or its other arguments."""

    class Evil:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    sink = MemorySink()
    w = open_auditor(sink, spool_dir=tmp_path)
    w.record(*decision(0, args={"x": Evil(), "query": "SELECT 1"}))
    assert w.flush(10)
    (rec,) = sink.records
    assert rec.decision_id == "d-0"
    assert rec.arguments == {"x": "<Evil: repr failed>", "query": "SELECT 1"}
    w.shutdown()


def test_record_that_cannot_be_built_is_kept_without_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If building a record fails outright, the decision is still stored (no arguments) and counted as an error."""
    import agentgate.audit._writer as writer_mod

    def broken(*a: Any) -> Any:
        raise ValueError("bug")

    monkeypatch.setattr(writer_mod, "base_row", broken)
    sink = MemorySink()
    w = open_auditor(sink, spool_dir=tmp_path)
    w.record(*decision(3, action=VerdictType.BLOCK))
    assert w.flush(10)
    (rec,) = sink.records
    assert (rec.decision_id, rec.verdict, rec.arguments) == ("d-3", "block", {})
    assert "error" in rec.payload
    assert w.stats()["errors"] == 1
    assert len(sink.violations) == 1
    w.shutdown()


def test_several_sinks_get_the_same_chain(tmp_path: Path) -> None:
    """Records go to every sink with identical ids and hashes."""
    a, b = MemorySink(), MemorySink()
    w = open_auditor([a, b], spool_dir=tmp_path)
    for i in range(10):
        w.record(*decision(i))
    assert w.flush(10)
    assert [r.hash for r in a.records] == [r.hash for r in b.records]
    assert len(a.records) == 10
    w.shutdown()


def test_off_means_no_sink_and_no_thread() -> None:
    """'none'/'off' record nothing, explicitly, at no cost."""
    w = open_auditor("off")
    w.record(*decision(0))
    assert w.sinks == ()
    assert w.stats()["enqueued"] == 0
    assert w._thread is None
    assert w.flush(1)
    w.shutdown()


def test_target_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """URL forms map to sinks; None follows AGENTGATE_AUDIT_URL, then SUPABASE_*, then .agentgate/audit.db."""
    assert isinstance(resolve_targets("x/audit.db")[0], SqliteSink)
    assert str(resolve_targets("sqlite:////abs/a.db")[0].path) == "/abs/a.db"  # type: ignore[attr-defined]
    assert [type(s).__name__ for s in resolve_targets(["memory://", "sqlite:///b.db"])] == ["MemorySink", "SqliteSink"]
    assert type(resolve_targets("postgresql://u@h/db?schema=s")[0]).__name__ == "PostgresSink"
    monkeypatch.setenv("SUPABASE_KEY", "k")
    assert type(resolve_targets("https://abc.supabase.co")[0]).__name__ == "SupabaseSink"
    with pytest.raises(ConfigError):
        resolve_targets("mysql://x")
    with pytest.raises(ConfigError):
        open_auditor("memory://", on_full="drop")
    monkeypatch.delenv("AGENTGATE_AUDIT_URL")
    monkeypatch.delenv("SUPABASE_KEY")
    assert default_target() == "sqlite:///.agentgate/audit.db"
    monkeypatch.setenv("SUPABASE_URL", "https://abc.supabase.co")
    monkeypatch.setenv("SUPABASE_KEY", "k")
    assert default_target() == "supabase://"
    monkeypatch.setenv("AGENTGATE_AUDIT_URL", "memory://")
    assert default_target() == "memory://"


def test_sink_base_class_write_is_abstract() -> None:
    """A Sink subclass that does not implement write() fails loudly, not silently."""
    with pytest.raises(NotImplementedError):
        Sink().write([], [])


def test_shutdown_with_a_hanging_sink_keeps_the_batch_on_disk_for_every_sink(tmp_path: Path) -> None:
    """A sink that never returns holds no record hostage: the other sink gets them, shutdown spools the hanging one's batch, the next writer replays it."""
    hang, other = FlakySink(), MemorySink()
    hang.spool_key, other.spool_key = "hang", "other"
    hang.gate.clear()
    w = open_auditor([hang, other], spool_dir=tmp_path, flush_interval=0.01)
    for i in range(5):
        w.record(*decision(i))
    deadline = time.monotonic() + 10
    while hang.calls == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    w.shutdown(0.3)
    assert sorted(r.decision_id for r in other.records) == ["d-0", "d-1", "d-2", "d-3", "d-4"]  # not held up
    healthy, other2 = MemorySink(), MemorySink()
    healthy.spool_key, other2.spool_key = "hang", "other"
    w2 = open_auditor([healthy, other2], spool_dir=tmp_path)
    w2.record(*decision(99))
    assert w2.flush(10)
    assert sorted(r.decision_id for r in healthy.records) == ["d-0", "d-1", "d-2", "d-3", "d-4", "d-99"]
    assert [r.decision_id for r in other2.records] == ["d-99"]
    w2.shutdown()
    hang.gate.set()


def test_spooled_and_spilled_records_are_redacted_on_disk(tmp_path: Path) -> None:
    """Records waiting in the spool (sink down) or spilled (queue full) hold no raw secret, not even as a key."""
    from .conftest import AWS_KEY, GITHUB_TOKEN

    sink = FlakySink()
    sink.down = True
    w = open_auditor(sink, spool_dir=tmp_path, on_full="spill", queue_size=2, batch_size=2, flush_interval=0.01)
    for i in range(40):
        w.record(*decision(i, args={"note": f"use {AWS_KEY}", GITHUB_TOKEN: "as a key", "password": "Tr0ub4dor&3x"}))
    assert not w.flush(0.3)
    raw = b"".join(p.read_bytes() for p in tmp_path.rglob("*.jsonl"))
    assert raw  # something is on disk...
    for secret in (AWS_KEY[4:], GITHUB_TOKEN[4:], "Tr0ub4dor&3x"):
        assert secret.encode() not in raw  # ...but no secret
    assert w.stats()["spilled"] > 0
    sink.down = False
    assert w.flush(10)
    assert len(sink.records) == 40
    w.shutdown()


def test_idle_writer_releases_its_connection_and_restarts_on_the_next_record(tmp_path: Path) -> None:
    """After idle_close seconds the thread ends and closes the database; records around that moment are all stored, in one chain."""
    import random

    db = tmp_path / "a.db"
    w = open_auditor(f"sqlite:///{db}", idle_close=0.05, flush_interval=0.01)
    w.record(*decision(0))
    assert w.flush(10)
    time.sleep(0.3)
    assert w._thread is None
    sink = w.sinks[0]
    assert isinstance(sink, SqliteSink)
    assert sink._conn is None
    rnd = random.Random(4)
    for i in range(1, 40):  # land records just before, during and after retirements
        time.sleep(rnd.uniform(0.0, 0.08))
        w.record(*decision(i))
    assert w.flush(10)
    w.shutdown()
    from agentgate.audit import verify

    report = verify(f"sqlite:///{db}")
    assert report.ok
    assert report.records == 40
    assert report.chains == 1


def test_corrupted_spool_line_is_skipped_loudly_not_spun_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An orphan spool with a garbage line still replays its good rows, logs the bad one, and the writer moves on."""
    sink = MemorySink()
    sink.spool_key = "k"
    w = open_auditor(sink, spool_dir=tmp_path)
    w.record(*decision(0))
    assert w.flush(10)
    good = [r.to_dict() for r in sink.records]
    w.shutdown()
    orphan = tmp_path / "k" / "deadwriter.jsonl"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    import json as _json

    orphan.write_text(_json.dumps(good[0] | {"id": "0190-replayed"}) + "\n{not json\n")
    sink2 = MemorySink()
    sink2.spool_key = "k"
    w2 = open_auditor(sink2, spool_dir=tmp_path)
    w2.record(*decision(1))
    assert w2.flush(10)
    assert sorted(r.decision_id for r in sink2.records) == ["d-0", "d-1"]
    assert "unreadable line" in caplog.text
    assert not orphan.exists()
    w2.shutdown()


@pytest.mark.parametrize("value", [" , , ", ",", " ,"])
def test_a_target_of_only_separators_is_an_error_not_audit_off(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """AGENTGATE_AUDIT_URL=' , , ' (or audit=',') is a ConfigError: only 'none'/'off' turn the audit off."""
    from agentgate._firewall import Firewall

    with pytest.raises(ConfigError, match="names no sink"):
        open_auditor(value)
    monkeypatch.setenv("AGENTGATE_AUDIT_URL", value)
    with pytest.raises(ConfigError, match="names no sink"):
        open_auditor()
    with pytest.raises(ConfigError, match="names no sink"):
        Firewall()
    assert open_auditor("none").sinks == ()
