"""Shell parsing for the shell analyzer: the word/command model, the fast lexer, bashlex and shlex fallbacks."""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# ------------------------------------------------------------------------------ model


@dataclass(frozen=True, slots=True)
class Word:
    """One shell word: *text* without quotes (expansions kept as written), *raw* source."""

    text: str
    raw: str
    dynamic: bool = False  # holds a parameter expansion or a substitution
    subs: tuple[tuple[str, Script], ...] = ()  # ("$(", script) / ("`", ...) / ("<(", ...) / (">(", ...)


@dataclass(frozen=True, slots=True)
class Redirect:
    """A redirection: ``op`` (``>``, ``>>``, ``<``, ``>&``, ``<<<``, ``<<`` ...) and its target word."""

    op: str
    target: Word | None
    heredoc: str | None = None


@dataclass(frozen=True, slots=True)
class Cmd:
    """A simple command (``words``), or a compound stage (``body``: subshell, loop, group)."""

    words: tuple[Word, ...] = ()
    redirects: tuple[Redirect, ...] = ()
    assigns: tuple[tuple[str, Word], ...] = ()
    body: Script | None = None


Pipeline = tuple[Cmd, ...]
Script = tuple[Pipeline, ...]

# ------------------------------------------------------------------------- fast lexer


class _BailError(Exception):
    """The fast lexer met syntax it leaves to bashlex."""


_RESERVED = frozenset(
    [
        "if",
        "then",
        "else",
        "elif",
        "fi",
        "for",
        "while",
        "until",
        "do",
        "done",
        "case",
        "esac",
        "function",
        "select",
        "time",
        "coproc",
        "[[",
        "]]",
        "{",
        "}",
        "!",
    ]
)
_FLAT = frozenset({"if", "then", "elif", "else", "fi", "for", "while", "until", "do", "done", "!", "time"})
_NAME = re.compile(r"[A-Za-z_]\w*")
_ASSIGN = re.compile(r"([A-Za-z_]\w*)\+?=")


