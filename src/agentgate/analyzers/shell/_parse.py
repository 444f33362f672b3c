"""Shell parsing: tree-sitter-bash into the analyzer's small model (words, commands, pipelines).

One grammar reads every command: ``tree-sitter-bash`` (a C parser, microseconds per
command). What the model keeps is what bash would run: the simple commands of every
pipeline and list, loop, condition, function body, subshell, ``$( )``/backtick/``<( )``
substitution and here-document.

Where the grammar and bash could disagree, we do not guess:

* a backslash-newline is removed before parsing, as bash's reader does (outside
  single quotes and comments), so ``r\\<newline>m`` is ``rm``;
* an ``ERROR`` or missing node, a node type the walk does not model, or source text no
  node accounts for (the grammar silently drops some words) marks the parse
  ``error``: the analyzer escalates instead of allowing what it may have misread.
  The one drop we repair is plain words between a command and its here-document
  (``python3 - <<EOF``), which tree-sitter-bash 0.25 leaves out of the tree.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import NamedTuple

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

# ------------------------------------------------------------------------------ model


# NamedTuples, not dataclasses: a command line builds dozens of these, and tuple construction is
# several times cheaper than a frozen dataclass's __init__ (immutability is the same).
class Word(NamedTuple):
    """One shell word: *text* without quotes (expansions kept as written), *raw* source."""

    text: str
    raw: str
    dynamic: bool = False  # holds a parameter expansion or a substitution
    subs: tuple[tuple[str, Script], ...] = ()  # ("$(", script) / ("`", ...) / ("<(", ...) / (">(", ...)
    sub_raws: tuple[str, ...] = ()  # the source of each substitution, aligned with subs


class Redirect(NamedTuple):
    """A redirection: ``op`` (``>``, ``>>``, ``<``, ``>&``, ``<<<``, ``<<`` ...) and its target word."""

    op: str
    target: Word | None
    heredoc: str | None = None


class Cmd(NamedTuple):
    """A simple command (``words``), or a compound stage (``body``: subshell, loop, group)."""

    words: tuple[Word, ...] = ()
    redirects: tuple[Redirect, ...] = ()
    assigns: tuple[tuple[str, Word], ...] = ()
    body: Script | None = None


Pipeline = tuple[Cmd, ...]
Script = tuple[Pipeline, ...]

# ---------------------------------------------------------------------------- grammar

_PARSER = Parser(Language(tree_sitter_bash.language()))

_REDIR_OPS = frozenset({">", ">>", "<", ">&", "<&", "&>", "&>>", ">|", "<>", "<&-", ">&-"})
_REDIR_NODES = frozenset({"file_redirect", "heredoc_redirect", "herestring_redirect"})
# Statement containers whose bodies are flattened into the script (their headers become ":" commands).
_COMPOUND = frozenset(
    {
        "if_statement",
        "elif_clause",
        "else_clause",
        "while_statement",
        "for_statement",
        "c_style_for_statement",
        "case_statement",
        "case_item",
        "compound_statement",
        "subshell",
        "do_group",
        "function_definition",
        "negated_command",
        "test_command",
    }
)
_WORDISH = frozenset(
    {
        "word",
        "string",
        "raw_string",
        "ansi_c_string",
        "translated_string",
        "concatenation",
        "simple_expansion",
        "expansion",
        "command_substitution",
        "process_substitution",
        "arithmetic_expansion",
        "number",
        "brace_expression",
        "extglob_pattern",
        "regex",
        "special_variable_name",
        "variable_name",
        "array",
        "test_operator",
        "file_descriptor",
    }
)
# Nodes inside headers (conditions, case patterns, arithmetic) whose words are only collected.
_EXPRESSIONS = frozenset(
    {
        "binary_expression",
        "unary_expression",
        "ternary_expression",
        "parenthesized_expression",
        "postfix_expression",
        "subscript",
    }
)
_STATEMENTS = (
    frozenset(
        {
            "command",
            "pipeline",
            "list",
            "redirected_statement",
            "variable_assignment",
            "variable_assignments",
            "declaration_command",
            "unset_command",
        }
    )
    | _COMPOUND
)
_SKIP = frozenset({"comment", "heredoc_body", "heredoc_start", "heredoc_end", "heredoc_content"})
# Limits that bound tier-1 time on adversarial input (a parse error escalates, it never allows).
_MAX_DEPTH = 24
_MAX_COMMANDS = 1500  # words and commands
_BLANK = frozenset(b" \t\n")
_PLAIN_GAP = re.compile(r"[^\s;&|<>()'\"\\$`{}#]+")
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_DQ_ESCAPE = re.compile(r"\\([$`\"\\\n])")
_ANSI = re.compile(r"\\(x[0-9a-fA-F]{1,2}|u[0-9a-fA-F]{1,4}|U[0-9a-fA-F]{1,8}|[0-7]{1,3}|c.|.)", re.DOTALL)
_ANSI_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "v": "\v"}


def _ansi_char(m: re.Match[str]) -> str:
    e = m.group(1)
    c = e[0]
    if c in "xuU":
        return chr(min(int(e[1:], 16), 0x10FFFF))
    if c.isdigit():
        return chr(int(e, 8) & 0xFF)
    if c == "c":
        return chr(ord(e[1]) & 0x1F)
    return _ANSI_SIMPLE.get(c, e)


def ansi_c_decode(body: str) -> str:
    r"""The value of ``$'...'`` (without the ``$'`` and ``'``): bash's ANSI-C escapes.

    >>> ansi_c_decode(r"\x72\155")
    'rm'
    """
    return _ANSI.sub(_ansi_char, body)


def _join_continuations(s: str) -> str:
    """Remove backslash-newline pairs the way bash's reader does: not in single quotes or comments."""
    out: list[str] = []
    i, n = 0, len(s)
    quote = ""  # "'", '"' or "$'" while inside one
    start_of_word = True
    while i < n:
        c = s[i]
        if quote == "'":
            j = s.find("'", i)
            if j < 0:
                out.append(s[i:])
                break
            out.append(s[i : j + 1])
            i, quote, start_of_word = j + 1, "", False
            continue
        if c == "\\" and i + 1 < n:
            if s[i + 1] == "\n" and quote != "$'":
                i += 2
                continue
            out.append(s[i : i + 2])
            i += 2
            start_of_word = False
            continue
        if quote:
            if c == quote[-1]:
                quote = ""
            out.append(c)
            i += 1
            continue
        if c == "#" and start_of_word:
            j = s.find("\n", i)
            j = n if j < 0 else j
            out.append(s[i:j])
            i = j
            continue
        if c == "'" or c == '"':
            quote = "$'" if c == "'" and out and out[-1].endswith("$") else c
        out.append(c)
        start_of_word = c in " \t\n;&|()<>"
        i += 1
    return "".join(out)


