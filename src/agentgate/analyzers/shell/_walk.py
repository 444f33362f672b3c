"""Shell analyzer walk: every pipeline, stage and simple command, dispatched to the rules."""

from __future__ import annotations

import posixpath
import re
import shlex

from agentgate._decision import Severity
from agentgate.analyzers.shell._caps import CAPABILITIES, Cap, capabilities, env_assignment, judge_payload
from agentgate.analyzers.shell._infra import INFRA_TOOLS, infra
from agentgate.analyzers.shell._mass import deletion, mass_delete, substituted
from agentgate.analyzers.shell._parse import Cmd, Pipeline, Script, Word, _iter_commands, parse
from agentgate.analyzers.shell._route import DB_CLIENTS, route_database, route_network
from agentgate.analyzers.shell._rules import (
    _ACCOUNT,
    _BLOCK,
    _BRACE_LIST,
    _CWD,
    _DOWNLOADERS,
    _ENV_DUMP,
    _ESC,
    _ESCAPED_NAME,
    _HUNT,
    _HUNT_NAME,
    _INTERP,
    _KNOWN_CMDS,
    _NETWORK,
    _PARENT,
    _PATTERN_FIRST,
    _PERSONAL,
    _PLAIN_NAME,
    _PRIV,
    _PY_DELETE,
    _PY_OS,
    _PY_SOCKET,
    _PY_SPAWN,
    _RAW_NET,
    _ROOT,
    _SHELLS,
    _SYS,
    _TOP,
    _TRANSFORMS,
    _VAR,
    _WRAPPER_OPTS,
    _WRAPPERS,
    _danger,
    _emit,
    _expand,
    _files,
    _fork_bomb,
    _inline_code,
    _path,
    _perms,
    _raw_socket,
    _read,
    _rm,
    _scope,
    _sensitive,
    _short,
    _split_opts,
    _ssh_remote,
    _Stage,
    _State,
    _static_value,
    _sub_flags,
    _write_target,
    command_effect,
)
from agentgate.analyzers.shell._serve import SERVERS, serve
from agentgate.analyzers.shell._settings import SETTING_CLIS, route_settings

# ------------------------------------------------------------------------------ walk


def _script(script: Script, st: _State) -> None:
    for pl in script:
        _pipeline(pl, st)


def _parse_into(text: str, st: _State, why: str) -> None:
    if st.depth >= 6:
        _emit(st, "shell.obfuscation", _ESC, f"{why} nests commands more than 6 levels deep", text)
        return
    script, how = parse(text)
    if how != "tree-sitter":
        _emit(st, "shell.unparsable", _ESC, f"could not parse the command inside {why} ({how})", text)
    st.depth += 1
    _script(script, st)
    st.depth -= 1


def _pipeline(pl: Pipeline, st: _State) -> None:
    stages: list[_Stage] = []
    for i, c in enumerate(pl):
        # What the previous stage prints, when it is literal text, is this stage's input.
        st.stdin = stages[-1].echo_text if stages else None
        stages.append(_stage(c, st, i, len(pl)))
    st.stdin = None
    if len(stages) < 2:
        return
    for j, sj in enumerate(stages):
        if not (sj.shell_stdin or sj.network):
            continue  # only these look back along the pipeline (slicing for every stage is quadratic)
        before = stages[:j]
        if sj.shell_stdin:
            if any(b.download for b in before):
                _emit(
                    st,
                    "shell.remote_code",
                    _BLOCK,
                    f"downloaded content is piped into {sj.name}: code from the network runs unseen",
                    sj.name,
                )
            elif any(b.decode for b in before):
                _emit(
                    st,
                    "shell.remote_code",
                    _BLOCK,
                    f"decoded content is piped into {sj.name}: the payload is hidden from review",
                    sj.name,
                )
            elif any(b.transform for b in before):
                _emit(
                    st,
                    "shell.remote_code",
                    _BLOCK,
                    f"text rewritten by {next(b.name for b in before if b.transform)} is piped into {sj.name}: "
                    "the code that runs is not the code written",
                    sj.name,
                )
            elif before and before[-1].echo_text is None and before[-1].name not in ("cat", "(...)"):
                _emit(
                    st,
                    "shell.remote_code",
                    _ESC,
                    f"the output of {before[-1].name} is run by {sj.name}: the code is only known at run time",
                    sj.name,
                    Severity.HIGH,
                )
            for b in before:
                if b.echo_text is not None:
                    _parse_into(b.echo_text, st, f"the text piped into {sj.name}")
        if sj.network and any(b.secret for b in before):
            what = next(b.secret for b in before if b.secret)
            _emit(
                st,
                "shell.exfiltration",
                _BLOCK,
                f"{what} is piped into {sj.name}: secrets would leave the machine",
                sj.name,
            )
    if any(s.per_item for s in stages):
        mass_delete([(s.name, (s.argv or [""])[1:], s.per_item) for s in stages], st)
    if any(s.xargs_delete for s in stages) and (why := next((s.find_danger for s in stages if s.find_danger), None)):
        _emit(st, "shell.destructive", _BLOCK, f"find piped into xargs rm deletes files in {why}", "find | xargs rm")
    if any(s.raw_net for s in stages) and any(s.shell_stdin or s.name in _SHELLS for s in stages):
        _emit(
            st,
            "shell.reverse_shell",
            _BLOCK,
            "a raw network connection and a shell share one pipeline (reverse shell)",
            "|".join(s.name for s in stages),
        )


