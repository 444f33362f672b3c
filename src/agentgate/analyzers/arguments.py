"""Arguments the analyzers could not read, and tool calls carried inside arguments.

==========================  ========  ==========================================================
rule                        effect    when
==========================  ========  ==========================================================
``args.limit``              escalate  the arguments are nested deeper, hold more values, more
                                      strings or more text than the firewall reads
                                      (`agentgate._call.MAX_DEPTH` and friends), a payload is
                                      too long to parse within the time budget
                                      (`classify.MAX_TARGET_CHARS`), or dispatchers nest
                                      deeper than 8: never decide on a part of a call
``args.unreadable``         escalate  a payload argument (the command of a shell tool, the
                                      statement of a SQL tool, a path, a URL) is an object with
                                      no readable content (no ``__str__``, fields or dump)
``args.undecodable``        escalate  a payload argument is bytes that are not UTF-8 (read as
                                      Latin-1, but what the tool will make of it is unknown)
``args.env_injection``      (shell's) an ``env``/``environment`` argument or field (a mapping,
                                      ``K=V`` strings, ``{name, value}`` records, at any depth)
                                      sets a variable that makes the started process load or run
                                      code: ``LD_PRELOAD``, ``NODE_OPTIONS=--require``, a
                                      ``PYTHONPATH`` in ``/tmp``, ``BASH_ENV``, ``GIT_SSH_COMMAND``
                                      ...; judged as the shell judges ``export NAME=value``
(the carried call's rules)  (theirs)  a dispatcher's carried call, decided by the same chain
==========================  ========  ==========================================================

**Carried calls.** A dispatcher or opaque tool (``execute_tool(name, arguments)``,
``run(action={"tool": ..., "input": ...})``, an OpenAI ``function{name, arguments}``
or MCP ``params{name, arguments}`` record, a JSON string holding one) is judged as
the call it carries: the carried call is classified under its own name (with its
registered spec), run through the same analyzer chain under the same policy, and
its findings are reported on the outer call with the argument path they came from.
Calls carried inside a carried call are found by the same analyzer when it runs on
the inner call, at any depth up to 8. A record keyed by ``name`` counts as a call only
when the name reads as a tool (``run_shell``, ``delete_file``: a kind or a verb) or
is a registered tool; ``{"name": "signup", "parameters": ...}`` is a form, not a call.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from .._call import ToolCall
from .._decision import Effect, Finding, Severity
from ..policy._operations import verb_operation
from ._argshape import env_assignments
from .base import BudgetExceeded, Context, make_context
from .classify import _tool_kind, classify, tokens

__all__ = ["MAX_DISPATCH_DEPTH", "analyze_arguments", "carried_calls"]

#: Dispatchers nested deeper than this escalate.
MAX_DISPATCH_DEPTH = 8

# Tool-name words of dispatchers whose own arguments (minus the tool name) are the carried call's.
_DISPATCH_WORDS = frozenset(
    {
        "dispatch",
        "invoke",
        "call",
        "do",
        "perform",
        "execute",
        "run",
        "use",
        "tool",
        "tools",
        "action",
        "proxy",
        "route",
    }
)
_LIMITS = {
    "depth": f"are nested deeper than {MAX_DISPATCH_DEPTH * 4} levels",
    "items": "hold more values than the firewall reads",
    "strings": "hold more strings than the firewall reads",
    "chars": "hold more text than the firewall reads",
}


def _root(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def _problems(call: ToolCall, ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    payload = ctx.classification.payload
    for path, problem in call.walk().problems:
        where = path or "the arguments"
        if problem in _LIMITS:
            msg = f"the arguments {_LIMITS[problem]} (at {where}); the rest was not analyzed"
            out.append(Finding("args.limit", Severity.MEDIUM, Effect.ESCALATE, msg, where, path or None))
        elif _root(path) in payload:
            if problem == "undecodable":
                msg = f"{where} is bytes that are not UTF-8: what the tool will run or open cannot be read"
                out.append(Finding("args.undecodable", Severity.MEDIUM, Effect.ESCALATE, msg, where, path))
            else:
                kind = problem.partition(":")[2]
                msg = f"{where} is a {kind} object with no readable content; it cannot be analyzed"
                out.append(Finding("args.unreadable", Severity.MEDIUM, Effect.ESCALATE, msg, where, path))
    for kind, t in ctx.classification.oversize:
        msg = f"{t.argument} is a {len(t.value):,}-character {kind} payload, longer than the firewall parses"
        out.append(Finding("args.limit", Severity.MEDIUM, Effect.ESCALATE, msg, t.argument, t.argument))
    return out


def _as_arguments(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("{") and s.endswith("}"):
            try:
                parsed = json.loads(s)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                return {str(k): v for k, v in parsed.items()}
        return {"input": value}
    if isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value):
        return {"argv": list(value)}
    return {"input": value}


def _plausible_tool(name: str, ctx: Context) -> bool:
    words = tokens(name)
    return (
        (ctx.spec_for is not None and ctx.spec_for(name) is not None)
        or _tool_kind(words) != "generic"
        or verb_operation(list(words)) is not None
    )


def carried_calls(call: ToolCall, ctx: Context) -> list[tuple[str, ToolCall]]:
    """``(args path, carried call)`` for the outermost calls carried in *call*'s arguments."""
    found = [c for c in call.walk().calls if c[1].lower() != "name" or _plausible_tool(c[2], ctx)]
    out: list[tuple[str, ToolCall]] = []
    args_paths = [c[4] for c in found]
    for path, _key, name, value, args_path in found:
        if any(path != a and (path == a or path.startswith((a + ".", a + "["))) for a in args_paths):
            continue  # inside another carried call: found when that one is analyzed
        out.append((args_path, ToolCall(name, _as_arguments(value), framework=call.framework)))
    if not out and _DISPATCH_WORDS.intersection(tokens(call.tool_name)):
        # do_it(tool="bash", command="rm -rf /"): the dispatcher's other arguments are the call's
        for k, v in call.arguments.items():
            if k.lower() in ("tool", "tool_name", "function", "action") and isinstance(v, str) and v.strip():
                rest = {a: x for a, x in call.arguments.items() if a != k}
                if rest and _plausible_tool(v.strip(), ctx):
                    out.append(("", ToolCall(v.strip(), rest, framework=call.framework)))
                break
    return out


