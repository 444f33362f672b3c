"""`agentgate demo` on an install without the openai extra, and what its --help promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from agentgate.cli import cli

# Runs the CLI as if the openai package were not installed (a core install).
_WITHOUT_OPENAI = "import sys; sys.modules['openai'] = None; from agentgate.cli import main; main()"


def _demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENTGATE_AUDIT_URL": f"sqlite:///{tmp_path}/audit.db", "COLUMNS": "200"}
    env.pop("OPENAI_API_KEY", None)
    cmd = [sys.executable, "-c", _WITHOUT_OPENAI, "demo", *args]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)


def test_openai_demo_without_the_extra_says_what_to_install(tmp_path: Path) -> None:
    """--agent openai on a core install exits 2 with the install line, not a traceback."""
    p = _demo(tmp_path, "--agent", "openai")
    assert p.returncode == 2
    assert "Traceback" not in p.stdout + p.stderr
    assert "needs the openai extra: pip install 'agentgate-action-firewall[openai]'" in " ".join(p.stdout.split())


def test_full_demo_without_the_extra_runs_the_scripted_part(tmp_path: Path) -> None:
    """The default demo on a core install runs the scripted session and says why the SDK loop was skipped."""
    p = _demo(tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    out = " ".join(p.stdout.split())
    assert "blocked of 11 tool calls" in out
    assert "OpenAI-SDK agent demo skipped: it needs the openai extra" in out


def test_demo_help_says_when_the_real_api_is_used() -> None:
    """demo --help tells the user that OPENAI_API_KEY switches to the real, paid API."""
    out = " ".join(CliRunner().invoke(cli, ["demo", "--help"]).output.split())
    assert "With OPENAI_API_KEY set it uses the REAL OpenAI API" in out


def test_real_api_unreachable_is_a_clear_error(tmp_path: Path) -> None:
    """With OPENAI_API_KEY set but the API unreachable, the demo says so and exits 2 (no traceback)."""
    import socket

    with socket.socket() as closed:  # a loopback port nobody listens on stands in for the API
        closed.bind(("127.0.0.1", 0))
        env = {
            **os.environ,
            "AGENTGATE_AUDIT_URL": f"sqlite:///{tmp_path}/audit.db",
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{closed.getsockname()[1]}/v1",
            "COLUMNS": "200",
        }
        p = subprocess.run(
            [sys.executable, "-m", "agentgate.cli", "demo", "--agent", "openai"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    assert p.returncode == 2
    assert "Traceback" not in p.stdout + p.stderr
    assert "could not use the OpenAI API: APIConnectionError" in " ".join(p.stdout.split())
