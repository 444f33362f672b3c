"""Programs that can run other programs: a GTFOBins-style capability table (data, not command strings).

Many ordinary tools execute a command given to them as an option value, a script
fragment or an environment variable. Each entry below says *where* the command sits;
the walk extracts it and analyzes it as if it were typed directly (so ``tar
--checkpoint-action=exec='rm -rf /'`` is ``rm -rf /``). On top of that:

* a payload that is an interactive shell (``/bin/sh``, ``bash -i``) is the GTFOBins
  escape itself: **block** (``shell.exec_escape``);
* a payload only known at run time (``$var``, ``$(...)``) cannot be checked: **escalate**;
* an *unusual* path to execution (``awk system()``, ``sed e``, ``tar --checkpoint-action``,
  ``git -c core.pager``, ``ssh -o ProxyCommand`` that is not a proxy, ``LD_PRELOAD``,
  ``nsenter``) escalates even when the payload is harmless: an agent that means to run
  ``id`` runs ``id``. Routine paths (``find -exec``, ``xargs``, ``rsync -e ssh``,
  ``GIT_SSH_COMMAND='ssh -i key'``, ``trap 'rm -f $tmp' EXIT``) only have their payload analyzed.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from agentgate._decision import Severity
from agentgate.analyzers.shell._rules import _BLOCK, _ESC, _SHELLS, _emit, _State, _words


@dataclass(frozen=True, slots=True)
class Cap:
    """Where a program takes a command.

    Attributes:
        option: The option carrying it (``--checkpoint-action``), or ``""`` for the program text.
        form: ``value`` (the option's value is a command), ``exec=`` (``key=value``, the command after
            ``exec=``), ``git-config`` (``-c key=value`` with command keys), ``ssh-option``
            (``-o Key=command``), ``awk`` / ``sed`` / ``vim`` (the command inside that language),
            ``rest`` (every word after the option is the command).
        routine: Whether this path is everyday use (only the payload is judged).
        transport: Payloads whose program is one of these are routine even on an unusual path
            (``ProxyCommand ssh -W %h:%p bastion``).
    """

    option: str
    form: str
    routine: bool = False
    transport: frozenset[str] = frozenset()


_SSH_LIKE = _words("ssh autossh sshpass ssh.exe mosh")
_PROXY_LIKE = _SSH_LIKE | _words("nc ncat netcat connect connect-proxy corkscrew cloudflared aws gcloud socat")

#: program → its command-taking capabilities
CAPABILITIES: dict[str, tuple[Cap, ...]] = {
    "awk": (Cap("", "awk"),),
    "sed": (Cap("", "sed"),),
    "tar": (
        Cap("--checkpoint-action", "exec="),
        Cap("--to-command", "value"),
        Cap("--info-script", "value"),
        Cap("--new-volume-script", "value"),
        Cap("-F", "value"),
        Cap("--rsh-command", "value", transport=_SSH_LIKE),
        Cap("--use-compress-program", "value", routine=True),
        Cap("-I", "value", routine=True),
    ),
    "zip": (Cap("-TT", "value"), Cap("--unzip-command", "value")),
    "rsync": (Cap("-e", "value", transport=_SSH_LIKE), Cap("--rsh", "value", transport=_SSH_LIKE)),
    "scp": (Cap("-S", "value", transport=_SSH_LIKE),),
    "ssh": (Cap("-o", "ssh-option", transport=_PROXY_LIKE),),
    "git": (
        Cap("-c", "git-config", transport=_SSH_LIKE),
        Cap("--upload-pack", "value"),
        Cap("--receive-pack", "value"),
        Cap("--exec", "value"),
    ),
    "vim": (Cap("-c", "vim"), Cap("--cmd", "vim"), Cap("+", "vim")),
    "man": (Cap("-P", "value"), Cap("--pager", "value"), Cap("-H", "value")),
    "less": (Cap("+", "vim"),),
    "nsenter": (Cap("", "rest"),),
    "unshare": (Cap("", "rest"),),
    "chroot": (Cap("", "rest"),),
    "script": (Cap("-c", "value", routine=True), Cap("--command", "value", routine=True)),
    "flock": (Cap("-c", "value", routine=True), Cap("--command", "value", routine=True)),
    "gdb": (Cap("-ex", "vim"), Cap("--eval-command", "vim")),
    "expect": (Cap("-c", "value"),),
    "tmux": (Cap("", "rest", routine=True),),
    "screen": (Cap("", "rest", routine=True),),
    "systemd-run": (Cap("", "rest"),),
    "trap": (Cap("", "trap", routine=True),),
    "alias": (Cap("", "alias", routine=True),),
    "mysql": (Cap("--pager", "value"), Cap("--init-command", "sql")),
    "perf": (Cap("", "rest", routine=True),),
    "strace": (Cap("", "rest", routine=True),),
    "ltrace": (Cap("", "rest", routine=True),),
    "valgrind": (Cap("", "rest", routine=True),),
    "firejail": (Cap("", "rest", routine=True),),
    "proxychains": (Cap("", "rest", routine=True),),
    "torsocks": (Cap("", "rest", routine=True),),
    "taskset": (Cap("", "rest", routine=True),),
    "setarch": (Cap("", "rest", routine=True),),
    "faketime": (Cap("", "rest", routine=True),),
}
for _alias, _of in (("gawk", "awk"), ("mawk", "awk"), ("nawk", "awk"), ("gsed", "sed"), ("gtar", "tar")):
    CAPABILITIES[_alias] = CAPABILITIES[_of]
for _v in ("vi", "nvim", "ex", "view", "rvim", "vimdiff"):
    CAPABILITIES[_v] = CAPABILITIES["vim"]
CAPABILITIES["more"] = CAPABILITIES["less"]

_BY_OPTION: dict[str, dict[str, Cap]] = {
    prog: {c.option: c for c in caps if c.option} for prog, caps in CAPABILITIES.items()
}

#: environment variables whose value is a command (or code) some program will run
ENV_COMMANDS: dict[str, Cap] = {
    "GIT_SSH_COMMAND": Cap("", "value", routine=True, transport=_SSH_LIKE),
    "GIT_SSH": Cap("", "value", routine=True, transport=_SSH_LIKE),
    "RSYNC_RSH": Cap("", "value", routine=True, transport=_SSH_LIKE),
    "GIT_PROXY_COMMAND": Cap("", "value"),
    "GIT_EXTERNAL_DIFF": Cap("", "value"),
    "GIT_PAGER": Cap("", "value", routine=True),
    "GIT_EDITOR": Cap("", "value", routine=True),
    "PAGER": Cap("", "value", routine=True),
    "MANPAGER": Cap("", "value", routine=True),
    "EDITOR": Cap("", "value", routine=True),
    "VISUAL": Cap("", "value", routine=True),
    "LESSOPEN": Cap("", "pipe"),
    "LESSCLOSE": Cap("", "value"),
    "PROMPT_COMMAND": Cap("", "value"),
    "BASH_ENV": Cap("", "file"),
    "ENV": Cap("", "file"),
}
#: environment variables that make every program load a native library
ENV_LOADERS = _words("LD_PRELOAD LD_AUDIT DYLD_INSERT_LIBRARIES")
#: files an interpreter runs at start-up, whatever it was asked to run
ENV_STARTUP = _words("PYTHONSTARTUP PERL5DB RUBY_DEBUG_INIT")
#: search paths a loader or an interpreter looks in before its own libraries: pointing one at
#: a temporary, hidden or world-writable place makes the program load what was planted there
#: (``PYTHONPATH=src`` or ``LD_LIBRARY_PATH=/usr/local/cuda/lib64`` is a build, not an attack)
ENV_SEARCH_PATHS = _words(
    "LD_LIBRARY_PATH DYLD_LIBRARY_PATH DYLD_FRAMEWORK_PATH DYLD_FALLBACK_LIBRARY_PATH PYTHONPATH PYTHONHOME "
    "PYTHONUSERBASE NODE_PATH PERL5LIB PERLLIB RUBYLIB GEM_PATH CLASSPATH GCONV_PATH PATH GIT_EXEC_PATH "
    "GIT_TEMPLATE_DIR LUA_PATH LUA_CPATH"
)
_PLANTED_DIR = re.compile(
    r"^(?:/tmp|/var/tmp|/dev/shm|/run/shm|/var/run/user|/private/tmp|\$\{?TMPDIR\b|/home/[^/]+/Downloads|~/Downloads)(?:/|$)"
    r"|(?:^|/)\.(?!\.?(?:/|$)|venv\b|local\b|cargo\b|nvm\b|pyenv\b|rbenv\b|npm\b|nix-profile\b|bun\b)[^/]",
    re.IGNORECASE,
)


def planted_search_path(value: str) -> str | None:
    """The first component of a search-path value in a temporary, hidden or world-writable directory."""
    for part in re.split(r"[:;]", value):
        p = part.strip().strip("'\"")
        if p and _PLANTED_DIR.search(p):
            return p
    return None


def loader_env(name: str, value: str) -> str | None:
    """Why setting *name* to *value* makes a process load or run code it was not built with, or None
    (commands carried in a value, such as ``GIT_SSH_COMMAND``, are judged as commands instead)."""
    if name in ENV_LOADERS and value:
        return f"{name}={value[:60]} makes every program load a library it was not built with"
    if (p := ENV_OPTION_LOADERS.get(name)) is not None and p.search(value):
        return f"{name}={value[:60]} makes the runtime load code it was not asked to"
    if name in ENV_STARTUP and value:
        return f"{name}={value[:60]} makes the interpreter run a file at start-up"
    if name in ENV_SEARCH_PATHS and (planted := planted_search_path(value)) is not None:
        return f"{name} searches {planted[:60]} first: the program loads what was planted there"
    return None


#: runtime option variables, and the flags in them that load code
ENV_OPTION_LOADERS: dict[str, re.Pattern[str]] = {
    "NODE_OPTIONS": re.compile(r"(?:^|\s)(?:--require|-r|--import|--loader|--experimental-loader)\b"),
    "PERL5OPT": re.compile(r"(?:^|\s)-[Md]"),
    "RUBYOPT": re.compile(r"(?:^|\s)-r"),
    "JAVA_TOOL_OPTIONS": re.compile(r"-javaagent|-agentpath|-agentlib"),
    "_JAVA_OPTIONS": re.compile(r"-javaagent|-agentpath|-agentlib"),
    "JDK_JAVA_OPTIONS": re.compile(r"-javaagent|-agentpath|-agentlib"),
    # git -c given through the environment: settings whose value git runs
    "GIT_CONFIG_PARAMETERS": re.compile(
        r"(?i)core\.(?:sshcommand|pager|editor|fsmonitor|hookspath|askpass)|credential\.helper|diff\.external"
        r"|uploadpack\.packobjectshook|protocol\.ext\.allow"
    ),
}
#: every variable the shell judges when it is set (commands, loaders, start-up files, search paths)
ENV_NAMES = frozenset(ENV_COMMANDS) | ENV_LOADERS | ENV_STARTUP | ENV_SEARCH_PATHS | frozenset(ENV_OPTION_LOADERS)
_GIT_COMMAND_KEYS = _words(
    "core.sshcommand core.pager core.editor core.fsmonitor core.hookspath core.askpass sequence.editor "
    "diff.external credential.helper gpg.program uploadpack.packobjectshook protocol.ext.allow"
)
_GIT_ROUTINE_KEYS = _words("core.pager core.editor sequence.editor gpg.program")
_SSH_COMMAND_KEYS = _words("proxycommand localcommand knownhostscommand")
_AWK_EXEC = re.compile(
    r"""\bsystem\s*\(\s*(?:"((?:[^"\\]|\\.)*)"|([^)]*))|\|\s*"((?:[^"\\]|\\.)*)"|"((?:[^"\\]|\\.)*)"\s*\|"""
)
_VIM_EXEC = re.compile(
    r"^\s*(?::\s*)?(?:!|(?:call\s+)?system\s*\(|silent\s*!|sh(?:ell)?\b|term(?:inal)?\b|py3?\s|python3?\s|lua\s|perl\s|ruby\s)"
)


