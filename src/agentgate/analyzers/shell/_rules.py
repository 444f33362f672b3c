"""Shell analyzer rules: vocabularies, analysis state and the per-command rule functions."""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
from dataclasses import dataclass, field

from agentgate._decision import Effect, Finding, Severity
from agentgate.analyzers.filesystem import (
    NormalizedPath,
    normalize_path,
    path_facts,
    resolve_path,
    scope_violation,
)
from agentgate.analyzers.shell._parse import Script, Word
from agentgate.policy import EffectivePolicy

# ------------------------------------------------------------------------- vocabulary


def _words(s: str) -> frozenset[str]:
    return frozenset(s.split())


_SHELLS = _words("sh bash zsh dash ksh mksh ash fish csh tcsh busybox rbash")
_INTERP = re.compile(
    r"(?:python[0-9.]*|pypy[0-9.]*|perl[0-9.]*|ruby[0-9.]*|node|nodejs|php[0-9.]*|lua[0-9.]*|pwsh|powershell|deno|bun|osascript|tclsh|r|rscript)(?:\.exe)?"
)
_DOWNLOADERS = _words(
    "curl wget fetch aria2c http https xh lwp-request lwp-download get iwr irm invoke-webrequest invoke-restmethod"
)
_RAW_NET = _words("nc ncat netcat socat telnet cryptcat pwncat")
_NETWORK = (
    _DOWNLOADERS
    | _RAW_NET
    | _words("ssh scp sftp rsync ftp tftp dig nslookup host smbclient ping sendmail mail mutt aws gsutil rclone")
)
_DECODERS = _words("base64 base32 xxd uudecode gunzip zcat openssl rev tr")
# Programs whose output is a rewriting of their input: piped into a shell, the code that runs is not the text written.
_TRANSFORMS = _words(
    "tr sed awk gawk rev xxd od base64 base32 basenc uudecode gunzip zcat bzcat xzcat gzip bzip2 xz zstd "
    "iconv recode perl python python3 ruby node cut paste fold col dd"
)
_ENV_DUMP = _words("env printenv set declare export compgen")
_CONTENT = _words(
    "cat tac nl less more head tail strings xxd od hexdump base64 base32 sort uniq cut paste diff cmp comm fold "
    "column iconv bat view vim vi nvim nano emacs code cp mv install rsync scp sftp tar zip 7z gzip bzip2 xz zstd "
    "dd tee gpg jq yq grep egrep fgrep rg ag ack awk gawk sed curl wget nc ncat netcat socat python python3 "
    "node ruby perl php xclip pbcopy"
)
_PATH_ONLY = _words(
    "ls stat file test [ chmod chown chgrp echo printf mkdir touch basename dirname realpath readlink ssh-add "
    "ssh-keygen source . export cd pushd which type du wc md5sum sha1sum sha256sum sha512sum shasum rm rmdir "
    "unlink ssh kubectl helm docker terraform ansible git-crypt sops chattr lsattr"
)
_PRIV = _words("sudo doas pkexec runuser")
_ACCOUNT = _words(
    "useradd adduser usermod userdel deluser passwd chpasswd gpasswd groupadd visudo setcap newusers vipw"
)
# busybox and toybox are multi-call binaries: "busybox nc -e sh" is the nc applet.
_WRAPPERS = (
    _words("nohup time command builtin exec setsid stdbuf unbuffer nice ionice timeout watch env xargs busybox toybox")
    | _PRIV
)
_WRAPPER_OPTS = {  # options that take a value, per wrapper
    "sudo": _words("-u -g -C -D -h -p -r -t -U -T -R"),
    "doas": _words("-u -C"),
    "runuser": _words("-u -g -G"),
    "env": _words("-u -C -S --unset --chdir"),
    "nice": _words("-n"),
    "ionice": _words("-c -n -p"),
    "timeout": _words("-s -k --signal --kill-after"),
    "stdbuf": _words("-i -o -e"),
    "exec": _words("-a"),
    "watch": _words("-n -d --interval"),
    "xargs": _words("-I -i -n -P -d -L -s -a -E -e --max-args --max-procs --delimiter --arg-file --replace"),
}
_READ_CMDS = _words(
    "cat tac nl less more head tail strings xxd od hexdump wc stat file du ls tree md5sum sha1sum sha256sum sort uniq cut diff cmp jq yq bat"
)
_PATTERN_FIRST = _words("grep egrep fgrep rg ag ack sed awk gawk jq")
_OP_OF = {
    **dict.fromkeys(_words("rm rmdir unlink shred wipefs truncate"), "delete"),
    **dict.fromkeys(_words("cp mv touch mkdir tee ln install dd"), "write"),
    **dict.fromkeys(_DOWNLOADERS | _words("dig nslookup host ping ftp tftp smbclient"), "read"),
    **dict.fromkeys(_RAW_NET, "write"),
    **dict.fromkeys(_words("ssh"), "execute"),
    **dict.fromkeys(_words("sendmail mail mutt"), "send"),
    **dict.fromkeys(_words("chmod chown chgrp setfacl chattr mount umount") | _PRIV | _ACCOUNT | {"su"}, "configure"),
}
# Request bodies and uploads: a downloader given one of these writes to the remote side.
_DL_WRITE_OPTS = _words(
    "-d --data --data-raw --data-binary --data-urlencode --json -F --form --form-string -T --upload-file "
    "--post-data --post-file --body-data --body-file"
)
_DL_METHOD_OPTS = _words("-X --request --method")
# Cloud and cluster CLIs: the subcommand says the effect (aws s3 rm, kubectl scale, gsutil cp).
_SUBCOMMAND_CLIS = _words("aws gsutil gcloud az rclone kubectl helm terraform systemctl service docker gh")
_SUBCOMMAND_OP = {
    **dict.fromkeys(_words("ls get list describe cat show status logs top diff plan version view"), "read"),
    **dict.fromkeys(_words("cp mv sync put mb create copy upload label annotate commit build push"), "write"),
    **dict.fromkeys(_words("rm rb delete remove purge destroy uninstall prune"), "delete"),
    **dict.fromkeys(
        _words("scale restart rollout apply install upgrade rollback set patch enable disable edit cordon drain "
               "reload autoscale iam"),
        "configure",
    ),
    **dict.fromkeys(_words("run exec start stop kill"), "execute"),
}  # fmt: skip


