"""Hot reload in one process: protect_all follows a store, swaps between decisions, keeps the last good policy."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import agentgate
from agentgate import ToolCall, VerdictType
from agentgate._errors import PolicyStoreError
from agentgate.audit import MemorySink
from agentgate.policy import store as policy_store
from agentgate.policy.store import PolicyRevision, open_policy_store

from .conftest import READ_ONLY, READ_WRITE

WRITE = ToolCall("write_file", {"path": "notes.txt", "content": "x"})


@pytest.fixture(autouse=True)
def _unprotect(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("AGENTGATE_POLICY_CACHE", str(tmp_path / "cache"))
    yield
    agentgate.unprotect_all()


def _swapped(to: str) -> threading.Event:
    """An event set once the process's subscription has swapped to revision *to*."""
    sub = policy_store.current_subscription()
    assert sub is not None
    ev = threading.Event()

    def hook(rev: PolicyRevision) -> None:
        if rev.revision == to:
            ev.set()

    sub.on_swap.append(hook)
    if sub.revision is not None and sub.revision.revision == to:
        ev.set()
    return ev


def test_protect_all_follows_a_file_store(tmp_path: Path) -> None:
    """Each push replaces the policy; verdicts carry the store revision they were decided under."""
    path = tmp_path / "agentgate.yaml"
    store = open_policy_store(path)
    r1 = store.push(READ_ONLY, author="ana", message="read only")
    sink = MemorySink()
    agentgate.protect_all(f"file://{path}", audit=sink, frameworks=[])
    fw = agentgate.get_firewall()
    v1 = fw.evaluate(WRITE)
    assert (v1.action, v1.policy_revision) == (VerdictType.BLOCK, r1.revision)
    r2 = store.push(READ_WRITE, author="bob", message="writes too")
    assert _swapped(r2.revision).wait(10)
    v2 = agentgate.get_firewall().evaluate(WRITE)
    assert (v2.action, v2.policy_revision) == (VerdictType.ALLOW, r2.revision)
    assert fw.evaluate(WRITE).policy_revision == r1.revision  # a firewall read before the swap stays whole
    agentgate.flush(5)
    changes = [r for r in sink.records if r.tool_name == "agentgate.policy_store"]
    assert changes and changes[-1].arguments["revision"] == r2.revision
    assert changes[-1].arguments["author"] == "bob"
    assert policy_store.status() is not None and policy_store.status()["revision"] == r2.revision  # type: ignore[index]


def test_an_invalid_head_keeps_the_last_good_policy(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A hand-edited file that does not validate is refused: the policy in force stays, status is degraded."""
    path = tmp_path / "agentgate.yaml"
    store = open_policy_store(path)
    r1 = store.push(READ_ONLY, author="ana", message="read only")
    agentgate.protect_all(f"file://{path}", audit="none", frameworks=[])
    sub = policy_store.current_subscription()
    assert sub is not None
    rejected = threading.Event()
    sub.on_reject.append(lambda rev: rejected.set())
    with caplog.at_level(logging.WARNING, "agentgate.policy.store"):
        tmp = tmp_path / "edit.tmp"
        tmp.write_text("agents:\n  default:\n    allowed_operationz: [read, write]\n")
        tmp.replace(path)
        assert rejected.wait(10)
    st = sub.status()
    assert st["state"] == "degraded" and "allowed_operationz" in st["error"] and st["rejected"] == 1
    v = agentgate.get_firewall().evaluate(WRITE)
    assert (v.action, v.policy_revision) == (VerdictType.BLOCK, r1.revision)
    assert any("keeping revision" in r.getMessage() for r in caplog.records)


def test_store_unreachable_at_start_uses_the_cached_copy(tmp_path: Path) -> None:
    """With the store gone, a process starts on the cached last good copy, degraded, never permissive."""
    path = tmp_path / "agentgate.yaml"
    r1 = open_policy_store(path).push(READ_ONLY, author="ana", message="read only")
    agentgate.protect_all(f"file://{path}", audit="none", frameworks=[])
    agentgate.unprotect_all()
    path.unlink()
    (tmp_path / ".agentgate" / "policy-history").rename(tmp_path / "moved")
    agentgate.protect_all(f"file://{path}", audit="none", frameworks=[])
    st = policy_store.status()
    assert st is not None and st["state"] == "degraded" and st["from_cache"] and st["revision"] == r1.revision
    assert agentgate.get_firewall().evaluate(WRITE).action is VerdictType.BLOCK


def test_store_unreachable_without_a_cache_refuses_to_start(tmp_path: Path) -> None:
    """No store and no cached copy: protect_all raises instead of running without the policy."""
    with pytest.raises(PolicyStoreError, match="refusing to start"):
        agentgate.protect_all("postgresql://u@127.0.0.1:9/none?connect_timeout=2", audit="none", frameworks=[])
    with pytest.raises(PolicyStoreError, match="no policy has been pushed"):
        agentgate.protect_all(f"file://{tmp_path}/agentgate.yaml", audit="none", frameworks=[])


def test_second_protect_all_keeps_following_the_store(tmp_path: Path) -> None:
    """protect_all() again without a config keeps the store's policy and keeps following it."""
    path = tmp_path / "agentgate.yaml"
    store = open_policy_store(path)
    r1 = store.push(READ_ONLY, author="ana", message="read only")
    agentgate.protect_all(f"file://{path}", audit="none", frameworks=[])
    agentgate.protect_all(audit="none", frameworks=[], mode="monitor")
    assert agentgate.get_firewall().policy_revision == r1.revision
    r2 = store.push(READ_WRITE, author="bob", message="writes too")
    assert _swapped(r2.revision).wait(10)
    fw = agentgate.get_firewall()
    assert fw.policy_revision == r2.revision and fw.mode == "monitor"  # the explicit mode outlives the push


def test_register_tools_survive_a_swap(tmp_path: Path) -> None:
    """Tools declared in code stay declared after a push; the revision shows the store's in front."""
    path = tmp_path / "agentgate.yaml"
    store = open_policy_store(path)
    store.push(READ_ONLY, author="ana", message="read only")
    agentgate.protect_all(f"file://{path}", audit="none", frameworks=[])
    agentgate.register_tools({"zap": {"kind": "generic", "operation": "delete"}})
    r2 = store.push(READ_WRITE, author="bob", message="writes too")
    assert _swapped(r2.revision).wait(10)
    fw = agentgate.get_firewall()
    assert fw.spec_for("zap") is not None
    assert fw.policy_revision.startswith(r2.revision + "+")
    assert fw.evaluate(ToolCall("zap", {"path": "x"})).action is VerdictType.BLOCK


def test_load_config_reads_a_store_head_once(tmp_path: Path) -> None:
    """A store URL where a config path goes (CLI --config, Firewall(...)) loads the head; unreachable is a ConfigError."""
    from agentgate import ConfigError
    from agentgate.policy._config import load_config

    path = tmp_path / "agentgate.yaml"
    r1 = open_policy_store(path).push(READ_ONLY, author="ana", message="read only")
    assert load_config(f"file://{path}").revision() == r1.revision
    with pytest.raises(ConfigError, match="cannot connect"):
        load_config("postgresql://u@127.0.0.1:9/none?connect_timeout=2")
