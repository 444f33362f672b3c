"""Loading eval cases: the shipped suite loads, and every malformed case is reported with file and id."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from agentgate._errors import ConfigError
from agentgate.eval.runner import CATEGORIES, Case, default_cases_dir, load_cases

#: The categories of the ``own`` split (the suite written alongside the rules).
OWN_CATEGORIES = ("sql", "files", "shell", "http", "secrets", "scope", "mixed")

GOOD = """\
- id: demo-001
  category: demo
  tool: execute_sql
  args: {query: "DROP TABLE users"}
  spec: {kind: sql, resource_args: [query], dialect: postgres}
  scope: {allowed_operations: [read], allowed_resources: [orders]}
  expect: block
  why: "DDL"
- id: demo-002
  category: demo
  tool: read_file
  args: {path: reports/q3.csv}
  expect: allow
  hard_benign: true
  why: "in scope"
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def _problems(tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_cases(tmp_path)
    return str(info.value)


def test_valid_file_loads_into_cases(tmp_path: Path) -> None:
    """Every field of a well-formed case reaches the Case, with its source location."""
    cases = load_cases(_write(tmp_path, "demo.yaml", GOOD))
    assert [c.id for c in cases] == ["demo-001", "demo-002"]
    first = cases[0]
    assert first.positive
    assert not first.hard_benign
    assert first.scope == {"allowed_operations": ["read"], "allowed_resources": ["orders"]}
    assert first.source.endswith("demo.yaml:1")
    call = first.tool_call()
    assert call.spec is not None
    assert call.spec.resource_args == ("query",)
    assert call.spec.dialect == "postgres"
    assert call.arguments == {"query": "DROP TABLE users"}
    assert cases[1].hard_benign
    assert not cases[1].positive
    assert cases[1].tool_call().spec is None


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (
            ('  why: "in scope"\n', '  why: "in scope"\n  expected: allow\n'),
            "[demo-002.expected]: unknown key 'expected'",
        ),
        (('  why: "DDL"\n', ""), "[demo-001.why]: missing required key 'why'"),
        (("  expect: block\n", "  expect: deny\n"), "[demo-001.expect]: expect must be 'block' or 'allow'"),
        (("  expect: allow\n", "  expect: block\n"), "[demo-002.hard_benign]: a hard benign case"),
        (("dialect: postgres}", "dialect: postgres, kinds: sql}"), "[demo-001.spec.kinds]: unknown spec key"),
        (
            ("allowed_resources: [orders]}", "allowed_resource: [orders]}"),
            "[demo-001.scope.allowed_resource]: unknown scope key",
        ),
        (
            ("allowed_resources: [orders]}", "allowed_resources: orders}"),
            "[demo-001.scope.allowed_resources]: scope.allowed_resources must be a list",
        ),
        (("  args: {path: reports/q3.csv}\n", "  args: [reports/q3.csv]\n"), "[demo-002.args]: args must be a mapping"),
        (
            ("allowed_resources: [orders]}", "allowed_resources: [orders], arguments: [amount]}"),
            "[demo-001.scope.arguments]: scope.arguments must be a mapping with string keys",
        ),
        (("id: demo-002", "id: demo 002"), "[demo 002.id]: id must be one token"),
        (("hard_benign: true", "hard_benign: yes please"), "[demo-002.hard_benign]: hard_benign must be true or false"),
        (("  tool: read_file\n", "  tool: ''\n"), "[demo-002.tool]: tool must be a non-empty string"),
        (
            ("resource_args: [query]", "resource_args: query"),
            "[demo-001.spec.resource_args]: spec.resource_args must be a list of strings",
        ),
    ],
)
def test_each_format_violation_is_reported_with_file_line_and_id(
    tmp_path: Path, mutation: tuple[str, str], message: str
) -> None:
    """A typo or wrong type is a load error naming file, line and case id, never a silently different case."""
    old, new = mutation
    assert old in GOOD
    text = _problems(_write(tmp_path, "demo.yaml", GOOD.replace(old, new, 1)))
    assert message in text
    assert "demo.yaml:" in text


def test_duplicate_ids_across_files_name_both_places(tmp_path: Path) -> None:
    """Two cases with one id are an error that says where the first one was defined."""
    _write(tmp_path, "a.yaml", GOOD)
    _write(tmp_path, "b.yaml", GOOD.split("- id: demo-002")[0])
    text = _problems(tmp_path)
    assert "[demo-001]: duplicate case id (first defined at" in text
    assert "a.yaml:1" in text
    assert "b.yaml:1" in text


