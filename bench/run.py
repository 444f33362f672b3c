"""`make bench`: every benchmark, side by side with agentgate-py 0.1.0 where the workload exists there.

1. Guard overhead and per-kind tier-1 overhead (bench/workload.py), here and in a separate
   virtualenv holding agentgate-py==0.1.0 (both import as `agentgate`), in the same run.
2. Per-analyzer p50/p99 on realistic inputs (bench/analyzers.py), cold and repeated.
3. The audit trail (bench/bench_audit.py): caller-side cost and sustained throughput.
4. The decision API (bench/bench_api.py): ``POST /v1/decide`` throughput and p50/p99, 8 clients.
5. The dashboard API at a million records, SQLite and PostgreSQL (bench/bench_dashboard.py).

Results are printed and written to bench/results/latest.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OLD_VENV = HERE / ".venv-old"
PY = sys.executable


def _old_python() -> str:
    py = OLD_VENV / "bin" / "python"
    done = OLD_VENV / ".installed"  # written last: a venv whose install failed half-way is made again
    if not done.exists():
        shutil.rmtree(OLD_VENV, ignore_errors=True)
        subprocess.run([PY, "-m", "venv", str(OLD_VENV)], check=True)
        uv = os.environ.get("UV") or shutil.which("uv") or str(Path(PY).parent / "uv")
        cmd = [str(uv), "pip", "install", "--quiet", "--python", str(py), "agentgate-py==0.1.0"]
        subprocess.run(cmd, check=True)
        done.touch()
    return str(py)


def _workload(python: str, tmp: str) -> dict[str, object]:
    env = {**os.environ, "BENCH_TMP": tmp, "PYTHONPATH": ""}
    # Run outside the repo so the old venv cannot import our src/ by accident.
    out = subprocess.run(
        [python, str(HERE / "workload.py")], capture_output=True, text=True, env=env, cwd=tmp, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _row(label: str, new: dict[str, float], old: dict[str, float] | None) -> str:
    if old is None:
        return f"  {label:<22} p50 {new['p50_us']:>8.2f} µs  p99 {new['p99_us']:>8.2f} µs"
    r50 = old["p50_us"] / new["p50_us"] if new["p50_us"] > 0 else float("inf")
    r99 = old["p99_us"] / new["p99_us"] if new["p99_us"] > 0 else float("inf")
    return (
        f"  {label:<22} p50 {new['p50_us']:>8.2f} µs  p99 {new['p99_us']:>8.2f} µs   |  0.1.0: p50 {old['p50_us']:>9.2f} µs"
        f"  p99 {old['p99_us']:>9.2f} µs   ratio p50 {r50:>6.1f}×  p99 {r99:>6.1f}×"
    )


def main() -> int:
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        print("== guard overhead (guarded no-op vs plain call), same run, same machine ==")
        new = _workload(PY, tmp)
        try:
            old: dict[str, object] | None = _workload(_old_python(), tmp)
        except (subprocess.CalledProcessError, OSError) as e:
            print(f"  (agentgate-py 0.1.0 could not be measured: {e})")
            old = None
        results["workload"] = {"new": new, "old": old}
        for key, label in (
            ("guard", "guard, no scope"),
            ("guard_scope", "guard, under a scope"),
            ("lookup_customer", "lookup_customer, scope(customers, read)"),
            ("policy_rules", "payment, 3 value + 1 history rule"),
            ("policy_rules_distinct", "payment, same rules, a new amount each call (memo misses)"),
            ("tier1_sql", "SQL call"),
            ("tier1_file", "file call"),
            ("tier1_http", "HTTP call (IP literal)"),
            ("tier1_shell", "shell call"),
            ("engine_sql", "tier 1 only: SQL"),
            ("engine_file", "tier 1 only: file"),
            ("engine_http", "tier 1 only: HTTP"),
            ("engine_shell", "tier 1 only: shell"),
            ("provenance_0", "tier 1: send_email, no recorded outputs"),
            ("provenance_20", "tier 1: send_email, 20 recorded outputs"),
            ("plan_off", "tier 1: send_email, no plans"),
            ("plan_cached", "tier 1: send_email, in its task's cached plan"),
        ):
            print(_row(label, new[key], old[key] if old and key in old else None))  # type: ignore[index,arg-type,operator]
        p0, p20 = new["provenance_0"], new["provenance_20"]  # type: ignore[index]
        print(
            f"  provenance overhead with 20 recorded outputs: p50 {p20['p50_us'] - p0['p50_us']:+.2f} µs, "  # type: ignore[index]
            f"p99 {p20['p99_us'] - p0['p99_us']:+.2f} µs (target: p50 < 15 µs)"  # type: ignore[index]
        )
        q0, q1 = new["plan_off"], new["plan_cached"]  # type: ignore[index]
        print(
            f"  task-plan overhead (plan cached): p50 {q1['p50_us'] - q0['p50_us']:+.2f} µs, "  # type: ignore[index]
            f"p99 {q1['p99_us'] - q0['p99_us']:+.2f} µs"  # type: ignore[index]
        )
    for script in (
        "analyzers.py",
        "bench_audit.py",
        "startup.py",
        "bench_api.py",
        "policy_store.py",
        "bench_dashboard.py",
        "policy_load.py",
    ):
        path = HERE / script
        if not path.exists():
            continue
        print(f"\n== {script} ==", flush=True)
        p = subprocess.run([PY, str(path)], text=True, capture_output=True, cwd=ROOT)
        print(p.stdout, end="")
        if p.returncode != 0:
            print(p.stderr, file=sys.stderr)
            return p.returncode
        results[script] = p.stdout
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
