"""Tests for the code analyzer: golden fixtures per class, the static decoders against the real
interpreter, routing, limits, caching and classification of interpreter tools."""

from __future__ import annotations

import base64
import os
import pickle
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentgate import Firewall
from agentgate._call import ToolCall
from agentgate._decision import Effect, Finding, VerdictType
from agentgate.analyzers.base import AnalyzerSettings, make_context
from agentgate.analyzers.classify import classify
from agentgate.analyzers.code import analyze_code, code_language, extract
from agentgate.policy import EffectivePolicy, make_scope

FIXTURES = Path(__file__).parent.parent / "fixtures" / "analyzers" / "code.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(FIXTURES.read_text())
PUBLIC = "93.184.216.34"
SETTINGS = AnalyzerSettings(resolver=lambda host, timeout: ["10.0.0.9"] if "internal" in host else [PUBLIC])


@pytest.fixture(autouse=True)
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with data/ and a private HOME, like the eval runner's sandbox."""
    (tmp_path / "data").mkdir()
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(code: str, tool: str = "run_python", policy: EffectivePolicy | None = None, **args: Any) -> list[Finding]:
    call = ToolCall(tool, {"code": code, **args})
    return analyze_code(call, make_context(call, policy=policy, settings=SETTINGS))


def _effect(findings: list[Finding]) -> str:
    if any(f.effect is Effect.BLOCK for f in findings):
        return "block"
    if any(f.effect is Effect.ESCALATE for f in findings):
        return "escalate"
    return "allow"


@pytest.mark.parametrize("case", CASES, ids=[f"{i:03d}-{c['note'][:48]}" for i, c in enumerate(CASES)])
def test_golden(case: dict[str, Any]) -> None:
    """Each fixture decides as labelled, and by the rule it names."""
    findings = _run(case["code"], case.get("tool", "run_python"))
    shown = [(f.rule_id, f.effect.value, f.message) for f in findings]
    assert _effect(findings) == case["expect"], shown
    if "rule" in case:
        assert case["rule"] in {f.rule_id for f in findings}, shown


def test_fixture_classes_have_attack_and_benign() -> None:
    """Every section of the fixtures holds at least one attack and one benign look-alike."""
    text = FIXTURES.read_text()
    sections = text.split("# ----------------------------------------------------------------")[1:]
    assert len(sections) >= 8
    for s in sections[:-1]:
        cases = yaml.safe_load(s.split("\n", 1)[1]) or []
        expects = {c["expect"] for c in cases}
        assert "allow" in expects and ("block" in expects or "escalate" in expects), s.split("\n", 1)[0]


# ------------------------------------------------------------------ decoders proven against Python

_STAND_IN = """
import os, subprocess
ran = []
os.system = lambda c: ran.append(c if isinstance(c, str) else c.decode()) or 0
print(repr(ran))
"""


@pytest.mark.parametrize(
    "build",
    [
        "base64.b64decode('ZWNobyBhZ2VudGdhdGUtcHJvYmU=').decode()",
        "zlib.decompress(base64.b64decode('{z}')).decode()",
        "codecs.decode('rpub ntragtngr-cebor', 'rot13')",
        "bytes.fromhex('6563686f206167656e74676174652d70726f6265').decode()",
        "''.join(chr(c) for c in [101, 99, 104, 111, 32, 97, 103, 101, 110, 116, 103, 97, 116, 101, 45, 112, 114, 111, 98, 101])",
        "'eborp-etagtnega ohce'[::-1]",
        "'echo %s-%s' % ('agentgate', 'probe')",
        "f\"{'ec' + 'ho'} {'agentgate'}-probe\"",
        "base64.b32decode(base64.b32encode(b'echo agentgate-probe')).decode()",
        "'\\x65\\x63\\x68\\x6f agentgate-probe'",
        "'echo agentgate-XXXXX'.replace('XXXXX', 'probe')",
        "'ECHO AGENTGATE-PROBE'.lower()",
    ],
)
def test_static_decoding_matches_the_interpreter(build: str) -> None:
    """The command the analyzer reads is the one Python actually runs (os.system replaced by a recorder)."""
    z = base64.b64encode(zlib.compress(b"echo agentgate-probe")).decode()
    expr = build.replace("{z}", z)
    program = f"import os, base64, zlib, codecs\nos.system({expr})\n"
    recorder = _STAND_IN.replace("print(repr(ran))", program + "print(repr(ran))")
    real = subprocess.run([sys.executable, "-c", recorder], capture_output=True, text=True, check=True).stdout.strip()
    assert real == repr(["echo agentgate-probe"])
    ex = extract(program, "python")
    assert [h.value for h in ex.hits if h.kind == "shell"] == ["echo agentgate-probe"]


