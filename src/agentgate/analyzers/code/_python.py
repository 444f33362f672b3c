"""Python through the stdlib ``ast``: a small abstract interpreter that records effects.

Statements run in order over one environment of abstract values (`V`); branches and
loop bodies are all visited (a body under ``if False:`` is still read), functions and
classes are analyzed where they are defined with unknown parameters, and loops over a
short literal sequence are unrolled so ``for p in ['~/.ssh/id_rsa', ...]`` is seen per
element. Strings are folded (concatenation, ``join``, ``format``/``%``/f-strings,
slicing, ``chr``/``ord``, ``bytes``, ``reversed``, ``replace``, ``translate``, decoders)
and names are followed through every aliasing form (``import os as o``, ``from os
import system as s``, ``__import__``, ``importlib.import_module``, ``getattr``,
``globals()[...]``, ``vars(m)[...]``, ``sys.modules[...]``, ``m.__dict__[...]``).
Every call is matched against the effect tables in `_pytables`.
"""

from __future__ import annotations

import ast
import builtins
import sys
import time
from collections.abc import Callable
from typing import Any

from agentgate._decision import Effect, Severity

from . import _pytables as tables
from ._decode import DECODERS, TooLargeError, UndecodableError, codec_decode
from ._model import EMPTY, FLOWING, HOLE, NOCONST, UNKNOWN, Hit, LimitError, Limits, V

__all__ = ["Shared", "analyze_python"]

_BUILTIN_NAMES = frozenset(dir(builtins))
_MODULE_NAMES = frozenset(
    n
    for n in (*sys.stdlib_module_names, "requests", "httpx", "aiohttp", "urllib3", "paramiko", "pexpect", "dill")
    if not n.startswith("_") and n not in ("this", "antigravity", "string", "test", "code")
)
_BLOCK, _ESC = Effect.BLOCK, Effect.ESCALATE


class Shared:
    """State shared by one analysis and the programs it finds inside (exec of a decoded string)."""

    __slots__ = ("deadline", "decodes", "flags", "hits", "limits", "steps")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.hits: list[Hit] = []
        self.steps = 0
        self.decodes = 0
        # CPU time of this thread, like tier 1's budget: a busy machine that deschedules the
        # analysis must not change what it finds (the step bound keeps the work itself bounded).
        self.deadline = time.thread_time() + limits.budget_s
        # facts that only mean something together (a socket and a shell: a reverse shell)
        self.flags: set[str] = set()

    def tick(self, n: int = 1) -> None:
        """Count *n* evaluation steps; every 64 steps, check the step bound and the time budget."""
        self.steps += n
        if self.steps & 63 and n:
            return
        if self.steps > self.limits.max_steps:
            raise LimitError(f"more than {self.limits.max_steps} evaluation steps")
        if time.thread_time() > self.deadline:
            raise LimitError(f"analysis took longer than its {self.limits.budget_s * 1000:.0f} ms budget")


def _s(v: V) -> str | None:
    """A known string (or bytes) constant as text."""
    return v.text() if v.known else None


def _keep(t: frozenset[str]) -> frozenset[str]:
    if "secret" in t:  # the names of secrets ("secret:GITHUB_TOKEN") flow with them
        return t & FLOWING | {x for x in t if x.startswith("secret:")}
    return t & FLOWING


def _flow(*vals: V) -> frozenset[str]:
    out: frozenset[str] = EMPTY
    for v in vals:
        if v.t:
            out = out | _keep(v.t)
        if v.items:
            for i in v.items:
                if i.t:
                    out = out | _keep(i.t)
    return out


def secret(name: str = "?") -> frozenset[str]:
    """The taints of a credential named *name* (``?``: a key file, a store, a name not known)."""
    return frozenset({"secret", "secret:" + name})


def _strv(s: str | bytes, *vals: V, built: bool = True, limits: Limits | None = None) -> V:
    """A folded string constant, carrying the taints of what it was built from."""
    if limits is not None and len(s) > limits.max_string:
        return V(t=_flow(*vals) | {"limit"})
    t = _flow(*vals)
    return V(s, t=t | {"built"} if built else t)


