"""IPython/Jupyter syntax: pull shell escapes and foreign-language cells out of a Python source.

Only used when the source does not parse as plain Python. Lines are replaced by
``pass`` at their indentation (line numbers and blocks stay intact) and returned as
embedded programs:

* ``!cmd``, ``!!cmd``, ``x = !cmd``, ``%system``/``%sx cmd``, ``%%bash``/``%%sh``/
  ``%%script bash`` cells → shell; ``%pip``/``%conda``/``%run``/``%cd`` → the
  equivalent command line (``pip ...``, ``python file``, ``cd dir``);
* ``%%javascript``/``%%js``/``%%script node`` cells → JavaScript;
* ``%%writefile path`` → a write of that path (the body is data);
* ``%load SRC`` → code loaded from a file or URL (a URL is remote code);
* ``%%time``, ``%%capture``, ``%%python`` ... → the body stays Python;
* ``%%html``, ``%%markdown`` ... → text; any other cell language (``%%perl``,
  ``%%ruby``) → ``unknown``, which the analyzer escalates.
"""

from __future__ import annotations

__all__ = ["split_notebook"]

_SHELL_CELLS = frozenset({"bash", "sh", "zsh", "system", "sx", "!"})
_JS_CELLS = frozenset({"javascript", "js"})
_PY_CELLS = frozenset(
    {"python", "python3", "python2", "time", "timeit", "capture", "prun", "debug", "pypy", "memit", "px"}
)
_TEXT_CELLS = frozenset({"html", "markdown", "md", "latex", "svg", "text", "writefile", "file"})
_SCRIPT_SHELL = frozenset({"bash", "sh", "zsh", "dash", "ksh"})
_SCRIPT_JS = frozenset({"node", "nodejs", "js", "deno"})


def _cell_language(magic: str, arg: str) -> str:
    if magic == "script":
        prog = arg.split(None, 1)[0].rsplit("/", 1)[-1] if arg.strip() else ""
        if prog in _SCRIPT_SHELL:
            return "shell"
        if prog in _SCRIPT_JS:
            return "js"
        return "python" if prog.startswith("python") else "unknown"
    if magic in _SHELL_CELLS:
        return "shell"
    if magic in _JS_CELLS:
        return "js"
    if magic in _PY_CELLS:
        return "python"
    if magic in _TEXT_CELLS:
        return "text"
    return "unknown"


def _line_magic(body: str) -> tuple[str, str] | None:
    """``%name args`` → (language, program) for the magics that run something."""
    name, _, arg = body.partition(" ")
    arg = arg.strip()
    if name in ("system", "sx", "sc"):
        return ("shell", arg)
    if name in ("pip", "conda", "mamba", "uv"):
        return ("shell", f"{name} {arg}")
    if name == "run":
        return ("shell", f"python {arg}")
    if name in ("cd", "pushd"):
        return ("shell", f"cd {arg}")
    if name in ("load", "loadpy"):
        return ("load", arg)
    if name in ("env", "set_env") and arg:
        return ("env", arg)
    return None


def split_notebook(source: str) -> tuple[str, list[tuple[str, str, int]]]:
    """(Python source with IPython syntax neutralized, [(language, program, line)])."""
    lines = source.split("\n")
    out: list[str] = []
    found: list[tuple[str, str, int]] = []
    cell_lang: str | None = None
    cell_lines: list[str] = []
    cell_start = 0

    def close() -> None:
        if cell_lang is not None and cell_lang != "python":
            body = "\n".join(cell_lines)
            if cell_lang != "text" or body.strip():
                found.append((cell_lang, body, cell_start))

    for i, line in enumerate(lines, 1):
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if line.startswith("%%"):
            close()
            magic, _, arg = line[2:].partition(" ")
            magic = magic.strip()
            cell_lang = _cell_language(magic, arg)
            if magic in ("writefile", "file"):
                target = arg.replace("-a", "").strip()
                found.append(("writefile", target, i))
            cell_lines, cell_start = [], i
            out.append("")
            continue
        if line.startswith(("# %%", "#%%", "# In[")):
            close()
            cell_lang, cell_lines = None, []
            out.append(line)
            continue
        if cell_lang is not None and cell_lang != "python":
            cell_lines.append(line)
            out.append("")
            continue
        head, eq, rhs = stripped.partition("=")
        if eq and head.strip().isidentifier() and rhs.lstrip().startswith(("!", "%sx", "%system")):
            stripped = rhs.lstrip()
        if stripped.startswith("!"):
            found.append(("shell", stripped.lstrip("!"), i))
            out.append(indent + "pass")
        elif stripped.startswith("%"):
            lm = _line_magic(stripped[1:])
            if lm is not None:
                found.append((lm[0], lm[1], i))
            out.append(indent + "pass")
        elif stripped.endswith("?") and stripped[:-1].replace(".", "").replace("?", "").isidentifier():
            out.append(indent + "pass")  # obj? / obj?? help
        else:
            out.append(line)
    close()
    return "\n".join(out), found