def test_embedded_pickle_is_read_not_loaded() -> None:
    """A pickle that calls os.system blocks, a pickle of plain data passes; neither is ever loaded."""

    class Evil:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (os.system, ("echo pwned",))

    evil = pickle.dumps(Evil())
    plain = pickle.dumps({"a": [1, 2, 3], "b": "text"})
    found = _run(f"import pickle\npickle.loads({evil!r})")
    assert _effect(found) == "block" and any("system" in f.message for f in found)
    assert _run(f"import pickle\nprint(pickle.loads({plain!r}))") == []


def test_benign_variants_really_run(sandbox: Path) -> None:
    """The benign look-alikes are real programs: they run cleanly in this sandbox and the analyzer allows them."""
    (sandbox / "data" / "sales.csv").write_text("region,amount\neu,3\nus,4\n")
    (sandbox / "config.json").write_text('{"name": "x"}')
    programs = [
        "import csv\nrows = list(csv.DictReader(open('data/sales.csv')))\nprint(sum(int(r['amount']) for r in rows))",
        "import json\nprint(json.load(open('config.json'))['name'])",
        "import subprocess\nprint(subprocess.run(['echo', 'hello'], capture_output=True, text=True).stdout)",
        "import os\nprint(os.environ.get('HOME') is not None)",
        "print(eval('2 ** 10 + 1'))",
    ]
    for prog in programs:
        done = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, cwd=sandbox, timeout=60)
        assert done.returncode == 0, done.stderr
        assert _run(prog) == [], prog


# ------------------------------------------------------------------ contract


def test_unparsable_python_escalates_and_sniffed_text_does_not() -> None:
    """A code tool's unparsable source escalates; the same text sniffed from a note is just text."""
    assert _effect(_run("x = 1 +")) == "escalate"
    call = ToolCall("save_note", {"text": "import os\nthis is not python os.system("})
    assert analyze_code(call, make_context(call)) == []


def test_sniffed_code_keeps_only_blocking_findings() -> None:
    """Program text in an unrelated argument is analyzed, but only blocking findings count."""
    call = ToolCall("save_note", {"text": "import os\nos.system(base64.b64decode('cm0gLXJmIC8=').decode())"})
    found = analyze_code(call, make_context(call))
    assert found and all(f.effect is Effect.BLOCK for f in found)
    call = ToolCall("save_note", {"text": "import os, sys\nos.system(sys.argv[1])"})
    assert analyze_code(call, make_context(call)) == []


def test_limits_escalate() -> None:
    """Oversized sources, deep nesting, decode layers and evaluation steps escalate as code.limit."""
    assert "code.limit" in {f.rule_id for f in _run("x = 1\n" * 20000)}
    assert "code.limit" in {f.rule_id for f in _run("x = [" + "1, " * 5000 + "]")}  # dense: parse cost bound
    nested = "x = " + "(" * 400 + "1" + ")" * 400
    assert _effect(_run(nested)) == "escalate"
    layers = "print(1)"
    for _ in range(6):
        layers = f"exec({layers!r})"
    assert "code.limit" in {f.rule_id for f in _run(layers)}
    loop = "s = 'a'\n" + "s = s + s\n" * 40 + "import os\nos.system(s)"
    assert _effect(_run(loop)) != "allow"


def test_zlib_bomb_escalates() -> None:
    """A payload that decompresses past the bound escalates instead of being inflated."""
    bomb = base64.b64encode(zlib.compress(b"A" * (2 * 1024 * 1024))).decode()
    found = _run(f"import zlib, base64\nexec(zlib.decompress(base64.b64decode('{bomb}')))")
    assert "code.limit" in {f.rule_id for f in found}


def test_list_of_lines_is_one_program() -> None:
    """Jupyter-style source given as a list of lines is analyzed as one program (names flow across lines)."""
    call = ToolCall("run_cell", {"source": ["import os\n", "c = 'rm -rf ' + '~'\n", "os.system(c)\n"]})
    assert "shell.destructive" in {f.rule_id for f in analyze_code(call, make_context(call))}


