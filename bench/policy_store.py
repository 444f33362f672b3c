"""Policy hot reload: does following a store, or a swap in progress, cost a decision anything?

Three runs of the same guarded no-op (tier 1, no audit): the policy read once from a file; the
same policy followed from a file store (a watcher thread polling); and followed while a thread
pushes a new revision every 0.1 s (each push rebuilds the firewall on the watcher thread and
swaps the default). The decision path is the same in all three — one read of the default
firewall — so the three p50s should agree within the machine's noise.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time

N = int(os.environ.get("BENCH_N", "20000"))
A = "agents:\n  default:\n    allowed_operations: [read]\n"
B = "agents:\n  default:\n    allowed_operations: [read, write]\n"


def _run(fn: object, n: int) -> list[float]:
    out = []
    pc = time.perf_counter_ns
    for _ in range(2000):
        fn()  # type: ignore[operator]
    for _ in range(n):
        t0 = pc()
        fn()  # type: ignore[operator]
        out.append((pc() - t0) / 1000)
    return sorted(out)


def main() -> None:
    logging.getLogger("agentgate").setLevel(logging.ERROR)  # one WARNING per swap otherwise
    with tempfile.TemporaryDirectory() as d:
        os.environ["AGENTGATE_POLICY_CACHE"] = os.path.join(d, "cache")
        import agentgate
        from agentgate.policy.store import open_policy_store

        path = os.path.join(d, "agentgate.yaml")
        store = open_policy_store(path)
        store.push(A, author="bench", message="a")

        @agentgate.guard
        def read_file(path: str) -> str:
            return path

        def call() -> None:
            read_file("notes.txt")

        rows = []
        agentgate.protect_all(path, audit="none", frameworks=[])
        rows.append(("policy file, read once", _run(call, N), 0))
        agentgate.protect_all(f"file://{path}", audit="none", frameworks=[])
        rows.append(("following a file store", _run(call, N), 0))
        stop = threading.Event()
        pushes = [0]

        def pusher() -> None:
            while not stop.is_set():
                store.push((A, B)[pushes[0] % 2], author="bench", message=str(pushes[0]))
                pushes[0] += 1
                stop.wait(0.1)

        t = threading.Thread(target=pusher)
        t.start()
        timings = _run(call, N)
        stop.set()
        t.join()
        rows.append(("following, a push every 0.1 s", timings, pushes[0]))
        agentgate.unprotect_all()
    for label, ts, n in rows:
        p50, p99 = ts[len(ts) // 2], ts[int(0.99 * (len(ts) - 1))]
        extra = f"  ({n} swaps during the run)" if n else ""
        print(f"  guarded no-op, {label:<32} p50 {p50:7.2f} µs  p99 {p99:8.2f} µs{extra}")


if __name__ == "__main__":
    main()