def _payload_program(text: str) -> str:
    first = text.strip().split(None, 1)[0] if text.strip() else ""
    return posixpath.basename(first.strip("'\"")).lower()


def _spawns_shell(payload: str) -> bool:
    """Whether some command of *payload* is a shell reading commands from its terminal (no -c, no script)."""
    from agentgate.analyzers.shell._parse import _iter_commands, parse

    for cmd in _iter_commands(parse(payload)[0]):
        words = [w.text for w in cmd.words]
        if not words or posixpath.basename(words[0]).lower() not in _SHELLS:
            continue
        rest = [a for a in words[1:] if not a.isdigit()]  # "sh 0<&2": a descriptor, however it parsed
        if all(a.startswith("-") and "c" not in a.lstrip("-") for a in rest) or rest[:1] == ["-"]:
            return True
    return False


def judge_payload(st: _State, prog: str, how: str, payload: str | None, cap: Cap, dynamic: bool = False) -> None:
    """Analyze a command *prog* runs through *how*, and judge the path itself (module docstring)."""
    from agentgate.analyzers.shell._walk import _parse_into  # the walk imports this module

    where = f"{prog} {how}".strip()
    if payload is None or dynamic:
        _emit(st, "shell.exec_escape", _ESC, f"{where} runs a command only known at run time", where, Severity.HIGH)
        return
    payload = payload.strip()
    if not payload:
        return
    inner = _payload_program(payload)
    if _spawns_shell(payload):
        _emit(st, "shell.exec_escape", _BLOCK, f"{where} spawns an interactive shell (a GTFOBins escape)", payload)
        return
    _parse_into(payload, st, where)
    if not cap.routine and inner not in cap.transport:
        _emit(st, "shell.exec_escape", _ESC, f"{where} runs the command {payload[:80]!r}", payload, Severity.HIGH)


