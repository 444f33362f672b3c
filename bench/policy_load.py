"""Loading a large policy file: a ~10 MB agentgate.yaml through `load_config` (parse with
libyaml's event parser, the bounded composer with duplicate-key, depth and alias checks,
construction, validation and the scope layers), wall and CPU time of one load."""

from __future__ import annotations

import os
import sys
import tempfile
import time

from agentgate.policy._config import load_config

N_RESOURCES = 290_000


def _write(path: str) -> int:
    lines = ["version: 1", "agents:", "  default:", "    allowed_operations: [read]", "    allowed_resources:"]
    lines += [f'      - "table:customers_{i:07d}"' for i in range(N_RESOURCES)]
    lines += [
        "  tools_agent:",
        "    tools:",
        "      allow: [" + ", ".join(f"tool_{i}" for i in range(N_RESOURCES // 10)) + "]",
    ]
    text = "\n".join(lines) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return len(text.encode())


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "agentgate.yaml")
        size = _write(path)
        w0, c0 = time.perf_counter(), time.thread_time()
        cfg = load_config(path)
        wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
        assert len(cfg.agent_layers()["default"].allowed_resources) == N_RESOURCES
    print(
        f"  load_config, {size / 1e6:.1f} MB policy ({N_RESOURCES:,} resources)   wall {wall:6.2f} s   CPU {cpu:6.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