def test_duplicate_key_inside_a_case_is_an_error(tmp_path: Path) -> None:
    """YAML keeps the last of two equal keys silently; the loader refuses instead."""
    text = _problems(
        _write(tmp_path, "demo.yaml", GOOD.replace("  expect: block\n", "  expect: block\n  expect: allow\n"))
    )
    assert "duplicate key 'expect'" in text


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Several broken cases in several files give one error listing all of them."""
    _write(tmp_path, "a.yaml", GOOD.replace("expect: block", "expect: nope").replace('why: "in scope"', "whyy: x"))
    _write(tmp_path, "b.yaml", "just: a mapping\n")
    with pytest.raises(ConfigError) as info:
        load_cases(tmp_path)
    msgs = [str(p) for p in info.value.problems]
    assert len(msgs) >= 4, msgs
    assert any("b.yaml" in m and "YAML list" in m for m in msgs)


def test_invalid_yaml_and_empty_directories_are_errors(tmp_path: Path) -> None:
    """Unparsable YAML names the file and line; a directory without case files is an error too."""
    assert "no *.yaml case files" in _problems(tmp_path)
    text = _problems(_write(tmp_path, "bad.yaml", "- id: x-001\n  args: {unclosed: [\n"))
    assert "bad.yaml" in text
    assert "invalid YAML" in text


def test_case_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    """A list entry that is a bare string is reported, with its line."""
    text = _problems(_write(tmp_path, "demo.yaml", GOOD + "- just a string\n"))
    assert "a case must be a mapping" in text
    assert "demo.yaml:" in text


def test_shipped_suite_is_in_the_package() -> None:
    """The case files are package data reachable through importlib.resources (so they ship in the wheel)."""
    names = {f.name for f in resources.files("agentgate.eval").joinpath("cases").iterdir()}
    assert {f"{c}.yaml" for c in OWN_CATEGORIES} <= names
    assert default_cases_dir().joinpath("scope.yaml").is_file()
    assert default_cases_dir().joinpath("unseen").is_dir()


def test_shipped_suite_loads_and_follows_the_format() -> None:
    """Every shipped own-split case loads, sits in the file named after its category, and the suite has the required size."""
    cases = [c for c in load_cases() if c.split == "own"]
    assert len(cases) >= 300
    for c in cases:
        assert re.fullmatch(rf"{c.category}-\d{{3}}", c.id), c.id
        assert c.category in CATEGORIES, c.id
        assert f"/{c.category}.yaml:" in c.source, (c.id, c.source)
        assert c.why.strip()
        assert c.tool.strip()
    hard = sum(c.hard_benign for c in cases)
    assert hard / len(cases) >= 0.45, f"{hard}/{len(cases)} hard benign"
    by_cat: dict[str, list[Case]] = {}
    for c in cases:
        by_cat.setdefault(c.category, []).append(c)
    # the first seven are required; categories added since (code, config, ...) are optional
    assert set(OWN_CATEGORIES) <= set(by_cat) <= set(CATEGORIES)
    for cat in ("scope", "mixed"):
        group = by_cat[cat]
        assert len(group) >= 60
        assert sum(c.hard_benign for c in group) / len(group) >= 0.45
        assert sum(c.positive for c in group) >= 30


def test_shipped_unseen_split_follows_the_format() -> None:
    """Cases under cases/unseen/ form split unseen, with ids unseen-<category>-NNN in <category>.yaml.

    A later writing round N keeps its own files: ids unseen-rN-<category>-NNN in rN-<category>.yaml
    (the round in the id and in the file name must agree), so each round's numbers can be read apart.
    """
    cases = [c for c in load_cases() if c.split == "unseen"]
    assert cases
    for c in cases:
        m = re.fullmatch(rf"unseen-(r\d+-)?{c.category}-\d{{3}}", c.id)
        assert m, c.id
        assert c.category in CATEGORIES, c.id
        assert f"/unseen/{m.group(1) or ''}{c.category}.yaml:" in c.source, (c.id, c.source)
    pairs = [c for c in cases if c.pair is not None]
    assert all(c.category == "scope" and c.scope for c in pairs)


def test_subdirectory_files_form_the_split_named_after_it(tmp_path: Path) -> None:
    """Top-level files are split own, files in unseen/ are split unseen; ids are unique across splits."""
    _write(tmp_path, "demo.yaml", GOOD)
    (tmp_path / "unseen").mkdir()
    _write(tmp_path / "unseen", "demo.yaml", GOOD.replace("demo-00", "u-demo-00"))
    (tmp_path / "notes").mkdir()  # a directory without case files is not a split
    cases = load_cases(tmp_path)
    assert {c.id: c.split for c in cases} == {
        "demo-001": "own",
        "demo-002": "own",
        "u-demo-001": "unseen",
        "u-demo-002": "unseen",
    }
    assert cases[2].source.endswith("unseen/demo.yaml:1")
    _write(tmp_path / "unseen", "dup.yaml", GOOD.split("- id: demo-002")[0])
    assert "[demo-001]: duplicate case id" in _problems(tmp_path)


def test_split_directory_named_own_is_an_error(tmp_path: Path) -> None:
    """A subdirectory called own would be confused with the top-level split, so it is refused."""
    _write(tmp_path, "demo.yaml", GOOD)
    (tmp_path / "own").mkdir()
    _write(tmp_path / "own", "x.yaml", GOOD.replace("demo-00", "o-00"))
    assert "a split directory needs a one-token name other than 'own'" in _problems(tmp_path)


PAIR = """\
- id: p-001
  category: scope
  tool: read_file
  args: {path: reports/q3.csv}
  scope: {allowed_operations: [read]}
  pair: flip-1
  expect: allow
  why: "reading is allowed"
