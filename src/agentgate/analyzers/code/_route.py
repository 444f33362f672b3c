"""The analyzer entry: find the sources of a call, extract, route each observation to its analyzer."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agentgate._decision import Effect, Finding, Severity
from agentgate.analyzers.base import Context, Resource, Target
from agentgate.analyzers.classify import Classification, tokens

from ._extract import extract
from ._model import Hit

__all__ = ["analyze_code", "code_language", "pending_resolutions"]

_LANG_WORDS = {
    **dict.fromkeys(("python", "python3", "py", "ipython", "jupyter", "notebook", "ipynb"), "python"),
    **dict.fromkeys(("javascript", "js", "node", "nodejs", "deno", "typescript", "ts", "mjs", "cjs"), "js"),
    **dict.fromkeys(("bash", "sh", "shell", "zsh"), "shell"),
}
_LANG_ARGS = ("language", "lang", "kernel", "kernel_name", "runtime", "interpreter")
# Arguments of a code tool that describe the run, not the program.
_META_ARGS = frozenset(
    {
        *_LANG_ARGS,
        "timeout",
        "session",
        "session_id",
        "id",
        "name",
        "title",
        "description",
        "cwd",
        "working_dir",
        "workdir",
        "env",
        "requirements",
        "packages",
        "version",
    }
)


def code_language(tool_name: str, arguments: Mapping[str, Any]) -> str | None:
    """``python``, ``js`` or ``shell`` from a language argument or the tool's name; None = detect."""
    for a in _LANG_ARGS:
        v = arguments.get(a)
        if isinstance(v, str) and v:
            lang = _LANG_WORDS.get(v.strip().lower().split()[0].rstrip("0123456789.").rstrip("-_"))
            if lang is None:
                lang = _LANG_WORDS.get(v.strip().lower())
            if lang is not None:
                return lang
    return _tool_language(tool_name)


@functools.lru_cache(maxsize=4096)
def _tool_language(tool_name: str) -> str | None:
    for t in tokens(tool_name):
        if t in _LANG_WORDS and _LANG_WORDS[t] != "shell":
            return _LANG_WORDS[t]
    return None


def _sources(ctx: Context) -> list[tuple[str, str, bool]]:
    """(argument, source, sniffed) for every program in the call; a list of lines or cells is one program."""
    call = ctx.call
    args = call.arguments
    out: list[tuple[str, str, bool]] = []
    seen: set[str] = set()
    targets: Iterable[Target] = ctx.targets("code")
    if ctx.classification.kind == "code" and not any(t.source != "sniff" for t in targets):
        # a code tool whose program sits under an argument name we do not know
        extra = [
            Target(k, v, "name")
            for k, v in args.items()
            if isinstance(v, str) and v.strip() and k.lower() not in _META_ARGS
        ]
        targets = (*extra, *targets)
    for t in targets:
        base = t.argument.split("[", 1)[0]
        whole = args.get(base)
        if isinstance(whole, (list, tuple)) and whole and all(isinstance(x, str) for x in whole):
            if base in seen:
                continue
            seen.add(base)
            sep = "" if all(x.endswith("\n") for x in whole[:-1]) else "\n"
            out.append((base, sep.join(whole), t.source == "sniff"))
        elif t.argument not in seen:
            seen.add(t.argument)
            out.append((t.argument, t.value, t.source == "sniff"))
    return out


def _sub(
    ctx: Context, kind: str, op: str | None, key: str, targets: Sequence[Target], resources: Sequence[Resource] = ()
) -> Context:
    """A context in which one analyzer sees *targets* as if a tool of *kind* had been called with them."""
    cls = Classification(kind, op, "name", tuple(resources), {key: tuple(targets)} if targets else {}, None)
    return Context(ctx.call, ctx.agent, ctx.policy, cls, ctx.settings)


def _lined(fs: Iterable[Finding], h: Hit, argument: str) -> list[Finding]:
    pre = f"line {h.line}: " + ("(decoded) " if h.obfuscated else "")
    # Built directly: dataclasses.replace reads the fields' metadata on every call.
    return [Finding(f.rule_id, f.severity, f.effect, pre + f.message, f.evidence, argument) for f in fs]


_QUOTES = "'\"`()<>;|&"


def _net_words(command: str) -> list[str]:
    """URL and IPv4-address words of a command line (``curl http://...``, ``nc 10.0.0.1 4444``)."""
    out: list[str] = []
    if "://" not in command and "." not in command:
        return out
    for w in command.split():
        w = w.strip(_QUOTES)
        if "://" in w:
            out.append(w[w.find("://") - 5 :].lstrip(_QUOTES + "=") if w.find("://") > 5 else w)
        elif w[:1].isdigit() and w.count(".") == 3 and w.split("/", 1)[0].split(":", 1)[0].replace(".", "").isdigit():
            out.append(w)
    return out[:16]