def _unwrap(args: list[str], st: _State, raw0: str) -> tuple[list[str], list[str]]:
    """Strip wrappers (sudo, env, nohup, timeout, xargs ...); return (wrappers, effective argv)."""
    wrappers: list[str] = []
    while args:
        a0 = args[0]
        name = a0[a0.rfind("/") + 1 :].lower()  # posixpath.basename, without the call
        if name not in _WRAPPERS:
            break
        wrappers.append(name)
        takes = _WRAPPER_OPTS.get(name, frozenset())
        k = 1
        while k < len(args):
            a = args[k]
            if a == "--":
                k += 1
                break
            if name == "env" and "=" in a and not a.startswith("-"):
                var, _, value = a.partition("=")
                env_assignment(var, value, "$" in a, st)  # env LD_PRELOAD=x.so cmd
                k += 1
                continue
            if not a.startswith("-") or a == "-":
                break
            k += 2 if a in takes else 1
        if name in ("timeout",) and k < len(args):
            k += 1  # the duration
        if name == "xargs" and st.stdin is not None:
            # xargs runs its command with the piped words as arguments ("echo /x | xargs rm -rf").
            items = st.stdin.split()
            rep = next((args[j + 1] for j in range(1, k - 1) if args[j] in ("-I", "-i", "--replace")), None) or next(
                (args[j][2:] for j in range(1, k) if args[j].startswith("-I") and len(args[j]) > 2), None
            )
            args = args[:k] + (
                [a.replace(rep, items[0] if items else "") for a in args[k:]] if rep else [*args[k:], *items]
            )
        if name in _PRIV:
            _privilege(name, args[1:k], args[k:], st)
        args = args[k:]
        if not args:
            # "env" alone dumps the environment; "xargs" alone runs echo; "sudo" alone is sudo.
            args = ["echo"] if name == "xargs" else [wrappers.pop()]
            break
        if name == "watch" and args:
            _parse_into(" ".join(args), st, "watch")
            return wrappers, []
    return wrappers, args


def _privilege(name: str, opts: list[str], rest: list[str], st: _State) -> None:
    flags = "".join(o.lstrip("-") for o in opts if o.startswith("-") and not o.startswith("--"))
    inner = posixpath.basename(rest[0]) if rest else ""
    if "S" in flags:
        _emit(
            st,
            "shell.privilege",
            _BLOCK,
            f"{name} -S reads a password from stdin: the agent is handling root credentials",
            name,
        )
    elif (
        "i" in flags
        or "s" in flags
        or not rest
        or inner in ("su", "-i")
        or (inner in _SHELLS and "-c" not in rest[1:2] and not any(r.startswith("-") and "c" in r for r in rest[1:2]))
    ):
        _emit(st, "shell.privilege", _BLOCK, f"{name} opens a root shell; agents must not hold interactive root", name)
    elif _read_only(inner.lower(), rest[1:]):
        pass  # sudo systemctl status x: reading as root changes nothing (secrets it reads have their own rules)
    else:
        _emit(
            st,
            "shell.privilege",
            _ESC,
            f"{name} runs {inner or 'a command'} as root; needs review",
            name,
            Severity.HIGH,
        )


# Commands that read nothing: under sudo they only test whether root is reachable (sudo -n true).
_SUDO_PROBES = frozenset({"true", "false", ":", "id", "whoami", "echo", "printf", "test", "[", "sleep", "pwd"})


# Inspection tools often run with sudo, and the options that make them change something.
_ADMIN_READS: dict[str, tuple[str, ...]] = {
    "journalctl": ("--vacuum", "--rotate", "--flush", "--relinquish", "--setup-keys", "--update-catalog"),
    "dmesg": ("-c", "-C", "--clear", "--read-clear", "-n", "--console-level", "-D", "-E"),
    "ss": ("-K", "--kill"),
    "netstat": (),
    "lsof": (),
    "ps": (),
    "free": (),
    "uptime": (),
    "lsblk": (),
}