def capabilities(base: str, args: list[str], dyn: list[bool], st: _State) -> None:
    """Extract and judge every command *base* would run through its capabilities (see `CAPABILITIES`)."""
    caps = CAPABILITIES.get(base)
    if not caps:
        return
    by_option = _BY_OPTION[base]
    for cap in caps:
        if not cap.option:
            if cap.form in ("awk", "sed"):
                _script_language(base, cap, args, st)
            else:
                _rest(base, cap, args, dyn, st)
    if not by_option:
        return
    for k, a in enumerate(args):
        if not a or a[0] not in "-+":
            continue
        exact = by_option.get(a)
        if exact is not None and exact.option != "+":
            if k + 1 < len(args):
                _one(base, exact, args[k + 1], dyn[k + 1], st)
            continue
        if a[0] == "+" and len(a) > 1 and "+" in by_option:
            _one(base, by_option["+"], a[1:], dyn[k], st)
        elif a.startswith("--") and "=" in a:
            key, _, val = a.partition("=")
            if (glued := by_option.get(key)) is not None:
                _one(base, glued, val, dyn[k], st)
        elif a.startswith("-TT") and len(a) > 3 and "-TT" in by_option:
            _one(base, by_option["-TT"], a[3:], dyn[k], st)


def _one(base: str, cap: Cap, val: str, d: bool, st: _State) -> None:
    form = cap.form
    if form == "value":
        judge_payload(st, base, cap.option, val, cap, d)
    elif form == "sql":
        from agentgate.analyzers.shell._route import _sql

        _sql(st, "mysql", val)
    elif form == "exec=":
        for part in val.split(","):
            if part.startswith("exec="):
                judge_payload(st, base, f"{cap.option}=exec", part[5:], cap, d)
    elif form == "git-config":
        key, _, value = val.partition("=")
        key = key.lower()
        if key in _GIT_COMMAND_KEYS or (key.startswith("alias.") and value.startswith("!")):
            if key == "protocol.ext.allow":
                if value.lower() == "always":
                    _emit(
                        st,
                        "shell.exec_escape",
                        _ESC,
                        "git -c protocol.ext.allow=always lets ext:: URLs run commands",
                        val,
                    )
                return
            # A pager or editor is routinely set per call (git -c core.pager=cat log): only its command is judged.
            routine = key in _GIT_ROUTINE_KEYS
            c = cap if key == "core.sshcommand" else Cap(cap.option, cap.form, routine=routine)
            judge_payload(st, base, f"-c {key}", value.lstrip("!"), c, d)
    elif form == "ssh-option":
        key, sep, value = val.partition("=")
        if not sep:
            key, _, value = val.partition(" ")
        if key.strip().lower() in _SSH_COMMAND_KEYS:
            c = cap if key.strip().lower() == "proxycommand" else Cap(cap.option, cap.form)
            judge_payload(st, base, f"-o {key.strip()}", value, c, d)
    elif form == "vim":
        m = _VIM_EXEC.match(val)
        if m:
            cmd = val.strip().lstrip(":").strip()
            cmd = cmd[len("silent") :].strip() if cmd.startswith("silent") else cmd
            payload = cmd[1:] if cmd.startswith("!") else None
            if payload is None:
                _emit(
                    st,
                    "shell.exec_escape",
                    _ESC if not re.match(r"sh(?:ell)?\b|term", cmd) else _BLOCK,
                    f"{base} {cap.option} {cmd[:40]!r} runs commands from the editor",
                    val,
                    Severity.HIGH,
                )
            else:
                judge_payload(st, base, f"{cap.option} !", payload, cap, d)