class _Py:
    """One program (see module docstring)."""

    def __init__(self, sh: Shared, depth: int, line0: int) -> None:
        self.sh = sh
        self.depth = depth
        self.line0 = line0  # the outer line when this program came from an exec/decoder
        self.env: dict[str, V] = {}
        self.star: list[str] = []
        self.line = 1
        self.last_expr: ast.expr | None = None
        # functions defined here: analyzed at each call with its arguments, and once at the end with
        # unknown arguments if never called (a def that is only referenced still runs somewhere)
        self.funcs: dict[int, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.called: set[int] = set()
        self.active: list[int] = []
        self.returns: list[V] | None = None

    # ------------------------------------------------------------------ reporting

    def at(self) -> int:
        return self.line0 or self.line

    def find(self, rule: str, effect: Effect, sev: Severity, msg: str, ev: str = "") -> None:
        self.sh.hits.append(Hit("finding", ev, self.at(), rule=rule, effect=effect, severity=sev, message=msg))

    def hit(self, kind: str, value: str, op: str = "", exact: bool = True, obfuscated: bool = False) -> None:
        self.sh.hits.append(Hit(kind, value, self.at(), op=op, exact=exact, obfuscated=obfuscated))

    # ------------------------------------------------------------------ statements

    def run(self, body: list[ast.stmt]) -> None:
        for st in body:
            self.stmt(st)

    def stmt(self, n: ast.stmt) -> None:
        self.sh.tick()
        self.line = n.lineno
        m = _STMT.get(type(n))
        if m is not None:
            m(self, n)
            return
        for c in ast.iter_child_nodes(n):
            if isinstance(c, ast.stmt):
                self.stmt(c)
            elif isinstance(c, ast.expr):
                self.expr(c)
            elif isinstance(c, (ast.excepthandler, ast.match_case, ast.withitem, ast.comprehension)):
                for cc in ast.iter_child_nodes(c):
                    if isinstance(cc, ast.stmt):
                        self.stmt(cc)
                    elif isinstance(cc, ast.expr):
                        self.expr(cc)

    def s_Import(self, n: ast.Import) -> None:
        for a in n.names:
            self._imported(a.name)
            if a.asname:
                self.env[a.asname] = V(ref=tables.canon(a.name))
            else:
                root = a.name.partition(".")[0]
                self.env[root] = V(ref=tables.canon(root))

    def s_ImportFrom(self, n: ast.ImportFrom) -> None:
        mod = n.module or ""
        self._imported(mod)
        for a in n.names:
            if a.name == "*":
                self.star.append(tables.canon(mod))
                continue
            self._imported(f"{mod}.{a.name}")
            self.env[a.asname or a.name] = V(ref=tables.canon(f"{mod}.{a.name}" if mod else a.name))

    def _imported(self, mod: str) -> None:
        if mod.partition(".")[0] == "agentgate":
            self.find(
                "code.firewall",
                _BLOCK,
                Severity.CRITICAL,
                "the code imports the firewall's own package; code run by an agent must not reach or reconfigure it",
                mod,
            )

    def s_If(self, n: ast.If | ast.While) -> None:
        self.expr(n.test)
        self.run(n.body)
        self.run(n.orelse)

    s_While = s_If

    def s_Return(self, n: ast.Return) -> None:
        if n.value is not None:
            v = self.expr(n.value)
            if self.returns is not None:
                self.returns.append(v)

    def s_Pass(self, n: ast.stmt) -> None:
        return

    s_Break = s_Continue = s_Global = s_Nonlocal = s_Pass

    def s_Assign(self, n: ast.Assign) -> None:
        v = self.expr(n.value)
        for t in n.targets:
            if isinstance(t, ast.Subscript) and self.expr(t.value).ref == "os.environ":
                key = _s(self.expr(t.slice))
                if key is not None:
                    from ._pycalls import env_assigned

                    env_assigned(self, key)
            self.bind(t, v)

    def s_AnnAssign(self, n: ast.AnnAssign) -> None:
        if n.value is not None:
            self.bind(n.target, self.expr(n.value))

    def s_AugAssign(self, n: ast.AugAssign) -> None:
        cur = self.expr(n.target) if isinstance(n.target, ast.Name) else UNKNOWN
        self.bind(n.target, self.binop(n.op, cur, self.expr(n.value)))

    def s_Expr(self, n: ast.Expr) -> None:
        v = self.expr(n.value)
        if n.value is self.last_expr and self.depth == 0 and v.t & {"env", "secret"}:
            # a notebook displays the value of its last expression
            self._dumped(v, "displays")

    def s_FunctionDef(self, n: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for d in n.decorator_list:
            self.expr(d)
        self._args(n.args)
        if n.decorator_list or len(self.funcs) >= 64:
            # a decorated function is called by whatever it is registered with: read it now
            self._body_scope(n.body, n.args)
            self.env[n.name] = UNKNOWN
            return
        self.funcs[id(n)] = n
        self.env[n.name] = V(ref=f"@fn{id(n)}")

    def call_function(self, fid: int, args: list[V], kw: dict[str, V]) -> V:
        """Run a function defined in this program with these arguments (bounded, not recursive)."""
        n = self.funcs[fid]
        self.called.add(fid)
        if fid in self.active or len(self.active) >= 4:
            return UNKNOWN  # recursion: the body is read once with unknown arguments at the end
        a = n.args
        params = [*a.posonlyargs, *a.args]
        defaults = [None] * (len(params) - len(a.defaults)) + list(a.defaults)
        saved, saved_ret = self.env, self.returns
        self.env = dict(saved)
        for i, prm in enumerate(params):
            if i < len(args):
                self.env[prm.arg] = args[i]
            elif prm.arg in kw:
                self.env[prm.arg] = kw[prm.arg]
            else:
                d = defaults[i]
                self.env[prm.arg] = self.expr(d) if d is not None else UNKNOWN
        for prm in a.kwonlyargs:
            self.env[prm.arg] = kw.get(prm.arg, UNKNOWN)
        if a.vararg is not None:
            self.env[a.vararg.arg] = V(items=tuple(args[len(params) :]), t=_flow(*args[len(params) :]))
        if a.kwarg is not None:
            self.env[a.kwarg.arg] = V(t=_flow(*kw.values()))
        self.active.append(fid)
        self.returns = []
        try:
            self.run(n.body)
            rets = self.returns
        finally:
            self.active.pop()
            self.env, self.returns = saved, saved_ret
        if len(rets) == 1:
            return rets[0]
        return V(t=_flow(*rets))

    def finish(self) -> None:
        """Functions never called here are read once with unknown arguments.

        ``__reduce__`` tells pickle what to call when the object is loaded: the callable
        it returns is called with the arguments it returns (``(os.system, ("id",))``).
        """
        for fid, n in list(self.funcs.items()):
            if n.name in ("__reduce__", "__reduce_ex__") and fid not in self.called:
                got = self.call_function(fid, [UNKNOWN, UNKNOWN], {})
                if got.items and len(got.items) >= 2 and got.items[0].ref is not None:
                    _call()(self, got.items[0], list(got.items[1].items or [UNKNOWN]), {})
        for fid, n in list(self.funcs.items()):
            if fid not in self.called:
                self.called.add(fid)
                self._body_scope(n.body, n.args)

    s_AsyncFunctionDef = s_FunctionDef

    def s_ClassDef(self, n: ast.ClassDef) -> None:
        for e in (*n.decorator_list, *n.bases, *(k.value for k in n.keywords)):
            self.expr(e)
        self._body_scope(n.body, None)
        self.env[n.name] = UNKNOWN

    def _args(self, a: ast.arguments) -> None:
        for d in (*a.defaults, *(x for x in a.kw_defaults if x is not None)):
            self.expr(d)

    def _body_scope(self, body: list[ast.stmt], args: ast.arguments | None) -> None:
        saved = self.env
        self.env = dict(saved)
        if args is not None:
            for p in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
                if p is not None:
                    self.env[p.arg] = UNKNOWN
        try:
            self.run(body)
        finally:
            self.env = saved

    def s_For(self, n: ast.For | ast.AsyncFor) -> None:
        it = self.expr(n.iter)
        elems = self.elements(it)
        if elems is not None and 0 < len(elems) <= 8:
            for e in elems:
                self.bind(n.target, e)
                self.run(n.body)
        else:
            self.bind(n.target, V(t=_flow(it)))
            self.run(n.body)
        self.run(n.orelse)

    s_AsyncFor = s_For

    def s_With(self, n: ast.With | ast.AsyncWith) -> None:
        for item in n.items:
            v = self.expr(item.context_expr)
            if item.optional_vars is not None:
                self.bind(item.optional_vars, v)
        self.run(n.body)

    s_AsyncWith = s_With

    def s_Try(self, n: ast.Try) -> None:
        self.run(n.body)
        for h in n.handlers:
            if h.type is not None:
                self.expr(h.type)
            if h.name:
                self.env[h.name] = UNKNOWN
            self.run(h.body)
        self.run(n.orelse)
        self.run(n.finalbody)

    s_TryStar = s_Try

    def bind(self, target: ast.expr, v: V) -> None:
        if isinstance(target, ast.Name):
            self.env[target.id] = v
        elif isinstance(target, (ast.Tuple, ast.List)):
            elems = self.elements(v)
            for i, t in enumerate(target.elts):
                if isinstance(t, ast.Starred):
                    self.bind(t.value, V(t=_flow(v)))
                elif elems is not None and len(elems) == len(target.elts):
                    self.bind(t, elems[i])
                else:
                    self.bind(t, V(t=_flow(v)))
        elif isinstance(target, ast.Starred):
            self.bind(target.value, v)
        else:  # attribute or subscript target: evaluate its parts for the calls inside
            self.expr(target)

    # ------------------------------------------------------------------ expressions

    def expr(self, n: ast.expr) -> V:
        sh = self.sh
        sh.steps += 1
        if not sh.steps & 63:
            sh.tick(0)
        m = _EXPR.get(type(n))
        if m is not None:
            r: V = m(self, n)
            return r
        t: frozenset[str] = EMPTY
        for c in ast.iter_child_nodes(n):
            if isinstance(c, ast.expr):
                t = t | _flow(self.expr(c))
            elif isinstance(c, ast.comprehension):
                t = t | _flow(self.expr(c.iter))
                for cond in c.ifs:
                    self.expr(cond)
            elif isinstance(c, ast.arguments):
                self._args(c)
        return V(t=t)

    def e_Compare(self, n: ast.Compare) -> V:
        t = _flow(self.expr(n.left))
        for c in n.comparators:
            t = t | _flow(self.expr(c))
        return V(t=t)

    def e_BoolOp(self, n: ast.BoolOp) -> V:
        vals = [self.expr(v) for v in n.values]
        return V(t=_flow(*vals))

    def e_Await(self, n: ast.Await) -> V:
        return self.expr(n.value)

    def e_Constant(self, n: ast.Constant) -> V:
        return V(n.value)

    def e_Name(self, n: ast.Name) -> V:
        v = self.env.get(n.id)
        if v is not None:
            return v
        for mod in self.star:
            name = tables.canon(f"{mod}.{n.id}")
            if _effectful(name):
                return V(ref=name)
        if n.id == "__builtins__":
            return V(ref="builtins")
        if n.id in _BUILTIN_NAMES or n.id == "display":
            return V(ref=tables.canon("builtins." + n.id))
        if n.id == "get_ipython":
            return V(ref="get_ipython")
        if n.id in _MODULE_NAMES:
            # an interpreter session keeps what earlier cells imported: a free module name is that module
            return V(ref=tables.canon(n.id))
        return UNKNOWN

    def e_NamedExpr(self, n: ast.NamedExpr) -> V:
        v = self.expr(n.value)
        self.bind(n.target, v)
        return v

    def e_JoinedStr(self, n: ast.JoinedStr) -> V:
        parts: list[str] = []
        vals: list[V] = []
        for p in n.values:
            if isinstance(p, ast.Constant) and isinstance(p.value, str):
                parts.append(p.value)
            elif isinstance(p, ast.FormattedValue):
                v = self.expr(p.value)
                spec = self.expr(p.format_spec) if p.format_spec is not None else None
                vals.append(v)
                c = v.c
                if v.known and spec is None and p.conversion in (-1, 115) and isinstance(c, (str, int, float)):
                    parts.append(str(c))
                else:
                    parts.append(HOLE)
            else:
                vals.append(self.expr(p))
                parts.append(HOLE)
        return _strv("".join(parts), *vals, limits=self.sh.limits)

    def e_List(self, n: ast.List | ast.Tuple | ast.Set) -> V:
        items: list[V] = []
        for e in n.elts:
            if isinstance(e, ast.Starred):
                v = self.expr(e.value)
                el = self.elements(v)
                items.extend(el if el is not None else [V(t=_flow(v))])
            else:
                items.append(self.expr(e))
        return V(items=tuple(items), t=_flow(*items))

    e_Tuple = e_List
    e_Set = e_List

    def e_Dict(self, n: ast.Dict) -> V:
        keys = [self.expr(x) if x is not None else UNKNOWN for x in n.keys]
        vals = [self.expr(x) for x in n.values]
        t = _flow(*keys, *vals)
        if any(_callable_ref(v) for v in vals):
            # A dispatch table ({"run": os.system}): a lookup in it yields the function
            return V(ref="@dict", items=(V(items=tuple(keys)), V(items=tuple(vals))), t=t)
        return V(t=t)

    def e_Starred(self, n: ast.Starred) -> V:
        return self.expr(n.value)

    def e_IfExp(self, n: ast.IfExp) -> V:
        self.expr(n.test)
        a, b = self.expr(n.body), self.expr(n.orelse)
        if a.ref is not None and a.ref == b.ref:
            return a
        if a.ref is not None and b.ref is not None and (b.ref == a.ref + ".__dict__" or a.ref == b.ref + ".__dict__"):
            # "__builtins__ if isinstance(__builtins__, dict) else __builtins__.__dict__": one namespace
            return a if a.ref.endswith(".__dict__") else b
        return V(t=_flow(a, b))

    def e_Lambda(self, n: ast.Lambda) -> V:
        self._args(n.args)
        saved = self.env
        self.env = dict(saved)
        for p in (*n.args.posonlyargs, *n.args.args, *n.args.kwonlyargs, n.args.vararg, n.args.kwarg):
            if p is not None:
                self.env[p.arg] = UNKNOWN
        try:
            self.expr(n.body)
        finally:
            self.env = saved
        return UNKNOWN

    def e_BinOp(self, n: ast.BinOp) -> V:
        return self.binop(n.op, self.expr(n.left), self.expr(n.right))

    def binop(self, op: ast.operator, a: V, b: V) -> V:
        ca, cb = a.c, b.c
        lim = self.sh.limits
        if isinstance(op, ast.Add):
            if isinstance(ca, str) and isinstance(cb, str):
                return _strv(ca + cb, a, b, limits=lim)
            if isinstance(ca, (bytes, bytearray)) and isinstance(cb, (bytes, bytearray)):
                return _strv(bytes(ca) + bytes(cb), a, b, limits=lim)
            if a.items is not None and b.items is not None:
                return V(items=a.items + b.items, t=_flow(a, b))
            if _num(ca) and _num(cb):
                return V(ca + cb)  # type: ignore[operator]
            if isinstance(ca, str) or isinstance(cb, str):
                return _strv((ca if isinstance(ca, str) else HOLE) + (cb if isinstance(cb, str) else HOLE), a, b)
        elif isinstance(op, ast.Mult):
            for s, k, sv in ((ca, cb, a), (cb, ca, b)):
                if isinstance(s, (str, bytes)) and isinstance(k, int) and not isinstance(k, bool):
                    if k >= 0 and len(s) * k <= lim.max_string:
                        return _strv(s * k, sv, limits=lim)
                    return V(t=_flow(a, b) | {"limit"})
            if _num(ca) and _num(cb) and abs(ca) < 2**32 and abs(cb) < 2**32:  # type: ignore[arg-type]
                return V(ca * cb)  # type: ignore[operator]
        elif isinstance(op, ast.Mod) and isinstance(ca, (str, bytes)):
            args = self.elements(b) if b.items is not None else [b]
            if args is not None and all(x.known for x in args):
                try:
                    return _strv(ca % tuple(x.c for x in args), a, b, limits=lim)
                except (TypeError, ValueError, KeyError, OverflowError):
                    pass
            return _strv(HOLE if isinstance(ca, str) else b"\x00", a, b)
        elif isinstance(op, ast.Div) and a.ref == "pathlib.Path()":
            right = _s(b)
            base = a.c if isinstance(a.c, str) else HOLE
            return V(_join(base, right if right is not None else HOLE), ref="pathlib.Path()", t=_flow(a, b))
        elif isinstance(op, ast.Sub) and _num(ca) and _num(cb):
            return V(ca - cb)  # type: ignore[operator]
        elif isinstance(op, (ast.BitXor, ast.BitAnd, ast.BitOr)) and type(ca) is int and type(cb) is int:
            return V(ca ^ cb if isinstance(op, ast.BitXor) else ca & cb if isinstance(op, ast.BitAnd) else ca | cb)
        return V(t=_flow(a, b))

    def e_UnaryOp(self, n: ast.UnaryOp) -> V:
        v = self.expr(n.operand)
        if isinstance(n.op, ast.USub) and _num(v.c):
            return V(-v.c)  # type: ignore[operator]
        return V(t=_flow(v))

    def e_Subscript(self, n: ast.Subscript) -> V:
        base = self.expr(n.value)
        if isinstance(n.slice, ast.Slice):
            parts = [self.expr(x) if x is not None else V(None) for x in (n.slice.lower, n.slice.upper, n.slice.step)]
            c = base.c
            ints = [p.c if type(p.c) is int else None for p in parts]
            if all(p.c is None or type(p.c) is int for p in parts):
                sl = slice(ints[0], ints[1], ints[2])
                if isinstance(c, (str, bytes)) and (HOLE not in c if isinstance(c, str) else True):
                    out = _strv(c[sl], base)
                    return out.taint("scrambled") if ints[2] not in (None, 1) else out
                if base.items is not None:
                    return V(items=base.items[sl], t=_flow(base))
            return V(t=_flow(base))
        key = self.expr(n.slice)
        ref = base.ref
        ks = _s(key)
        if ref == "@dict" and base.items:
            keys, vals = base.items[0].items or (), base.items[1].items or ()
            hit = next((v for k, v in zip(keys, vals, strict=False) if key.known and k.known and k.c == key.c), None)
            # an unknown key may pick any entry: the most dangerous one stands for it
            return hit or next((v for v in vals if _callable_ref(v)), UNKNOWN)
        if ref is not None and ks is not None:
            if ref == "os.environ":
                return self._env_var(ks)
            if ref == "builtins":
                ref = "builtins.__dict__"  # __builtins__ is the module's dict outside __main__
            if ref in ("@globals", "sys.modules") or ref.endswith(".__dict__"):
                if ref == "@globals":
                    r = self.e_Name(ast.Name(id=ks))
                elif ref == "sys.modules":
                    r = V(ref=tables.canon(ks))
                else:
                    r = V(ref=tables.canon(f"{ref[: -len('.__dict__')]}.{ks}"))
                # a module's or the globals' dictionary is reflective access; sys.modules is a lookup
                return r.taint("dynname") if ref != "sys.modules" or key.t & {"built", "decoded"} else r
        if ref is not None and key.c is not NOCONST and ref.startswith(("ctypes.", "cffi.")):
            return V(ref=f"{ref}[]")
        c = base.c
        if type(key.c) is int:
            if base.items is not None and -len(base.items) <= key.c < len(base.items):
                return base.items[key.c]
            if isinstance(c, str) and HOLE not in c and -len(c) <= key.c < len(c):
                return _strv(c[key.c], base)
            if isinstance(c, bytes) and -len(c) <= key.c < len(c):
                return V(c[key.c], t=_flow(base))
        return V(t=_flow(base, key))

    def e_Attribute(self, n: ast.Attribute) -> V:
        base = self.expr(n.value)
        attr = n.attr
        if attr in tables.ESCAPE_ATTRS and not (attr == "__builtins__" and base.ref is not None):
            self.find(
                "code.introspection",
                _BLOCK,
                Severity.HIGH,
                f"reads {attr}: reaching the interpreter's globals or every class is how sandboxed code escapes",
                attr,
            )
        elif attr in tables.ESCALATE_ATTRS:
            self.find(
                "code.introspection",
                _ESC,
                Severity.MEDIUM,
                f"uses {attr}: frame and code-object introspection can rewrite running code",
                attr,
            )
        if base.ref is not None:
            if attr == "__builtins__":
                return V(ref="builtins")
            name = tables.canon(f"{base.ref}.{attr}")
            t = base.t & {"dynname"}
            if name == "os.environ":
                t = t | {"env"}
            return V(base.c if attr in _PATH_KEEP and base.ref == "pathlib.Path()" else NOCONST, name, t, (base,))
        if base.c is not NOCONST:
            return V(ref="@m." + attr, items=(base,), t=_flow(base))
        return V(t=_flow(base))

    def e_ListComp(self, n: ast.ListComp | ast.GeneratorExp | ast.SetComp) -> V:
        if len(n.generators) == 1 and not n.generators[0].is_async:
            g = n.generators[0]
            it = self.expr(g.iter)
            elems = self.elements(it)
            if elems is not None and len(elems) <= _MAX_ITEMS:
                saved = dict(self.env)
                out: list[V] = []
                folded = True
                try:
                    for e in elems:
                        self.bind(g.target, e)
                        conds = [self.expr(cond) for cond in g.ifs]
                        if not all(c.known for c in conds):
                            # a filter known only at run time (p.exists()): the element may be kept,
                            # so what it yields still flows on, but the result is not a known list
                            folded = False
                            out.append(self.expr(n.elt))
                        elif all(c.c for c in conds):
                            out.append(self.expr(n.elt))
                finally:
                    self.env = saved
                return V(items=tuple(out), t=_flow(*out)) if folded else V(t=_flow(*out))
        saved = dict(self.env)
        t: frozenset[str] = EMPTY
        for g in n.generators:
            it = self.expr(g.iter)
            t = t | _flow(it)
            self.bind(g.target, V(t=_flow(it)))
            for cond in g.ifs:
                self.expr(cond)
        t = t | _flow(self.expr(n.elt))
        self.env = saved
        return V(t=t)

    e_GeneratorExp = e_ListComp
    e_SetComp = e_ListComp

    def e_DictComp(self, n: ast.DictComp) -> V:
        """``{k: v for ...}``: read as the list of its values (what it holds is what flows on)."""
        pair = ast.Tuple(elts=[n.key, n.value], ctx=ast.Load())
        return V(t=_flow(self.e_ListComp(ast.ListComp(elt=pair, generators=n.generators))))

    def e_Call(self, n: ast.Call) -> V:
        fn = self.expr(n.func)
        args: list[V] = []
        for a in n.args:
            if isinstance(a, ast.Starred):
                v = self.expr(a.value)
                el = self.elements(v)
                args.extend(el if el is not None else [V(t=_flow(v))])
            else:
                args.append(self.expr(a))
        kw: dict[str, V] = {}
        for k in n.keywords:
            v = self.expr(k.value)
            kw[k.arg if k.arg is not None else f"**{len(kw)}"] = v
        return _call()(self, fn, args, kw)

    # ------------------------------------------------------------------ helpers

    def elements(self, v: V) -> list[V] | None:
        """The elements of a literal sequence or a constant string/bytes, else None."""
        if v.items is not None:
            return list(v.items)
        c = v.c
        # one V per element: bounded, so a long literal costs one step, not thousands
        if isinstance(c, str) and HOLE not in c and len(c) <= _MAX_ITEMS:
            return [V(ch) for ch in c]
        if isinstance(c, (bytes, bytearray)) and len(c) <= _MAX_ITEMS:
            return [V(b) for b in c]
        return None

    def _env_var(self, name: str) -> V:
        if name in ("HOME", "USERPROFILE"):
            return V("~")
        return V(t=secret(name)) if tables.SECRET_NAME.search(name) else UNKNOWN

    def _dumped(self, v: V, how: str) -> None:
        what = "the whole environment" if "env" in v.t else "a credential (secret environment variable or key file)"
        self.find(
            "code.env_dump",
            _ESC,
            Severity.HIGH,
            f"the code {how} {what}: secrets end up in the transcript the model provider sees",
            what,
        )

    def decode(self, name: str, v: V, fn: Callable[[], str | bytes]) -> V:
        """Run a static decoder on a constant; an unknown input stays unknown but decoded."""
        self.sh.decodes += 1
        if self.sh.decodes > self.sh.limits.max_decodes:
            raise LimitError(f"more than {self.sh.limits.max_decodes} decoding steps")
        if not v.known:
            return V(t=_flow(v) | {"decoded"})
        try:
            out = fn()
        except TooLargeError as e:
            raise LimitError(f"{name}: {e}") from None
        except (UndecodableError, ValueError, TypeError, OverflowError):
            return V(t=_flow(v) | {"decoded"})
        return V(out, t=_flow(v) | {"decoded", "built"})

    def recurse(self, code: str, why: str, obfuscated: bool) -> None:
        """Analyze *code* (a string a program executes) as Python, one level deeper."""
        if self.depth + 1 > self.sh.limits.max_depth:
            raise LimitError(f"code nested more than {self.sh.limits.max_depth} levels deep ({why})")
        sub = _Py(self.sh, self.depth + 1, self.at())
        sub.env = dict(self.env)
        src = code.replace(HOLE, "_agentgate_unknown_")
        try:
            tree = ast.parse(src)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            self.find(
                "code.dynamic",
                _ESC,
                Severity.MEDIUM,
                f"{why} a string that is not valid Python; what it does cannot be checked",
                code[:120],
            )
            return
        before = len(self.sh.hits)
        sub.run(tree.body)
        sub.finish()
        if obfuscated:
            # everything found inside decoded code was hidden on purpose
            self.sh.hits[before:] = [
                Hit(h.kind, h.value, h.line, h.op, h.exact, h.rule, h.effect, h.severity, h.message, True)
                for h in self.sh.hits[before:]
            ]


# Dispatch by node type, built once: the handler for ast.Call is _Py.e_Call, and so on.
_STMT: dict[type, Callable[[_Py, Any], None]] = {
    getattr(ast, k[2:]): v for k, v in vars(_Py).items() if k.startswith("s_") and hasattr(ast, k[2:])
}
_EXPR: dict[type, Callable[[_Py, Any], V]] = {
    getattr(ast, k[2:]): v for k, v in vars(_Py).items() if k.startswith("e_") and hasattr(ast, k[2:])
}


def _call() -> Callable[[_Py, V, list[V], dict[str, V]], V]:
    """`_pycalls.call` (imported late: the two modules need each other)."""
    global _CALL
    if _CALL is None:
        from ._pycalls import call

        _CALL = call
    return _CALL


_CALL: Callable[[_Py, V, list[V], dict[str, V]], V] | None = None

_MAX_ITEMS = 1024

_PATH_KEEP = frozenset({"expanduser", "resolve", "absolute", "parent", "joinpath", "with_name", "with_suffix"})


def _num(c: object) -> bool:
    return type(c) in (int, float)


def _join(a: str, b: str) -> str:
    if b.startswith(("/", "~")) or not a:
        return b
    return a.rstrip("/") + "/" + b


def _effectful(name: str) -> bool:
    return (
        name in tables.SHELL_FUNCS
        or name in tables.ARGV_FUNCS
        or name in tables.EXEC_FUNCS
        or name in tables.DYNAMIC_CODE
        or name in tables.DESERIALIZERS
        or name in tables.URL_FUNCS
        or name in tables.HOST_FUNCS
        or name in tables.FILE_FUNCS
        or name in DECODERS
        or name == "os.environ"
    )


def _callable_ref(v: V) -> bool:
    """*v* is a function that does something (``os.system``, a local def, a partial), not data."""
    r = v.ref
    return r is not None and (r.startswith(("@fn", "@partial")) or (_effectful(r) and r != "os.environ"))


def codec(v: V, name: str) -> V:
    """``x.decode(name)`` / ``codecs.decode(x, name)`` on a constant."""
    c = v.c
    if not isinstance(c, (str, bytes, bytearray)) or not v.known:
        return V(t=_flow(v))
    try:
        out, transforming = codec_decode(bytes(c) if isinstance(c, bytearray) else c, name)
    except (UndecodableError, ValueError, TypeError):
        return V(t=_flow(v) | {"decoded"})
    t = _flow(v) | {"built"}
    return V(out, t=t | {"decoded"} if transforming else t)


def analyze_python(source: str, sh: Shared, depth: int = 0, line0: int = 0) -> None:
    """Analyze *source*; observations go to ``sh.hits``. Raises SyntaxError and `LimitError`."""
    tree = ast.parse(source)
    # No separate node count: every node evaluated is a step, and steps are bounded (max_steps).
    p = _Py(sh, depth, line0)
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        p.last_expr = tree.body[-1].value
    p.run(tree.body)
    p.finish()