def _read_only(base: str, args: list[str]) -> bool:
    """*base* only looks: a read by its effect, not a program that runs others or talks to the network."""
    if (
        base in CAPABILITIES
        or base in _WRAPPERS
        or base in _SHELLS
        or base in _NETWORK
        or base in _SUDO_PROBES
        or _INTERP.fullmatch(base)
    ):
        return False
    if base in _ADMIN_READS:
        return not any(a.startswith(_ADMIN_READS[base]) for a in args if a.startswith("-"))
    opts, ops = _split_opts(args)
    return command_effect(base, args, opts, ops) == "read"


def _stage(cmd: Cmd, st: _State, index: int, count: int) -> _Stage:
    out = _Stage()
    if cmd.body is not None:
        saved = st.cwd
        _script(cmd.body, st)
        st.cwd = saved
        names = {posixpath.basename(c.words[0].text) for c in _iter_commands(cmd.body) if c.words}
        out.download = bool(names & _DOWNLOADERS)
        out.name = "(...)"
        out.shell_stdin = bool(names & _SHELLS) and index > 0
        out.raw_net = bool(names & _RAW_NET)
        out.network = bool(names & _NETWORK)
        if index > 0 and names & _PER_ITEM:
            # "... | while read k; do redis-cli del "$k"; done": a deletion of each line read
            out.per_item = next(
                (
                    d
                    for c in _iter_commands(cmd.body)
                    if c.words
                    and any(w.dynamic for w in c.words[1:])
                    and (d := deletion(posixpath.basename(c.words[0].text), [w.text for w in c.words[1:]]))
                ),
                None,
            )
        _redirects(cmd, st, out, "")
        return out
    texts: list[str] = []
    known: list[bool] = []
    for w in cmd.words:
        if not w.dynamic:
            texts.append(w.text)  # what _expand returns for a word without expansions
            known.append(True)
            if not w.subs:
                continue
        else:
            t, k = _expand(w, st)
            texts.append(t)
            known.append(k)
        for tag, sub in w.subs:
            if tag == "`" and st.strong:
                # In text that only looks like shell, `x` is a markdown code span: documentation
                # quotes commands, so only instructions to leak secrets or open shells count.
                st.span += 1
                _substitution(sub, st)
                st.span -= 1
                continue
            if tag == "`":
                _emit(
                    st,
                    "shell.obfuscation",
                    _ESC,
                    "backtick substitution hides a command inside a word",
                    w.raw,
                    Severity.MEDIUM,
                )
            _substitution(sub, st)
    for name, w in cmd.assigns:
        t, k = _expand(w, st)
        for _tag, sub in w.subs:
            _substitution(sub, st)
        if not cmd.words:
            st.vars[name] = t if k else None
    if cmd.words:
        _obfuscation(cmd.words[0], texts[0], known[0], st)
    _redirects(cmd, st, out, texts[0] if texts else "")
    if not texts:
        return out
    if st.strong and posixpath.basename(texts[0]) not in _KNOWN_CMDS:
        # Commands embedded in config or prose ("- run: curl ... | bash", "RUN curl ..."):
        # the command starts at the first word that names one.
        first = next((i for i, t in enumerate(texts) if posixpath.basename(t) in _KNOWN_CMDS), None)
        if first is None:
            return out
        texts = texts[first:]
    wrappers, argv = _unwrap(texts, st, cmd.words[0].raw)
    if not argv:
        return out
    # Word objects aligned with argv (wrappers and embedding prefixes only remove a prefix).
    wobjs = cmd.words[len(cmd.words) - len(argv) :]
    _command(argv, wobjs, cmd, st, out, index)
    if cmd.redirects:
        _stage_files(cmd, st, out)
    if out.secret:
        # A file filled from a secret source is itself a secret for the rest of the script.
        for r in cmd.redirects:
            if r.target is not None and r.op in (">", ">>", ">|", "&>", "&>>"):
                st.tainted.add(_path(_expand(r.target, st)[0], st).resolved)
    out.argv = argv
    if "xargs" in wrappers:
        out.per_item = deletion(out.name, argv[1:])
        out.xargs_delete = out.name in ("rm", "shred", "unlink")
        out.shell_stdin = out.shell_stdin or out.name in _SHELLS
    return out


