"""Shell analyzer: one-line servers that publish a directory, or a shell, to the network.

``python3 -m http.server --directory ~``, ``php -S 0.0.0.0:80 -t /``, ``busybox httpd -h ~``,
``ruby -run -e httpd ~``, ``npx http-server ~``, ``rclone serve http ~``: every file under the
served root can be downloaded by anyone who reaches the port, so serving the filesystem
root, the home directory (or a parent of it), a credential directory or a system
configuration directory is exfiltration (``shell.exfiltration``). Bound to a loopback
address it still hands the files to every local process and browser page: escalate.
Serving a project or build directory (``-d public``, the working directory) is routine.

A server with no explicit root serves the working directory, as tracked through ``cd``.
``telnetd -l /bin/sh`` (busybox's included) hands a shell to whoever connects
(``shell.reverse_shell``, a bind shell).
"""

from __future__ import annotations

import posixpath
import re

from agentgate.analyzers.shell._rules import _BLOCK, _ESC, _PERSONAL, _SHELLS, _danger, _emit, _path, _sensitive, _State

__all__ = ["SERVERS", "serve"]

# Python modules run with -m that serve a directory, and their root / bind options.
_PY_MODULES = frozenset({"http.server", "simplehttpserver", "uploadserver", "rangehttpserver", "pyftpdlib", "updog"})
# Programs that serve a directory: (options naming the root, options naming the address).
_PROGRAMS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "http-server": (frozenset(), frozenset({"-a"})),
    "serve": (frozenset(), frozenset({"-l", "--listen"})),
    "updog": (frozenset({"-d", "--directory"}), frozenset()),
    "darkhttpd": (frozenset(), frozenset({"--addr"})),
    "webfsd": (frozenset({"-r"}), frozenset({"-i"})),
    "caddy": (frozenset({"--root", "-r"}), frozenset({"--listen", "-l"})),
}
#: Command names that may start a file server (the cheap gate before any option parsing).
SERVERS = frozenset({"php", "httpd", "ruby", "npx", "rclone", "twistd", "telnetd", "utelnetd", *_PROGRAMS})
_LOOPBACK = re.compile(r"^(?:\[?::1\]?|127(?:\.\d{1,3}){3}|localhost)(?::\d+)?$", re.I)
_CONFIG_DIR = re.compile(r"^/(?:etc|root|proc|sys|dev|boot)(?:/|$)|^/var/(?:lib|log|backups)(?:/|$)")


def _opt(args: list[str], names: frozenset[str]) -> str | None:
    """The value of the first option in *names* (``-d X``, ``--directory=X``, ``-dX``)."""
    for k, a in enumerate(args):
        if a in names:
            return args[k + 1] if k + 1 < len(args) else None
        key, eq, val = a.partition("=")
        if eq and key in names:
            return val
    return None


def _positionals(args: list[str], takes: frozenset[str]) -> list[str]:
    out: list[str] = []
    k = 0
    while k < len(args):
        a = args[k]
        if a.startswith("-") and a != "-":
            k += 2 if a in takes and "=" not in a else 1
            continue
        out.append(a)
        k += 1
    return out


def _python_server(args: list[str]) -> tuple[str | None, str | None] | None:
    k = next((i for i, a in enumerate(args) if a == "-m" or (a.startswith("-m") and len(a) > 2)), None)
    if k is None:
        return None
    module = args[k][2:] or (args[k + 1] if k + 1 < len(args) else "")
    if module.lower() not in _PY_MODULES:
        return None
    rest = args[k + (1 if len(args[k]) > 2 else 2) :]
    root = _opt(rest, frozenset({"-d", "--directory"}))
    bind = _opt(rest, frozenset({"-b", "--bind", "-i", "--interface"}))
    return root, bind


def _server(base: str, args: list[str]) -> tuple[str | None, str | None] | None:
    """(served root or None for the working directory, bind address) when the command serves files."""
    if base.startswith(("python", "pypy")):
        return _python_server(args)
    if base == "php":
        if "-S" not in args:
            return None
        k = args.index("-S")
        return _opt(args, frozenset({"-t"})), args[k + 1] if k + 1 < len(args) else None
    if base == "httpd":
        # busybox httpd (-p PORT, -h HOME, default the working directory); Apache's httpd has
        # neither option and is configured by files
        root = _opt(args, frozenset({"-h"}))
        port = _opt(args, frozenset({"-p"}))
        if root is None and port is None:
            return None
        return root, (port or "").rpartition(":")[0] or None
    if base == "ruby":
        joined = " ".join(args)
        if "-run" not in args or not re.search(r"(?:^|\s)-e\s?httpd(?:\s|$)", joined):
            return None
        k = next(i for i, a in enumerate(args) if a.endswith("httpd"))
        pos = _positionals(args[k + 1 :], frozenset({"-p", "--port"}))
        bind = next((a.partition("=")[2] for a in args if a.startswith("--bind-address=")), None)
        return (pos[0] if pos else None), bind
    if base == "npx":
        ops = _positionals(args, frozenset({"-p", "--package"}))
        if not ops or ops[0] not in _PROGRAMS:
            return None
        base, args = ops[0], args[args.index(ops[0]) + 1 :]
    if base == "rclone":
        if len(args) < 3 or args[0] != "serve":
            return None
        return args[2], _opt(args, frozenset({"--addr"}))
    if base == "twistd":
        if "web" not in args:
            return None
        return _opt(args, frozenset({"--path"})), None
    if base in _PROGRAMS:
        roots, binds = _PROGRAMS[base]
        if base == "caddy" and "file-server" not in args:
            return None
        takes = roots | binds | frozenset({"-p", "--port"})
        root = _opt(args, roots) if roots else None
        if root is None:
            pos = [a for a in _positionals(args, takes) if a != "file-server"]
            root = pos[0] if pos else None
        return root, _opt(args, binds) if binds else None
    return None


def serve(base: str, args: list[str], st: _State, shown: str) -> None:
    """Flag *base* *args* when it publishes a sensitive directory, or a shell, to the network."""
    if base in ("telnetd", "utelnetd"):
        login = _opt(args, frozenset({"-l"}))
        if login and posixpath.basename(login) in _SHELLS:
            _emit(st, "shell.reverse_shell", _BLOCK, f"{base} -l {login} hands a shell to whoever connects", shown)
        return
    got = _server(base, args)
    if got is None:
        return
    root, bind = got
    np = _path(root, st) if root else _path(st.cwd, st)
    shown_root = root or f"the working directory ({st.cwd})"
    home = st.home
    what = None
    for f in np.forms:
        if f == "/" or f == home or (home != "/" and home.startswith(f.rstrip("/") + "/")):
            what = "the filesystem root or the home directory"
        elif _CONFIG_DIR.match(f) and not (f + "/").startswith(home.rstrip("/") + "/"):
            what = "a system configuration directory"
        if what:
            break
    if what is None:
        label = _sensitive(np, home)
        if label:
            what = f"a credential location ({label.replace('_', ' ')})"
        elif _danger(np, st) == _PERSONAL:
            what = "a personal folder of the home directory"
    if what is None:
        return
    local = bool(bind) and bool(_LOOPBACK.match(str(bind).strip()))
    _emit(
        st,
        "shell.exfiltration",
        _ESC if local else _BLOCK,
        f"{posixpath.basename(base)} serves {shown_root} ({what}) over HTTP"
        + (" on a loopback address" if local else " on every interface")
        + ": every key and token under it can be downloaded",
        shown,
    )