def _judge_carried(inner: ToolCall, args_path: str, ctx: Context) -> list[Finding]:
    from . import DEFAULT_ANALYZERS

    spec = ctx.spec_for(inner.tool_name) if ctx.spec_for is not None else None
    sub = Context(
        inner,
        ctx.agent,
        ctx.policy,
        classify(inner, spec),
        ctx.settings,
        spec_for=ctx.spec_for,
        chain=ctx.chain,
        deadline=ctx.deadline,
        depth=ctx.depth + 1,
    )
    out: list[Finding] = []
    where = args_path or "its arguments"
    for analyzer in ctx.chain if ctx.chain is not None else DEFAULT_ANALYZERS:
        ctx.check_budget()
        try:
            found: Sequence[Finding] = analyzer(inner, sub)
        except BudgetExceeded:
            raise
        except Exception as e:  # as in the firewall: a crash escalates, never allows
            name = getattr(analyzer, "__name__", type(analyzer).__name__)
            msg = f"analyzer {name} failed on the carried call {inner.tool_name!r}: {type(e).__name__}: {e}"
            out.append(Finding("analyzer.error", Severity.HIGH, Effect.ESCALATE, msg))
            continue
        for f in found:
            arg = f"{args_path}.{f.argument}" if args_path and f.argument else (f.argument or args_path or None)
            msg = f"carried call {inner.tool_name!r} (in {where}): {f.message}"
            out.append(Finding(f.rule_id, f.severity, f.effect, msg, f.evidence, arg))
    return out


_ENV_PATH = re.compile(r"(?i)env|variables")


def _environment(call: ToolCall, ctx: Context) -> list[Finding]:
    """A process environment given as an argument (``run_command(env={"LD_PRELOAD": ...})``), judged
    as the shell judges the same assignment: loaders, start-up files, planted search paths, and
    variables whose value is a command (``GIT_SSH_COMMAND``)."""
    # Exact prefilter: env_assignments only reads values under an env-like key, so a call whose
    # argument paths name none (nearly every call) has nothing to walk.
    if not any(_ENV_PATH.search(p) for p, _ in call.string_arguments()):
        return []
    from .shell import analyze_shell  # the shell analyzer imports the classifier
    from .shell._caps import ENV_NAMES

    out: list[Finding] = []
    for path, name, value in env_assignments(call.arguments, ENV_NAMES)[:64]:
        line = f"export {name}={shlex.quote(value)}"
        inner = ToolCall("run_shell", {"command": line})
        for f in analyze_shell(inner, make_context(inner, policy=ctx.policy, settings=ctx.settings)):
            if f.effect is Effect.INFO:
                continue
            msg = f"{path} sets the environment of the process the tool starts: {f.message}"
            out.append(Finding("args.env_injection", f.severity, f.effect, msg, f.evidence, path))
    return out


def analyze_arguments(call: ToolCall, ctx: Context) -> list[Finding]:
    """Unreadable or oversized arguments escalate; carried calls are judged (see module docstring)."""
    out = _problems(call, ctx)
    out.extend(_environment(call, ctx))
    carried = carried_calls(call, ctx)
    if not carried:
        return out
    if ctx.depth >= MAX_DISPATCH_DEPTH:
        msg = f"tool calls carried inside tool calls nest deeper than {MAX_DISPATCH_DEPTH} levels"
        out.append(Finding("args.limit", Severity.MEDIUM, Effect.ESCALATE, msg, call.tool_name))
        return out
    for args_path, inner in carried:
        out.extend(_judge_carried(inner, args_path, ctx))
    return out