# Commands that only look: listing, printing, searching, the shell's own harmless builtins.
_LOOK_CMDS = (
    _READ_CMDS
    | _PATTERN_FIRST
    | _words(
        "echo printf pwd true false test [ cd pushd popd which type command whoami id uname date hostname basename "
        "dirname realpath readlink sleep find tree ls du df env printenv file wc sort uniq cut tr column"
    )
)


def command_effect(base: str, args: list[str], opts: list[str], ops: list[str]) -> str:
    """`command_operation`, with every command given an effect: ones that only look are reads,
    anything else not known (an interpreter, a build tool, a binary) is ``execute``."""
    op = command_operation(base, args, opts, ops)
    if op is not None:
        return op
    if base == "find" and any(a in ("-exec", "-execdir", "-ok", "-okdir", "-fprint", "-fls") for a in args):
        return "execute"
    return "read" if base in _LOOK_CMDS else "execute"


def command_namespaces(base: str, args: list[str]) -> list[str]:
    """Namespaces a cluster CLI acts in (``-n x``, ``--namespace x``, ``--namespace=x``)."""
    if base not in ("kubectl", "helm", "oc"):
        return []
    out: list[str] = []
    for i, a in enumerate(args):
        if a in ("-n", "--namespace") and i + 1 < len(args):
            out.append(args[i + 1])
        elif a.startswith("--namespace="):
            out.append(a.split("=", 1)[1])
        elif a.startswith("-n") and len(a) > 2 and not a.startswith("--"):
            out.append(a[2:])
    if any(a in ("-A", "--all-namespaces") for a in args):
        out.append("*")
    return out


_GIT_OP = {
    "push": "write",
    "clean": "delete",
    "rm": "delete",
    "commit": "write",
    "add": "write",
    "reset": "write",
    "checkout": "write",
    "merge": "write",
    "rebase": "write",
    "pull": "write",
    "clone": "write",
    "tag": "write",
    "mv": "write",
    "restore": "write",
    "switch": "write",
    "stash": "write",
    "config": "configure",
    "remote": "configure",
}
# git subcommands whose operands are remotes, refs and commits (a path only after "--").
_GIT_REF_VERBS = _words(
    "push pull fetch merge rebase switch branch tag cherry-pick revert remote log show shortlog describe "
    "rev-parse rev-list reflog bisect"
)
_GIT_READ = _words("status log diff show branch fetch ls-files ls-remote grep blame describe rev-parse shortlog")


def command_operation(base: str, args: list[str], opts: list[str], ops: list[str]) -> str | None:
    """The effect of one command (docs/policy.md): downloaders read unless they send a body or
    use a writing method; copies to a ``host:path`` write there; cloud/cluster CLIs by subcommand."""
    from agentgate.analyzers.classify import messaging_endpoint

    op = _OP_OF.get(base)
    if base in _DOWNLOADERS:
        method = None
        for i, a in enumerate(args):
            if a in _DL_METHOD_OPTS and i + 1 < len(args):
                method = args[i + 1].upper()
            elif a.startswith(("--request=", "--method=")):
                method = a.split("=", 1)[1].upper()
            elif a.startswith("-X") and len(a) > 2:
                method = a[2:].upper()
        if method == "DELETE":
            return "delete"
        if method in ("POST", "PUT", "PATCH") or any(o.split("=", 1)[0] in _DL_WRITE_OPTS for o in opts):
            return "send" if any(messaging_endpoint(o) for o in ops if "://" in o) else "write"
        return "read"
    if base in ("scp", "rsync", "sftp"):
        remote = [o for o in ops if ":" in o and not o.startswith("/")]
        if "--delete" in opts and base == "rsync":
            return "delete"
        return "write" if remote and ops and ops[-1] in remote else "read"
    if base == "git" and ops:
        return _GIT_OP.get(ops[0], "read" if ops[0] in _GIT_READ else None)
    if base in _SUBCOMMAND_CLIS:
        for w in ops[:4]:
            for part in w.lower().split("-"):
                if part in _SUBCOMMAND_OP:
                    return _SUBCOMMAND_OP[part]
    return op


