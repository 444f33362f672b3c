"""Calls in the Python interpreter: fold pure builtins and string methods, record effects.

`call` is the one entry: the callee's canonical name picks a rule (process, dynamic
code, deserialization, network, file, environment, output, name resolution), else the
call is folded when it is a pure builtin or string method on constants, else its
result is an unknown value carrying the taints of its inputs.
"""

from __future__ import annotations

import functools
import posixpath
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agentgate._decision import Effect, Severity

from . import _pytables as tables
from ._decode import DECODERS, ENCODERS, to_bytes
from ._model import EMPTY, HOLE, NOCONST, UNKNOWN, V
from ._python import _flow, _join, _s, _strv, argv_command, codec, pickle_globals, secret

if TYPE_CHECKING:
    from ._python import _Py

__all__ = ["call"]

_BLOCK, _ESC = Effect.BLOCK, Effect.ESCALATE
# Modules whose functions chosen at run time (getattr(os, name)) can do anything.
_POWERFUL = frozenset(
    {"os", "subprocess", "builtins", "pty", "socket", "ctypes", "importlib", "sys", "shutil", "pickle"}
)
# Pickle globals that are plain data constructors.
_SAFE_PICKLE = frozenset(
    {
        "collections.OrderedDict",
        "collections.defaultdict",
        "builtins.set",
        "builtins.frozenset",
        "builtins.list",
        "builtins.dict",
        "builtins.tuple",
        "datetime.datetime",
        "datetime.date",
        "datetime.timedelta",
        "decimal.Decimal",
        "copy_reg._reconstructor",
        "copyreg._reconstructor",
        "builtins.object",
        "__builtin__.object",
        "__builtin__.set",
    }
)


def _arg(args: list[V], kw: dict[str, V], i: int, *names: str) -> V | None:
    if i >= 0 and len(args) > i:
        return args[i]
    for n in names:
        if n in kw:
            return kw[n]
    return None


def call(p: _Py, fn: V, args: list[V], kw: dict[str, V]) -> V:
    """The value of calling *fn* (see module docstring)."""
    name = fn.ref
    if name is None:
        return V(t=_flow(fn, *args, *kw.values()))
    if name.startswith("@m."):
        return _method(p, name[3:], fn.items[0] if fn.items else UNKNOWN, args, kw)
    if name.startswith("@fn"):
        fid = int(name[3:])
        return p.call_function(fid, args, kw) if fid in p.funcs else UNKNOWN
    if name in ("@methodcaller", "@attrgetter") and fn.items and args:
        # operator.methodcaller('system', 'id')(os) is os.system('id'); attrgetter('system')(os) is os.system
        attr = _getattr(p, "builtins.getattr", fn, [args[0], fn.items[0]], {})
        return call(p, attr, list(fn.items[1:]), {}) if name == "@methodcaller" else attr
    for i, a in enumerate(args):
        if a.ref is not None and _special(a.ref) and a.ref not in DECODERS and a.ref not in ENCODERS:
            # map(os.system, cmds), pool.map(eval, xs), sorted(k, key=...): a function handed to another
            # call is called with the elements of the other arguments
            _called_back(p, a, [x for j, x in enumerate(args) if j != i])
    for a in kw.values():
        if a.ref is not None and _special(a.ref) and a.ref not in DECODERS and name not in _CALLBACK_OWNERS:
            _called_back(p, a, list(args))
    if _special(name):
        return _effect(p, name, fn, args, kw)
    return _generic(p, name, fn, args, kw)


# Calls that take a function for a known parameter and are modelled themselves.
_CALLBACK_OWNERS = frozenset({"multiprocessing.Process", "threading.Thread"})


def _called_back(p: _Py, f: V, others: list[V]) -> None:
    elems: list[V] = []
    for o in others:
        el = p.elements(o) if o.items is not None else None
        if el:
            elems.extend(el[:8])
    for e in elems or [UNKNOWN]:
        call(p, V(ref=f.ref, t=f.t), [e], {})


@functools.lru_cache(maxsize=8192)
def _special(name: str) -> bool:
    """Whether any rule below matches *name* (most calls are generic: one cached lookup)."""
    return (
        name in tables.SHELL_FUNCS
        or tables.is_foreign_exec(name)
        or name in tables.ARGV_FUNCS
        or name in tables.EXEC_FUNCS
        or name in tables.DYNAMIC_CODE
        or name in tables.DESERIALIZERS
        or name in ("yaml.load", "yaml.load_all", "codecs.decode", "codecs.encode", "socket.socket")
        or name in DECODERS
        or name in ENCODERS
        or name in _HANDLERS
        or name in tables.URL_FUNCS
        or name in tables.HOST_FUNCS
        or name in tables.FILE_FUNCS
        or name in tables.OUTPUT_FUNCS
        or name.startswith(("pathlib.Path().", "socket.socket().", "agentgate"))
        or name.endswith((".write", ".writelines"))
    )


