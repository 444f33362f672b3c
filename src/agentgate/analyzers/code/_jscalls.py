"""Calls in the JavaScript interpreter (see `_js` for the effects matched)."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from agentgate._decision import Effect, Severity

from . import _js as js
from ._effects import (
    _WRITE_METHOD,
    FETCH_SCHEMES,
    SQL_METHODS,
    _lexically_sensitive,
    argv_command,
    looks_file,
    looks_path,
    sql_hit,
)
from ._effects import _exfil as py_exfil
from ._model import EMPTY, HOLE, UNKNOWN, V
from ._python import _flow, _strv, secret

if TYPE_CHECKING:
    from ._js import _Js

__all__ = ["call"]

_BLOCK, _ESC = Effect.BLOCK, Effect.ESCALATE


def call(p: _Js, fn: V, args: list[V], new: bool) -> V:
    """The value of calling (or constructing) *fn* with *args*."""
    name = fn.ref
    if name is None:
        return V(t=_flow(fn, *args))
    if name.startswith("@m."):
        return _method(p, name[3:], fn.items[0] if fn.items else UNKNOWN, args)
    if name.startswith("@fn"):
        fid = int(name[3:])
        return p.call_function(fid, args) if fid in p.funcs else UNKNOWN
    dyn = "dynname" in fn.t
    a0 = args[0] if args else None
    if name == "require":
        mod = a0.text() if a0 is not None and a0.known else None
        if mod is None:
            p.find("code.dynamic", _ESC, Severity.HIGH, "require()/import() of a module named at run time", "require")
            return UNKNOWN
        r = V(ref=js._module(mod))
        return r.taint("dynname") if a0 is not None and a0.t & {"built", "decoded"} else r
    if name in ("process.binding", "process.dlopen", "process._linkedBinding"):
        p.find(
            "code.introspection",
            _BLOCK,
            Severity.HIGH,
            f"{name} reaches Node's native internals (spawn_sync, fs) behind every module check",
            name,
        )
        return UNKNOWN
    if name in js._SHELL_FUNCS:
        _process(p, name, a0, dyn, argv=False)
        return V(ref=name + "()", t=frozenset({"remote"}) if name.endswith("Sync") else EMPTY)
    if name in js._ARGV_FUNCS or name == "Bun.spawn":
        opts = args[2] if len(args) > 2 else (args[1] if len(args) > 1 and isinstance(args[1].c, dict) else None)
        shell = isinstance(opts.c, dict) and bool(opts.c.get("shell", V(False)).c) if opts is not None else False
        if a0 is not None and a0.items is not None:
            cmd = a0
        else:
            rest = args[1].items if len(args) > 1 and args[1].items is not None else ()
            cmd = V(items=((a0 or UNKNOWN), *rest))
            if shell and a0 is not None and not rest:
                cmd = a0
        _process(p, name, cmd, dyn, argv=not shell)
        return V(ref="child_process.ChildProcess()")
    if name == "child_process.fork":
        if a0 is not None and a0.text():
            p.hit("path", str(a0.text()).replace(HOLE, "x"), op="read")
        return V(ref="child_process.ChildProcess()")
    if name in ("Deno.run", "Deno.Command"):
        _process(p, name, _deno_cmd(name, args), dyn, argv=True)
        return V(ref="Deno.ChildProcess()")
    if name == "Function()":
        # the function Function('return process') built: calling it yields what its body returns
        return fn.items[0] if fn.items else UNKNOWN
    if name in js._DYNAMIC:
        code = args[-1] if name == "Function" and args else a0
        if name in ("setTimeout", "setInterval", "setImmediate") and (code is None or code.text() is None):
            return UNKNOWN  # a callback, not a string
        _dynamic(p, name, code, dyn)
        if name == "Function" and code is not None:
            body = (code.text() or "").strip().rstrip(";").strip()
            if body.startswith("return ") and body[7:].strip().replace(".", "").replace("_", "").isalnum():
                got = p.global_value(body[7:].strip())
                if got.ref is not None and got.ref.partition(".")[0] in ("process", "require", "global", "module"):
                    p.find(
                        "code.obfuscation",
                        _BLOCK,
                        Severity.HIGH,
                        f"Function({body!r}) reaches {got.ref} through code built from a string (a sandbox escape)",
                        body,
                    )
                return V(ref="Function()", items=(got,))
        return V(ref=name + "()")
    if name == "Buffer.from":
        enc = args[1].text() if len(args) > 1 else None
        if a0 is not None and a0.items is not None and all(type(i.c) is int for i in a0.items):
            return _strv(bytes(int(i.c) & 0xFF for i in a0.items), *a0.items)  # type: ignore[call-overload]
        if a0 is not None:
            return js.decode_js((enc or "utf8").lower().replace("-", ""), a0)
        return UNKNOWN
    if name in ("atob", "decodeURIComponent", "decodeURI", "unescape"):
        if a0 is None:
            return UNKNOWN
        v = js.decode_js("atob" if name == "atob" else "uri", a0)
        if isinstance(v.c, bytes):
            return V(v.c.decode("latin-1"), t=v.t)
        return v
    if name == "String.fromCharCode":
        if all(type(a.c) is int for a in args):
            return _strv("".join(chr(int(a.c) & 0x10FFFF) for a in args), *args).taint("scrambled")  # type: ignore[call-overload]
        return V(t=_flow(*args))
    if name in ("JSON.stringify", "Object.entries", "Object.keys", "Object.values", "Object.assign", "String"):
        return V(t=_flow(*args))
    if name == "os.homedir":
        return V("~")
    if name == "Deno.env.toObject":
        return V(t=frozenset({"env"}))
    if name in ("Deno.env.get",):
        s = a0.text() if a0 is not None else None
        if s is None:
            return V(t=secret())
        return V(t=secret(s)) if js.SECRET_NAME.search(s) else UNKNOWN
    if name in js._FILE_OPS:
        t: frozenset[str] = EMPTY
        for idx, op in js._FILE_OPS[name]:
            if idx < len(args):
                t = t | _path(p, args[idx], op)
            if op == "write" and len(args) > 1 and args[1].t & {"env", "secret"}:
                _dumped(p, args[1], "writes to a file")
        return V(t=t)
    if name in js._URL_FUNCS or name in js._HOST_FUNCS:
        target = args[1] if name == "XMLHttpRequest().open" and len(args) > 1 else a0
        if name in js._HOST_FUNCS:
            target = next((a for a in args if isinstance(a.c, (str, dict))), None)
        _exfil(p, name, args, target)
        if name in js._HOST_FUNCS:
            _host(p, name, args)
            p.sh.flags.add("socket")
            return V(ref="net.Socket()", t=frozenset({"socket"}))
        if target is not None:
            if isinstance(target.c, dict):
                _host_opts(p, target.c)
            else:
                _url(p, target, exact=True)
        return V(ref=name + "()", t=frozenset({"remote"}))
    if name.startswith("net.Socket()."):
        meth = name.rpartition(".")[2]
        if meth in ("write", "end"):
            _exfil(p, name, args)
        if meth == "pipe":
            p.sh.flags.add("socket")
        return V(ref=name + "()", t=frozenset({"socket", "remote"}))
    if name == "net.Socket":
        return V(ref="net.Socket()", t=frozenset({"socket"}))
    if name in js._OUTPUT:
        for a in args:
            if a.t & {"env", "secret"}:
                _dumped(p, a, "prints")
                break
        return UNKNOWN
    meth = name.rpartition(".")[2]
    if meth in SQL_METHODS and args:
        sql_hit(p, args[0])
    writes = _WRITE_METHOD.match(meth) is not None
    for a in args:
        s = a.text()
        if s is None or not a.known:
            continue
        if "://" in s[:16] and not any(ch.isspace() for ch in s):
            if s.split("://", 1)[0].lower() in FETCH_SCHEMES:
                _url(p, a, exact=False)
        elif looks_path(s) or looks_file(s):
            _path(p, a, "write" if writes else "read", exact=writes)
    res = name + "()"
    recv = fn.items[0] if fn.items else None
    return V(ref=res if len(res) < 200 else None, t=_flow(*args, *(() if recv is None else (recv,))))


def _deno_cmd(name: str, args: list[V]) -> V | None:
    """``Deno.run({cmd: [...]})`` / ``new Deno.Command(prog, {args: [...]})`` as an argv."""
    a0 = args[0] if args else UNKNOWN
    if name == "Deno.run":
        got = a0.c.get("cmd") if isinstance(a0.c, dict) else None
        return got if isinstance(got, V) else None
    opts = args[1].c if len(args) > 1 and isinstance(args[1].c, dict) else {}
    extra = opts.get("args")
    rest = extra.items if isinstance(extra, V) and extra.items else ()
    return V(items=(a0, *rest))


def _process(p: _Js, name: str, cmd: V | None, dyn: bool, *, argv: bool) -> None:
    short = name.rpartition(".")[2]
    if dyn:
        p.find(
            "code.obfuscation",
            _BLOCK,
            Severity.CRITICAL,
            f"{name} is reached through a computed module or property name: hiding a process call",
            name,
        )
    if cmd is None:
        p.find("code.process", _ESC, Severity.HIGH, f"{short}() runs a command that cannot be read", name)
        return
    t = _flow(cmd)
    if "remote" in t:
        p.find(
            "code.remote_code", _BLOCK, Severity.CRITICAL, f"{short}() runs a command received over the network", name
        )
    if cmd.items is not None:
        command, _ = argv_command(list(cmd.items))
        first = cmd.items[0].text() if cmd.items else None
        if first and posixpath.basename(first) in js._SHELLS and len(cmd.items) <= 2:
            p.sh.flags.add("shell")
    else:
        command = cmd.text()
    if command is None or not command.strip(HOLE + " "):
        p.find("code.process", _ESC, Severity.HIGH, f"{short}() runs a command computed at run time", name)
        return
    decoded = bool(t & {"decoded", "scrambled"})
    if decoded:
        p.find(
            "code.obfuscation",
            _BLOCK,
            Severity.CRITICAL,
            f"{short}() runs a command decoded or unscrambled at run time (base64/hex, reversed, fromCharCode): a hidden command",
            command[:200].replace(HOLE, "?"),
        )
    p.hit("shell", command.replace(HOLE, "$ARG"), obfuscated=decoded)


def _dynamic(p: _Js, name: str, code: V | None, dyn: bool) -> None:
    if dyn:
        p.find("code.obfuscation", _BLOCK, Severity.CRITICAL, f"{name} is reached through a computed name", name)
    if code is None:
        return
    t = _flow(code)
    if "remote" in t:
        p.find("code.remote_code", _BLOCK, Severity.CRITICAL, f"{name}() runs code received over the network", name)
        return
    text = code.text()
    decoded = bool(t & {"decoded", "scrambled"})
    if decoded:
        p.find(
            "code.obfuscation",
            _BLOCK,
            Severity.CRITICAL,
            f"{name}() runs code decoded or unscrambled at run time: hidden code",
            (text or name)[:200].replace(HOLE, "?"),
        )
    if text is None:
        if not decoded:
            p.find("code.dynamic", _ESC, Severity.HIGH, f"{name}() runs code computed at run time", name)
        return
    if HOLE in text:
        p.find("code.dynamic", _ESC, Severity.HIGH, f"{name}() runs code with parts computed at run time", name)
    if name == "Function":
        text = f"(function () {{\n{text}\n}})"  # a function body may return
    p.recurse(text, f"{name}() runs", decoded)


def _path(p: _Js, v: V, op: str, *, exact: bool = True) -> frozenset[str]:
    s = v.text()
    if s is None or not s.strip(HOLE):
        return EMPTY
    exact = exact and not s.startswith(HOLE)
    path = s.replace(HOLE, "x") if exact else "/x" + s.lstrip(HOLE).replace(HOLE, "x")
    p.hit("path", path, op=op, exact=exact)
    return secret() | {"file"} if op == "read" and _lexically_sensitive(path) else frozenset({"file"})


def _url(p: _Js, v: V, *, exact: bool) -> None:
    s = v.text()
    if s is None:
        return
    cut = s.find(HOLE)
    if cut >= 0:
        head = s[:cut]
        rest = head.split("://", 1)[1] if "://" in head else ""
        if not rest or not any(ch in rest for ch in "/?#"):
            return
        s = s.replace(HOLE, "x")
    if s.strip():
        p.hit("url", s.strip(), exact=exact)


def _host(p: _Js, name: str, args: list[V]) -> None:
    for a in args[:2]:
        if isinstance(a.c, dict):
            _host_opts(p, a.c)
            return
        s = a.text()
        if s is not None and a.known and s:
            if "://" in s:
                _url(p, a, exact=True)
            else:
                p.hit("host", s)
            return


def _host_opts(p: _Js, opts: dict[str, V]) -> None:
    for k in ("url", "hostname", "host"):
        v = opts.get(k)
        if v is not None and v.known and v.text():
            if k == "url":
                _url(p, v, exact=True)
            else:
                p.hit("host", str(v.text()))
            return


def _exfil(p: _Js, name: str, args: list[V], dest: V | None = None) -> None:
    flat: list[V] = []
    for v in args:
        flat.append(v)
        if isinstance(v.c, dict):
            flat.extend(x for x in v.c.values() if isinstance(x, V))
    py_exfil(p, name, flat, {}, dest)


def _dumped(p: _Js, v: V, how: str) -> None:
    what = "the whole environment" if "env" in v.t else "a credential (secret environment variable or key file)"
    p.find(
        "code.env_dump",
        _ESC,
        Severity.HIGH,
        f"the code {how} {what}: secrets end up in the transcript the model provider sees",
        what,
    )


def _method(p: _Js, m: str, recv: V, args: list[V]) -> V:
    c = recv.c
    lim = p.sh.limits
    a0 = args[0] if args else None
    if isinstance(c, bytes) and m == "toString":
        enc = (a0.text() or "utf8").lower().replace("-", "") if a0 is not None else "utf8"
        if enc in ("utf8", "latin1", "binary", "ascii"):
            return V(c.decode("utf-8" if enc == "utf8" else "latin-1", "replace"), t=recv.t)
        return V(t=_flow(recv))
    if isinstance(c, str) and recv.known:
        if m == "split" and a0 is not None and a0.c == "":
            return V(items=tuple(V(ch) for ch in c[:4096]), t=_flow(recv))
        if m == "split" and a0 is not None and isinstance(a0.c, str) and a0.c:
            return V(items=tuple(V(x) for x in c.split(a0.c)[:4096]), t=_flow(recv))
        if m in ("replace", "replaceAll") and len(args) == 2 and all(isinstance(a.c, str) for a in args):
            out = c.replace(str(args[0].c), str(args[1].c), -1 if m == "replaceAll" else 1)
            return _strv(out, recv, *args, limits=lim)
        if m == "concat" and all(a.known and isinstance(a.c, str) for a in args):
            return _strv(c + "".join(str(a.c) for a in args), recv, *args, limits=lim)
        if m in ("slice", "substring") and all(type(a.c) is int for a in args):
            idx = [int(str(a.c)) for a in args]
            return _strv(c[slice(*idx[:2])], recv)
        if m in ("toLowerCase", "toUpperCase", "trim"):
            return _strv({"toLowerCase": c.lower, "toUpperCase": c.upper, "trim": c.strip}[m](), recv)
        if m == "toString":
            return recv
    if recv.items is not None:
        if m == "reverse":
            return V(items=tuple(reversed(recv.items)), t=_flow(recv) | {"scrambled"})
        if m == "join":
            sep = a0.c if a0 is not None and isinstance(a0.c, str) else ("," if a0 is None else None)
            if sep is not None:
                parts = [str(i.c) if i.known and isinstance(i.c, (str, int, float)) else HOLE for i in recv.items]
                return _strv(sep.join(parts), recv, *recv.items, limits=lim)
        if (
            m == "map"
            and a0 is not None
            and a0.ref == "String.fromCharCode"
            and all(type(i.c) is int for i in recv.items)
        ):
            chars = tuple(V(chr(int(str(i.c)) & 0x10FFFF)) for i in recv.items)
            return V(items=chars, t=_flow(recv) | {"built", "scrambled"})
    return V(t=_flow(recv, *args))