_EXT = re.compile(r"\.\w{1,5}$")
_PLAIN_NAME = re.compile(r"[\w./+-]+")
_BRACE_LIST = re.compile(r"\{[^{}]*,[^{}]*\}")
_ARG_INDEX = re.compile(r"\[\d+\]$")
_RAW_SOCKET = re.compile(r"/dev/(?:tcp|udp)/|/inet/(?:tcp|udp)/")
_HUNT = re.compile(
    r"private.key|begin (?:rsa|openssh|ec|dsa|pgp)|aws_secret|akia|passw|secret|api.?key|token|credential", re.I
)
_HUNT_NAME = re.compile(
    r"id_|\.pem|\.key|\.env|\.netrc|\.pgpass|credential|secret|passw|\.kdbx|\.ppk|\.p12|\.pfx|wallet|shadow", re.I
)
_ESCAPED_NAME = re.compile(r"\\[xX][0-9a-fA-F]{2}|\\[0-7]{3}|\\u[0-9a-fA-F]{4}")
_NUMERIC_SPECIAL = re.compile(
    r"\$(?:\$|\{\$\}|!|\{!\}|\{?(?:RANDOM|PPID|BASHPID|SECONDS|EPOCHSECONDS|LINENO|SRANDOM)\b\}?)"
)
_VAR = re.compile(r"\$(?:\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*))")
_FORK_BOMB = re.compile(
    r"(?<![\w:.])([\w:.]+)\s*\(\s*\)\s*\{\s*\1\s*\|\s*\1\s*&?\s*;?\s*\}|\bfork\s*(?:\(\s*\))?\s*while\s+fork|while\s*(?:true|1|:)\s*;?\s*do\s+\$0\s*&"
)


def _fork_bomb(s: str) -> bool:
    """`_FORK_BOMB` matches; text lacking what every branch needs skips it.

    The lookbehind makes a function name start only at the beginning of its run, so a
    60 kB word is scanned once instead of once per character (67 s before).
    """
    return (("{" in s and "|" in s) or "fork" in s or "$0" in s) and _FORK_BOMB.search(s) is not None


def _raw_socket(s: str) -> bool:
    """`_RAW_SOCKET` matches (a substring test first: most words name no device)."""
    return ("/dev/" in s or "/inet/" in s) and _RAW_SOCKET.search(s) is not None


_PY_SPAWN = re.compile(
    r"os\.(?:system|popen|exec\w*|spawn\w*|fork)|subprocess|pty\.spawn|__import__|\bexec\s*\(|\beval\s*\(|compile\s*\(|child_process|execSync|spawnSync|shell_exec|passthru|proc_open|\bsystem\s*\(|\bpopen\s*\(|`[^`]+`|IO\.popen|Kernel\.exec|Runtime\.getRuntime|%x\{"
)
_PY_SOCKET = re.compile(r"socket|fsockopen|TCPSocket|net\.Socket|net\.connect|IO::Socket|/dev/tcp")
_PY_DELETE = re.compile(r"rmtree|os\.remove|os\.unlink|unlinkSync|rmSync|File\.delete|FileUtils\.rm")
# Whole-environment dumps and os calls that change the system; os.getcwd/os.path/os.listdir are fine.
_PY_OS = re.compile(
    r"os\.environ(?!\s*(?:\.get\b|\[))|process\.env(?![.\[])|%ENV\b|ENV\.to_h"
    r"|os\.(?:chmod|chown|rename|replace|kill|setuid|putenv|symlink|link|truncate|rmdir|removedirs)\b"
)
_SETUID = re.compile(r"^(?:[ugoa]*[+=][rwxXt]*s|[2467][0-7]{3})$")
_WORLD_W = re.compile(r"^(?:[0-7]?[0-7][0-7][2367]|[ao]*\+[rwxX]*w|a=rwx)$")
_KNOWN_SECRETS = (
    "/etc/shadow",
    "/etc/passwd",
    "/etc/sudoers",
    "/etc/gshadow",
    "~/.ssh/id_rsa",
    "~/.ssh/id_ed25519",
    "~/.aws/credentials",
    "~/.kube/config",
    "~/.netrc",
    "~/.pgpass",
    "/proc/self/environ",
    ".env",
)

_KNOWN_CMDS = (
    _NETWORK
    | _SHELLS
    | _WRAPPERS
    | _DECODERS
    | _CONTENT
    | _ENV_DUMP
    | _words(
        "rm rmdir shred unlink mkfs mkfs.ext4 mkfs.xfs dd wipefs chmod chown find eval python python3 perl ruby node php"
    )
)