def _run_file(target: str, st: _State, runner: str, wobjs: tuple[Word, ...]) -> None:
    """*runner* (a shell, an interpreter, or ``""`` for ``./file``) runs *target*: judge a file this command wrote."""
    del wobjs
    np = _path(target, st)
    if np.resolved in st.downloaded or np.lexical in st.downloaded:
        _emit(st, "shell.remote_code", _BLOCK, f"{runner or 'it'} executes {target}, which was just downloaded", target)
        return
    staged = st.staged.get(np.resolved)
    if staged is None:
        return
    content, why = staged
    if content is None:
        decoded = "decoded" in why
        _emit(
            st,
            "shell.remote_code",
            _BLOCK if decoded else _ESC,
            f"{runner or 'the command'} runs {target}, {why}: its code is not visible here",
            target,
            None if decoded else Severity.HIGH,
        )
        return
    if not runner:
        first = content.lstrip().split("\n", 1)[0]
        runner = posixpath.basename(first[2:].split()[-1]) if first.startswith("#!") and first[2:].split() else "sh"
    if runner in _SHELLS or runner == "sh":
        _parse_into(content, st, f"{target} (written earlier in this command)")
    else:
        _inline(runner, content, st)


def _stage_files(cmd: Cmd, st: _State, out: _Stage) -> None:
    """Remember what a redirection writes, so running the file later runs known (or unknown) code."""
    for r in cmd.redirects:
        if r.target is None or r.op not in (">", ">>", ">|", "&>", "&>>"):
            continue
        np = _path(_expand(r.target, st)[0], st)
        if out.echo_text is not None:
            prev = st.staged.get(np.resolved, (None, ""))[0] if r.op in (">>", "&>>") else None
            st.staged[np.resolved] = ((prev + "\n" if prev else "") + out.echo_text, "")
        elif out.decode or out.transform:
            st.staged[np.resolved] = (None, f"written by {out.name} from decoded or rewritten text")
        elif out.download:
            st.downloaded.update((np.lexical, np.resolved))
        else:
            st.staged[np.resolved] = (None, f"written by {out.name or 'a command'} at run time")


def _substitution(sub: Script, st: _State) -> None:
    saved = st.cwd
    st.depth += 1
    _script(sub, st)
    st.depth -= 1
    st.cwd = saved


def _obfuscation(w: Word, text: str, known: bool, st: _State) -> None:
    raw = w.raw
    if not w.dynamic and raw == text and _PLAIN_NAME.fullmatch(raw):
        return  # no quote, escape, $, glob or brace: none of the checks below can fire
    if "$IFS" in raw or "${IFS" in raw or "$IFS" in text:
        _emit(st, "shell.obfuscation", _BLOCK, "$IFS used as a separator hides the command's words", raw)
    inner = raw[1:-1] if len(raw) > 1 and raw[0] == raw[-1] and raw[0] in "'\"" else raw
    if inner.startswith("\\") and inner[1:].isalnum():
        inner = inner[1:]  # "\rm": the usual way to skip an alias, not a disguise
    if _PLAIN_NAME.fullmatch(w.text) and any(c in inner for c in "'\"\\"):
        _emit(
            st,
            "shell.obfuscation",
            _BLOCK,
            f"the command name {raw!r} is spliced with quotes or escapes to read as {w.text!r}",
            raw,
        )
    if raw.startswith("$'") or _ESCAPED_NAME.search(raw):
        _emit(st, "shell.obfuscation", _BLOCK, f"the command name {raw!r} is written with escape codes", raw)
    if ("*" in text or "?" in text or "[" in text) and not w.dynamic:
        _emit(st, "shell.obfuscation", _BLOCK, f"the command name {raw!r} is a glob: the real program is hidden", raw)
    if "{" in text and _BRACE_LIST.fullmatch(text):
        _emit(st, "shell.obfuscation", _BLOCK, f"brace expansion {raw!r} builds a command without spaces", raw)
        _parse_into(" ".join(text[1:-1].split(",")), st, "a brace expansion")
    if w.dynamic:
        if "${!" in raw:
            _emit(st, "shell.obfuscation", _ESC, "indirect expansion ${!v} picks the command at run time", raw)
        if known:
            _emit(
                st,
                "shell.obfuscation",
                _ESC if text in _SHELLS or len(_VAR.findall(raw)) < 2 else _BLOCK,
                f"the command name {raw!r} is assembled from variables (it is {text!r})",
                raw,
            )
        else:
            _emit(
                st,
                "shell.obfuscation",
                _ESC,
                f"the command name {raw!r} is only known at run time",
                raw,
                Severity.MEDIUM,
            )


def _redirects(cmd: Cmd, st: _State, out: _Stage, name: str) -> None:
    if not cmd.redirects:
        return
    base = posixpath.basename(name).lower()
    for r in cmd.redirects:
        if r.heredoc is not None and base:
            _inline(base, r.heredoc, st)
            if base == "cat":
                out.echo_text = r.heredoc  # cat <<EOF | sh runs the body
        if r.target is None:
            continue
        for _tag, sub in r.target.subs:
            _substitution(sub, st)
        t, _known = _expand(r.target, st)
        if _raw_socket(t):
            _emit(
                st, "shell.reverse_shell", _BLOCK, f"redirection to {t} opens a raw network socket (reverse shell)", t
            )
            continue
        if r.op == "<<<":
            _inline(base, t, st)
            continue
        if (r.op in (">&", "<&") and (t.isdigit() or t == "-")) or r.op == "<<":
            continue
        np = _path(t, st)
        if r.op == "<":
            _read(np, t, base, st, out, content=True)
        else:
            if (
                t not in ("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty")
                and st.policy.restricts_operations
                and not st.policy.allows_operation("write")
            ):
                _emit(
                    st,
                    "shell.operation",
                    _BLOCK,
                    f"redirection to {t} is a write, which the scope does not allow",
                    t,
                    Severity.HIGH,
                )
            _write_target(np, t, st, f"redirection to {t}")