def _fast(s: str) -> Script:
    """Lex the common subset exactly; raise `_BailError` for everything else."""
    pipelines: list[Pipeline] = []
    stages: list[Cmd] = []
    words: list[Word] = []
    redirs: list[Redirect] = []
    assigns: list[tuple[str, Word]] = []
    i, n = 0, len(s)

    def end_cmd() -> None:
        nonlocal words, redirs, assigns
        if words or redirs or assigns:
            stages.append(Cmd(tuple(words), tuple(redirs), tuple(assigns)))
        elif stages:
            raise _BailError
        words, redirs, assigns = [], [], []

    def end_pipeline() -> None:
        nonlocal stages
        end_cmd()
        if stages:
            pipelines.append(tuple(stages))
        stages = []

    def read_word() -> Word | None:
        nonlocal i
        start = i
        buf: list[str] = []
        m = _PLAIN.match(s, i)
        if m is not None:
            i = m.end()
            if i == n or s[i] in " \t\n;&|<>()":
                # Most words are plain characters up to a separator: nothing to join or unquote.
                text = m.group()
                return Word(text, text)
            buf.append(m.group())
        subs: list[tuple[str, Script]] = []
        dyn = False
        while i < n:
            m = _PLAIN.match(s, i)
            if m:
                buf.append(m.group())
                i = m.end()
                continue
            c = s[i]
            if c in " \t\n;&|<>()":
                break
            if c == "`" or s.startswith("$(", i):
                i = _substitute(s, i, buf, subs)
                dyn = True
            elif c == "'":
                j = s.find("'", i + 1)
                if j < 0:
                    raise _BailError
                buf.append(s[i + 1 : j])
                i = j + 1
            elif c == '"':
                i += 1
                while True:
                    if i >= n:
                        raise _BailError
                    c = s[i]
                    if c == '"':
                        i += 1
                        break
                    if c == "\\" and i + 1 < n and s[i + 1] in '$`"\\\n':
                        buf.append(s[i + 1])
                        i += 2
                    elif c == "`" or s.startswith("$(", i):
                        i = _substitute(s, i, buf, subs)
                        dyn = True
                    elif c == "$":
                        dyn = dyn or _dollar(s, i)
                        buf.append(c)
                        i += 1
                    else:
                        buf.append(c)
                        i += 1
            elif c == "\\":
                if i + 1 >= n:
                    raise _BailError
                if s[i + 1] != "\n":
                    buf.append(s[i + 1])
                i += 2
            elif c in "{}":
                if c == "{" and s.startswith("{}", i):
                    buf.append("{}")
                    i += 2
                    continue
                raise _BailError
            elif c == "$":
                if i + 1 < n and s[i + 1] in "'\"":
                    raise _BailError
                dyn = dyn or _dollar(s, i)
                buf.append(c)
                i += 1
            elif c == "#" and i == start:
                j = s.find("\n", i)
                i = n if j < 0 else j
                return None
            else:
                buf.append(c)
                i += 1
        if i == start:
            return None
        return Word("".join(buf), s[start:i], dyn, tuple(subs))

    hd_nl = hd_end = -1  # the newline ending a line with here-documents; where lexing resumes

    def redirect() -> None:
        nonlocal i, hd_nl, hd_end
        m = _REDIR_OP.match(s, i)
        if m is None or s.startswith("(", m.end()):
            raise _BailError
        op = m.group()
        strip = op == "<<" and s.startswith("-", m.end())
        i = m.end() + strip
        while i < n and s[i] in " \t":
            i += 1
        w = read_word()
        if w is None:
            raise _BailError
        if op != "<<":
            redirs.append(Redirect(op, w))
            return
        # A here-document: its body starts on the next line (after any earlier body on this line).
        if hd_nl < 0:
            hd_nl = s.find("\n", i)
            if hd_nl < 0:
                raise _BailError
            hd_end = hd_nl + 1
        start = pos = hd_end
        while pos < n:
            eol = s.find("\n", pos)
            line = s[pos : n if eol < 0 else eol]
            if (line.lstrip("\t") if strip else line) == w.text:
                hd_end = n if eol < 0 else eol + 1
                break
            pos = n if eol < 0 else eol + 1
        else:
            hd_end = n  # unterminated: bash reads to the end
        body_end = pos if pos < n else n
        redirs.append(Redirect("<<", w, s[start:body_end]))

    while i < n:
        c = s[i]
        if c in " \t":
            i += 1
        elif c not in "\n;|&<>()":
            # A word (tested first: most characters start one); the branches below are operators.
            start = i
            m = _PLAIN.match(s, i)
            w: Word | None
            if m is not None and ((j := m.end()) == n or s[j] in " \t\n;&|<>()"):
                # The common plain word, without a call into read_word.
                i = j
                text = m.group()
                w = Word(text, text)
            else:
                w = read_word()
            if w is None:
                continue
            if i < n and s[i] in "<>" and w.text.isdigit() and w.raw == w.text:
                redirect()  # "2>file": the digits are a descriptor
                continue
            if not words:
                if not assigns and w.raw in _FLAT:
                    # Loop and condition keywords only frame commands; the words after them are one.
                    if w.raw == "for":
                        words.append(Word(":", ":"))  # the header's words are checked as arguments of ":"
                    continue
                if w.raw in _RESERVED:
                    raise _BailError
            if i < n and s[i] == "(":
                raise _BailError
            if not words and "=" in w.raw and (m := _ASSIGN.match(s, start)) and m.end() <= i:
                assigns.append(
                    (m.group(1), Word(w.text[w.text.index("=") + 1 :], w.raw[m.end() - start :], w.dynamic, w.subs))
                )
            else:
                words.append(w)
        elif c == "\n" or c == ";":
            if s.startswith(";;", i) or s.startswith(";&", i):
                raise _BailError
            end_pipeline()
            if i == hd_nl:
                i, hd_nl = hd_end, -1  # skip the here-document bodies
            else:
                i += 1
        elif c == "|" or c == "&":
            two = s[i : i + 2]
            if two in ("||", "&&"):
                end_pipeline()
                i += 2
            elif two == "|&" or c == "|":
                if not (words or redirs or assigns):
                    raise _BailError
                end_cmd()
                i += 2 if two == "|&" else 1
            elif two == "&>":
                redirect()
            else:
                end_pipeline()
                i += 1
        elif c in "<>" and s.startswith("(", i + 1):
            j = _close_paren(s, i + 2)
            words.append(Word(s[i : j + 1], s[i : j + 1], True, ((s[i : i + 2], _fast(s[i + 2 : j])),)))
            i = j + 1
        elif c in "<>":
            redirect()
        else:  # "(" or ")": subshells and groups are bashlex's
            raise _BailError
    end_pipeline()
    return tuple(pipelines)


_PLAIN = re.compile(r"[^\s;&|<>()'\"\\$`{}#]+")