def _rest(base: str, cap: Cap, args: list[str], dyn: list[bool], st: _State) -> None:
    if cap.form == "trap":
        if args and not args[0].startswith("-"):
            judge_payload(st, base, "", args[0], cap, dyn[0])
        return
    if cap.form == "alias":
        for k, a in enumerate(args):
            name, sep, value = a.partition("=")
            if sep:
                judge_payload(st, base, name, value, cap, dyn[k])
                prog = _payload_program(value)
                if prog and prog != name and name in _SHADOWED:
                    _emit(st, "shell.exec_escape", _ESC, f"alias {name} makes {name} run {prog}", a, Severity.HIGH)
        return
    k = 0
    while k < len(args) and args[k].startswith("-"):
        k += 1
    rest = args[k:]
    if base == "nsenter" and ("-t" in args or "--target" in args or any(a.startswith("--target=") for a in args)):
        t = args[args.index("-t") + 1] if "-t" in args and args.index("-t") + 1 < len(args) else ""
        if t == "1" or "--target=1" in args or "-a" in args or "--all" in args:
            _emit(
                st, "shell.privilege", _BLOCK, "nsenter into PID 1's namespaces escapes the container", " ".join(args)
            )
        # option values follow their flags: the command starts after the last value-taking option
        rest = [a for a in args if not a.startswith("-") and a != t]
    if base == "chroot" and rest:
        rest = rest[1:]
    if base in ("tmux", "screen") and rest:
        rest = rest[1:] if rest[0] in ("new", "new-session", "new-window", "send-keys") else []
    if base in ("strace", "ltrace", "perf") and rest and rest[0] in ("record", "stat", "trace"):
        rest = rest[1:]
    if rest:
        judge_payload(st, base, "", " ".join(rest), cap, any(dyn[len(args) - len(rest) :]))
    elif base in ("nsenter", "unshare", "chroot"):
        judge_payload(st, base, "", "sh", cap)  # no command: the default is an interactive shell