# Commands that may delete one item per operand (the gate before `_mass.deletion` parses options).
_PER_ITEM = frozenset({"rm", "unlink", "shred", "rmdir", "redis-cli", "docker", "podman", "kubectl", "aws", "gsutil"})

# Interpreters whose inline code the code analyzer reads with a real parser.
_CODE_LANGUAGE = {"python": "python", "pypy": "python", "node": "js", "nodejs": "js", "deno": "js"}
_FORK_LOOP = re.compile(r"while\s*(?:True|1)\s*:\s*os\.fork")


def _inline(base: str, code: str, st: _State) -> None:
    """Code handed to an interpreter as a string (``-c``, here-doc, here-string)."""
    if base in _SHELLS:
        _parse_into(code, st, f"{base} input")
        return
    if not _INTERP.fullmatch(base) and base not in ("eval", "iex", "invoke-expression"):
        return
    lang = _CODE_LANGUAGE.get(base.rstrip("0123456789.")) if base[:1] in "pnd" else None
    if lang is not None and not st.strong and code.strip():
        st.routed.append((f"code:{lang}", code))  # the code analyzer parses it (ast / tree-sitter)
    if _PY_SOCKET.search(code) and (_PY_SPAWN.search(code) or re.search(r"dup2|/bin/(?:ba)?sh|pty|cmd\.exe", code)):
        _emit(st, "shell.reverse_shell", _BLOCK, f"inline {base} code connects a socket to a shell", code)
    elif _PY_SPAWN.search(code):
        _emit(st, "shell.remote_code", _BLOCK, f"inline {base} code spawns processes or evaluates strings", code)
    elif _PY_DELETE.search(code):
        _emit(st, "shell.destructive", _ESC, f"inline {base} code deletes files", code)
    elif _PY_OS.search(code):
        _emit(
            st,
            "shell.remote_code",
            _ESC,
            f"inline {base} code uses os/environment access; needs review",
            code,
            Severity.MEDIUM,
        )
    if _fork_bomb(code) or ("os.fork" in code and _FORK_LOOP.search(code)):
        _emit(st, "shell.fork_bomb", _BLOCK, "inline code forks without bound (fork bomb)", code)
    for lit in re.findall(r"['\"]([~/.$][^'\"\s]{1,200})['\"]", code):
        label = _sensitive(_path(lit, st), st.home)
        if label:
            _emit(st, "shell.sensitive", _BLOCK, f"inline {base} code opens {lit} ({label.replace('_', ' ')})", lit)


