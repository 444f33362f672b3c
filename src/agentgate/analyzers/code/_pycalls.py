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
from typing import TYPE_CHECKING

from agentgate._decision import Effect, Severity

from . import _pytables as tables
from ._decode import DECODERS, ENCODERS, to_bytes
from ._effects import (
    _DATA_KW,
    _PURE_FUNCS,
    _PURE_MODULES,
    _WRITE_METHOD,
    FETCH_SCHEMES,
    SQL_METHODS,
    _arg,
    _deserialize,
    _dynamic,
    _exfil,
    _file_call,
    _mode,
    _path,
    _process,
    _unsafe_yaml,
    _url,
    looks_file,
    looks_path,
    sql_hit,
)
from ._model import EMPTY, HOLE, NOCONST, UNKNOWN, V
from ._python import _flow, _join, _s, _strv, codec, secret

if TYPE_CHECKING:
    from ._python import _Py

__all__ = ["call"]

_BLOCK, _ESC = Effect.BLOCK, Effect.ESCALATE
# Modules whose functions chosen at run time (getattr(os, name)) can do anything.
_POWERFUL = frozenset(
    {"os", "subprocess", "builtins", "pty", "socket", "ctypes", "importlib", "sys", "shutil", "pickle"}
)


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
    if name == "@partial" and fn.items and len(fn.items) >= 2:
        # functools.partial(os.system, 'id')() is os.system('id'): the bound arguments come first
        f, bound, *pos = fn.items
        keys = bound.c if isinstance(bound.c, tuple) else ()
        return call(p, f, [*pos, *args], {**dict(zip(keys, bound.items or (), strict=False)), **kw})
    if name == "functools.partial" and args:
        bound = V(tuple(kw), ref="@kw", items=tuple(kw.values()))
        return V(ref="@partial", items=(args[0], bound, *args[1:]))
    for i, a in enumerate(args):
        if a.ref == "@partial":
            _called_back(p, a, [x for j, x in enumerate(args) if j != i])
        elif a.ref is not None and _special(a.ref) and a.ref not in DECODERS and a.ref not in ENCODERS:
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
        call(p, f if f.ref == "@partial" else V(ref=f.ref, t=f.t), [e], {})


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


# ----------------------------------------------------------------------------- handlers


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
