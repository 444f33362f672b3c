"""protect_all patches frameworks already imported at once, and the others on first import."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"AGENTGATE_AUDIT_URL": "none", "PATH": "/usr/bin:/bin"},
    )


def test_framework_imported_after_protect_all_is_patched_before_use() -> None:
    """LangChain imported after protect_all() is patched on import; its blocked tool never runs."""
    p = _run("""
        import sys, agentgate
        protected = agentgate.protect_all(audit="none")
        assert "langchain" in protected, protected
        assert "langchain_core" not in sys.modules   # not imported by protect_all
        from langchain_core.tools import tool
        ran = []
        @tool
        def delete_records(table: str) -> str:
            '''Delete rows.'''
            ran.append(table)
            return "deleted"
        with agentgate.scope(allowed_operations=["read"]):
            try:
                delete_records.invoke({"table": "users"})
            except agentgate.FirewallBlockedError as e:
                print("blocked", e.verdict.policy_name)
        print("ran", ran)
    """)
    assert p.returncode == 0, p.stderr
    assert "blocked scope.operation" in p.stdout and "ran []" in p.stdout


def test_framework_imported_before_protect_all_is_patched_at_once() -> None:
    """A framework already in sys.modules is patched during protect_all()."""
    p = _run("""
        import langchain_core.tools, agentgate
        from agentgate.integrations import langchain as lc
        agentgate.protect_all(audit="none", frameworks=["langchain"])
        print("installed", lc.installed())
        agentgate.unprotect_all()
        print("after", lc.installed())
    """)
    assert p.returncode == 0, p.stderr
    assert "installed True" in p.stdout and "after False" in p.stdout


def test_unprotect_all_cancels_pending_hooks() -> None:
    """unprotect_all() before the import leaves the framework unpatched."""
    p = _run("""
        import agentgate
        agentgate.protect_all(audit="none", frameworks=["langchain"])
        agentgate.unprotect_all()
        import langchain_core.tools
        from agentgate.integrations import langchain as lc
        print("installed", lc.installed())
    """)
    assert p.returncode == 0, p.stderr
    assert "installed False" in p.stdout