def _command(argv: list[str], wobjs: tuple[Word, ...], cmd: Cmd, st: _State, out: _Stage, index: int) -> None:
    a0 = argv[0]
    name = a0[a0.rfind("/") + 1 :]  # posixpath.basename, without the call
    base = name.lower()
    args = argv[1:]
    opts, ops = _split_opts(args)
    short = _short(opts)
    out.name = base
    shown = " ".join(argv)[:200]
    is_interp = bool(_INTERP.fullmatch(base))

    # -- what this stage is, for the pipeline rules
    out.download = base in _DOWNLOADERS
    out.raw_net = base in _RAW_NET or (base == "openssl" and "s_client" in args)
    out.network = base in _NETWORK or out.raw_net
    out.decode = (
        (base in ("base64", "base32") and ("d" in short or "D" in short or "--decode" in opts))
        or (base == "xxd" and "r" in short)
        or base in ("uudecode", "gunzip", "zcat", "rev")
        or (base == "openssl" and "-d" in opts)
        or (base in ("printf", "echo") and bool(_ESCAPED_NAME.search(" ".join(w.raw for w in wobjs))))
    )
    if base in ("echo", "printf") and all(not w.dynamic for w in wobjs):
        # What the command prints (escapes of printf and echo -e resolved): a script written with it is this text.
        printed = _static_value(((Cmd(wobjs),),))
        out.echo_text = printed if printed is not None else " ".join(ops)
    elif base == "cat" and not ops and st.stdin is not None:
        out.echo_text = st.stdin  # "echo x | cat | sh" passes the text on
    out.transform = base in _TRANSFORMS or (base == "openssl" and bool(ops) and ops[0] in ("enc", "base64"))
    stdin_code = not ops or ops[0] in ("-", "/dev/stdin") or "s" in short
    out.shell_stdin = index > 0 and (
        (base in _SHELLS and "c" not in short and stdin_code)
        or (is_interp and stdin_code and not ({"c", "e", "m", "E", "r"} & set(short)))
        or (base in ("source", ".") and bool(ops) and ops[0] in ("/dev/stdin", "-"))
        or base in ("iex", "invoke-expression")
    )
    if (base in _ENV_DUMP and (not args or args in (["-p"], ["-x"])) and base not in ("export", "declare")) or (
        base in ("export", "declare") and args in (["-p"], ["-x"], ["-px"])
    ):
        out.secret = f"the environment ({base})"

    # -- operations against the scope
    # Every command has an effect (docs/policy.md): a shell tool's scope is checked per
    # command, so `ls` runs under [read] and `python x.py` needs execute.
    op: str | None = command_effect(base, args, opts, ops)
    if (base == "sed" and "i" in short) or (base == "find" and "-delete" in args):
        op = "write" if base == "sed" else "delete"
    if base == "git" and ops:
        op = {
            "push": "write",
            "clean": "delete",
            "rm": "delete",
            "commit": "write",
            "add": "write",
            "reset": "write",
            "checkout": "write",
        }.get(ops[0], op)
    if op and st.policy.restricts_operations and not st.policy.allows_operation(op):
        _emit(
            st,
            "shell.operation",
            _BLOCK,
            f"{name} is a {op} operation, which the scope does not allow",
            shown,
            Severity.HIGH,
        )

    # -- code handed over as strings or substitutions
    interp = base in _SHELLS or is_interp or base in ("eval", "source", ".", "iex", "su", "exec")
    if base in _PER_ITEM and any(w.subs for w in wobjs[1:]):
        substituted(base, args, [sub for w in wobjs[1:] for _t, sub in w.subs], st, shown)
    for w in wobjs[1:]:
        if "${!" in w.raw:
            _emit(
                st,
                "shell.obfuscation",
                _ESC,
                "indirect expansion ${!v} picks a value at run time",
                w.raw,
                Severity.MEDIUM,
            )
        if not w.subs:
            continue
        dl, dec, secret = _sub_flags(w, st)
        if interp and (dl or dec):
            _emit(
                st,
                "shell.remote_code",
                _BLOCK,
                f"{name} runs code {'downloaded' if dl else 'decoded'} inside {w.raw[:60]}",
                w.raw,
            )
        if secret and (base in _NETWORK or out.network):
            _emit(st, "shell.exfiltration", _BLOCK, f"{name} sends {secret} in its arguments", w.raw)
    if base in _SHELLS or base == "su":
        for k, a in enumerate(args):
            if a.startswith("-") and not a.startswith("--") and "c" in a[1:] and k + 1 < len(args):
                _parse_into(args[k + 1], st, f"{name} -c")
                break
        if base == "su":
            _emit(
                st, "shell.privilege", _BLOCK, "su switches user; agents must not hold another account's shell", shown
            )
        elif ops and not stdin_code and "c" not in short:
            _run_file(ops[0], st, base, wobjs)
    elif is_interp:
        code = _inline_code(base, args)
        if base in ("pwsh", "powershell") and any(a.lower() in ("-enc", "-encodedcommand", "-e", "-ec") for a in args):
            _emit(st, "shell.obfuscation", _BLOCK, "PowerShell -EncodedCommand hides the script", shown)
        elif code is not None:
            _inline(base, code, st)
        elif ops:
            _run_file(ops[0], st, base, wobjs)
    elif base == "eval":
        if all(not w.dynamic for w in wobjs[1:]):
            _parse_into(" ".join(args), st, "eval")
        else:
            _emit(st, "shell.obfuscation", _ESC, "eval of a value only known at run time", shown)
    elif base in ("source", ".") and ops:
        _run_file(ops[0], st, "sh", wobjs)
    if (st.downloaded or st.staged) and (posixpath.basename(argv[0]) != argv[0] or argv[0].startswith(".")):
        _run_file(argv[0], st, "", ())

    # -- operands other analyzers own, programs that run other programs, infrastructure
    stdin = st.stdin
    for r in cmd.redirects:
        if r.op == "<<" and r.heredoc is not None:
            stdin = r.heredoc
        elif r.op == "<<<" and r.target is not None:
            stdin = r.target.text
    routed = base in DB_CLIENTS and route_database(base, args, st, stdin, shown)
    if base in _NETWORK:
        route_network(base, args, st)
    if base in CAPABILITIES:
        capabilities(base, args, [w.dynamic for w in wobjs[1:]], st)
    if base in SETTING_CLIS:
        route_settings(base, args, st)
    if base in SERVERS or (base.startswith(("python", "pypy")) and any(a[:2] == "-m" for a in args)):
        serve(base, args, st, shown)
    for nm, w in cmd.assigns:
        value, known = _expand(w, st)
        env_assignment(nm, value, not known, st)
    if base in ("export", "env", "declare", "typeset", "readonly", "local"):
        for a, w in zip(args, wobjs[1:], strict=False):
            nm, eq, val = a.partition("=")
            if eq and not nm.startswith("-"):
                env_assignment(nm, val, w.dynamic, st)
    if base in INFRA_TOOLS:
        effect = infra(base, args, st, shown, stdin)
        # command_operation (the vocabulary's owner) decided above; this covers CLIs it does not know.
        if op is None and effect and st.policy.restricts_operations and not st.policy.allows_operation(effect):
            _emit(
                st,
                "shell.operation",
                _BLOCK,
                f"{name} is a {effect} operation, which the scope does not allow",
                shown,
                Severity.HIGH,
            )

    # -- per-command rules
    if base in ("rm", "rmdir", "unlink", "shred"):
        _rm(base, opts, ops, wobjs, st, shown, short)
    elif (
        base.startswith("mkfs")
        or base in ("wipefs", "mkswap")
        or (base in ("fdisk", "sfdisk", "parted", "sgdisk") and any(o.startswith("/dev/") for o in ops))
    ):
        _emit(st, "shell.destructive", _BLOCK, f"{name} rewrites a disk or filesystem", shown)
    elif base == "dd":
        for a in args:
            key, _, val = a.partition("=")
            if key == "of":
                _write_target(_path(val, st), val, st, "dd of=")
            elif key == "if":
                _read(_path(val, st), val, base, st, out, content=True)
    elif (
        base in ("shutdown", "reboot", "halt", "poweroff", "killall5")
        or (base == "init" and ops[:1] in (["0"], ["6"]))
        or (base == "systemctl" and ops[:1] in (["poweroff"], ["reboot"], ["halt"], ["kexec"]))
    ):
        _emit(st, "shell.destructive", _BLOCK, f"{shown} takes the machine down", shown)
    elif base in ("kill", "pkill") and ("-1" in ops or "1" in ops or ("-1" in args and base == "kill")):
        _emit(st, "shell.destructive", _BLOCK, "kill of pid -1 or 1 terminates every process or init", shown)
    elif base in ("chmod", "chown", "chgrp", "setfacl", "chattr"):
        _perms(base, opts, ops, st, shown)
    elif base in _ACCOUNT:
        _emit(st, "shell.privilege", _BLOCK, f"{name} changes accounts, passwords or capabilities", shown)
    elif base in ("docker", "podman", "nerdctl") and ops[:1] in (["run"], ["create"]):
        joined = " ".join(args)
        if re.search(
            r"--privileged|--pid[= ]host|--cap-add[= ](?:all|sys_admin)|(?:-v|--volume)[= ]/:|--volume=/:|docker\.sock",
            joined,
            re.I,
        ):
            _emit(
                st, "shell.privilege", _BLOCK, "a privileged container or a host-root mount escapes the sandbox", shown
            )
    elif base == "crontab":
        if not ({"l"} & set(short)):
            if "r" in short:
                _emit(st, "shell.destructive", _ESC, "crontab -r removes every scheduled job", shown)
            elif "e" in short:
                _emit(st, "shell.persistence", _ESC, "crontab -e edits scheduled jobs", shown)
            else:
                _emit(st, "shell.persistence", _BLOCK, "crontab installs scheduled jobs (persistence)", shown)
    elif (
        (base == "systemctl" and "enable" in ops)
        or base in ("update-rc.d", "chkconfig", "batch")
        or (base == "at" and not {"l", "c", "r", "d"} & set(short))
        or (base == "launchctl" and ops[:1] in (["load"], ["bootstrap"], ["submit"]))
    ):
        _emit(st, "shell.persistence", _ESC, f"{shown} makes something run later or at boot", shown)
    elif base in ("schtasks", "reg") and re.search(r"/create|\\run(?:once)?\b", " ".join(args), re.I):
        _emit(st, "shell.persistence", _BLOCK, f"{name} registers a program to run at logon", shown)
    elif base == "git" and ops[:1] == ["config"] and len(ops) >= 3:
        key = ops[1].lower()
        if key in ("core.hookspath", "core.fsmonitor", "core.sshcommand", "core.pager", "core.editor") or (
            key.startswith("alias.") and ops[2].startswith("!")
        ):
            _emit(st, "shell.persistence", _BLOCK, f"git config {ops[1]} makes git run a program later", shown)
    elif base == "find":
        out.find_danger = _find(args, st, shown)
    elif base in _PATTERN_FIRST and base not in ("sed", "awk", "gawk", "jq") and len(ops) >= 2:
        if _HUNT.search(ops[0]) and any(_danger(_path(r, st), st) in (_ROOT, _SYS, _TOP, _PERSONAL) for r in ops[1:]):
            _emit(st, "shell.sensitive", _BLOCK, f"{name} searches {' '.join(ops[1:])} for credentials", shown)
    elif base == "cd" or base == "pushd":
        target = ops[0] if ops else "~"
        if (target != "-" and wobjs[1:] and all(not w.dynamic for w in wobjs[1:])) or not ops:
            st.cwd = _path(target, st).resolved
    elif base == "ssh":
        rest = _ssh_remote(args)
        if rest:
            saved = st.remote
            st.remote = True
            _parse_into(" ".join(rest), st, "ssh")
            st.remote = saved

    if base in ("socat",) and any(re.match(r"(?:exec|system):", a, re.I) or "pty" in a.lower() for a in ops):
        _emit(st, "shell.reverse_shell", _BLOCK, "socat attaches a program to a network address", shown)
    if base in ("nc", "ncat", "netcat", "pwncat") and (
        {"e", "c"} & set(short) or any(o.startswith(("--exec", "--sh-exec", "--lua-exec")) for o in opts)
    ):
        _emit(st, "shell.reverse_shell", _BLOCK, f"{name} -e hands a shell to a network peer", shown)
    if base == "xterm" and "-display" in args:
        _emit(st, "shell.reverse_shell", _BLOCK, "xterm -display sends a terminal to a remote X server", shown)
    for a in args:
        if _raw_socket(a):
            _emit(st, "shell.reverse_shell", _BLOCK, f"{a} opens a raw network socket", a)

    if routed:
        # A database client's operands are SQL and connection settings; only a database file is a file.
        if base in ("sqlite3", "duckdb") and ops:
            _files(base, [ops[0]], [], [ops[0]], wobjs, st, out)
    elif base in INFRA_TOOLS and base != "git" and not (base == "aws" and ops[:1] == ["s3"]):
        pass  # resources of their kind (namespace:, s3://), checked by _infra, not file paths
    elif base in _RAW_NET or base in ("telnet", "ftp", "tftp", "ping", "dig", "nslookup", "host"):
        pass  # host and port operands, judged by the HTTP analyzer (route_network), are not files
    elif base == "aws":
        for t in ops[2:]:
            if not t.startswith("s3://"):
                _read(_path(t, st), t, base, st, out, content=True)  # a local file uploaded to a bucket
    else:
        _files(base, args, opts, ops, wobjs, st, out)