# ------------------------------------------------------------------------ conversion


class _Converter:
    """Builds the model from one tree; sets ``error`` on anything it cannot vouch for."""

    __slots__ = ("ascii", "budget", "depth", "error", "s", "src")

    def __init__(self, src: bytes, string: str) -> None:
        self.src = src
        self.s = string
        self.ascii = len(src) == len(string)  # byte offsets are string offsets: slice without decoding
        self.error = ""
        self.depth = 0  # nested substitutions and bodies being converted
        self.budget = _MAX_COMMANDS  # simple commands left to convert

    def text(self, n: Node) -> str:
        if self.ascii:
            return self.s[n.start_byte : n.end_byte]
        return self.src[n.start_byte : n.end_byte].decode("utf-8", "surrogateescape")

    def fail(self, why: str) -> None:
        if not self.error:
            self.error = why

    def gaps(self, n: Node, children: list[Node]) -> None:
        """Source bytes between *n*'s children that no child covers must be blanks."""
        prev = n.start_byte
        src = self.src
        for c in children:
            start = c.start_byte
            if start > prev and (start - prev > 1 or src[prev] not in _BLANK) and src[prev:start].strip():
                self.fail(f"text the grammar skipped: {src[prev:start].decode(errors='replace')!r}")
            end = c.end_byte
            if end > prev:
                prev = end
        if n.end_byte > prev and self.src[prev : n.end_byte].strip():
            self.fail(f"text the grammar skipped: {self.src[prev : n.end_byte].decode(errors='replace')!r}")

    # -- statements

    def script(self, n: Node) -> Script:
        if self.depth >= _MAX_DEPTH:
            self.fail(f"commands nest more than {_MAX_DEPTH} levels deep")
            return ()
        out: list[Pipeline] = []
        self.depth += 1
        self.stmts(n, out)
        self.depth -= 1
        return tuple(out)

    def stmts(self, n: Node, out: list[Pipeline]) -> None:
        children = n.children
        self.gaps(n, children)
        for c in children:
            self.stmt(c, out)

    def stmt(self, c: Node, out: list[Pipeline]) -> None:
        if self.depth >= _MAX_DEPTH * 2:
            self.fail(f"commands nest more than {_MAX_DEPTH} levels deep")
            return
        self.depth += 1
        try:
            self._stmt(c, out)
        finally:
            self.depth -= 1

    def _stmt(self, c: Node, out: list[Pipeline]) -> None:
        t = c.type
        if t == "command":
            out.append((self.cmd(c),))
        elif t == "pipeline":
            after: list[Pipeline] = []
            out.append(tuple(self.pipeline(c, after)))
            out.extend(after)
        elif t == "list":
            self.stmts(c, out)
        elif t == "redirected_statement":
            after = []
            out.append(tuple(self.redirected(c, after)))
            out.extend(after)
        elif t in ("variable_assignment", "variable_assignments"):
            out.append((Cmd(assigns=tuple(self.assigns(c))),))
        elif t in ("declaration_command", "unset_command"):
            out.append((self.declaration(c),))
        elif t in _COMPOUND:
            self.compound(c, out)
        elif t == "ERROR" or c.is_missing:
            self.fail("the command does not parse")
            self.recover(c, out)
        elif t in _SKIP or not c.is_named:
            return
        elif t in _WORDISH:
            out.append((Cmd((Word(":", ":"), self.word(c))),))
        else:
            self.fail(f"shell construct {t} is not modelled")
            self.recover(c, out)

    def recover(self, n: Node, out: list[Pipeline]) -> None:
        """Best effort inside an error: statements as statements, stray words as one command."""
        raw = self.text(n)
        if n.type == "ERROR" and raw and not any(ch.isspace() for ch in raw):
            out.append((Cmd((Word(raw, raw, "$" in raw or "`" in raw),)),))  # "{ls,-la}": one word
            return
        words: list[Word] = []
        for c in n.children:
            t = c.type
            if t in _STATEMENTS or t == "ERROR":
                self.stmt(c, out)
            elif t == "command_name":
                words.extend(self.word(x) for x in c.children if x.is_named)
            elif t in _WORDISH:
                words.append(self.word(c))
        if words:
            out.append((Cmd(tuple(words)),))

    def compound(self, c: Node, out: list[Pipeline]) -> None:
        """Loops, conditions, groups, functions: the header's words are checked as arguments of ``:``."""
        children = c.children
        self.gaps(c, children)
        header: list[Word] = []
        for x in children:
            t = x.type
            if t in _STATEMENTS or t == "ERROR":
                self.stmt(x, out)
            elif t in _WORDISH:
                if c.type != "function_definition":  # a function's name is not run here
                    header.append(self.word(x))
            elif t in _EXPRESSIONS:
                header.extend(self.collect_words(x))
            elif t in _REDIR_NODES:
                # "while read l; do ...; done < f" (rare outside redirected_statement)
                self.fail(f"redirection inside {c.type} is not modelled")
            elif x.is_missing:
                self.fail("the command is incomplete")
            elif x.is_named and t not in _SKIP:
                self.fail(f"shell construct {t} is not modelled")
        if header:
            out.append((Cmd((Word(":", ":"), *header)),))

    def collect_words(self, n: Node) -> list[Word]:
        out: list[Word] = []
        for x in n.children:
            if x.type in _WORDISH:
                out.append(self.word(x))
            elif x.type in _EXPRESSIONS:
                out.extend(self.collect_words(x))
            elif x.type == "ERROR" or x.is_missing:
                self.fail("the command does not parse")
        return out

    def stage(self, c: Node, out: list[Cmd], after: list[Pipeline]) -> None:
        t = c.type
        if t == "command":
            out.append(self.cmd(c))
        elif t == "pipeline":
            out.extend(self.pipeline(c, after))
        elif t == "redirected_statement":
            out.extend(self.redirected(c, after))
        elif t in _COMPOUND:
            body: list[Pipeline] = []
            self.compound(c, body)
            out.append(Cmd(body=tuple(body)))
        elif t in _STATEMENTS:
            body = []
            self.stmt(c, body)
            out.append(Cmd(body=tuple(body)))
        elif t == "ERROR" or c.is_missing:
            self.fail("the command does not parse")
            body = []
            self.recover(c, body)
            out.append(Cmd(body=tuple(body)))
        elif c.is_named and t not in _SKIP:
            self.fail(f"shell construct {t} is not modelled in a pipeline")

    def pipeline(self, n: Node, after: list[Pipeline]) -> list[Cmd]:
        stages: list[Cmd] = []
        children = n.children
        self.gaps(n, children)
        pending: str | None = None
        for c in children:
            t = c.type
            if not c.is_named:
                if t in _REDIR_OPS:
                    pending = t
                continue
            if pending is not None and stages:
                # A redirection written inline in the pipeline node belongs to its last stage.
                last = stages[-1]
                stages[-1] = Cmd(
                    last.words, (*last.redirects, Redirect(pending, self.word(c))), last.assigns, last.body
                )
                pending = None
                continue
            if t in _REDIR_NODES and stages:
                last = stages[-1]
                extra = self.redirects(c, stages, after)
                stages[-1] = Cmd(last.words, (*last.redirects, *extra), last.assigns, last.body)
                continue
            self.stage(c, stages, after)
        return stages

    def redirected(self, n: Node, after: list[Pipeline]) -> list[Cmd]:
        """A statement with redirections; a here-document may carry the rest of the line (``| sh``, ``&& x``)."""
        children = n.children
        stages: list[Cmd] = []
        redirs: list[Redirect] = []
        prev = n.start_byte
        body_seen = False
        owner = 0  # the stage the trailing redirections belong to
        for c in children:
            gap = self.src[prev : c.start_byte]
            if gap.strip():
                words = gap.split()
                if (
                    body_seen
                    and len(stages) == 1
                    and stages[0].body is None
                    and all(_PLAIN_GAP.fullmatch(w.decode("utf-8", "surrogateescape")) for w in words)
                ):
                    # tree-sitter-bash drops plain words between a command and its here-document.
                    extra = tuple(Word(w.decode(), w.decode()) for w in words)
                    first = stages[0]
                    stages[0] = Cmd((*first.words, *extra), first.redirects, first.assigns)
                else:
                    self.fail(f"text the grammar skipped: {gap.decode(errors='replace')!r}")
            prev = max(prev, c.end_byte)
            t = c.type
            if t in _REDIR_NODES:
                redirs.extend(self.redirects(c, stages, after))
            elif not c.is_named:
                continue
            elif not body_seen:
                body_seen = True
                self.stage(c, stages, after)
                if t == "pipeline":
                    owner = len(stages) - 1  # "a | b > f": the file is b's output
            else:
                self.fail(f"shell construct {t} after a redirection is not modelled")
        if self.src[prev : n.end_byte].strip():
            self.fail("text the grammar skipped after a redirection")
        if not stages:
            return [Cmd(redirects=tuple(redirs))]
        # The redirections written after a simple command apply to it (a here-document's "| sh"
        # continuation comes after it), after a pipeline to its last stage, after a compound to it whole.
        first = stages[owner]
        stages[owner] = Cmd(first.words, (*first.redirects, *redirs), first.assigns, first.body)
        return stages

    def redirects(self, n: Node, stages: list[Cmd], after: list[Pipeline]) -> list[Redirect]:
        """The redirections of one redirect node; a here-document's continuation goes to *stages*/*after*."""
        out: list[Redirect] = []
        t = n.type
        children = n.children
        if t == "heredoc_redirect":
            op = "<<"
            strip = False
            delim: Node | None = None
            body = ""
            body_subs: list[tuple[str, Script]] = []
            body_raws: list[str] = []
            tail: list[Redirect] = []
            for c in children:
                ct = c.type
                if ct in ("<<", "<<-"):
                    strip = ct == "<<-"
                elif ct == "heredoc_start":
                    delim = c
                    if c.child_count:
                        tail.extend(self.inline_redirects(c))
                elif ct == "heredoc_body":
                    body = self.text(c)
                    if delim is not None and not any(q in self.text(delim) for q in "'\"\\"):
                        for sub in self.subs_in(c):
                            body_subs.append(sub[0])
                            body_raws.append(sub[1])
                elif ct == "pipeline":
                    # "cat <<EOF | sh": the pipe continues the pipeline of the command.
                    self.gaps(c, c.children)
                    for x in c.children:
                        if x.is_named:
                            self.stage(x, stages, after)
                elif ct == "file_redirect":
                    tail.extend(self.redirects(c, stages, after))
                elif ct in _STATEMENTS:
                    # "cat <<EOF && sh x": a list continues after the here-document's command.
                    rest: list[Pipeline] = []
                    self.stmt(c, rest)
                    after.extend(rest)
                elif ct in ("&&", "||", ";", "&", "|", "heredoc_end", "heredoc_content"):
                    continue
                elif ct == "ERROR" or c.is_missing:
                    self.fail("the here-document does not parse")
                elif c.is_named:
                    self.fail(f"shell construct {ct} in a here-document is not modelled")
            if strip:
                body = "\n".join(line.lstrip("\t") for line in body.split("\n"))
            word = self.word(delim) if delim is not None else Word("", "")
            target = Word(word.text, word.raw, bool(body_subs), tuple(body_subs), tuple(body_raws))
            out.append(Redirect(op, target, body))
            out.extend(tail)
            return out
        if t == "herestring_redirect":
            for c in children:
                if c.is_named:
                    out.append(Redirect("<<<", self.word(c)))
            return out
        return self.inline_redirects(n)

    def inline_redirects(self, n: Node) -> list[Redirect]:
        """``[fd] op target`` sequences among *n*'s children (file_redirect, or written inline)."""
        out: list[Redirect] = []
        op: str | None = None
        for c in n.children:
            t = c.type
            if t in _REDIR_OPS:
                op = t
            elif t == "file_descriptor":
                continue
            elif t == "ERROR" or c.is_missing:
                self.fail("a redirection does not parse")
            elif op is not None and c.is_named:
                out.append(Redirect(op, self.word(c)))
                op = None
        if op is not None:
            out.append(Redirect(op, None))
            if op not in ("<&-", ">&-"):
                self.fail("a redirection has no target")
        return out

    def cmd(self, n: Node) -> Cmd:
        self.budget -= 1
        if self.budget < 0:
            # Bounded cost: past the budget the rest is not modelled, and the command escalates.
            self.fail(f"more than {_MAX_COMMANDS} commands: the rest is not analyzed")
            return Cmd()
        words: list[Word] = []
        redirs: list[Redirect] = []
        assigns: list[tuple[str, Word]] = []
        op: str | None = None
        prev = n.start_byte
        src = self.src
        for c in n.children:
            start = c.start_byte
            # One blank between words is the common gap: test it without slicing.
            if start > prev and (start - prev > 1 or src[prev] not in _BLANK) and src[prev:start].strip():
                self.fail(f"text the grammar skipped: {src[prev:start].decode(errors='replace')!r}")
            prev = c.end_byte
            t = c.type
            if t == "word":
                self.budget -= 1
                if self.budget < 0:
                    break  # bounded cost; reported below
                raw = self.text(c)
                words.append(
                    Word(_ESCAPE.sub(r"\1", raw), raw, "$" in raw) if "\\" in raw else Word(raw, raw, "$" in raw)
                )
            elif t == "command_name":
                for x in c.children:
                    if x.is_named:
                        words.append(self.word(x))
            elif t == "variable_assignment":
                name, w = self.assignment(c)
                if words:
                    words.append(Word(f"{name}={w.text}", self.text(c), w.dynamic, w.subs, w.sub_raws))
                else:
                    assigns.append((name, w))
            elif t in _REDIR_OPS:
                op = t
            elif t in _REDIR_NODES:
                redirs.extend(self.redirects(c, [], []))
            elif t == "ERROR" or c.is_missing:
                self.fail("the command does not parse")
                self.recover_words(c, words)
            elif not c.is_named or t in _SKIP:
                continue
            elif op is not None:
                redirs.append(Redirect(op, self.word(c)))
                op = None
            elif t in _WORDISH:
                words.append(self.word(c))
            else:
                self.fail(f"shell construct {t} in a command is not modelled")
        if n.end_byte > prev and src[prev : n.end_byte].strip():
            self.fail("text the grammar skipped at the end of a command")
        if self.budget < 0:
            self.fail(f"more than {_MAX_COMMANDS} words and commands: the rest is not analyzed")
            words = words[: max(0, len(words) + self.budget)]
        return Cmd(tuple(words), tuple(redirs), tuple(assigns))

    def recover_words(self, n: Node, words: list[Word]) -> None:
        for c in n.children:
            if c.type in _WORDISH:
                words.append(self.word(c))
            elif c.is_named:
                self.recover_words(c, words)

    def assignment(self, n: Node) -> tuple[str, Word]:
        name = ""
        value = Word("", "")
        for c in n.children:
            if c.type in ("variable_name", "subscript") and not name:
                name = self.text(c).split("[", 1)[0]
            elif c.is_named:
                value = self.word(c)
        return name, value

    def assigns(self, n: Node) -> list[tuple[str, Word]]:
        if n.type == "variable_assignment":
            return [self.assignment(n)]
        return [self.assignment(c) for c in n.children if c.type == "variable_assignment"]

    def declaration(self, n: Node) -> Cmd:
        words: list[Word] = []
        for c in n.children:
            if not c.is_named:
                words.append(Word(c.type, c.type))
            elif c.type == "variable_assignment":
                name, w = self.assignment(c)
                words.append(Word(f"{name}={w.text}", self.text(c), w.dynamic, w.subs, w.sub_raws))
            elif c.type in _WORDISH:
                words.append(self.word(c))
            elif c.type == "ERROR" or c.is_missing:
                self.fail("a declaration does not parse")
        return Cmd(tuple(words))

    # -- words

    def subs_in(self, n: Node) -> list[tuple[tuple[str, Script], str]]:
        """Every command and process substitution under *n* (not nested inside one another)."""
        out: list[tuple[tuple[str, Script], str]] = []
        for c in n.children:
            t = c.type
            if t == "command_substitution" or t == "process_substitution":
                raw = self.text(c)
                tag = "`" if raw.startswith("`") else raw[:2]
                out.append(((tag, self.script(c)), raw))
            elif c.child_count:
                out.extend(self.subs_in(c))
        return out

    def word(self, n: Node) -> Word:
        self.budget -= 1
        if self.budget < 0:
            self.fail(f"more than {_MAX_COMMANDS} words and commands: the rest is not analyzed")
            raw = self.text(n)
            return Word(raw, raw, True)
        t = n.type
        raw = self.text(n)
        if t == "word" or t == "number" or t == "test_operator" or t == "extglob_pattern" or t == "regex":
            if "\\" in raw:
                return Word(_ESCAPE.sub(r"\1", raw), raw, "$" in raw)
            # tree-sitter-bash leaves "$$" and a trailing "$" inside plain words: bash expands the first.
            return Word(raw, raw, "$" in raw)
        if t == "raw_string":
            return Word(raw[1:-1], raw)
        if t == "ansi_c_string":
            return Word(ansi_c_decode(raw[2:-1]), raw)
        if t == "string" or t == "translated_string":
            return self.string(n, raw)
        if t == "concatenation":
            parts = [self.word(c) for c in n.children]
            self.gaps(n, list(n.children))
            subs = tuple(s for p in parts for s in p.subs)
            raws = tuple(s for p in parts for s in p.sub_raws)
            return Word("".join(p.text for p in parts), raw, any(p.dynamic for p in parts), subs, raws)
        if t == "arithmetic_expansion":
            found = self.subs_in(n)
            if not found:
                return Word("0", raw)  # a number; without a substitution it hides no command
            return Word(raw, raw, True, tuple(f[0] for f in found), tuple(f[1] for f in found))
        if t in ("simple_expansion", "expansion", "command_substitution", "process_substitution"):
            if t == "command_substitution" or t == "process_substitution":
                tag = "`" if raw.startswith("`") else raw[:2]
                return Word(raw, raw, True, ((tag, self.script(n)),), (raw,))
            found = self.subs_in(n)
            return Word(raw, raw, True, tuple(f[0] for f in found), tuple(f[1] for f in found))
        if t == "ERROR" or n.is_missing:
            self.fail("a word does not parse")
            return Word(raw, raw, "$" in raw or "`" in raw)
        if not n.is_named:
            return Word(raw, raw, "$" in raw)  # "$$" comes as an anonymous token
        # brace_expression, array, variable names: kept as written, substitutions still found.
        found = self.subs_in(n)
        return Word(raw, raw, bool(found) or "$" in raw, tuple(f[0] for f in found), tuple(f[1] for f in found))

    def string(self, n: Node, raw: str) -> Word:
        buf: list[str] = []
        subs: list[tuple[str, Script]] = []
        raws: list[str] = []
        dyn = False
        prev = n.start_byte + (2 if raw.startswith('$"') else 1)
        end = n.end_byte - 1
        for c in n.children:
            t = c.type
            if not c.is_named:
                continue
            if c.start_byte > prev:
                buf.append(_DQ_ESCAPE.sub(r"\1", self.src[prev : c.start_byte].decode("utf-8", "surrogateescape")))
            prev = c.end_byte
            if t == "string_content":
                buf.append(_DQ_ESCAPE.sub(r"\1", self.text(c)))
                continue
            w = self.word(c)
            buf.append(w.text)
            dyn = dyn or w.dynamic
            subs.extend(w.subs)
            raws.extend(w.sub_raws)
        if end > prev:
            buf.append(_DQ_ESCAPE.sub(r"\1", self.src[prev:end].decode("utf-8", "surrogateescape")))
        return Word("".join(buf), raw, dyn, tuple(subs), tuple(raws))


# ------------------------------------------------------------------------------ parse


@functools.lru_cache(maxsize=4096)
def parse(command: str) -> tuple[Script, str]:
    """Parse *command*; returns ``(script, how)``: how is ``"tree-sitter"``, or why the parse is not trusted.

    On an error the script is the best reading of what parsed (rules still run on it),
    and the analyzer escalates.

    >>> parse("ls -la | wc -l")[1], parse("echo 'open")[1]
    ('tree-sitter', 'the command does not parse')
    """
    src = command
    if "\\\n" in src:
        src = _join_continuations(src)
    data = src.encode("utf-8", "surrogateescape")
    tree = _PARSER.parse(data)
    conv = _Converter(data, src)
    root = tree.root_node
    try:
        script = conv.script(root)
    except RecursionError:
        # Nesting the depth guards do not count (arithmetic, concatenations): nothing is trusted.
        return (), f"constructs nest too deeply to analyze (more than {_MAX_DEPTH} levels)"
    if not conv.error and root.has_error:
        conv.fail("the command does not parse")
    if "\\\n" in command and "<<" in command:
        conv.fail("line continuations next to a here-document are not modelled")
    return script, conv.error or "tree-sitter"


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
