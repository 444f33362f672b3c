"""Shadow mode: a candidate decides beside every live call; differences recorded, never enforced."""

from __future__ import annotations

from pathlib import Path

import pytest

import agentgate
from agentgate import Firewall, FirewallBlockedError, ToolCall, VerdictType
from agentgate.audit import MemorySink
from agentgate.policy.preview import ShadowPolicy

LIVE = "agents:\n  default:\n    allowed_operations: [read, delete]\n"
CANDIDATE = "agents:\n  default:\n    allowed_operations: [read, write]\n"
WRITE = ToolCall("write_file", {"path": "notes.txt", "content": "x"})
DELETE = ToolCall("delete_file", {"path": "old.txt"})
READ = ToolCall("read_file", {"path": "notes.txt"})


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "agentgate.yaml").write_text(LIVE + "shadow: candidate.yaml\n")
    (tmp_path / "candidate.yaml").write_text(CANDIDATE)
    return tmp_path


def test_differences_are_recorded_never_enforced(files: Path) -> None:
    """Live decides; the shadow's other verdict goes to the verdict and the audit record, counted."""
    sink = MemorySink()
    fw = Firewall(str(files / "agentgate.yaml"), audit=sink)  # shadow: is relative to the config file
    w, d, r = fw.evaluate(WRITE), fw.evaluate(DELETE), fw.evaluate(READ)
    assert (w.action, d.action, r.action) == (VerdictType.BLOCK, VerdictType.ALLOW, VerdictType.ALLOW)
    assert w.extra["shadow"]["change"] == "block→allow" and w.extra["shadow"]["rule"] is None
    assert d.extra["shadow"]["change"] == "allow→block" and d.extra["shadow"]["rule"].startswith("scope.")
    assert "shadow" not in r.extra
    fw.flush(10)
    recs = {rec.tool_name: rec for rec in sink.records}
    assert recs["write_file"].payload["shadow"]["verdict"] == "allow"
    assert recs["write_file"].payload["shadow"]["revision"] == fw.shadow.revision
    assert "shadow" not in recs["read_file"].payload
    st = fw.shadow.stats()
    assert st["compared"] == 3 and st["differences"] == 2
    assert st["by_change"] == {"allow→block": 1, "block→allow": 1}
    fw.shutdown()


def test_protect_all_shadow_and_no_shadow_by_default(tmp_path: Path) -> None:
    """protect_all(shadow=FILE) turns it on; the live policy still blocks; without it there is none."""
    (tmp_path / "live.yaml").write_text(LIVE)
    (tmp_path / "candidate.yaml").write_text(CANDIDATE)
    try:
        agentgate.protect_all(
            tmp_path / "live.yaml", shadow=str(tmp_path / "candidate.yaml"), audit="none", frameworks=[]
        )
        fw = agentgate.get_firewall()
        assert isinstance(fw.shadow, ShadowPolicy)

        @agentgate.guard
        def write_file(path: str, content: str) -> None:
            return None

        with pytest.raises(FirewallBlockedError) as e:
            write_file("notes.txt", "x")
        assert e.value.verdict.extra["shadow"]["verdict"] == "allow"
        agentgate.protect_all(tmp_path / "live.yaml", audit="none", frameworks=[])
        assert agentgate.get_firewall().shadow is None
    finally:
        agentgate.unprotect_all()


def test_shadow_keeps_its_own_counters(tmp_path: Path) -> None:
    """A shadow's rate limit counts in its own memory: it never spends the live agent's budget."""
    (tmp_path / "live.yaml").write_text(LIVE + "rate_limit: {max_calls: 3}\n")
    (tmp_path / "candidate.yaml").write_text(CANDIDATE + "rate_limit: {max_calls: 1}\n")
    fw = Firewall(str(tmp_path / "live.yaml"), audit="none", shadow=str(tmp_path / "candidate.yaml"))
    verdicts = [fw.evaluate(READ) for _ in range(3)]
    assert all(v.action is VerdictType.ALLOW for v in verdicts)
    assert "shadow" not in verdicts[0].extra and verdicts[1].extra["shadow"]["verdict"] == "block"


def test_an_invalid_shadow_is_a_config_error(tmp_path: Path) -> None:
    """A shadow policy that does not load fails at start, with its file and line."""
    (tmp_path / "bad.yaml").write_text("agents:\n  default: {allowed_operationz: [read]}\n")
    with pytest.raises(agentgate.ConfigError, match=r"bad\.yaml:2"):
        Firewall(audit="none", shadow=str(tmp_path / "bad.yaml"))


def test_shadow_from_a_stored_revision(tmp_path: Path) -> None:
    """shadow: <store URL>#<revision> decides under that stored document (e.g. the one about to be pushed back)."""
    from agentgate.policy.store import open_policy_store

    store = open_policy_store(tmp_path / "agentgate.yaml")
    old = store.push(CANDIDATE, author="ana", message="writes")
    store.push(LIVE, author="ana", message="deletes, no writes")
    fw = Firewall(
        str(tmp_path / "agentgate.yaml"), audit="none", shadow=f"file://{tmp_path}/agentgate.yaml#{old.revision}"
    )
    assert fw.shadow.revision == old.revision
    assert fw.evaluate(WRITE).extra["shadow"] == {
        "revision": old.revision,
        "live": "block",
        "verdict": "allow",
        "rule": None,
        "change": "block→allow",
    }