def _effect(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    dyn = "dynname" in fn.t
    if name in tables.SHELL_FUNCS or tables.is_foreign_exec(name):
        cmd = _arg(args, kw, 0, "cmd", "command", "args")
        _process(p, name, cmd, dyn, shell=True)  # noqa: S604 - our own function, not a subprocess
        return V(ref=name + "()", t=frozenset({"remote"}) if "popen" in name or "output" in name else EMPTY)
    if name in tables.ARGV_FUNCS:
        cmd = _arg(args, kw, 0, "args")
        shell = kw.get("shell")
        for k in ("stdin", "stdout", "stderr"):
            if k in kw and "socket" in kw[k].t:
                p.sh.flags.add("sock_stdio")
        _process(p, name, cmd, dyn, shell=bool(shell is not None and shell.c))
        return V(ref=name + "()")
    if name in tables.EXEC_FUNCS:
        idx, is_list = tables.EXEC_FUNCS[name]
        if name == "pty.spawn":
            p.sh.flags.add("pty")
        if is_list:
            cmd = _arg(args, kw, idx, "argv", "args")
            if cmd is None and args:
                cmd = args[0]
        else:
            cmd = V(items=tuple(args[idx:])) if len(args) > idx else (args[0] if args else None)
        _process(p, name, cmd, dyn, shell=False)
        return UNKNOWN
    if name in tables.DYNAMIC_CODE:
        _dynamic(p, name, _arg(args, kw, 0, "source", "stmt", "code", "object"), dyn)
        return V(ref=name + "()")
    if name in tables.DESERIALIZERS or (name in ("yaml.load", "yaml.load_all") and _unsafe_yaml(kw, args)):
        _deserialize(p, name, _arg(args, kw, 0, "data", "file", "s", "stream"), dyn)
        return UNKNOWN
    if name in DECODERS:
        v = _arg(args, kw, 0, "s", "data", "string", "hexstr") or UNKNOWN
        return p.decode(name, v, lambda: DECODERS[name](v.c))  # type: ignore[arg-type]
    if name in ENCODERS:
        v = _arg(args, kw, 0, "s", "data") or UNKNOWN
        if not v.known or not isinstance(v.c, (str, bytes)):
            return V(t=_flow(v))
        try:
            return _strv(ENCODERS[name](to_bytes(v.c)), v, limits=p.sh.limits)
        except (ValueError, TypeError):
            return V(t=_flow(v))
    if name in ("codecs.decode", "codecs.encode"):
        v = _arg(args, kw, 0, "obj") or UNKNOWN
        enc = _s(_arg(args, kw, 1, "encoding") or V("utf-8"))
        if enc is None:
            return V(t=_flow(v) | {"decoded"})
        if name == "codecs.encode" and enc.lower().replace("-", "_") not in ("rot13", "rot_13"):
            return V(t=_flow(v))
        p.sh.decodes += 1
        return codec(v, enc)
    h = _HANDLERS.get(name)
    if h is not None:
        return h(p, name, fn, args, kw)
    if name in tables.URL_FUNCS:
        url = _arg(args, kw, tables.URL_FUNCS[name], "url", "uri")
        _exfil(p, name, args, kw, url)
        if url is not None:
            _url(p, url, exact=True)
        return V(ref=name + "()", t=frozenset({"remote"}))
    if name in tables.HOST_FUNCS:
        addr = _arg(args, kw, 1 if name.endswith("sendto") else 0, "host", "hostname", "address")
        if name.startswith("socket.geth") or name == "socket.getaddrinfo":
            if _flow(*args, *kw.values()) & {"env", "secret"}:
                p.find(
                    "code.exfiltration",
                    _BLOCK,
                    Severity.CRITICAL,
                    f"{name} puts a credential or the environment into a DNS name: DNS exfiltration",
                    name,
                )
        else:
            _exfil(p, name, [a for a in args if a is not addr], kw, (addr.items[0] if addr and addr.items else addr))
        if addr is not None:
            host = addr.items[0] if addr.items else addr
            hs = host.text()
            if hs is not None and HOLE not in hs and hs:
                p.hit("host", hs)
        if name.startswith("socket.socket()") or name == "socket.create_connection":
            p.sh.flags.add("socket")
            return V(ref="socket.socket()", t=frozenset({"socket"}))
        return V(ref=name + "()", t=frozenset({"remote"}))
    if name in tables.FILE_FUNCS:
        return _file_call(p, name, args, kw)
    if name.startswith("pathlib.Path()."):
        meth = name[len("pathlib.Path().") :]
        op = tables.PATH_METHODS.get(meth)
        recv = fn.items[0] if fn.items else UNKNOWN
        if op is not None:
            if op == "?mode":
                op = _mode(_arg(args, kw, 0, "mode"))
            t = _path(p, recv, op, exact=True)
            if meth in ("write_text", "write_bytes") and args and args[0].t & {"env", "secret"}:
                p._dumped(args[0], "writes to a file")
            return V(t=t)
        if meth in ("joinpath", "with_name", "with_suffix") and isinstance(recv.c, str):
            base = recv.c
            for a in args:
                s = a.text()
                base = (
                    _join(base, s if s is not None else HOLE)
                    if meth == "joinpath"
                    else posixpath.join(posixpath.dirname(base), s or HOLE)
                )
            return V(base, ref="pathlib.Path()")
        if meth in ("expanduser", "resolve", "absolute") and recv.c is not NOCONST:
            return V(recv.c, ref="pathlib.Path()")
    if name in tables.OUTPUT_FUNCS or name.endswith((".write", ".writelines")):
        for v in (*args, *kw.values()):
            if v.t & {"env", "secret"}:
                p._dumped(v, "prints" if name in tables.OUTPUT_FUNCS else "writes")
                break
        if name.startswith("socket.socket()"):
            _exfil(p, name, args, kw)
        return UNKNOWN
    if name.startswith("socket.socket()."):
        meth = name.rpartition(".")[2]
        if meth in ("send", "sendall", "sendmsg", "sendfile"):
            _exfil(p, name, args, kw)
        if meth in ("bind", "listen", "accept"):
            p.sh.flags.add("socket")
        if meth in ("recv", "recvfrom", "recv_into", "makefile", "accept", "fileno", "dup", "detach"):
            t = frozenset({"remote", "socket"}) if meth != "fileno" else frozenset({"socket"})
            return V(ref="socket.socket()" if meth in ("accept", "dup") else None, t=t)
        return V(t=frozenset({"socket"}))
    if name == "socket.socket":
        return V(ref="socket.socket()", t=frozenset({"socket"}))
    if name.startswith("agentgate"):
        p._imported(name)
    return _generic(p, name, fn, args, kw)


def _generic(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    """A call no rule names: URLs and paths among its arguments get checked; its result carries their taints."""
    receiver = fn.items[0] if fn.items else None
    res = tables.canon(name + "()")
    # Positional arguments and the receiver are the data a call transforms (json.dumps(env),
    # b64encode(key)); keyword arguments mostly configure it (OpenAI(api_key=...) is a client,
    # not the key), except the ones that name the data.
    data_kw = [v for k, v in kw.items() if k in _DATA_KW or k.startswith("**")]
    out = V(ref=res if len(res) < 200 else None, t=_flow(*args, *data_kw, *(() if receiver is None else (receiver,))))
    root = name.partition(".")[0]
    if root in tables.NETWORK_MODULES:
        _exfil(p, name, args, kw)
    if root in _PURE_MODULES or name in _PURE_FUNCS:
        return out
    meth = name.rpartition(".")[2]
    if meth in SQL_METHODS:
        sql_hit(p, args[0] if args else kw.get("sql") or kw.get("query"))
    writes = _WRITE_METHOD.match(meth) is not None
    for a in (*args, *kw.values()):
        s = _s(a)
        if s is None:
            continue
        if "://" in s[:16] and not any(ch.isspace() for ch in s):
            if s.split("://", 1)[0].lower() in FETCH_SCHEMES:
                _url(p, a, exact=False)
        elif looks_path(s) or looks_file(s):
            # pd.read_csv('/root/.ssh/id_rsa') reads, df.to_csv('reports/x.csv') writes: a method's
            # name says which; any other function may read the path it is given
            _path(p, a, "write" if writes else "read", exact=writes)
    return out


# ----------------------------------------------------------------------------- effects


def _process(p: _Py, name: str, cmd: V | None, dyn: bool, *, shell: bool) -> None:
    short = name.rpartition(".")[2]
    if dyn:
        p.find(
            "code.obfuscation",
            _BLOCK,
            Severity.CRITICAL,
            f"{name} is reached through a computed name (getattr/__import__/globals with a built string): hiding a process call",
            name,
        )
    if cmd is None:
        p.find("code.process", _ESC, Severity.MEDIUM, f"{short}() is called with a command that cannot be read", name)
        return
    t = _flow(cmd)
    if "remote" in t:
        p.find(
            "code.remote_code",
            _BLOCK,
            Severity.CRITICAL,
            f"{short}() runs a command that arrived at run time (an HTTP response, a socket, another process's output)",
            name,
        )
    if cmd.items is not None:
        command, _ = argv_command(list(cmd.items))
        first = cmd.items[0].text() if cmd.items else None
    else:
        command = cmd.text()
        first = command.split(None, 1)[0] if command and command.strip() else None
    if first and posixpath.basename(first.replace("\\", "/")).lower() in tables.SHELLS:
        rest = command.split(None, 1)[1:] if command else []
        if not rest or rest[0].strip() in ("-i", "-il", "-li", "-p", "-") or "-i" in rest[0].split():
            p.sh.flags.add("shell")
    if command is None or not command.strip(HOLE + " "):
        p.find(
            "code.process",
            _ESC,
            Severity.HIGH,
            f"{short}() runs a command computed at run time; what it runs cannot be checked",
            name,
        )
        return
    decoded = bool(t & {"decoded", "scrambled"})
    if decoded:
        p.find(
            "code.obfuscation",
            _BLOCK,
            Severity.CRITICAL,
            f"{short}() runs a command that was decoded or unscrambled at run time (base64/hex/zlib/rot13, reversed, character codes): a hidden command",
            command[:200].replace(HOLE, "?"),
        )
    p.hit("shell", command.replace(HOLE, "$ARG"), obfuscated=decoded)


def _dynamic(p: _Py, name: str, code: V | None, dyn: bool) -> None:
    short = name.rpartition(".")[2]
    if dyn:
        p.find(
            "code.obfuscation",
            _BLOCK,
            Severity.CRITICAL,
            f"{name} is reached through a computed name: hiding dynamic code execution",
            name,
        )
    if code is None:
        p.find("code.dynamic", _ESC, Severity.MEDIUM, f"{short}() runs code that cannot be read", name)
        return
    t = _flow(code)
    if "remote" in t:
        p.find(
            "code.remote_code",
            _BLOCK,
            Severity.CRITICAL,
            f"{short}() runs code that arrived at run time (an HTTP response, a socket, another process's output)",
            name,
        )
        return
    if code.ref is not None and code.ref.endswith("compile()"):
        return  # compile() analyzed the source already
    text = code.text()
    decoded = bool(t & {"decoded", "scrambled"})
    if decoded:
        p.find(
            "code.obfuscation",
            _BLOCK,
            Severity.CRITICAL,
            f"{short}() runs code that was decoded or unscrambled at run time (base64/hex/zlib, reversed, character codes): hidden code",
            (text or name)[:200].replace(HOLE, "?"),
        )
    if text is None:
        if not decoded:
            p.find(
                "code.dynamic",
                _ESC,
                Severity.HIGH,
                f"{short}() runs code computed at run time; what it does cannot be checked",
                name,
            )
        return
    if HOLE in text:
        p.find(
            "code.dynamic",
            _ESC,
            Severity.HIGH,
            f"{short}() runs code with parts computed at run time",
            text[:200].replace(HOLE, "?"),
        )
    p.recurse(text, f"{short}() runs", decoded)


def _deserialize(p: _Py, name: str, data: V | None, dyn: bool) -> None:
    short = name.rpartition(".")[2]
    if name.startswith("types."):
        p.find(
            "code.dynamic",
            _BLOCK,
            Severity.CRITICAL,
            f"{name} builds a code object or function by hand: bytecode that no analyzer can read",
            name,
        )
        return
    if data is None:
        return
    t = _flow(data)
    if "remote" in t:
        p.find(
            "code.remote_code",
            _BLOCK,
            Severity.CRITICAL,
            f"{name} loads data received over the network; deserializing it runs arbitrary code",
            name,
        )
        return
    c = data.c
    if name.startswith("marshal.") and (data.known or "decoded" in t):
        p.find(
            "code.dynamic",
            _BLOCK,
            Severity.CRITICAL,
            "marshal.loads of embedded bytes makes a code object out of data: hidden bytecode",
            name,
        )
        return
    if isinstance(c, (bytes, bytearray, str)) and data.known:
        raw = bytes(c) if not isinstance(c, str) else c.encode("latin-1", "replace")
        bad = sorted({g for g in pickle_globals(raw) if g not in _SAFE_PICKLE})
        if bad and name.startswith("pickle."):
            p.find(
                "code.dynamic",
                _BLOCK,
                Severity.CRITICAL,
                f"{short}() loads an embedded pickle that imports and calls {', '.join(bad[:3])}",
                ", ".join(bad[:5]),
            )
        elif bad or not name.startswith("pickle."):
            p.find(
                "code.dynamic",
                _ESC,
                Severity.HIGH,
                f"{name} deserializes embedded data into live objects",
                name,
            )
        return
    if "decoded" in t or dyn:
        p.find(
            "code.obfuscation",
            _BLOCK,
            Severity.CRITICAL,
            f"{short}() loads decoded data: a serialized payload hidden behind an encoding",
            name,
        )


def _unsafe_yaml(kw: dict[str, V], args: list[V]) -> bool:
    loader = kw.get("Loader") or (args[1] if len(args) > 1 else None)
    ref = loader.ref if loader is not None else None
    return not (ref is not None and ref.endswith(("SafeLoader", "CSafeLoader", "BaseLoader")))


def _exfil(p: Any, name: str, args: list[V], kw: dict[str, V], dest: V | None = None) -> None:
    """The environment or a credential leaving the machine (shared by the Python and JavaScript sides)."""
    t = _flow(*args, *kw.values())
    if "env" in t:
        p.find(
            "code.exfiltration", _BLOCK, Severity.CRITICAL, f"{name} sends the whole environment over the network", name
        )
        return
    if "secret" not in t:
        return
    names = sorted(x[7:] for x in t if x.startswith("secret:"))
    host = _host_of(dest) if dest is not None else None
    if names and "?" not in names and host is not None and all(_issued_by(n, host) for n in names):
        return  # OPENAI_API_KEY to api.openai.com: a credential going to its issuer
    what = ", ".join(n for n in names if n != "?") or "a credential (key file or secret)"
    # A key file's contents leave the machine: block. A named variable to a host that is not its
    # vendor: block; one whose name names no vendor (API_KEY), or to a host not known: escalate.
    generic = "?" not in names and (host is None or all(not _vendor_tokens(n) for n in names))
    p.find(
        "code.exfiltration",
        _ESC if generic else _BLOCK,
        Severity.HIGH if generic else Severity.CRITICAL,
        f"{name} sends {what} to {host or 'a host not known statically'}, which did not issue it",
        name,
    )


# Words of a variable name that say what it is, not whose it is.
_GENERIC_WORDS = frozenset(
    {
        "api",
        "key",
        "keys",
        "token",
        "tokens",
        "secret",
        "secrets",
        "access",
        "password",
        "pass",
        "passwd",
        "pwd",
        "auth",
        "client",
        "id",
        "private",
        "session",
        "cookie",
        "bearer",
        "oauth",
        "credential",
        "credentials",
        "app",
        "personal",
        "pat",
        "sk",
        "dsn",
        "url",
        "uri",
        "conn",
        "connection",
        "string",
        "signature",
        "account",
        "service",
        "user",
        "username",
        "login",
        "refresh",
        "write",
        "read",
        "admin",
        "prod",
        "dev",
        "test",
        "staging",
        "default",
        "my",
        "env",
        "var",
        "value",
    }
)
_VENDOR_ALIASES = {"gh": "github", "hf": "huggingface", "gcp": "google", "gcloud": "google", "az": "azure"}


def _vendor_tokens(var: str) -> list[str]:
    out = []
    for w in var.lower().replace("-", "_").split("_"):
        w = _VENDOR_ALIASES.get(w, w)
        if len(w) >= 3 and w not in _GENERIC_WORDS and not w.isdigit():
            out.append(w)
    return out


def _issued_by(var: str, host: str) -> bool:
    """The variable's vendor word names the host (GITHUB_TOKEN -> api.github.com, AWS_* -> *.amazonaws.com)."""
    return any(tok in host for tok in _vendor_tokens(var))


def _host_of(v: V) -> str | None:
    s = v.text()
    if s is None or not v.known:
        if isinstance(v.c, dict):  # JavaScript options object
            for k in ("url", "hostname", "host"):
                x = v.c.get(k)
                if isinstance(x, V):
                    return _host_of(x)
        return None
    s = s.strip()
    if "://" not in s:
        return s.lower().split(":", 1)[0] or None
    try:
        return urlsplit(s).hostname
    except ValueError:
        return None


def _url(p: _Py, v: V, *, exact: bool) -> None:
    s = v.text()
    if s is None:
        return
    cut = s.find(HOLE)
    if cut >= 0:
        # an unknown part before the host ends: where it connects is not known
        head = s[:cut]
        rest = head.split("://", 1)[1] if "://" in head else ""
        if not rest or not any(ch in rest for ch in "/?#"):
            return
        s = s.replace(HOLE, "x")
    s = s.strip()
    if s:
        p.hit("url", s, exact=exact)


def _mode(v: V | None) -> str:
    if v is None:
        return "read"
    s = _s(v)
    if s is None:
        return "write"  # a mode chosen at run time may write
    return "write" if any(ch in s for ch in "wax+") else "read"


def _path(p: _Py, v: V, op: str, *, exact: bool) -> frozenset[str]:
    """Record a path access; returns the taints of what reading it yields."""
    s = v.text()
    if s is None or not s.strip(HOLE):
        return EMPTY
    if s.startswith(HOLE):
        # the directory is unknown, the file name is not: still a credential if it names one
        exact = False
        path = "/x" + s.lstrip(HOLE).replace(HOLE, "x")
    else:
        path = s.replace(HOLE, "x")
    p.hit("path", path, op=op, exact=exact)
    if any(ch in path for ch in "*?["):
        # a glob reads its directory: ~/.ssh/* is the SSH directory
        head = path[: min(i for i in (path.find("*"), path.find("?"), path.find("[")) if i >= 0)]
        head = head.rpartition("/")[0]
        if head.strip("/"):
            p.hit("path", head, op=op, exact=exact)
    if op == "read" and _lexically_sensitive(path):
        return secret() | {"file"}
    return frozenset({"file"})


# Method names that write the path they are given (df.to_csv, fig.savefig, np.save, wb.save, json.dump ...).
_WRITE_METHOD = re.compile(r"(?:to_|save|write|dump|export|store|imwrite|imsave)", re.IGNORECASE)
# A bare file name or relative path with a data-file extension ('reports/head.csv', 'model.pkl').
_FILE_ARG = re.compile(
    r"[\w.~/-]{0,512}\.(?:csv|tsv|json|jsonl|txt|md|parquet|feather|xlsx?|ya?ml|xml|html?|pdf|png|jpe?g|svg|gif|"
    r"pkl|pickle|npy|npz|h5|hdf5|db|sqlite3?|log|zip|tar|gz|py|sh|ini|cfg|conf|toml|env|pem|key|joblib|pt|onnx)",
    re.IGNORECASE,
)


#: Schemes a URL handed to an unknown function could be fetched with; a database or broker
#: URL (postgresql://localhost/app) given to a client constructor is a connection string.
FETCH_SCHEMES = frozenset(
    {"http", "https", "ws", "wss", "ftp", "ftps", "file", "gopher", "dict", "ldap", "ldaps", "tftp", "jar", "netdoc"}
)

#: Methods of database clients that run the SQL text they are given (DB-API, SQLAlchemy, pandas, node drivers).
SQL_METHODS = frozenset(
    {
        "execute",
        "executemany",
        "executescript",
        "exec_driver_sql",
        "read_sql",
        "read_sql_query",
        "query",
        "sql",
        "raw",
        "fetch",
        "fetchrow",
        "fetchval",
        "run_query",
        "exec",
        "prepare",
    }
)


def sql_hit(p: Any, v: V | None) -> None:
    """A SQL statement a database client runs goes to the SQL analyzer; only text that reads as SQL."""
    from agentgate.analyzers.classify import SNIFFERS, sql_operation

    s = v.text() if v is not None else None
    if s is None or not s.strip() or len(s) > 65536:
        return
    text = s.replace(HOLE, "?")  # an interpolated value reads as a bound parameter
    if " " in text.strip() and (sql_operation(text) is not None or SNIFFERS["sql"](text)):
        p.hit("sql", text)


def looks_file(s: str) -> bool:
    """A file name or relative path with a data-file extension, as an argument of any call."""
    return len(s) < 1024 and _FILE_ARG.fullmatch(s) is not None


def looks_path(s: str) -> bool:
    """A whole-string path argument (the classifier's path sniffer)."""
    from agentgate.analyzers.classify import SNIFFERS

    return len(s) < 4096 and SNIFFERS["file"](s)


def _lexically_sensitive(path: str) -> bool:
    from agentgate.analyzers.filesystem import home_dir, normalize_path, path_facts

    try:
        np = normalize_path(path)
    except (ValueError, OSError):
        return False
    return path_facts(np.lexical, home_dir()).sensitive is not None


def _file_call(p: _Py, name: str, args: list[V], kw: dict[str, V]) -> V:
    t: frozenset[str] = EMPTY
    if name in _WALKERS and args and _s(args[0]) is not None:
        where = (_s(args[0]) or "").strip()
        if where in ("/", "~", "~/", "C:\\", "C:/") or (name.startswith("glob.") and where.startswith(("/**", "~/**"))):
            p.find(
                "code.file_search",
                _ESC,
                Severity.HIGH,
                f"{name} walks the whole filesystem or home directory: how credentials and keys are hunted",
                where,
            )
    for idx, kname, op in tables.FILE_FUNCS[name]:
        v = _arg(args, kw, idx, kname)
        if v is None:
            continue
        if op == "?mode":
            op = _mode(_arg(args, kw, 1, "mode"))
        elif op == "?flags":
            fl = _arg(args, kw, 1, "flags")
            op = "read" if fl is not None and fl.c == 0 else "write"
        t = t | _path(p, v, op, exact=True)
    # only what opens a file yields its contents (shutil.copy returns a path, not the data)
    return V(ref=name + "()", t=t if name in _OPENERS else EMPTY)


# Calls that only compute on their arguments: a URL or path given to them is text, not a fetch.
_PURE_MODULES = frozenset({"re", "json", "hashlib", "html", "string", "textwrap", "difflib", "shlex", "unicodedata"})
_PURE_FUNCS = frozenset(
    {
        *(f"urllib.parse.{f}" for f in ("urlparse", "urlsplit", "urljoin", "quote", "quote_plus", "urlencode")),
        *(f"builtins.{f}" for f in ("print", "len", "str", "repr", "isinstance", "format", "hash", "sorted")),
        *(f"os.path.{f}" for f in ("exists", "isfile", "isdir", "splitext", "split", "getsize", "islink")),
        "logging.info",
        "logging.debug",
        "logging.warning",
        "logging.error",
    }
)
_DATA_KW = frozenset(
    {"obj", "data", "s", "string", "value", "text", "body", "content", "json", "msg", "message", "payload"}
)
_OPENERS = frozenset({"builtins.open", "os.open", "sqlite3.connect", "shelve.open", "tarfile.open", "zipfile.ZipFile"})


# ----------------------------------------------------------------------------- handlers


_WALKERS = frozenset({"os.walk", "os.scandir", "os.listdir", "glob.glob", "glob.iglob"})
# Variables that make every process started later load or run something else.
_LOADER_VARS = frozenset(
    {
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "DYLD_INSERT_LIBRARIES",
        "DYLD_LIBRARY_PATH",
        "PYTHONSTARTUP",
        "PYTHONPATH",
        "PYTHONHOME",
        "BASH_ENV",
        "ENV",
        "PROMPT_COMMAND",
        "PERL5OPT",
        "NODE_OPTIONS",
        "RUBYOPT",
        "GIT_SSH_COMMAND",
        "GIT_EXEC_PATH",
        "PATH",
    }
)


def env_assigned(p: _Py, key: str) -> None:
    """``os.environ[KEY] = ...`` / ``os.putenv``: a loader variable redirects every later process."""
    if key.upper() in _LOADER_VARS:
        p.find(
            "code.process",
            _BLOCK,
            Severity.HIGH,
            f"sets {key}, which makes every process started afterwards load or run other code",
            key,
        )


_RUN_KEYS = re.compile(
    r"\\(?:Run|RunOnce|RunServices|RunServicesOnce|Winlogon|Services|Image File Execution Options|"
    r"Shell Folders|User Shell Folders|Explorer\\Run|Environment)(?:\\|$)|^Environment$",
    re.IGNORECASE,
)


def _reg_open(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    sub = _s(args[1]) if len(args) > 1 else _s(kw.get("sub_key") or UNKNOWN)
    return V(sub if sub is not None else NOCONST, ref="winreg.key")


def _reg_set(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    key = args[0] if args else UNKNOWN
    sub = key.c if isinstance(key.c, str) else None
    if sub is not None and _RUN_KEYS.search(sub):
        p.find(
            "code.persistence",
            _BLOCK,
            Severity.CRITICAL,
            f"writes the registry key {sub}, which starts programs at logon or boot (persistence)",
            sub,
        )
    value = args[-1] if args else None
    cmd = _s(value) if value is not None else None
    if cmd and " " in cmd.strip():
        p.hit("shell", cmd)  # a registry value that will be run: the shell analyzer reads it
    return UNKNOWN


def _putenv(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    key = _s(args[0]) if args else None
    if key is not None:
        env_assigned(p, key)
    return UNKNOWN


def _keyring(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    p.find(
        "code.credential_store",
        _ESC,
        Severity.HIGH,
        f"{name} reads the operating system's credential store",
        name,
    )
    return V(t=secret())


def _getattr(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    if len(args) < 2:
        return UNKNOWN
    obj, attr = args[0], args[1]
    a = _s(attr)
    dyn = True  # reflective access: no one calls os.system through getattr for a good reason
    if a is None:
        if obj.ref is not None and obj.ref.partition(".")[0] in _POWERFUL:
            p.find(
                "code.dynamic",
                _ESC,
                Severity.HIGH,
                f"getattr() picks a function of {obj.ref} by a name computed at run time",
                obj.ref,
            )
        return V(t=_flow(obj))
    if obj.ref is not None:
        r = V(ref=tables.canon(f"{obj.ref}.{a}"), items=(obj,))
        if r.ref == "os.environ":
            r = r.taint("env")
        return r.taint("dynname") if dyn else r
    if obj.c is not NOCONST:
        return V(ref="@m." + a, items=(obj,), t=_flow(obj))
    return V(t=_flow(obj))


def _import(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    v = _arg(args, kw, 0, "name")
    s = _s(v) if v is not None else None
    if s is None:
        p.find(
            "code.dynamic",
            _ESC,
            Severity.HIGH,
            f"{name.rpartition('.')[2]}() imports a module whose name is computed at run time",
            name,
        )
        return UNKNOWN
    p._imported(s)
    fromlist = _arg(args, kw, 3, "fromlist")
    mod = s if name == "importlib.import_module" or (fromlist is not None and fromlist.items) else s.partition(".")[0]
    r = V(ref=tables.canon(mod))
    return r.taint("dynname") if v is not None and v.t & {"built", "decoded"} else r


def _operator(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    return V(ref="@" + name.rpartition(".")[2], items=tuple(args)) if args else UNKNOWN


def _globals(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    if name == "builtins.vars" and args:
        return V(ref=f"{args[0].ref}.__dict__") if args[0].ref else V(t=_flow(args[0]))
    return V(ref="@globals")


def _env_get(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    key = _s(args[0]) if args else None
    if key is None:
        return V(t=secret()) if args else UNKNOWN
    return p._env_var(key)


def _env_all(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    return V(t=frozenset({"env"}))


def _dup2(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    if args and "socket" in args[0].t:
        p.sh.flags.add("dup2")
    return UNKNOWN


def _kill(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    p.find("code.process", _ESC, Severity.MEDIUM, f"{name} signals another process", name)
    return UNKNOWN


def _spawner(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    """multiprocessing.Process / threading.Thread: the target is called with args."""
    target = kw.get("target") or (args[1] if len(args) > 1 else None)
    targs = kw.get("args")
    if target is not None and target.ref is not None:
        call(p, target, list(targs.items) if targs is not None and targs.items else [], {})
    return V(ref=name + "()")


def _introspect(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    p.find(
        "code.introspection",
        _ESC,
        Severity.MEDIUM,
        f"{name} reaches the interpreter's live objects or memory (the firewall's among them)",
        name,
    )
    return UNKNOWN


def _ospath(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    f = name.rpartition(".")[2]
    texts = [a.text() for a in args]
    if f == "join":
        out = ""
        for s in texts:
            out = _join(out, s if s is not None else HOLE)
        return _strv(out, *args)
    if texts and texts[0] is not None:
        if f in ("expanduser", "expandvars", "abspath", "realpath", "normpath"):
            return _strv(texts[0], *args)
        if f in ("dirname", "basename"):
            return _strv(getattr(posixpath, f)(texts[0]), *args)
    return V(t=_flow(*args))


def _pathlib(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    if name in ("pathlib.Path.home", "os.path.expanduser"):
        return V("~", ref="pathlib.Path()")
    if name == "pathlib.Path.cwd":
        return V(".", ref="pathlib.Path()")
    out = ""
    for a in args:
        s = a.text()
        out = _join(out, s if s is not None else HOLE)
    return V(out if args else ".", ref="pathlib.Path()", t=_flow(*args))


def _builtin_fold(p: _Py, name: str, fn: V, args: list[V], kw: dict[str, V]) -> V:
    f = name.rpartition(".")[2]
    a0 = args[0] if args else None
    flow = _flow(*args)
    try:
        if f == "chr" and a0 is not None and type(a0.c) is int:
            return _strv(chr(a0.c), a0).taint("scrambled")
        if f == "ord" and a0 is not None and isinstance(a0.c, (str, bytes)) and len(a0.c) == 1:
            return V(ord(a0.c), t=flow)
        if f in ("bytes", "bytearray") and a0 is not None:
            el = p.elements(a0) if a0.items is not None else None
            if el is not None and all(type(e.c) is int for e in el):
                return _strv(bytes(e.c for e in el), *args)  # type: ignore[misc]
            if isinstance(a0.c, str) and a0.known and len(args) > 1 and _s(args[1]):
                return _strv(a0.c.encode(_s(args[1]) or "utf-8"), *args)
            if isinstance(a0.c, (bytes, bytearray)):
                return _strv(bytes(a0.c), *args)
        if f == "str" and a0 is not None:
            if isinstance(a0.c, (bytes, bytearray)) and len(args) > 1 and _s(args[1]):
                return codec(a0, _s(args[1]) or "utf-8")
            if isinstance(a0.c, (str, int, float)):
                return _strv(str(a0.c), a0, built=not isinstance(a0.c, str))
        if f == "int" and a0 is not None and isinstance(a0.c, (str, int)) and a0.known:
            base = args[1].c if len(args) > 1 and type(args[1].c) is int else 10
            return V(int(a0.c, int(str(base))) if isinstance(a0.c, str) else a0.c, t=flow)
        if f == "reversed" and a0 is not None and isinstance(a0.c, (str, bytes)) and a0.known:
            return _strv(a0.c[::-1], a0).taint("scrambled")  # iterating it yields reversed()'s characters
        if f in ("list", "tuple", "reversed", "sorted", "set") and a0 is not None:
            el = p.elements(a0)
            if el is not None:
                if f == "reversed":
                    return V(items=tuple(reversed(el)), t=flow | {"scrambled"})
                return V(items=tuple(el), t=flow)
        if f == "map" and len(args) == 2 and args[0].ref in ("builtins.chr", "builtins.str", "builtins.ord"):
            el = p.elements(args[1])
            if el is not None:
                return V(items=tuple(_builtin_fold(p, args[0].ref or "", args[0], [e], {}) for e in el), t=flow)
        if f == "range" and all(type(a.c) is int for a in args) and 0 < len(args) <= 3:
            r = range(*(int(str(a.c)) for a in args))
            if len(r) <= 1024:
                return V(items=tuple(V(i) for i in r))
        if f in ("hex", "oct", "bin") and a0 is not None and type(a0.c) is int:
            return _strv({"hex": hex, "oct": oct, "bin": bin}[f](a0.c), a0)
    except (ValueError, TypeError, OverflowError, LookupError):
        return V(t=flow)
    return V(t=flow)


_HANDLERS = {
    "builtins.getattr": _getattr,
    "builtins.__import__": _import,
    "importlib.import_module": _import,
    "builtins.globals": _globals,
    "operator.methodcaller": _operator,
    "operator.attrgetter": _operator,
    "builtins.locals": _globals,
    "builtins.vars": _globals,
    "os.getenv": _env_get,
    "os.getenvb": _env_get,
    "os.environ.get": _env_get,
    "os.environ.pop": _env_get,
    "os.environ.setdefault": _env_get,
    "os.environ.copy": _env_all,
    "os.environ.items": _env_all,
    "os.environ.values": _env_all,
    "os.environ.keys": _env_all,
    "os.environ.__str__": _env_all,
    "os.putenv": _putenv,
    "winreg.OpenKey": _reg_open,
    "winreg.OpenKeyEx": _reg_open,
    "winreg.CreateKey": _reg_open,
    "winreg.CreateKeyEx": _reg_open,
    "winreg.SetValueEx": _reg_set,
    "winreg.SetValue": _reg_set,
    "keyring.get_password": _keyring,
    "keyring.get_credential": _keyring,
    "win32cred.CredRead": _keyring,
    "os.dup2": _dup2,
    "os.dup": _dup2,
    "os.kill": _kill,
    "os.killpg": _kill,
    "multiprocessing.Process": _spawner,
    "threading.Thread": _spawner,
    "gc.get_objects": _introspect,
    "gc.get_referrers": _introspect,
    "gc.get_referents": _introspect,
    "ctypes.memmove": _introspect,
    "ctypes.string_at": _introspect,
    "ctypes.cast": _introspect,
    "sys._getframe": _introspect,
    **{f"os.path.{f}": _ospath for f in ("join", "expanduser", "expandvars", "abspath", "realpath", "normpath")},
    "os.path.dirname": _ospath,
    "os.path.basename": _ospath,
    "pathlib.Path": _pathlib,
    "pathlib.Path.home": _pathlib,
    "pathlib.Path.cwd": _pathlib,
    **{
        f"builtins.{f}": _builtin_fold
        for f in (
            "chr",
            "ord",
            "bytes",
            "bytearray",
            "str",
            "int",
            "list",
            "tuple",
            "reversed",
            "sorted",
            "set",
            "map",
            "range",
            "hex",
            "oct",
            "bin",
        )
    },
}


# ----------------------------------------------------------------------------- methods on constants


def _method(p: _Py, m: str, recv: V, args: list[V], kw: dict[str, V]) -> V:
    c = recv.c
    lim = p.sh.limits
    texts = [a.c for a in args]
    try:
        if m == "join" and isinstance(c, (str, bytes)) and args:
            a = args[0]
            if isinstance(a.c, type(c)) and a.known and recv.known:
                return _strv(c.join(a.c), recv, a, limits=lim)  # type: ignore[arg-type]  # joining a string's characters
            el = p.elements(args[0])
            if el is not None and recv.known:
                parts = [e.c if isinstance(e.c, type(c)) else (HOLE if isinstance(c, str) else b"\x00") for e in el]
                return _strv(c.join(parts), recv, *el, limits=lim)  # type: ignore[arg-type]
            return V(t=_flow(recv, *args))
        if m in ("decode", "encode") and isinstance(c, (str, bytes, bytearray)):
            enc = _s(args[0]) if args else (_s(kw["encoding"]) if "encoding" in kw else "utf-8")
            if enc is None:
                return V(t=_flow(recv) | {"decoded"})
            if m == "encode" and isinstance(c, str):
                if enc.lower().replace("-", "_") in ("rot13", "rot_13"):
                    return codec(recv, enc)
                return V(c.encode(enc, "replace") if HOLE not in c else NOCONST, t=_flow(recv))
            return codec(recv, enc)
        if m == "format" and isinstance(c, str) and recv.known:
            if all(a.known for a in args) and all(v.known for v in kw.values()):
                return _strv(c.format(*texts, **{k: v.c for k, v in kw.items()}), recv, *args, limits=lim)
            return _strv(HOLE, recv, *args)
        if m == "translate" and isinstance(c, str) and args and isinstance(args[0].c, dict):
            return _strv(c.translate(args[0].c), recv).taint("scrambled")
        if m == "maketrans" and all(isinstance(x, str) for x in texts) and len(texts) == 2:
            return V(str.maketrans(str(texts[0]), str(texts[1])))
        if m == "hex" and isinstance(c, (bytes, bytearray)):
            return _strv(bytes(c).hex(), recv)
        if m == "fromhex" and args:
            return p.decode("bytes.fromhex", args[0], lambda: bytes.fromhex(str(args[0].c)))
        if isinstance(c, (str, bytes)) and recv.known:
            if m in _STR_NOARG and not args:
                return _strv(getattr(c, m)(), recv)
            if m in _STR_ARGS and all(a.known for a in args):
                out = getattr(c, m)(*texts)
                if isinstance(out, list):
                    return V(items=tuple(V(x, t=_flow(recv) | {"built"}) for x in out), t=_flow(recv))
                if isinstance(out, (str, bytes)):
                    return _strv(out, recv, *args, limits=lim)
    except (ValueError, TypeError, LookupError, OverflowError, IndexError):
        pass
    return V(t=_flow(recv, *args))


_STR_NOARG = frozenset(
    {"upper", "lower", "strip", "lstrip", "rstrip", "swapcase", "title", "capitalize", "casefold", "split"}
)
_STR_ARGS = frozenset(
    {"replace", "strip", "lstrip", "rstrip", "split", "rsplit", "removeprefix", "removesuffix", "zfill", "center"}
)