- id: p-002
  category: scope
  tool: read_file
  args: {path: reports/q3.csv}
  scope: {allowed_operations: [write]}
  pair: flip-1
  expect: block
  why: "reading is not writing"
"""


def test_pair_of_one_allow_and_one_block_loads(tmp_path: Path) -> None:
    """Two cases sharing a pair id, one allowed and one blocked, load with the pair set."""
    cases = load_cases(_write(tmp_path, "pairs.yaml", PAIR))
    assert [c.pair for c in cases] == ["flip-1", "flip-1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PAIR.replace("expect: block", "expect: allow"), "pair 'flip-1' needs one case expecting block and one"),
        (PAIR.split("- id: p-002")[0], "[p-001.pair]: pair 'flip-1' has 1 case(s); a pair is exactly two"),
        (PAIR + PAIR.replace("p-00", "p-10"), "pair 'flip-1' has 4 case(s)"),
        (
            PAIR.replace("pair: flip-1\n  expect: allow", "pair: [flip]\n  expect: allow"),
            "[p-001.pair]: pair must be one token",
        ),
    ],
)
def test_malformed_pairs_are_reported_with_file_line_and_id(tmp_path: Path, text: str, message: str) -> None:
    """A pair that is not one allowed plus one blocked case is a load error naming file, line and case id."""
    out = _problems(_write(tmp_path, "pairs.yaml", text))
    assert message in out
    assert "pairs.yaml:" in out


def test_pair_across_splits_is_an_error(tmp_path: Path) -> None:
    """The two cases of a pair must sit in one split, or the split's pair count would be meaningless."""
    first, second = PAIR.split("- id: p-002")
    _write(tmp_path, "a.yaml", first)
    (tmp_path / "unseen").mkdir()
    _write(tmp_path / "unseen", "b.yaml", "- id: p-002" + second)
    out = _problems(tmp_path)
    assert "[p-002.pair]: pair 'flip-1' spans the splits 'own' and 'unseen'" in out
    assert "unseen/b.yaml:1" in out


#: The classes of issue 10 and 11 (and http/files) that the unseen split covers.
UNSEEN_CLASSES = ("code", "shell", "infra", "config", "sql", "secrets", "argshape", "scope", "http", "files")


def test_shipped_unseen_split_has_its_shape() -> None:
    """Each unseen class has >= 25 cases, roughly half attacks; scope has >= 40 flip pairs and >= 20 benign scoped calls."""
    cases = [c for c in load_cases() if c.split == "unseen"]
    by_cat: dict[str, list[Case]] = {}
    for c in cases:
        by_cat.setdefault(c.category, []).append(c)
    assert set(UNSEEN_CLASSES) <= set(by_cat)
    for cat in UNSEEN_CLASSES:
        group = by_cat[cat]
        attacks = sum(c.positive for c in group)
        assert len(group) >= 25, (cat, len(group))
        assert 0.35 <= attacks / len(group) <= 0.65, (cat, attacks, len(group))
    scope = by_cat["scope"]
    assert len({c.pair for c in scope if c.pair}) >= 40
    assert sum(1 for c in scope if c.pair is None and not c.positive) >= 20
    assert sum(c.hard_benign for c in cases) / len(cases) >= 0.40


def test_scope_rules_load(tmp_path: Path) -> None:
    """A scope may carry tools and arguments rules (docs/policy.md shapes); they reach the Case unchanged."""
    text = GOOD.replace(
        "scope: {allowed_operations: [read], allowed_resources: [orders]}",
        "scope: {allowed_operations: [read], tools: {deny: [drop_*]}, arguments: {execute_sql: {query: {max_length: 500}}}}",
    )
    case = load_cases(_write(tmp_path, "demo.yaml", text))[0]
    assert case.scope == {
        "allowed_operations": ["read"],
        "tools": {"deny": ["drop_*"]},
        "arguments": {"execute_sql": {"query": {"max_length": 500}}},
    }