_SHADOWED = _words("ls cd cat sudo su git ssh cp mv rm grep find echo python python3 pip npm curl wget make")


def _script_language(base: str, cap: Cap, args: list[str], st: _State) -> None:
    """awk and sed programs: the command strings their exec primitives run."""
    progs: list[str] = []
    k = 0
    first_operand: str | None = None
    while k < len(args):
        a = args[k]
        if a in ("-e", "--expression") and k + 1 < len(args):
            progs.append(args[k + 1])
            k += 2
            continue
        if a.startswith("--expression="):
            progs.append(a.split("=", 1)[1])
        elif a in ("-f", "--file", "-v", "-F") and k + 1 < len(args):
            k += 2
            continue
        elif not a.startswith("-") and first_operand is None:
            first_operand = a
        k += 1
    if not progs and first_operand is not None:
        progs.append(first_operand)
    for p in progs:
        if base.endswith("awk"):
            for m in _AWK_EXEC.finditer(p):
                lit = m.group(1) if m.group(1) is not None else m.group(3) if m.group(3) is not None else m.group(4)
                judge_payload(st, base, "system()", lit, Cap("", "awk"), lit is None)
        else:
            for payload, known in _sed_exec(p):
                judge_payload(st, base, "e", payload, Cap("", "sed"), not known)


_SED_ADDR = re.compile(
    r"\s*(?:\d+|\$|/(?:[^/\\]|\\.)*/[IM]*)?(?:\s*,\s*(?:\d+|\$|/(?:[^/\\]|\\.)*/[IM]*|[~+]\d+))?\s*!?\s*"
)


def _sed_exec(prog: str) -> list[tuple[str, bool]]:
    """The commands a GNU sed program runs: ``e command`` and the ``e`` flag of ``s///``."""
    out: list[tuple[str, bool]] = []
    for raw in re.split(r"[;\n]", prog):
        m = _SED_ADDR.match(raw)
        body = raw[m.end() :] if m else raw
        if body.startswith("e"):
            cmd = body[1:].strip()
            out.append((cmd, True) if cmd else ("", False))
        elif body.startswith("s") and len(body) > 1:
            d = body[1]
            parts = re.split(r"(?<!\\)" + re.escape(d), body[2:])
            if len(parts) >= 3 and "e" in parts[2].strip():
                out.append((parts[1], "\\" not in parts[1] and "&" not in parts[1]))
    return out


def env_assignment(name: str, value: str, dynamic: bool, st: _State) -> None:
    """An environment variable set for (or exported to) later commands: commands and loaders it carries."""
    cap = ENV_COMMANDS.get(name)
    if cap is not None:
        if cap.form == "file":
            _emit(
                st, "shell.exec_escape", _ESC, f"{name}={value} makes every non-interactive shell source a file", value
            )
        elif cap.form == "pipe":
            judge_payload(st, name, "", value.lstrip("|").replace("%s", "x"), cap, dynamic)
        else:
            judge_payload(st, name, "", value, cap, dynamic)
    elif (why := loader_env(name, value)) is not None:
        _emit(st, "shell.exec_escape", _ESC, why, f"{name}={value}"[:200], Severity.HIGH)
