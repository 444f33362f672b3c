"""Start-up cost: `import agentgate` and `agentgate --help`, wall time of fresh processes.

Targets (issue 9): import <= 100 ms, --help <= 150 ms. Each figure is the median (and p90) of
fresh interpreter runs; the bare interpreter's start-up is shown so the difference is visible.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 21
BIN = Path(sys.executable).parent


def _times(cmd: list[str]) -> list[float]:
    out = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        out.append((time.perf_counter() - t0) * 1000)
    return sorted(out)


def main() -> None:
    rows = [
        ("python -c pass (interpreter alone)", [sys.executable, "-c", "pass"], None),
        ("import agentgate", [sys.executable, "-c", "import agentgate"], 100.0),
        ("agentgate --help", [str(BIN / "agentgate"), "--help"], 150.0),
        ("agentgate --version", [str(BIN / "agentgate"), "--version"], None),
    ]
    for label, cmd, target in rows:
        t = _times(cmd)
        p90 = t[int(0.9 * (len(t) - 1))]
        goal = (
            f"  target <= {target:.0f} ms: {'met' if statistics.median(t) <= target else 'NOT met'}" if target else ""
        )
        print(f"{label:<38} p50 {statistics.median(t):7.1f} ms  p90 {p90:7.1f} ms{goal}")


if __name__ == "__main__":
    main()
