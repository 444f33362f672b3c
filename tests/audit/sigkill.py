"""SIGKILL a process deciding tool calls on 8 threads; measure what it had acknowledged but not stored.

Shared by tests/audit/test_durability.py and bench/bench_audit.py (no pytest needed).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path

THREADS = 8
RING = 1 << 16  # per thread: when each of its last RING decisions was acknowledged

# A process deciding tool calls on 8 threads through a real Firewall, as fast as it can. After each
# decision returns (the call may now run: it is acknowledged), the thread writes the time into a
# ring and bumps its counter, in a shared file. The parent SIGKILLs it mid-stream and compares
# what was acknowledged, and when, with what was stored.
_CHILD = r"""
import mmap, struct, sys, threading, time
from agentgate import Firewall
from agentgate._call import ToolCall
from agentgate.audit import open_auditor

db, spool, acks, ring = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
fw = Firewall(audit=open_auditor(f"sqlite:///{db}", spool_dir=spool))
fh = open(acks, "r+b")
mm = mmap.mmap(fh.fileno(), 64 + 8 * 8 * ring)

def work(t):
    i = 0
    while True:
        fw.evaluate(ToolCall("read_file", {"path": f"reports/{t}/{i}.csv"}, call_id=f"{t}-{i}"))
        struct.pack_into("d", mm, 64 + 8 * (t * ring + i % ring), time.time())
        i += 1
        struct.pack_into("q", mm, t * 8, i)

for t in range(8):
    threading.Thread(target=work, args=(t,), daemon=True).start()
threading.Event().wait()
"""


def _acks(path: Path) -> list[int]:
    with path.open("rb") as f:
        return list(struct.unpack("8q", f.read(64)))


def _acked_at(data: bytes, t: int, i: int) -> float:
    return float(struct.unpack_from("d", data, 64 + 8 * (t * RING + i % RING))[0])


def _stored_call_ids(db: Path, spool: Path) -> set[str]:
    """Call ids in the database, plus those in the spool (the next writer stores them)."""
    ids: set[str] = set()
    if db.exists():
        with sqlite3.connect(db) as conn:
            for (payload,) in conn.execute("SELECT payload FROM actions"):
                ids.add(json.loads(payload).get("call_id"))
    for f in spool.rglob("*.jsonl"):
        for line in f.read_bytes().splitlines():
            if line.endswith(b"}"):
                ids.add(json.loads(line)["payload"].get("call_id"))
    return ids


def sigkill_under_load(tmp: Path, min_acks: int = 30_000) -> dict[str, float]:
    """Run the child until it has acknowledged *min_acks* decisions, SIGKILL it; what was acknowledged and lost."""
    db, spool, acks = tmp / "audit.db", tmp / "spool", tmp / "acks"
    acks.write_bytes(b"\0" * (64 + 8 * THREADS * RING))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(db), str(spool), str(acks), str(RING)], env=env)
    try:
        deadline = time.monotonic() + 180
        mark: tuple[float, int] | None = None  # (time, acks) once the load is sustained: the rate is measured from it
        while child.poll() is None and time.monotonic() < deadline:
            n = sum(_acks(acks))
            if mark is None and n >= min_acks // 3:
                mark = (time.monotonic(), n)
            if n >= min_acks:
                break
            time.sleep(0.05)  # polling a counter; nothing is asserted on time
        assert child.poll() is None, "the child died on its own"
        assert mark is not None and sum(_acks(acks)) >= min_acks, "the child made no progress"
        killed_wall = time.time()
        child.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    counts = _acks(acks)
    data = acks.read_bytes()
    stored = _stored_call_ids(db, spool)
    acked = sum(counts)
    lost = [(t, i) for t in range(THREADS) for i in range(counts[t]) if f"{t}-{i}" not in stored]
    assert all(counts[t] - i <= RING for t, i in lost), "a lost record older than the ring: loss beyond any window"
    # The window: how long before the kill the oldest lost decision was acknowledged.
    window = max((killed_wall - _acked_at(data, t, i) for t, i in lost), default=0.0)
    rate = (acked - mark[1]) / (killed_at - mark[0])
    return {"acked": acked, "lost": len(lost), "rate": rate, "window": window}
