"""From source text to observations: pick the language, parse, interpret, cache.

`extract` is pure in its inputs (the source and the language hint), so its result is
cached by source; what depends on the machine (symlinks, DNS, the working directory,
the policy) is decided later by the analyzers the observations are routed to.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from agentgate._decision import Effect, Severity

from ._model import Hit, LimitError, Limits
from ._notebook import split_notebook
from ._python import Shared, analyze_python

__all__ = ["Extraction", "extract"]

LIMITS = Limits()
_DELIMITERS = ",;\n(=.+["


@dataclass(frozen=True, slots=True)
class Extraction:
    """What one source does: the language it was read as and every observation."""

    language: str
    hits: tuple[Hit, ...]


def _finding(rule: str, msg: str, ev: str, line: int = 1, sev: Severity = Severity.MEDIUM) -> Hit:
    return Hit("finding", ev[:200], line, rule=rule, effect=Effect.ESCALATE, severity=sev, message=msg)


def _python(source: str, sh: Shared) -> bool:
    """Analyze as Python (plain, else with IPython syntax pulled out); False when it does not parse."""
    try:
        analyze_python(source, sh)
        return True
    except (SyntaxError, ValueError):
        pass
    if not any(ch in source for ch in "!%"):
        return False
    py, embedded = split_notebook(source)
    try:
        analyze_python(py, sh)
    except (SyntaxError, ValueError):
        return False
    for lang, text, line in embedded:
        _embedded(lang, text, line, sh)
    return True


def _embedded(lang: str, text: str, line: int, sh: Shared) -> None:
    if lang == "shell":
        if text.strip():
            sh.hits.append(Hit("shell", text, line))
    elif lang == "js":
        from ._js import analyze_js

        before = len(sh.hits)
        ok = analyze_js(text, sh)
        sh.hits[before:] = [_relined(h, line) for h in sh.hits[before:]]
        if not ok:
            sh.hits.append(_finding("code.unparsable", "a JavaScript cell that does not parse", text, line))
    elif lang == "writefile":
        if text:
            sh.hits.append(Hit("path", text, line, op="write"))
    elif lang == "load":
        if "://" in text:
            sh.hits.append(Hit("url", text.split()[0], line))
            sh.hits.append(
                Hit(
                    "finding",
                    text[:200],
                    line,
                    rule="code.remote_code",
                    effect=Effect.BLOCK,
                    severity=Severity.HIGH,
                    message="%load pulls code from a URL into the notebook and runs it",
                )
            )
        elif text:
            sh.hits.append(Hit("path", text.split()[0], line, op="read"))
    elif lang == "unknown":
        sh.hits.append(
            _finding("code.unparsable", "a notebook cell in a language the analyzer does not read", text, line)
        )


def _relined(h: Hit, line: int) -> Hit:
    return Hit(h.kind, h.value, line + h.line, h.op, h.exact, h.rule, h.effect, h.severity, h.message, h.obfuscated)


def _finish(sh: Shared) -> tuple[Hit, ...]:
    """Findings that need several facts at once: a socket joined to a shell is a remote shell."""
    f = sh.flags
    why = None
    if "dup2" in f:
        why = "duplicates a socket onto the standard streams (os.dup2(s.fileno(), 0/1/2))"
    elif "sock_stdio" in f:
        why = "starts a process whose standard streams are a network socket"
    elif "socket" in f and ("pty" in f or "shell" in f):
        why = "opens a network socket and starts an interactive shell"
    if why is not None:
        sh.hits.append(
            Hit(
                "finding",
                "socket + shell",
                1,
                rule="code.reverse_shell",
                effect=Effect.BLOCK,
                severity=Severity.CRITICAL,
                message=f"the code {why}: a remote shell for whoever is on the other end",
            )
        )
    elif "pty" in f or "shell" in f:
        # A shell with no command to run, or a terminal allocated for a program: how an interactive
        # shell is set up over whatever channel reaches this process (the TTY upgrade of a foothold).
        # A task's code runs commands; it has no one to hand an interactive shell to.
        what = "allocates a pseudo-terminal for a program (pty.spawn)" if "pty" in f else "starts an interactive shell"
        sh.hits.append(
            Hit(
                "finding",
                "interactive shell",
                1,
                rule="code.interactive_shell",
                effect=Effect.ESCALATE,
                severity=Severity.HIGH,
                message=f"the code {what}: an interactive shell, which no task's code needs; review who it is for",
            )
        )
    return tuple(sh.hits)


def _run(source: str, language: str | None) -> Extraction:
    sh = Shared(LIMITS)
    if len(source) > LIMITS.max_source:
        msg = f"source longer than {LIMITS.max_source // 1024} KiB; not analyzed"
        return Extraction(language or "?", (_finding("code.limit", msg, source[:80]),))
    if sum(source.count(ch) for ch in _DELIMITERS) > LIMITS.max_delimiters:
        msg = f"source denser than {LIMITS.max_delimiters} statements, arguments and elements; not analyzed"
        return Extraction(language or "?", (_finding("code.limit", msg, source[:80]),))
    try:
        if language == "shell":
            sh.hits.append(Hit("shell", source, 1))
            return Extraction("shell", tuple(sh.hits))
        if language in (None, "python") and _python(source, sh):
            return Extraction("python", _finish(sh))
        if language in (None, "js"):
            from ._js import analyze_js

            del sh.hits[:]
            sh.flags.clear()
            if analyze_js(source, sh):
                return Extraction("js", _finish(sh))
    except LimitError as e:
        sh.hits.append(_finding("code.limit", f"analysis stopped: {e}; the rest of the code is unchecked", str(e)))
        return Extraction(language or "?", tuple(sh.hits))
    except (RecursionError, MemoryError):
        sh.hits.append(_finding("code.limit", "the code is nested too deeply to analyze", source[:80]))
        return Extraction(language or "?", tuple(sh.hits))
    what = {"python": "Python", "js": "JavaScript"}.get(language or "", "Python or JavaScript")
    return Extraction(
        language or "?",
        (
            _finding(
                "code.unparsable",
                f"the code does not parse as {what}; what it would do cannot be checked",
                source[:80],
            ),
        ),
    )


_CACHE_SIZE = 2048
_cache: OrderedDict[tuple[str, str | None], Extraction] = OrderedDict()
_lock = threading.Lock()


def extract(source: str, language: str | None) -> Extraction:
    """The observations for *source* read as *language* (``python``/``js``/``shell``/None = detect), cached."""
    key = (source, language)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    ex = _run(source, language)
    with _lock:
        _cache[key] = ex
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return ex
