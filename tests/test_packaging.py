"""The distribution users install: its name, what the docs tell them to type, the tested versions."""

from __future__ import annotations

import importlib.util
import re
import zipfile
from pathlib import Path

import pytest

from agentgate._errors import DISTRIBUTION
from agentgate.integrations import _tested
from agentgate.integrations._versions import out_of_range

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("tested_versions", ROOT / "scripts" / "tested_versions.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_wheel_name_is_the_one_the_docs_install(tmp_path: Path) -> None:
    """The built wheel is named DISTRIBUTION, holds `import agentgate`, and every doc install line uses that name."""
    from hatchling.builders.wheel import WheelBuilder

    wheel = Path(next(iter(WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"]))))
    assert wheel.name.startswith(DISTRIBUTION.replace("-", "_") + "-")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        assert f"Name: {DISTRIBUTION}\n" in zf.read(meta).decode()
    assert "agentgate/__init__.py" in names

    installs = []
    for doc in DOCS:
        for lineno, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            for m in re.finditer(r"pip install\s+['\"]?(agentgate[\w.-]*)", line):
                installs.append((doc.name, lineno, m.group(1)))
    assert installs, "the docs show no install line at all"
    wrong = [i for i in installs if i[2] != DISTRIBUTION]
    assert not wrong, f"install lines naming another distribution: {wrong}"


def test_tested_versions_match_the_lockfile() -> None:
    """_tested.py is what `make lock` writes from uv.lock (CI installs exactly those versions)."""
    assert _script().render() == (ROOT / "src/agentgate/integrations/_tested.py").read_text(encoding="utf-8")
    assert _tested.TESTED_VERSIONS["openai"]


@pytest.mark.parametrize(
    ("installed", "inside"),
    [("1.40.0", True), ("1.39.9", False), ("99.0.0", False)],
)
def test_out_of_range(installed: str, inside: bool) -> None:
    """Older than the extra's floor or a newer minor than the locked release is outside the tested range."""
    assert (out_of_range("openai", installed) is None) is inside


def test_patch_release_of_the_tested_minor_is_inside() -> None:
    """A patch release of the locked minor version is not flagged."""
    major, minor, *_ = _tested.TESTED_VERSIONS["openai"].split(".")
    assert out_of_range("openai", f"{major}.{minor}.999") is None
    assert out_of_range("openai", f"{major}.{int(minor) + 1}.0") is not None


def test_doctor_warns_about_an_untested_framework_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """`agentgate doctor` names an installed framework that is newer than the tested release."""
    from click.testing import CliRunner

    from agentgate.cli import _doctor

    real = _doctor.md.version
    monkeypatch.setattr(_doctor.md, "version", lambda pkg: "99.0.0" if pkg == "openai" else real(pkg))
    out = CliRunner().invoke(_doctor.command, [], terminal_width=200).output
    assert "warning: openai 99.0.0 is newer than the tested" in " ".join(out.split())