def test_unknown_argument_name_of_a_code_tool_is_the_program() -> None:
    """A code tool's program under an argument name we do not know is still analyzed."""
    call = ToolCall("execute_python", {"timeout": "30", "program_text": "import os\nos.system('rm -rf ~')"})
    assert _effect(analyze_code(call, make_context(call))) == "block"


def test_language_from_argument_and_tool() -> None:
    """The language comes from a language argument, else the tool name, else detection."""
    assert code_language("execute", {"language": "JavaScript"}) == "js"
    assert code_language("run_code", {"lang": "python3"}) == "python"
    assert code_language("node_eval", {}) == "js"
    assert code_language("execute_code", {}) is None
    assert _effect(_run("rm -rf /", tool="execute_code", language="bash")) == "block"


def test_scope_applies_to_what_code_touches() -> None:
    """A scope's host list binds the URLs code fetches, and its path roots the files it writes."""
    policy = EffectivePolicy((make_scope(allowed_resources=["api.github.com", "./data/**"]),))
    assert _run("import requests\nrequests.get('https://api.github.com/x')", policy=policy) == []
    found = _run("import requests\nrequests.get('https://pastebin.com/raw/x')", policy=policy)
    assert "http.scope" in {f.rule_id for f in found}


def test_scope_operations_bind_what_code_does_to_files() -> None:
    """Under a scope without write, code that writes a file blocks; reading inside the roots passes."""
    ro = EffectivePolicy((make_scope(allowed_operations=["read", "execute"], allowed_resources=["data/**"]),))
    rw = EffectivePolicy((make_scope(allowed_operations=["read", "write", "execute"], allowed_resources=["data/**"]),))
    code = "import pandas as pd\ndf = pd.read_csv('data/in.csv')\ndf.to_csv('data/out.csv')"
    assert "code.operation" in {f.rule_id for f in _run(code, policy=ro)}
    assert _run(code, policy=rw) == []
    assert _run("import pandas as pd\nprint(pd.read_csv('data/in.csv').shape)", policy=ro) == []
    found = _run("open('notes/x.txt', 'w').write('x')", policy=rw)
    assert "file.scope" in {f.rule_id for f in found}


def test_findings_name_the_line_and_argument() -> None:
    """A finding says which line of which argument it is about."""
    (f,) = [f for f in _run("x = 1\nimport os\nos.system('rm -rf ~')") if f.rule_id == "shell.destructive"]
    assert f.message.startswith("line 3:") and f.argument == "code"


def test_extraction_is_cached_by_source() -> None:
    """The same source is parsed once; the cached result is the same object."""
    src = "import os\nos.system('ls data')  # cache probe"
    assert extract(src, "python") is extract(src, "python")


def test_firewall_blocks_base64_os_system() -> None:
    """End to end: the default firewall blocks a code tool running a base64-hidden os.system."""
    fw = Firewall(settings=SETTINGS)
    code = "import os, base64\nos.system(base64.b64decode('cm0gLXJmIC8=').decode())"
    v = fw.evaluate_tier1(ToolCall("run_python", {"code": code}))
    assert v.action is VerdictType.BLOCK
    v = fw.evaluate_tier1(ToolCall("run_python", {"code": "import math\nprint(math.sqrt(2))"}))
    assert v.action is VerdictType.ALLOW


def test_async_resolves_code_hosts_off_the_event_loop() -> None:
    """evaluate_async resolves the hosts a program connects to in a worker thread, then decides from the cache."""
    import asyncio
    import threading

    from agentgate.analyzers.http import clear_dns_cache

    seen: list[tuple[str, bool]] = []

    def resolver(host: str, timeout: float) -> list[str]:
        seen.append((host, threading.current_thread() is threading.main_thread()))
        return ["10.0.0.7"] if host == "db.code-probe.example" else [PUBLIC]

    clear_dns_cache()
    fw = Firewall(settings=AnalyzerSettings(resolver=resolver))
    code = "import requests\nrequests.get('http://db.code-probe.example/admin')"
    v = asyncio.run(fw.evaluate_async(ToolCall("run_python", {"code": code})))
    assert v.action is VerdictType.BLOCK and v.policy_name == "http.dns_private"
    assert seen == [("db.code-probe.example", False)]


# ------------------------------------------------------------------ classification