def _close_paren(s: str, j: int) -> int:
    """Index of the ``)`` closing the ``(`` just before *j* (quotes and nesting respected)."""
    depth, n = 1, len(s)
    while j < n:
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c in "'\"":
            k = j + 1
            while k < n and s[k] != c:
                k += 2 if c == '"' and s[k] == "\\" else 1
            if k >= n:
                raise _BailError
            j = k + 1
            continue
        if c == "`":
            raise _BailError
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j
        j += 1
    raise _BailError


def _substitute(s: str, i: int, buf: list[str], subs: list[tuple[str, Script]]) -> int:
    """Lex a ``$( )`` or backtick substitution at *i*; return the index after it."""
    if s[i] == "`":
        j = s.find("`", i + 1)
        if j < 0 or "\\" in s[i + 1 : j]:
            raise _BailError
        subs.append(("`", _fast(s[i + 1 : j])))
    else:
        if s.startswith("$((", i):
            raise _BailError
        j = _close_paren(s, i + 2)
        subs.append(("$(", _fast(s[i + 2 : j])))
    buf.append(s[i : j + 1])
    return j + 1


def _dollar(s: str, i: int) -> bool:
    """Classify a ``$`` at *i*: expansions the fast lexer models are dynamic; the rest bail."""
    nxt = s[i + 1 : i + 2]
    if nxt == "(" or nxt == "[":
        raise _BailError
    if nxt == "{":
        j = s.find("}", i)
        if j < 0 or not _NAME.fullmatch(s[i + 2 : j]):
            raise _BailError
        return True
    return bool(nxt) and (nxt.isalnum() or nxt in "_@*#?$!-")


_REDIR_OP = re.compile(r"&>>|&>|>>|>\||>&|<&|<<<|<>|<<|>|<")


# ---------------------------------------------------------------------------- bashlex


def _bl_word(node: object, s: str) -> Word:
    text = getattr(node, "word", "")
    pos = getattr(node, "pos", (0, 0))
    subs: list[tuple[str, Script]] = []
    dyn = False
    for part in getattr(node, "parts", None) or ():
        kind = part.kind
        if kind == "parameter":
            dyn = True
        elif kind in ("commandsubstitution", "processsubstitution"):
            dyn = True
            raw = s[part.pos[0] : part.pos[1]]
            tag = "`" if raw.startswith("`") else raw[:2]
            subs.append((tag, _bl_script(part.command, s)))
    return Word(text, s[pos[0] : pos[1]], dyn, tuple(subs))


def _bl_target(out: object, s: str) -> Word | None:
    if hasattr(out, "kind"):
        return _bl_word(out, s)
    return Word(str(out), str(out)) if isinstance(out, int) else None  # "2>&1": a descriptor


def _bl_cmd(node: object, s: str) -> Cmd:
    kind = getattr(node, "kind", "")
    if kind != "command":
        return Cmd(body=_bl_script(node, s))
    words: list[Word] = []
    redirs: list[Redirect] = []
    assigns: list[tuple[str, Word]] = []
    for part in node.parts:  # type: ignore[attr-defined]
        if part.kind == "word":
            words.append(_bl_word(part, s))
        elif part.kind == "assignment":
            w = _bl_word(part, s)
            name, _, value = w.text.partition("=")
            assigns.append((name.rstrip("+"), Word(value, w.raw[w.raw.find("=") + 1 :], w.dynamic, w.subs)))
        elif part.kind == "redirect":
            out = part.output
            target = _bl_target(out, s)
            hd = getattr(part, "heredoc", None)
            redirs.append(Redirect(part.type, target, getattr(hd, "value", None)))
    return Cmd(tuple(words), tuple(redirs), tuple(assigns))


def _bl_script(node: object, s: str) -> Script:
    out: list[Pipeline] = []
    _bl_collect(node, s, out)
    return tuple(out)


def _bl_collect(node: object, s: str, out: list[Pipeline]) -> None:
    kind = getattr(node, "kind", "")
    if kind == "command":
        out.append((_bl_cmd(node, s),))
    elif kind == "pipeline":
        out.append(tuple(_bl_cmd(p, s) for p in node.parts if p.kind != "pipe"))  # type: ignore[attr-defined]
    elif kind == "compound":
        for p in node.list:  # type: ignore[attr-defined]
            _bl_collect(p, s, out)
        redirs = tuple(Redirect(r.type, _bl_target(r.output, s)) for r in getattr(node, "redirects", ()) or ())
        if redirs:
            out.append((Cmd(redirects=redirs),))
    elif kind in ("for", "while", "until", "if", "function"):
        for p in node.parts:  # type: ignore[attr-defined]
            if p.kind == "word" and kind in ("for", "function"):
                w = _bl_word(p, s)
                if w.subs:  # "for x in $(curl ...)": the substitution runs
                    out.append((Cmd((Word(":", ":"), w)),))
            elif p.kind not in ("reservedword", "operator", "pipe", "word"):
                _bl_collect(p, s, out)
    elif kind == "list":
        for p in node.parts:  # type: ignore[attr-defined]
            _bl_collect(p, s, out)