@dataclass(slots=True)
class _State:
    cwd: str
    policy: EffectivePolicy
    argument: str
    strong: bool
    vars: dict[str, str | None] = field(default_factory=dict)
    downloaded: set[str] = field(default_factory=set)
    out: list[Finding] = field(default_factory=list)
    depth: int = 0
    remote: bool = False
    probes: list[tuple[str, str, object]] = field(default_factory=list)
    tainted: set[str] = field(default_factory=set)
    span: int = 0  # inside a markdown code span of sniffed text
    paths: dict[tuple[str, str], NormalizedPath] = field(default_factory=dict)  # `_path` within one analysis
    # Read once per analysis (both are part of the cache key, so they cannot change under it).
    home: str = ""
    pcwd: str = ""  # the process's working directory (``st.cwd`` moves with ``cd``)
    # Operands for other analyzers: ("sql:<dialect>" | "url" | "host", value); see _route.
    routed: list[tuple[str, str]] = field(default_factory=list)
    # Files written earlier in this command: resolved path -> content, or None with why unknown.
    staged: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    stdin: str | None = None  # text known to reach the current command's standard input


@dataclass(slots=True)
class _Stage:
    name: str = ""
    download: bool = False
    decode: bool = False
    raw_net: bool = False
    network: bool = False
    secret: str | None = None
    find_danger: str | None = None
    xargs_delete: bool = False
    argv: list[str] | None = None  # the command as run (wrappers removed)
    per_item: str | None = None  # the store it deletes items of, one per input line (xargs, while read)
    shell_stdin: bool = False
    echo_text: str | None = None
    transform: bool = False  # rewrites its input (tr, sed, rev, xxd ...): what comes out is not what went in


_BLOCK, _ESC = Effect.BLOCK, Effect.ESCALATE
_SPAN_RULES = frozenset({"shell.exfiltration", "shell.reverse_shell"})
_STRONG = frozenset(
    {"shell.destructive", "shell.fork_bomb", "shell.reverse_shell", "shell.remote_code", "shell.exfiltration"}
)


def _emit(st: _State, rule: str, effect: Effect, msg: str, evidence: str, sev: Severity | None = None) -> None:
    if st.strong and (effect is not _BLOCK or rule not in (_SPAN_RULES if st.span else _STRONG)):
        return
    severity = sev or (Severity.CRITICAL if effect is _BLOCK else Severity.HIGH)
    st.out.append(Finding(rule, severity, effect, msg, evidence[:300], st.argument))


def _expand(w: Word, st: _State) -> tuple[str, bool]:
    """Substitute literal variables; return (text, fully_known)."""
    if not w.dynamic:
        return w.text, True
    known = True

    def sub(m: re.Match[str]) -> str:
        nonlocal known
        name = m.group(1) or m.group(2)
        if name in st.vars:
            v = st.vars[name]
        else:
            v = os.environ.get(name)
            st.probes.append(("v", name, v))
        if v is None:
            known = False
            return m.group()
        return v

    text = w.text
    if "$" in text:
        # $$, $RANDOM, $PPID ... are numbers: "/tmp/build.$$" names one file, whatever the number.
        text = _VAR.sub(sub, _NUMERIC_SPECIAL.sub("0", text))
    if w.subs:
        text, static = _static_subs(w, text)
        known = known and static
    return text, known and "$" not in text