_FIND_EXEC = Cap("-exec", "value", routine=True)


def _find(args: list[str], st: _State, shown: str) -> str | None:
    k = 0
    while k < len(args) and not args[k].startswith(("-", "(", "!")):
        k += 1
    roots = args[:k] or ["."]
    name_pat = next((args[j + 1] for j in range(k, len(args) - 1) if args[j] in ("-name", "-iname", "-path")), "x")
    danger = None
    filtered = any(a in ("-name", "-iname", "-path", "-ipath", "-regex", "-newer", "-mtime", "-user") for a in args[k:])
    for r in roots:
        np = _path(r, st)
        why = _danger(np, st)
        if why == _CWD and "-delete" in args and not filtered:
            _emit(
                st, "shell.destructive", _ESC, f"find {r} -delete without a filter empties the working directory", shown
            )
        if why == _CWD or (filtered and why in (_PARENT, _TOP)):
            why = None  # a filtered search of /tmp or /opt only touches what it matches
        if why:
            danger = danger or why
        if why and _HUNT_NAME.search(name_pat):
            _emit(st, "shell.sensitive", _BLOCK, f"find {r} -name {name_pat} hunts for credentials", shown)
        if "-delete" in args and why:
            _emit(st, "shell.destructive", _BLOCK, f"find {r} -delete deletes {why}", shown)
        _scope(np, r, st, _ESC, "find searches {}", r)
    j = k
    while j < len(args):
        if args[j] in ("-exec", "-execdir", "-ok", "-okdir"):
            end = next((e for e in range(j + 1, len(args)) if args[e] in (";", "+")), len(args))
            payload = [a.replace("{}", posixpath.join(roots[0], name_pat)) for a in args[j + 1 : end]]
            if payload and danger and posixpath.basename(payload[0]) in ("rm", "shred", "unlink", "truncate"):
                _emit(st, "shell.destructive", _BLOCK, f"find -exec {payload[0]} deletes files in {danger}", shown)
            if payload:
                judge_payload(st, "find", args[j], shlex.join(payload), _FIND_EXEC)
            j = end
        j += 1
    return danger