# ------------------------------------------------------------------------------ parse


def _bashlex_safe(command: str) -> bool:
    """Whether to hand *command* to bashlex: not when it is too long to parse quickly."""
    return len(command) <= 16384


_bashlex_module: Any = None


def _bashlex() -> Any:
    """bashlex, with a guard against the one input it never returns from.

    bashlex 0.18's ``_paramexpand`` loops forever on a ``${`` with no ``}`` after it in
    the word (``string.find`` returns -1 and the scan restarts); the guard raises
    instead, so the shlex fallback takes the command. Found by fuzzing.
    """
    global _bashlex_module
    if _bashlex_module is None:
        import bashlex
        import bashlex.subst as subst

        original = subst._paramexpand
        if not getattr(original, "agentgate_guard", False):

            def paramexpand(parserobj: Any, string: str, sindex: int) -> Any:
                if string.startswith("${", sindex) and string.find("}", sindex + 2) < 0:
                    raise ValueError("unterminated ${")
                return original(parserobj, string, sindex)

            paramexpand.agentgate_guard = True  # type: ignore[attr-defined]
            subst._paramexpand = paramexpand
        _bashlex_module = bashlex
    return _bashlex_module


_ARITH = re.compile(r"\$\(\((?:[^()]|\([^()]*\))*\)\)")


def _shlex(s: str) -> Script:
    lex = shlex.shlex(s, posix=True, punctuation_chars=";&|<>()")
    lex.whitespace_split = True
    lex.commenters = "#"
    pipelines: list[Pipeline] = []
    stages: list[Cmd] = []
    words: list[Word] = []
    redirs: list[Redirect] = []
    toks = list(lex)
    k = 0
    while k < len(toks):
        t = toks[k]
        if t and set(t) <= set(";&|()"):
            if words or redirs:
                stages.append(Cmd(tuple(words), tuple(redirs)))
            words, redirs = [], []
            if t in ("|", "|&"):
                k += 1
                continue
            if stages:
                pipelines.append(tuple(stages))
            stages = []
        elif t and set(t) <= set("<>&") and k + 1 < len(toks):
            redirs.append(Redirect(t, Word(toks[k + 1], toks[k + 1], "$" in toks[k + 1])))
            k += 1
        else:
            if words or t not in _RESERVED:  # "then cat x": the command is cat
                words.append(Word(t, t, "$" in t or "`" in t))
        k += 1
    if words or redirs:
        stages.append(Cmd(tuple(words), tuple(redirs)))
    if stages:
        pipelines.append(tuple(stages))
    return tuple(pipelines)


@functools.lru_cache(maxsize=4096)
def parse(command: str) -> tuple[Script | None, str]:
    """Parse *command*; returns ``(script, parser)`` with parser ``fast``, ``bashlex``, ``shlex`` or ``none``.

    >>> parse("ls -la | wc -l")[1], parse("(cd build && make)")[1], parse("echo 'open")[1]
    ('fast', 'bashlex', 'none')
    """
    if "$((" in command:
        # Arithmetic expansion is a number; without a substitution inside it hides no command.
        command = _ARITH.sub(
            lambda m: "0" if "$(" not in m.group()[3:] and "`" not in m.group() else m.group(), command
        )
    try:
        return _fast(command), "fast"
    except _BailError:
        pass
    if _bashlex_safe(command):
        try:
            bashlex = _bashlex()
            return tuple(p for node in bashlex.parse(command) for p in _bl_script(node, command)), "bashlex"
        except Exception:  # noqa: S110 - bashlex raises many types; shlex below decides
            pass
    try:
        return _shlex(command), "shlex"
    except ValueError:
        return None, "none"


def _iter_commands(script: Script) -> Iterator[Cmd]:
    """Every simple command of *script*, nested bodies and substitutions included (for tests and tools)."""
    for pl in script:
        for c in pl:
            if c.body is not None:
                yield from _iter_commands(c.body)
            else:
                yield c
                for w in c.words:
                    for _tag, sub in w.subs:
                        yield from _iter_commands(sub)
