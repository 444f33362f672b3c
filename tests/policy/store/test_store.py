"""The policy store API, the same on both backends: push validates, history, get, diff, rollback, watch."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agentgate import ConfigError
from agentgate._errors import PolicyStoreError
from agentgate.policy.store import FilePolicyStore, PolicyRevision, PolicyStore, open_policy_store

from .conftest import BROKEN, READ_ONLY, READ_WRITE


def test_push_records_revision_author_message_parent(store: PolicyStore) -> None:
    """Each push is a revision: content hash, author, message, UTC timestamp, parent; the head is the last."""
    r1 = store.push(READ_ONLY, author="ana", message="first")
    r2 = store.push(READ_WRITE, author="bob", message="let it write")
    assert (r1.seq, r1.parent, r1.author, r1.message) == (1, None, "ana", "first")
    assert (r2.seq, r2.parent) == (2, r1.revision)
    assert r1.revision == r1.digest[:12] and r1.revision != r2.revision
    assert r2.created_at.utcoffset() is not None and r2.created_at >= r1.created_at
    assert store.get() == r2
    assert store.get(r1.revision[:6]).text == READ_ONLY
    assert [h.seq for h in store.history()] == [2, 1]
    assert store.history(limit=1) == [r2]


def test_invalid_document_is_refused_with_lines_and_nothing_stored(store: PolicyStore) -> None:
    """An invalid document raises ConfigError naming the line; the head does not move."""
    r1 = store.push(READ_ONLY, author="ana", message="first")
    with pytest.raises(ConfigError) as e:
        store.push(BROKEN, author="ana", message="broken")
    assert any(p.line == 4 and "duplicate key" in p.message for p in e.value.problems)
    with pytest.raises(ConfigError, match="unknown key"):
        store.push("agents:\n  default:\n    alowed_operations: [read]\n", author="ana", message="typo")
    assert store.get() == r1 and len(store.history()) == 1


def test_author_and_message_are_required(store: PolicyStore) -> None:
    """Who and why are part of every revision: a blank one is refused."""
    with pytest.raises(ConfigError, match="author"):
        store.push(READ_ONLY, author=" ", message="x")
    with pytest.raises(ConfigError, match="message"):
        store.push(READ_ONLY, author="ana", message="")
    assert store.head() is None


def test_pushing_the_head_again_stores_nothing(store: PolicyStore) -> None:
    """The same text as the head is not a new revision (CRLF line endings hash the same)."""
    r1 = store.push(READ_ONLY, author="ana", message="first")
    again = store.push(READ_ONLY.replace("\n", "\r\n"), author="bob", message="again")
    assert again == r1 and len(store.history()) == 1


def test_diff_and_rollback(store: PolicyStore) -> None:
    """diff is a unified diff of the YAML; rollback is a new head whose content (and hash) is the old one."""
    r1 = store.push(READ_ONLY, author="ana", message="first")
    r2 = store.push(READ_WRITE, author="bob", message="write")
    d = store.diff(r1.revision, r2.revision)
    assert "-    allowed_operations: [read]\n+    allowed_operations: [read, write]\n" in d
    assert store.diff(r2.revision, None) == ""
    r3 = store.rollback(r1.revision, author="ana", message="revert: too broad")
    assert (r3.revision, r3.seq, r3.parent, r3.message) == (r1.revision, 3, r2.revision, "revert: too broad")
    assert store.get().text == READ_ONLY
    assert store.get("HEAD~1") == r2
    # The newest entry with that revision answers for it.
    assert store.get(r1.revision).seq == 3


def test_unknown_and_ambiguous_revisions_are_errors(store: PolicyStore) -> None:
    """No such revision, too short, not hex, empty store: PolicyStoreError saying which."""
    with pytest.raises(PolicyStoreError, match="no policy has been pushed"):
        store.get()
    store.push(READ_ONLY, author="ana", message="first")
    for bad, msg in (
        ("ffffffff", "no revision"),
        ("ab", "at least 4"),
        ("zzzz", "at least 4"),
        ("HEAD~5", "no HEAD~5"),
    ):
        with pytest.raises(PolicyStoreError, match=msg):
            store.get(bad)


def test_watch_delivers_each_new_head(store: PolicyStore) -> None:
    """A watcher hears every push after the revision it started from, on its own thread."""
    r1 = store.push(READ_ONLY, author="ana", message="first")
    seen: list[PolicyRevision] = []
    arrived = threading.Event()

    def on_change(rev: PolicyRevision) -> None:
        seen.append(rev)
        arrived.set()

    ready = threading.Event()
    with store.watch(on_change, since=r1, on_status=lambda ok, _d: ok and ready.set()):
        assert ready.wait(10)
        r2 = store.push(READ_WRITE, author="bob", message="write")
        assert arrived.wait(10)
    assert seen == [r2]


def test_watch_without_since_delivers_the_current_head(store: PolicyStore) -> None:
    """Starting a watch with no revision delivers the head first (a subscriber starts in sync)."""
    r1 = store.push(READ_ONLY, author="ana", message="first")
    arrived = threading.Event()
    seen: list[PolicyRevision] = []
    with store.watch(lambda r: (seen.append(r), arrived.set())):
        assert arrived.wait(10)
    assert seen[0] == r1


def test_file_store_keeps_history_beside_the_file(tmp_path: Path) -> None:
    """The live file is the head; texts and a JSON log are kept in .agentgate/policy-history/<file>/."""
    path = tmp_path / "agentgate.yaml"
    path.write_text(READ_ONLY)
    path.chmod(0o640)
    s = open_policy_store(f"file://{path}")
    assert isinstance(s, FilePolicyStore)
    r = s.push(READ_WRITE, author="ana", message="write")
    assert path.read_text() == READ_WRITE
    assert path.stat().st_mode & 0o777 == 0o640  # the live file keeps its permissions
    hist = tmp_path / ".agentgate" / "policy-history" / "agentgate.yaml"
    assert (hist / f"000001-{r.revision}.yaml").read_text() == READ_WRITE
    assert (hist / "log.jsonl").read_text().count("\n") == 1
    # The file was there before the first push: the push records it as the parent.
    assert r.parent is not None and r.parent == open_policy_store(tmp_path).history()[0].parent


def test_file_edited_by_hand_is_an_unrecorded_head(tmp_path: Path) -> None:
    """A hand edit is the head (seq 0, not in history) and becomes the parent of the next push."""
    s = open_policy_store(tmp_path / "agentgate.yaml")
    r1 = s.push(READ_ONLY, author="ana", message="first")
    (tmp_path / "agentgate.yaml").write_text(READ_WRITE)
    head = s.get()
    assert head.seq == 0 and head.text == READ_WRITE and head.parent == r1.revision
    assert [h.seq for h in s.history()] == [0, 1]
    r2 = s.push(READ_WRITE + "mode: monitor\n", author="ana", message="monitor")
    assert r2.parent == head.revision and r2.seq == 2


def test_file_store_detects_a_tampered_history_entry(tmp_path: Path) -> None:
    """A stored text that no longer matches its recorded hash is an error, not a silent policy."""
    s = open_policy_store(tmp_path / "agentgate.yaml")
    r1 = s.push(READ_ONLY, author="ana", message="first")
    s.push(READ_WRITE, author="ana", message="second")
    entry = tmp_path / ".agentgate" / "policy-history" / "agentgate.yaml" / f"000001-{r1.revision}.yaml"
    entry.write_text(READ_WRITE)
    with pytest.raises(PolicyStoreError, match="does not match"):
        s.get(r1.revision)


def test_postgres_store_unreachable_is_a_store_error() -> None:
    """A closed port is a PolicyStoreError naming the store (no psycopg error leaks, no password shown)."""
    s = open_policy_store("postgresql://u:secret@127.0.0.1:9/none?connect_timeout=2")
    with pytest.raises(PolicyStoreError, match="cannot connect") as e:
        s.get()
    assert "secret" not in str(e.value) and "secret" not in s.url


def test_postgres_documents_are_separate(pg_store_url: str) -> None:
    """Two documents in one schema have separate histories."""
    a = open_policy_store(pg_store_url)
    b = open_policy_store(pg_store_url, document="staging")
    a.push(READ_ONLY, author="ana", message="prod")
    b.push(READ_WRITE, author="ana", message="staging")
    assert a.get().text == READ_ONLY and b.get().text == READ_WRITE
    assert a.documents() == ["default", "staging"]
    a.close()
    b.close()


def test_concurrent_pushes_get_distinct_sequence_numbers(pg_store_url: str) -> None:
    """Pushes from many threads (each its own store object) never share a seq; every parent is the previous head."""
    texts = [READ_ONLY + f"# change {i}\n" for i in range(8)]
    errors: list[BaseException] = []

    def push(i: int) -> None:
        s = open_policy_store(pg_store_url)
        try:
            s.push(texts[i], author=f"u{i}", message=f"m{i}")
        except BaseException as e:
            errors.append(e)
        finally:
            s.close()

    threads = [threading.Thread(target=push, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with open_policy_store(pg_store_url) as s:
        hist = s.history(limit=None)
    assert [h.seq for h in hist] == list(range(8, 0, -1))
    assert [h.parent for h in hist[:-1]] == [h.revision for h in hist[1:]]


def test_an_empty_document_is_refused(store: PolicyStore) -> None:
    """An empty document would drop every rule (and is what a half-written file looks like): refused."""
    for text in ("", "\n# only a comment\n"):
        with pytest.raises(ConfigError, match="empty"):
            store.push(text, author="ana", message="wipe")
    assert store.head() is None


def test_file_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """file:///abs, file://localhost/abs and file://relative name the same kind of store; a directory means its agentgate.yaml."""
    monkeypatch.chdir(tmp_path)
    for url in (
        f"file://{tmp_path}/agentgate.yaml",
        f"file://localhost{tmp_path}/agentgate.yaml",
        "file://agentgate.yaml",
    ):
        s = open_policy_store(url)
        assert isinstance(s, FilePolicyStore) and s.path == tmp_path / "agentgate.yaml", url
    assert open_policy_store(tmp_path).path == tmp_path / "agentgate.yaml"  # type: ignore[attr-defined]