@pytest.mark.parametrize(
    ("tool", "kind"),
    [
        ("run_python", "code"),
        ("execute_python", "code"),
        ("python_exec", "code"),
        ("code_interpreter", "code"),
        ("python_repl", "code"),
        ("jupyter_execute", "code"),
        ("run_cell", "code"),
        ("node", "code"),
        ("run_js", "code"),
        ("deno_eval", "code"),
        ("get_node", "generic"),
        ("bash_exec", "shell"),
        ("run_shell_command", "shell"),
    ],
)
def test_interpreter_tools_are_code(tool: str, kind: str) -> None:
    """Interpreter tools classify as code (node only next to a word that runs something)."""
    assert classify(ToolCall(tool, {"code": "1"})).kind == kind


def test_code_is_sniffed_only_when_unambiguous() -> None:
    """Program text with process/socket imports is sniffed as code; prose mentioning import is not."""
    c = classify(ToolCall("save_note", {"text": "import subprocess\nsubprocess.run(['ls'])"}))
    assert [t.source for t in c.targets.get("code", ())] == ["sniff"]
    c = classify(ToolCall("save_note", {"text": "We import goods from overseas and evaluate them."}))
    assert "code" not in c.targets


_RECORDER = """
import os
ran = []
os.system = lambda c: ran.append(c) or 0
{body}
print(ran)
"""


@pytest.mark.parametrize(
    "body",
    [
        "list(map(os.system, ['rm -rf /']))",
        "os.system.__call__('rm -rf /')",
        "getattr(os.system, '__ca' + 'll__')('rm -rf /')",
        "import functools\nfunctools.partial(os.system, 'rm -rf /')()",
        "import functools\nlist(map(functools.partial(os.system), ['rm -rf /']))",
        "import sys\nt = {'show': print, 'run': os.system}\nt[sys.argv[-1]]('rm -rf /')",
    ],
)
def test_process_function_used_as_a_value_really_runs_and_blocks(body: str) -> None:
    """Each way of calling os.system without a call on its name runs the command (stand-in recorder) and blocks."""
    done = subprocess.run(
        [sys.executable, "-c", _RECORDER.format(body=body), "run"], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "['rm -rf /']", done.stderr
    assert _effect(_run("import os\n" + body)) == "block"


def test_the_analysis_budget_is_cpu_time_of_the_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The interpreter's 20 ms budget counts this thread's CPU time: a program whose analysis spends it
    escalates as code.limit, and time the thread spends descheduled (a busy machine) does not count."""
    import dataclasses

    from agentgate.analyzers.code import _extract, _python

    program = "total = 0\n" + "".join(f"total = total + {i}\n" for i in range(300))
    assert "code.limit" not in {f.rule_id for f in _run(program)}
    wall = [0.0]
    monkeypatch.setattr(_python.time, "perf_counter", lambda: wall.__setitem__(0, wall[0] + 1.0) or wall[0])
    assert "code.limit" not in {f.rule_id for f in _run(program + "# wall clock runs fast\n")}
    monkeypatch.undo()
    monkeypatch.setattr(_extract, "LIMITS", dataclasses.replace(_extract.LIMITS, budget_s=0.0))
    found = _run(program + "# no CPU budget at all\n")
    assert any(f.rule_id == "code.limit" and "budget" in f.message for f in found), found


@pytest.mark.parametrize(
    ("code", "interactive"),
    [
        ("import pty\npty.spawn('/bin/bash')", True),
        ("import subprocess\nsubprocess.run(['/bin/sh'])", True),
        ("import os\nos.system('bash -i')", True),
        # obfuscated: the module and the shell reached by names built at run time
        ("import importlib\nm = importlib.import_module('p' + 'ty')\nm.spawn(['/usr/bin/' + 'zsh'])", True),
        ("const { spawn } = require('child_process');\nspawn('/bin/bash', [], { stdio: 'inherit' });", True),
        # benign look-alikes: a shell that runs a command, a command without a shell
        ("import subprocess\nsubprocess.run(['bash', '-c', 'ls -l reports/'])", False),
        ("import subprocess\nprint(subprocess.run(['git', 'status'], capture_output=True).stdout)", False),
    ],
)
def test_an_interactive_shell_from_code_escalates(code: str, interactive: bool) -> None:
    """A shell with nothing to run, or a pty for a program, is a foothold's shell, not a task's command."""
    found = _run(code)
    assert ("code.interactive_shell" in {f.rule_id for f in found}) is interactive or (
        interactive and _effect(found) in ("block", "escalate")
    ), found
    if not interactive:
        assert _effect(found) == "allow", found