def _route(h: Hit, argument: str, sniffed: bool, ctx: Context) -> list[Finding]:
    from agentgate.analyzers.filesystem import check_path, normalize_path
    from agentgate.analyzers.http import analyze_http
    from agentgate.analyzers.shell import analyze_shell

    if h.kind == "finding":
        if sniffed and h.effect is not Effect.BLOCK:
            return []
        return [Finding(h.rule, h.severity, h.effect, f"line {h.line}: {h.message}", h.value, argument)]
    if h.kind == "shell":
        sub = _sub(ctx, "shell", "execute", "shell", [Target(argument, h.value, "sniff" if sniffed else "name")])
        out = _lined(analyze_shell(ctx.call, sub), h, argument)
        # Addresses on the command line get the literal HTTP checks (metadata, private, loopback)
        # whatever the shell analyzer makes of the command.
        for word in _net_words(h.value):
            sub = _sub(ctx, "generic", None, "http", [Target(argument, word, "sniff")])
            out.extend(_lined(analyze_http(ctx.call, sub), h, argument))
        return out
    if h.kind == "path":
        if len(h.value) > 4096:
            return []
        out = []
        pol = ctx.policy
        if h.op in ("write", "delete") and pol.restricts_operations and not pol.allows_operation(h.op):
            out.append(
                Finding(
                    "code.operation",
                    Severity.HIGH,
                    Effect.BLOCK,
                    f"line {h.line}: the code {'writes' if h.op == 'write' else 'deletes'} {h.value}, "
                    f"which the scope does not allow ({h.op})",
                    h.value,
                    argument,
                )
            )
        np = normalize_path(h.value)
        fs = check_path(
            np,
            h.op,
            argument=argument,
            strong_only=sniffed or not h.exact,
            policy=ctx.policy,
            extra_sensitive=ctx.settings.sensitive_paths,
        )
        return out + _lined(fs, h, argument)
    if h.kind == "sql":
        from agentgate.analyzers.classify import sql_operation
        from agentgate.analyzers.sql import analyze_sql

        sub = _sub(
            ctx, "sql", sql_operation(h.value), "sql", [Target(argument, h.value, "sniff" if sniffed else "name")]
        )
        return _lined(analyze_sql(ctx.call, sub), h, argument)
    if h.kind == "url":
        exact = h.exact and not sniffed
        target = Target(argument, h.value, "name" if exact else "sniff")
        sub = _sub(ctx, "http" if exact else "generic", "network" if exact else None, "http", [target])
        return _lined(analyze_http(ctx.call, sub), h, argument)
    if h.kind == "host":
        if sniffed:
            return []
        sub = _sub(ctx, "http", "network", "http", (), [Resource(argument, h.value, "host")])
        return _lined(analyze_http(ctx.call, sub), h, argument)
    return []


def pending_resolutions(ctx: Context) -> list[str]:
    """Host names the programs in this call would make the HTTP analyzer resolve (for async prefetch).

    The counterpart of `agentgate.analyzers.http.pending_resolutions` for URLs and hosts found
    inside code, so an async caller resolves them in a worker thread, not on its event loop.
    """
    if ctx.classification.kind != "code" and not ctx.targets("code"):
        return []
    try:
        return _pending(ctx)
    except Exception:  # the analyzer itself reports (and escalates) what went wrong
        return []


def _pending(ctx: Context) -> list[str]:
    from agentgate.analyzers.http import pending_resolutions as http_pending

    lang = code_language(ctx.call.tool_name, ctx.call.arguments)
    names: list[str] = []
    for argument, source, sniffed in _sources(ctx):
        if sniffed or not source.strip():
            continue
        for h in extract(source, lang).hits:
            if h.kind == "url" and h.exact:
                sub = _sub(ctx, "http", "network", "http", [Target(argument, h.value, "name")])
            elif h.kind == "host":
                sub = _sub(ctx, "http", "network", "http", (), [Resource(argument, h.value, "host")])
            else:
                continue
            names.extend(n for n in http_pending(sub) if n not in names)
    return names


def analyze_code(call: object, ctx: Context) -> list[Finding]:
    """The code analyzer: every program in the call (see the package docstring)."""
    del call
    if ctx.classification.kind != "code" and not ctx.targets("code"):
        return []
    sources = _sources(ctx)
    if not sources:
        return []
    lang = code_language(ctx.call.tool_name, ctx.call.arguments)
    out: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()
    for argument, source, sniffed in sources:
        if not source.strip():
            continue
        ex = extract(source, lang if not sniffed else None)
        if sniffed and ex.language == "?":
            continue  # sniffed text that is not a program is text
        for h in ex.hits:
            for f in _route(h, argument, sniffed, ctx):
                key = (f.rule_id, f.message, f.evidence)
                if key not in seen:
                    seen.add(key)
                    out.append(f)
    return out