def _printf_unescape(t: str) -> str:
    return re.sub(
        r"\\(x[0-9a-fA-F]{1,2}|0?[0-7]{1,3}|[ntr\\])",
        lambda m: (
            {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(m.group(1))
            or chr(int(m.group(1)[1:], 16) if m.group(1)[0] == "x" else int(m.group(1), 8))
        ),
        t,
    )


def _static_value(sub: Script) -> str | None:
    """The output of a substitution that only echoes or printfs literals (``$(echo rm)``), else None."""
    if len(sub) != 1 or len(sub[0]) != 1 or not sub[0][0].words:
        return None
    words = sub[0][0].words
    if any(w.dynamic for w in words) or words[0].text not in ("echo", "printf"):
        return None
    args = [w.text for w in words[1:]]
    if words[0].text == "echo":
        escapes = bool(args) and args[0] == "-e"
        args = [a for a in args if a not in ("-e", "-n", "-E")]
        out = " ".join(args)
        return _printf_unescape(out) if escapes else out
    if not args or "%" in args[0].replace("%s", ""):
        return None
    fmt, rest = _printf_unescape(args[0]), args[1:]
    while "%s" in fmt:
        fmt = fmt.replace("%s", rest.pop(0) if rest else "", 1)
    return fmt


def _static_subs(w: Word, text: str) -> tuple[str, bool]:
    """Replace each static ``$( )``/backtick in *text* by its value; report whether all were static."""
    all_static = True
    for (tag, sub), raw in zip(w.subs, w.sub_raws, strict=False):
        if tag not in ("$(", "`") or raw not in text:
            return text, False
        value = _static_value(sub)
        if value is None:
            all_static = False
        else:
            text = text.replace(raw, value, 1)
    return text, all_static and len(w.subs) == len(w.sub_raws)


def _path(text: str, st: _State) -> NormalizedPath:
    # Rules often look at the same operand twice (``rm`` and the scope check); one
    # resolution per analysis, and its probe is recorded once.
    key = (text, st.cwd)
    np = st.paths.get(key)
    if np is not None:
        return np
    np = st.paths[key] = normalize_path(text, cwd=st.cwd)
    if np.joined:
        st.probes.append(("r", np.joined, np.resolved))
    return np


def _exists(path: str, st: _State, *, directory: bool = False) -> bool:
    found = os.path.isdir(path) if directory else os.path.lexists(path)
    st.probes.append(("d" if directory else "e", path, found))
    return found


def _probe_holds(probe: tuple[str, str, object], cwd: str) -> bool:
    """Whether a recorded file-system fact still holds (*cwd*: the process's working directory)."""
    kind, key, seen = probe
    if kind == "r":
        return resolve_path(key, cwd) == seen
    if kind == "e":
        return os.path.lexists(key) == seen
    if kind == "d":
        return os.path.isdir(key) == seen
    return os.environ.get(key) == seen


_BARE_SECRET = re.compile(r"id_(?:rsa|dsa|ecdsa|ed25519)|_netrc|\.?(?:bash|zsh)_history")


def _is_pathish(t: str) -> bool:
    return (
        bool(t)
        and not t.startswith("-")
        and "://" not in t
        and ("/" in t or t.startswith(("~", ".")) or bool(_EXT.search(t)) or bool(_BARE_SECRET.fullmatch(t)))
    )


def _sensitive(np: NormalizedPath, home: str) -> str | None:
    if np.glob:
        for k in _KNOWN_SECRETS:
            full = os.path.expanduser(k) if k.startswith("~") else k
            for f in np.forms:
                if fnmatch.fnmatchcase(full, f) or (k == ".env" and fnmatch.fnmatchcase(".env", posixpath.basename(f))):
                    return k
    return next((x.sensitive for f in np.forms if (x := path_facts(f, home)).sensitive), None)


# --------------------------------------------------------------------------- rules


# Emptying a scratch directory is routine; these are compared against, never written.
_SCRATCH = frozenset({"/tmp", "/var/tmp"})  # noqa: S108
_ROOT = "the filesystem root or the home directory"
_TOP = "a top-level directory"
_SYS = "a system directory"
_GIT = "a git repository's database"
_CWD = "the working directory"
_PARENT = "a parent of the working directory"
_PERSONAL = "a personal folder of the home directory"
_USERHOME = "a user's home directory"
_HOME_DATA = _words(
    "documents desktop downloads pictures music videos movies library .ssh .gnupg .config .local .aws .kube projects src code"
)


# Another account's home directory (/home/alice, /Users/bob): as irreplaceable as one's own.
_USER_HOME = re.compile(r"/(?:home|Users)/[^/]+/?")


def _danger(np: NormalizedPath, st: _State) -> str | None:
    """Why deleting or re-permissioning *np* is catastrophic, if it is (one of the reasons above)."""
    home = st.home
    if np.glob:
        # "dir/*" empties dir: catastrophic when dir itself is.
        d = posixpath.dirname(np.lexical)
        if d in ("/", home):
            return _ROOT
        dn = [path_facts(f, home) for f in normalize_path(d, cwd=st.pcwd).forms]
        if any(x.system for x in dn):
            return _SYS
        if any(x.top_level for x in dn) and d not in _SCRATCH:
            return _TOP
    for f in np.forms:
        facts = path_facts(f, home)
        if f in ("/", home):
            return _ROOT
        if _USER_HOME.fullmatch(f):
            return _USERHOME
        if facts.system:
            return _SYS
        if facts.top_level and f not in _SCRATCH:
            return _TOP
        if facts.git_db:
            return _GIT
        if posixpath.dirname(f) == home and posixpath.basename(f).lower() in _HOME_DATA:
            return _PERSONAL
    for base in {st.cwd, st.pcwd}:
        if base == np.resolved:
            return _CWD
        if base.startswith(np.resolved.rstrip("/") + "/"):
            return _PARENT
    return None


def _scope(np: NormalizedPath, t: str, st: _State, effect: Effect, verb: str, *parts: str) -> None:
    """A scope finding for *np*; the message is ``verb.format(*parts)`` when *parts* are given.

    Most policies have no path rules, so the message is only built when a finding is emitted.
    """
    if st.remote or not st.policy.has_resource_rules:
        return
    msg = scope_violation(np, st.policy)
    if msg:
        _emit(st, "shell.scope", effect, f"{verb.format(*parts) if parts else verb}: {msg}", t)


def _write_target(np: NormalizedPath, t: str, st: _State, how: str) -> None:
    home = st.home
    facts = [path_facts(f, home) for f in np.forms]
    if re.match(r"^/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|disk|rdisk|md|dm-|mapper/|loop)", np.resolved):
        _emit(st, "shell.destructive", _BLOCK, f"{how} overwrites the block device {np.resolved}", t)
    elif pers := next((x.persistence for x in facts if x.persistence), None):
        _emit(
            st,
            "shell.persistence",
            _BLOCK,
            f"{how} writes {np.resolved} ({pers.replace('_', ' ')}): code would run later",
            t,
        )
    elif any(x.system for x in facts):
        _emit(st, "shell.system", _BLOCK, f"{how} modifies the system location {np.resolved}", t)
    elif (sens := next((x.sensitive for x in facts if x.sensitive), None)) and sens not in ("dotenv", "key_file"):
        # Creating a .env or a new key file is project setup; overwriting ssh/cloud credentials is not.
        _emit(st, "shell.sensitive", _BLOCK, f"{how} overwrites {np.resolved} ({sens.replace('_', ' ')})", t)
    _scope(np, t, st, _BLOCK, how)


def _read(np: NormalizedPath, t: str, base: str, st: _State, out: _Stage, *, content: bool) -> None:
    label = _sensitive(np, st.home)
    if not label and np.resolved in st.tainted:
        # A dump of secrets made earlier in this command: only sending it on is the problem.
        out.secret = out.secret or f"{t} (a copy of secrets)"
        if base in _NETWORK:
            _emit(st, "shell.exfiltration", _BLOCK, f"{base} sends {t}, a copy of secrets made earlier", t)
    elif label:
        out.secret = out.secret or f"{t} ({label.replace('_', ' ')})"
        if base in _NETWORK:
            _emit(st, "shell.exfiltration", _BLOCK, f"{base} sends {t} ({label.replace('_', ' ')}) over the network", t)
        elif content:
            _emit(
                st,
                "shell.sensitive",
                _BLOCK,
                f"{base} reads {t} ({label.replace('_', ' ')}); agents must not see credentials",
                t,
            )
        else:
            _emit(st, "shell.sensitive", _ESC, f"{base} is given {t} ({label.replace('_', ' ')}); needs review", t)
    _scope(np, t, st, _BLOCK if content else _ESC, "{} reads {}", base, t)


def _split_opts(args: list[str]) -> tuple[list[str], list[str]]:
    opts: list[str] = []
    ops: list[str] = []
    dashdash = False
    for a in args:
        if dashdash or not a.startswith("-") or a == "-":
            ops.append(a)
        elif a == "--":
            dashdash = True
        else:
            opts.append(a)
    return opts, ops


def _short(opts: list[str]) -> str:
    return "".join(o[1:] for o in opts if not o.startswith("--"))


def _sub_flags(w: Word, st: _State) -> tuple[bool, bool, str | None]:
    """(downloads, decodes, secret) of the commands inside *w*'s substitutions."""
    dl = dec = False
    secret = None
    for _tag, sub in w.subs:
        for pl in sub:
            for c in pl:
                if not c.words:
                    continue
                n = posixpath.basename(c.words[0].text).lower()
                rest = [x.text for x in c.words[1:]]
                dl = dl or n in _DOWNLOADERS
                dec = dec or (n in _DECODERS and any(a in ("-d", "--decode", "-D", "-r") for a in rest))
                if n in _ENV_DUMP and not rest:
                    secret = secret or f"the environment ({n})"
                elif n in _CONTENT:
                    for a in rest:
                        if not a.startswith("-") and (lab := _sensitive(normalize_path(a, cwd=st.pcwd), st.home)):
                            secret = secret or f"{a} ({lab.replace('_', ' ')})"
    return dl, dec, secret


def _inline_code(base: str, args: list[str]) -> str | None:
    """The code string given to an interpreter with -c/-e/-r (also glued: ``-e'code'``)."""
    flags = ("-c", "-e", "-E", "--eval", "-p", "--print", "-Command", "-command") + (
        ("-r",) if base.startswith("php") else ()
    )
    for k, a in enumerate(args):
        if a in flags:
            return args[k + 1] if k + 1 < len(args) else None
        if len(a) > 2 and a[:2] in ("-c", "-e", "-E") and not a.startswith("--"):
            return a[2:]
        if not a.startswith("-"):
            return None  # a script file: later words are its arguments
    return None


def _ssh_remote(args: list[str]) -> list[str]:
    takes = _words("-i -p -l -o -F -J -L -R -D -W -b -c -E -e -m -O -Q -S -w -B")
    k = 0
    while k < len(args) and args[k].startswith("-"):
        k += 2 if args[k] in takes else 1
    return args[k + 1 :]


def _rm(
    base: str, opts: list[str], ops: list[str], wobjs: tuple[Word, ...], st: _State, shown: str, short: str
) -> None:
    recursive = "r" in short or "R" in short or "--recursive" in opts or base == "rmdir"
    force = "f" in short or "--force" in opts
    if "--no-preserve-root" in opts:
        _emit(
            st, "shell.destructive", _BLOCK, "--no-preserve-root disables rm's last safeguard against deleting /", shown
        )
    wtexts = {w.text: w for w in wobjs}
    for t in ops:
        w = wtexts.get(t)
        dynamic = ("$" in t) or (w is not None and w.dynamic and bool(w.subs))
        if dynamic:
            stripped = _VAR.sub("", t)
            np0 = _path(stripped or "/", st) if stripped.startswith("/") or not stripped else None
            if np0 is not None and _danger(np0, st) in (_ROOT, _SYS) and recursive:
                _emit(
                    st,
                    "shell.destructive",
                    _BLOCK,
                    f"{base} {t}: if the variable is empty this deletes {np0.resolved}",
                    shown,
                )
            elif recursive or force:
                _emit(st, "shell.destructive", _ESC, f"{base} -r/-f of {t}, a target only known at run time", shown)
            continue
        np = _path(t, st)
        why = _danger(np, st)
        if why and (recursive or force or base == "shred" or why not in (_SYS, _GIT)):
            _emit(st, "shell.destructive", _BLOCK, f"{base} {t} deletes {why}", shown)
        elif why:
            _emit(st, "shell.system", _BLOCK, f"{base} {t} deletes inside {why}", shown)
        elif np.glob and recursive and posixpath.basename(np.lexical) in ("*", ".*", "*.*"):
            d, here = posixpath.dirname(np.lexical), st.pcwd
            if d == here:
                _emit(st, "shell.destructive", _ESC, f"{base} {t} deletes everything in the working directory", shown)
            elif here.startswith(d.rstrip("/") + "/"):
                _emit(st, "shell.destructive", _BLOCK, f"{base} {t} deletes a parent of the working directory", shown)
            elif _home_folder(d, st.home):
                _emit(
                    st,
                    "shell.destructive",
                    _ESC,
                    f"{base} {t} empties {d}, a whole folder of the home directory",
                    shown,
                )
        elif recursive and (hf := next((f for f in np.forms if _home_folder(f, st.home)), None)):
            # ~/work, ~/data: a user's top-level folder holds work no tool can restore; deep paths
            # (~/proj/build) and caches are routine clean-up.
            _emit(
                st,
                "shell.destructive",
                _ESC,
                f"{base} -r {t} deletes {hf}, a whole folder of the home directory",
                shown,
                Severity.HIGH,
            )
        _scope(np, t, st, _BLOCK, "{} deletes {}", base, t)


# Direct children of the home directory that are scratch space by name.
_HOME_SCRATCH = _words("tmp temp scratch trash")


def _home_folder(f: str, home: str) -> bool:
    """Whether *f* is a visible top-level folder of the home directory (``~/work``), not scratch space."""
    name = posixpath.basename(f)
    return (
        posixpath.dirname(f) == home
        and home != "/"
        and not name.startswith(".")
        and name.lower() not in _HOME_SCRATCH
        and "*" not in name
    )


def _perms(base: str, opts: list[str], ops: list[str], st: _State, shown: str) -> None:
    targets = ops if base in ("setfacl", "chattr") else ops[1:]
    mode = ops[0] if ops and base == "chmod" else ""
    if base == "chattr":
        targets = [o for o in ops if not o.startswith(("+", "-", "="))]
    if mode and _SETUID.match(mode):
        _emit(
            st,
            "shell.permissions",
            _BLOCK,
            f"chmod {mode} sets the setuid/setgid bit: a privilege-escalation primitive",
            shown,
        )
    elif mode and _WORLD_W.match(mode):
        _emit(st, "shell.permissions", _ESC, f"chmod {mode} makes files world-writable", shown, Severity.MEDIUM)
    for t in targets:
        np = _path(t, st)
        why = _danger(np, st)
        if why and why not in (_CWD, _PARENT, _PERSONAL, _USERHOME):
            _emit(st, "shell.permissions", _BLOCK, f"{base} on {t} changes {why}", shown)
        _scope(np, t, st, _BLOCK, "{} changes {}", base, t)


def _files(
    base: str, args: list[str], opts: list[str], ops: list[str], wobjs: tuple[Word, ...], st: _State, out: _Stage
) -> None:
    """Sensitive reads, uploads, writes and scope for the command's file operands."""
    if base in ("curl", "wget"):
        for k, a in enumerate(args):
            val = None
            if (
                base == "curl"
                and k > 0
                and args[k - 1]
                in (
                    "-d",
                    "--data",
                    "--data-binary",
                    "--data-urlencode",
                    "-F",
                    "--form",
                    "-T",
                    "--upload-file",
                    "--json",
                )
            ):
                val = (
                    a.split("@", 1)[1]
                    if "@" in a
                    else a
                    if args[k - 1] in ("-T", "--upload-file")
                    else a.split("<", 1)[1]
                    if "<" in a
                    else None
                )
            elif a.startswith(("--post-file=", "--body-file=", "--upload-file=")):
                val = a.split("=", 1)[1]
            if val and val != "-":
                _read(_path(val, st), val, base, st, out, content=True)
            if (
                k > 0
                and args[k - 1] in ("-o", "--output", "-O", "--output-document")
                and not (base == "curl" and args[k - 1] == "-O")
            ):
                np = _path(a, st)
                st.downloaded.update((np.lexical, np.resolved))
                if a != "-":
                    _write_target(np, a, st, f"{base} output")
        if ("-O" in args and base == "curl") or (
            base == "wget" and not any(x in args for x in ("-O", "--output-document", "-qO-", "-O-"))
        ):
            for u in ops:
                if "://" in u:
                    st.downloaded.add(posixpath.join(st.cwd, posixpath.basename(u.split("?", 1)[0]) or "index.html"))
        return
    if (base in _PATH_ONLY and base not in ("rm", "rmdir", "unlink")) or base in ("echo", "printf", "ssh"):
        if base in ("ls", "stat", "du", "wc", "file", "tree") and st.policy.has_resource_rules:
            # Listing is a read of the directory: outside the scope's roots it is refused too.
            for a in ops:
                _scope(_path(a, st), a, st, _BLOCK, "{} lists {}", base, a)
            return
        if base in ("chmod", "chown", "chgrp", "ls", "stat", "du", "wc", "file", "tree"):
            return
        if not st.policy.has_resource_rules:
            return
    writes: list[str] = []
    reads: list[str] = []
    known_reader = (
        base in _READ_CMDS
        or base in _PATTERN_FIRST
        or base in ("cp", "mv", "install", "ln", "tee", "sed", "scp", "rsync", "tar", "zip")
    )
    if base in ("scp", "rsync", "sftp"):
        # Option values (-i key, -P port, -e "ssh -i key") are not files being copied.
        takes = _words("-i -P -p -o -F -c -l -S -J -e --rsh --exclude --include --port")
        ops = [a for k, a in enumerate(args) if not a.startswith("-") and not (k and args[k - 1] in takes)]
    if base in ("cp", "mv", "install", "ln", "scp", "rsync") and len(ops) >= 2:
        dest = ops[-1]
        if "-t" in opts:
            dest = args[args.index("-t") + 1] if args.index("-t") + 1 < len(args) else dest
        for src in ops[:-1]:
            reads.append(src)
            d = _path(dest, st)
            if dest.endswith("/") or _exists(d.resolved, st, directory=True):
                writes.append(posixpath.join(dest, posixpath.basename(src.rstrip("/"))))
            else:
                writes.append(dest)
            if base == "mv" and (why := _danger(_path(src, st), st)):
                _emit(st, "shell.destructive", _BLOCK, f"mv {src} moves away {why}", src)
        if base in ("scp", "rsync") and ":" in dest and not dest.startswith(("/", ".")):
            for src in ops[:-1]:
                lab = _sensitive(_path(src, st), st.home)
                if lab:
                    _emit(
                        st,
                        "shell.exfiltration",
                        _BLOCK,
                        f"{base} copies {src} ({lab.replace('_', ' ')}) to {dest}",
                        src,
                    )
            writes = []
    elif base == "tee" or base == "truncate":
        writes = list(ops)
    elif base == "sed" and ("i" in _short(opts) or any(o.startswith("--in-place") for o in opts)):
        writes = ops[1:] if not any(o in ("-e", "-f") for o in opts) else ops
    elif base in _PATTERN_FIRST:
        reads = ops if any(o in ("-e", "-f", "--regexp", "--file") for o in opts) else ops[1:]
    elif base == "openssl":
        reads = [args[k + 1] for k, a in enumerate(args[:-1]) if a in ("-in", "-inkey", "-key")]
        writes = [args[k + 1] for k, a in enumerate(args[:-1]) if a in ("-out", "-keyout")]
        known_reader = True  # openssl rsa -in key -text prints the key
    elif base in ("ssh", "scp", "sftp", "find"):
        reads = []  # find's roots are checked by _find; its other words are expressions
    elif base == "git" and ops[:1] and ops[0] in _GIT_REF_VERBS:
        # git push origin feature/x: remotes and refs, not files; only a pathspec after -- is a path
        reads = args[args.index("--") + 1 :] if "--" in args else []
    else:
        reads = list(ops[1:] if base in ("sudo",) else ops)
        for a in opts:
            if a.startswith("--") and "=" in a:
                reads.append(a.split("=", 1)[1])
    for t in writes:
        _write_target(_path(t, st), t, st, f"{base} writing {t}")
    content = known_reader or base in _CONTENT
    for t in reads:
        if not t or "://" in t or t.startswith("-") or t.isdigit():
            continue
        bare = not _is_pathish(t)
        if bare and not content and not st.policy.has_resource_rules:
            continue
        np = _path(t, st)
        if bare and not _exists(np.lexical, st) and not (content and _sensitive(np, st.home)):
            continue
        if base in _PATH_ONLY and base not in _CONTENT:
            _scope(np, t, st, _ESC, "{} uses {}", base, t)
            continue
        _read(np, t, base, st, out, content=content)
