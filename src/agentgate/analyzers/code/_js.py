"""JavaScript/TypeScript-ish code (node, deno eval) through tree-sitter-javascript.

The same abstract interpretation as for Python, over tree-sitter's syntax tree:
strings fold (``+``, template literals, ``concat``, ``split('').reverse().join('')``,
``String.fromCharCode``, ``Buffer.from(s, 'base64'|'hex').toString()``, ``atob``,
``decodeURIComponent``), modules are followed through ``require`` (also of built
names), ``import``, destructuring and ``globalThis[...]``, and calls are matched by
effect: ``child_process`` (exec/execSync/spawn/execFile/fork), ``Deno.run``/
``Deno.Command``, ``eval``/``Function``/``vm``/string timers (the string is analyzed
as JavaScript), ``fs`` and ``Deno`` file functions, ``fetch``/``http(s)``/``axios``/
``net``/``tls``/``WebSocket`` targets, ``process.env`` harvesting, ``process.binding``.
A tree with syntax errors is not JavaScript (the caller escalates).
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from typing import Any
from urllib.parse import unquote

from agentgate._decision import Effect, Severity

from ._model import EMPTY, HOLE, NOCONST, UNKNOWN, LimitError, V
from ._pytables import SECRET_NAME
from ._python import Shared, _flow, _strv, secret

__all__ = ["SECRET_NAME", "analyze_js", "decode_js"]

_BLOCK, _ESC = Effect.BLOCK, Effect.ESCALATE
_local = threading.local()


def _parser() -> Any:
    p = getattr(_local, "parser", None)
    if p is None:
        import tree_sitter
        import tree_sitter_javascript

        p = tree_sitter.Parser(tree_sitter.Language(tree_sitter_javascript.language()))
        _local.parser = p
    return p


_GLOBALS = frozenset(
    {
        "require",
        "process",
        "module",
        "Buffer",
        "console",
        "JSON",
        "Deno",
        "Bun",
        "fetch",
        "eval",
        "Function",
        "atob",
        "String",
        "setTimeout",
        "setInterval",
        "setImmediate",
        "XMLHttpRequest",
        "WebSocket",
        "decodeURIComponent",
        "decodeURI",
        "unescape",
        "axios",
    }
)
_GLOBAL_OBJECTS = frozenset({"globalThis", "global", "window", "self"})
_SHELL_FUNCS = frozenset({"child_process.exec", "child_process.execSync", "Bun.$"})
_ARGV_FUNCS = frozenset(
    {"child_process.spawn", "child_process.spawnSync", "child_process.execFile", "child_process.execFileSync"}
)
_DYNAMIC = frozenset(
    {
        "eval",
        "Function",
        "vm.runInNewContext",
        "vm.runInThisContext",
        "vm.runInContext",
        "vm.Script",
        "vm.compileFunction",
        "vm.SourceTextModule",
        "setTimeout",
        "setInterval",
        "setImmediate",
    }
)
_FILE_OPS: dict[str, tuple[tuple[int, str], ...]] = {}
for _f, _op in (
    ("readFile", "read"),
    ("readFileSync", "read"),
    ("createReadStream", "read"),
    ("readdir", "read"),
    ("readdirSync", "read"),
    ("writeFile", "write"),
    ("writeFileSync", "write"),
    ("appendFile", "write"),
    ("appendFileSync", "write"),
    ("createWriteStream", "write"),
    ("chmod", "write"),
    ("chmodSync", "write"),
    ("chown", "write"),
    ("chownSync", "write"),
    ("mkdir", "write"),
    ("mkdirSync", "write"),
    ("unlink", "delete"),
    ("unlinkSync", "delete"),
    ("rm", "delete"),
    ("rmSync", "delete"),
    ("rmdir", "delete"),
    ("rmdirSync", "delete"),
):
    _FILE_OPS[f"fs.{_f}"] = ((0, _op),)
    _FILE_OPS[f"fs.promises.{_f}"] = ((0, _op),)
for _f in ("copyFile", "copyFileSync", "cp", "cpSync"):
    _FILE_OPS[f"fs.{_f}"] = ((0, "read"), (1, "write"))
for _f in ("rename", "renameSync"):
    _FILE_OPS[f"fs.{_f}"] = ((0, "delete"), (1, "write"))
for _f in ("symlink", "symlinkSync", "link", "linkSync"):
    _FILE_OPS[f"fs.{_f}"] = ((0, "read"), (1, "write"))
for _f, _op in (
    ("readTextFile", "read"),
    ("readFile", "read"),
    ("readTextFileSync", "read"),
    ("writeTextFile", "write"),
    ("writeFile", "write"),
    ("writeTextFileSync", "write"),
    ("remove", "delete"),
    ("removeSync", "delete"),
    ("chmod", "write"),
):
    _FILE_OPS[f"Deno.{_f}"] = ((0, _op),)
_URL_FUNCS = frozenset(
    {
        "fetch",
        "http.get",
        "https.get",
        "http.request",
        "https.request",
        "axios",
        "axios.get",
        "axios.post",
        "axios.put",
        "axios.delete",
        "axios.patch",
        "axios.head",
        "axios.request",
        "WebSocket",
        "XMLHttpRequest().open",
    }
)
_HOST_FUNCS = frozenset(
    {"net.connect", "net.createConnection", "tls.connect", "net.Socket().connect", "Deno.connect", "dns.lookup"}
)
_OUTPUT = frozenset(
    {"console.log", "console.error", "console.info", "console.warn", "console.dir", "process.stdout.write"}
)
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "cmd", "cmd.exe", "powershell", "pwsh"})


def _esc(seq: str) -> str:
    """One JavaScript escape sequence."""
    c = seq[1:2]
    simple = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
    if c in simple and len(seq) == 2:
        return simple[c]
    try:
        if c == "x":
            return chr(int(seq[2:4], 16))
        if c == "u":
            return chr(int(seq[3:-1] if seq[2:3] == "{" else seq[2:6], 16))
        if c.isdigit():
            return chr(int(seq[1:], 8))
    except ValueError:
        return seq
    return seq[1:]


class _Js:
    def __init__(self, sh: Shared, depth: int, line0: int) -> None:
        self.sh = sh
        self.depth = depth
        self.line0 = line0
        self.env: dict[str, V] = {}
        self.line = 1
        # named functions: analyzed at each call with its arguments, once at the end if never called
        self.funcs: dict[int, Any] = {}
        self.called: set[int] = set()
        self.active: list[int] = []
        self.returns: list[V] | None = None

    # reporting (same shapes as the Python interpreter)
    def at(self) -> int:
        return self.line0 or self.line

    def find(self, rule: str, effect: Effect, sev: Severity, msg: str, ev: str = "") -> None:
        from ._model import Hit

        self.sh.hits.append(Hit("finding", ev, self.at(), rule=rule, effect=effect, severity=sev, message=msg))

    def hit(self, kind: str, value: str, op: str = "", exact: bool = True, obfuscated: bool = False) -> None:
        from ._model import Hit

        self.sh.hits.append(Hit(kind, value, self.at(), op=op, exact=exact, obfuscated=obfuscated))

    # ------------------------------------------------------------------ walking

    def node(self, n: Any) -> V:
        self.sh.tick()
        self.line = n.start_point[0] + 1
        m = getattr(self, "n_" + n.type, None)
        if m is not None:
            r: V = m(n)
            return r
        t: frozenset[str] = EMPTY
        last = UNKNOWN
        for c in n.named_children:
            last = self.node(c)
            t = t | _flow(last)
        if n.type in ("parenthesized_expression", "await_expression", "expression_statement") and n.named_child_count:
            return last
        return V(t=t)

    def n_string(self, n: Any) -> V:
        parts: list[str] = []
        for c in n.named_children:
            txt = c.text.decode("utf-8", "replace")
            parts.append(_esc(txt) if c.type == "escape_sequence" else txt)
        return V("".join(parts))

    def n_template_string(self, n: Any) -> V:
        parts: list[str] = []
        vals: list[V] = []
        for c in n.named_children:
            txt = c.text.decode("utf-8", "replace")
            if c.type == "string_fragment":
                parts.append(txt)
            elif c.type == "escape_sequence":
                parts.append(_esc(txt))
            else:
                v = self.node(c.named_children[0]) if c.named_child_count else UNKNOWN
                vals.append(v)
                parts.append(str(v.c) if v.known and isinstance(v.c, (str, int, float)) else HOLE)
        return _strv("".join(parts), *vals, built=bool(vals), limits=self.sh.limits)

    def n_number(self, n: Any) -> V:
        txt = n.text.decode()
        try:
            return V(int(txt, 0) if not any(ch in txt for ch in ".eE") or txt.startswith("0x") else float(txt))
        except ValueError:
            return UNKNOWN

    def n_identifier(self, n: Any) -> V:
        name = n.text.decode("utf-8", "replace")
        v = self.env.get(name)
        if v is not None:
            return v
        if name in _GLOBALS:
            return V(ref=name)
        if name in _GLOBAL_OBJECTS:
            return V(ref="global")
        return UNKNOWN

    def n_array(self, n: Any) -> V:
        items: list[V] = []
        for c in n.named_children:
            if c.type == "spread_element":
                v = self.node(c.named_children[0]) if c.named_child_count else UNKNOWN
                items.extend(v.items if v.items is not None else (V(t=_flow(v)),))
            else:
                items.append(self.node(c))
        return V(items=tuple(items), t=_flow(*items))

    def n_object(self, n: Any) -> V:
        obj: dict[str, V] = {}
        t: frozenset[str] = EMPTY
        for c in n.named_children:
            if c.type == "pair":
                k = c.child_by_field_name("key")
                val = self.node(c.child_by_field_name("value"))
                key = self._key(k)
                if key is not None:
                    obj[key] = val
                t = t | _flow(val)
            elif c.type == "shorthand_property_identifier":
                name = c.text.decode()
                obj[name] = self.env.get(name, UNKNOWN)
                t = t | _flow(obj[name])
            else:
                t = t | _flow(self.node(c))
        return V(obj, t=t)

    def _key(self, k: Any) -> str | None:
        if k is None:
            return None
        if k.type in ("property_identifier", "identifier"):
            return str(k.text.decode())
        if k.type == "string":
            s = self.n_string(k).c
            return s if isinstance(s, str) else None
        return None

    def n_binary_expression(self, n: Any) -> V:
        a = self.node(n.child_by_field_name("left"))
        b = self.node(n.child_by_field_name("right"))
        op = n.child_by_field_name("operator")
        if op is not None and op.type == "+":
            ca, cb = a.c, b.c
            if isinstance(ca, str) or isinstance(cb, str):
                sa = ca if isinstance(ca, str) else str(ca) if isinstance(ca, (int, float)) else HOLE
                sb = cb if isinstance(cb, str) else str(cb) if isinstance(cb, (int, float)) else HOLE
                return _strv(sa + sb, a, b, limits=self.sh.limits)
        return V(t=_flow(a, b))

    def n_augmented_assignment_expression(self, n: Any) -> V:
        left = n.child_by_field_name("left")
        v = self.n_binary_expression(n) if n.child_by_field_name("operator").type == "+=" else UNKNOWN
        if v.c is NOCONST:
            v = V(t=_flow(self.node(left), self.node(n.child_by_field_name("right"))))
        self.bind(left, v)
        return v

    def n_variable_declarator(self, n: Any) -> V:
        value = n.child_by_field_name("value")
        if value is not None and value.type in ("arrow_function", "function_expression") and len(self.funcs) < 64:
            # const f = (c) => exec(c): analyzed where it is called, with what it is called with
            self.funcs[value.id] = value
            v = V(ref=f"@fn{value.id}")
        else:
            v = self.node(value) if value is not None else UNKNOWN
        self.bind(n.child_by_field_name("name"), v)
        return v

    def n_assignment_expression(self, n: Any) -> V:
        v = self.node(n.child_by_field_name("right"))
        self.bind(n.child_by_field_name("left"), v)
        return v

    def bind(self, target: Any, v: V) -> None:
        if target is None:
            return
        if target.type == "identifier":
            self.env[target.text.decode()] = v
        elif target.type == "object_pattern":
            for c in target.named_children:
                if c.type == "shorthand_property_identifier_pattern":
                    self.env[c.text.decode()] = self._prop(v, c.text.decode())
                elif c.type == "pair_pattern":
                    key = self._key(c.child_by_field_name("key"))
                    self.bind(c.child_by_field_name("value"), self._prop(v, key) if key else UNKNOWN)
                elif c.type == "object_assignment_pattern":
                    left = c.child_by_field_name("left")
                    if left is not None:
                        self.bind(left, self._prop(v, left.text.decode()))
        elif target.type == "array_pattern":
            for i, c in enumerate(target.named_children):
                self.bind(c, v.items[i] if v.items is not None and i < len(v.items) else V(t=_flow(v)))
        else:
            self.node(target)

    def _prop(self, obj: V, name: str) -> V:
        if obj.ref is not None:
            return V(ref=_canon(f"{obj.ref}.{name}"), t=obj.t & {"dynname"}, items=(obj,))
        if isinstance(obj.c, dict):
            got = obj.c.get(name, UNKNOWN)
            return got if isinstance(got, V) else UNKNOWN
        if obj.c is not NOCONST or obj.items is not None:
            return V(ref="@m." + name, items=(obj,), t=_flow(obj))
        return V(t=_flow(obj))

    def n_member_expression(self, n: Any) -> V:
        obj = self.node(n.child_by_field_name("object"))
        prop = n.child_by_field_name("property")
        name = prop.text.decode() if prop is not None else ""
        if name == "constructor":
            if obj.ref == "@constructor":
                # x.constructor.constructor is Function: code from a string, outside any vm sandbox
                self.find(
                    "code.introspection",
                    _BLOCK,
                    Severity.HIGH,
                    "reaches the Function constructor through .constructor.constructor (a sandbox escape)",
                    "constructor.constructor",
                )
                return V(ref="Function")
            return V(ref="@constructor")
        return self._env_prop(obj, name, False)

    def global_value(self, dotted: str) -> V:
        """The value of a dotted global name (``process``, ``process.mainModule``)."""
        head, _, rest = dotted.partition(".")
        v = self.env.get(head) or (
            V(ref=head) if head in _GLOBALS else V(ref="global") if head in _GLOBAL_OBJECTS else UNKNOWN
        )
        for part in rest.split(".") if rest else ():
            v = self._env_prop(v, part, False)
        return v

    def _env_prop(self, obj: V, name: str, dyn: bool) -> V:
        if obj.ref == "process.env":
            if name in ("HOME", "USERPROFILE"):
                return V("~")
            return V(t=secret(name)) if SECRET_NAME.search(name) else UNKNOWN
        r = self._prop(obj, name)
        if r.ref == "process.env":
            r = r.taint("env")
        return r.taint("dynname") if dyn else r

    def n_subscript_expression(self, n: Any) -> V:
        obj = self.node(n.child_by_field_name("object"))
        idx = self.node(n.child_by_field_name("index"))
        if isinstance(idx.c, str) and idx.known and (obj.ref is not None or isinstance(obj.c, dict)):
            return self._env_prop(obj, idx.c, bool(idx.t & {"built", "decoded"}))
        if type(idx.c) is int and obj.items is not None and 0 <= idx.c < len(obj.items):
            return obj.items[idx.c]
        if obj.ref == "process.env":
            return V(t=secret())
        return V(t=_flow(obj, idx))

    def n_ternary_expression(self, n: Any) -> V:
        vals = [self.node(c) for c in n.named_children]
        return V(t=_flow(*vals))

    def _function(self, n: Any, first: V = UNKNOWN) -> V:
        saved = self.env
        self.env = dict(saved)
        params = n.child_by_field_name("parameters") or n.child_by_field_name("parameter")
        if params is not None:
            for i, p in enumerate([params] if params.type == "identifier" else params.named_children):
                if p.type == "identifier":
                    self.env[p.text.decode()] = first if i == 0 else UNKNOWN
        try:
            body = n.child_by_field_name("body")
            if body is not None:
                self.node(body)
        finally:
            self.env = saved
        name = n.child_by_field_name("name")
        if name is not None and n.type == "function_declaration":
            self.env[name.text.decode()] = UNKNOWN
        return UNKNOWN

    def n_function_declaration(self, n: Any) -> V:
        name = n.child_by_field_name("name")
        if name is None or len(self.funcs) >= 64:
            return self._function(n)
        self.funcs[n.id] = n
        self.env[name.text.decode()] = V(ref=f"@fn{n.id}")
        return UNKNOWN

    def hoist(self, root: Any) -> None:
        """Function declarations are visible before they appear (JavaScript hoists them)."""
        for c in root.named_children:
            if c.type == "function_declaration":
                self.n_function_declaration(c)

    def n_return_statement(self, n: Any) -> V:
        v = self.node(n.named_children[0]) if n.named_child_count else UNKNOWN
        if self.returns is not None:
            self.returns.append(v)
        return v

    def call_function(self, fid: int, args: list[V]) -> V:
        """Run a function of this program with these arguments (bounded, not recursive)."""
        n = self.funcs[fid]
        self.called.add(fid)
        if fid in self.active or len(self.active) >= 4:
            return UNKNOWN
        saved, saved_ret = self.env, self.returns
        self.env = dict(saved)
        params = n.child_by_field_name("parameters") or n.child_by_field_name("parameter")
        plist = (
            [params]
            if params is not None and params.type == "identifier"
            else (params.named_children if params else [])
        )
        for i, prm in enumerate(plist):
            target = prm.child_by_field_name("left") if prm.type == "assignment_pattern" else prm
            self.bind(target, args[i] if i < len(args) else UNKNOWN)
        self.active.append(fid)
        self.returns = []
        try:
            body = n.child_by_field_name("body")
            result = self.node(body) if body is not None else UNKNOWN
            rets = self.returns if body is not None and body.type == "statement_block" else [result]
        finally:
            self.active.pop()
            self.env, self.returns = saved, saved_ret
        return rets[0] if len(rets) == 1 else V(t=_flow(*rets))

    def finish(self) -> None:
        """Functions never called are read once with unknown arguments."""
        for fid, n in list(self.funcs.items()):
            if fid not in self.called:
                self.called.add(fid)
                self._function(n)

    n_function_expression = _function
    n_arrow_function = _function
    n_method_definition = _function
    n_generator_function_declaration = _function

    def n_import_statement(self, n: Any) -> V:
        src = n.child_by_field_name("source")
        mod = _module(str(self.n_string(src).c)) if src is not None else ""
        for clause in n.named_children:
            if clause.type != "import_clause":
                continue
            for c in clause.named_children:
                if c.type == "identifier":
                    self.env[c.text.decode()] = V(ref=mod)
                elif c.type == "namespace_import":
                    for i in c.named_children:
                        self.env[i.text.decode()] = V(ref=mod)
                elif c.type == "named_imports":
                    for spec in c.named_children:
                        nm = spec.child_by_field_name("name")
                        alias = spec.child_by_field_name("alias") or nm
                        if nm is not None and alias is not None:
                            self.env[alias.text.decode()] = V(ref=_canon(f"{mod}.{nm.text.decode()}"))
        return UNKNOWN

    def n_new_expression(self, n: Any) -> V:
        return self._call(n, n.child_by_field_name("constructor"), new=True)

    def n_call_expression(self, n: Any) -> V:
        return self._call(n, n.child_by_field_name("function"), new=False)

    def _call(self, n: Any, fnode: Any, *, new: bool) -> V:
        from ._jscalls import call

        if fnode is not None and fnode.type == "import":
            fn = V(ref="require")
        else:
            fn = self.node(fnode) if fnode is not None else UNKNOWN
        args: list[V] = []
        an = n.child_by_field_name("arguments")
        if (
            fnode is not None
            and fnode.type == "member_expression"
            and an is not None
            and an.named_child_count
            and fnode.child_by_field_name("property") is not None
            and fnode.child_by_field_name("property").text == b"then"
            and an.named_children[0].type in ("arrow_function", "function_expression")
        ):
            # promise.then(v => ...): v is what the promise resolves to (import(m) resolves to m)
            value = self.node(fnode.child_by_field_name("object"))
            self._function(an.named_children[0], value)
            return V(t=_flow(value))
        if an is not None:
            if an.type == "template_string":  # tagged template: Bun.$`cmd`
                args.append(self.node(an))
            for c in an.named_children if an.type == "arguments" else ():
                if c.type == "spread_element":
                    v = self.node(c.named_children[0]) if c.named_child_count else UNKNOWN
                    args.extend(v.items if v.items is not None else (V(t=_flow(v)),))
                else:
                    args.append(self.node(c))
        return call(self, fn, args, new)

    def recurse(self, code: str, why: str, obfuscated: bool) -> None:
        if self.depth + 1 > self.sh.limits.max_depth:
            raise LimitError(f"code nested more than {self.sh.limits.max_depth} levels deep ({why})")
        src = code.replace(HOLE, "_agentgate_unknown_")
        tree = _parser().parse(src.encode("utf-8", "surrogatepass"))
        if tree.root_node.has_error:
            self.find(
                "code.dynamic",
                _ESC,
                Severity.MEDIUM,
                f"{why} a string that is not valid JavaScript; what it does cannot be checked",
                code[:120],
            )
            return
        sub = _Js(self.sh, self.depth + 1, self.at())
        sub.env = dict(self.env)
        before = len(self.sh.hits)
        sub.hoist(tree.root_node)
        sub.node(tree.root_node)
        sub.finish()
        if obfuscated:
            from ._model import Hit

            self.sh.hits[before:] = [
                Hit(h.kind, h.value, h.line, h.op, h.exact, h.rule, h.effect, h.severity, h.message, True)
                for h in self.sh.hits[before:]
            ]


def _module(name: str) -> str:
    return name[5:] if name.startswith("node:") else name


def _canon(name: str) -> str:
    for a, b in (("global.", ""), ("process.mainModule.require", "require"), ("module.require", "require")):
        if name.startswith(a):
            name = b + name[len(a) :]
    if name.startswith("fs/promises."):
        name = "fs.promises." + name[len("fs/promises.") :]
    if name.startswith("child_process.default."):
        name = "child_process." + name[len("child_process.default.") :]
    return name


def decode_js(kind: str, v: V) -> V:
    """``Buffer.from(s, enc)``, ``atob``, ``decodeURIComponent`` on constants."""
    c = v.c
    if not v.known or not isinstance(c, (str, bytes)):
        return V(t=_flow(v) | {"decoded"})
    s = c if isinstance(c, str) else c.decode("latin-1")
    try:
        if kind in ("base64", "atob", "base64url"):
            b = s.replace("-", "+").replace("_", "/").encode("ascii")
            return V(base64.b64decode(b + b"=" * (-len(b) % 4)), t=_flow(v) | {"decoded", "built"})
        if kind == "hex":
            return V(binascii.unhexlify(s), t=_flow(v) | {"decoded", "built"})
        if kind in ("uri", "unescape"):
            return V(unquote(s), t=_flow(v) | {"decoded", "built"})
    except (ValueError, binascii.Error, UnicodeEncodeError):
        return V(t=_flow(v) | {"decoded"})
    return V(s.encode("utf-8", "surrogatepass"), t=_flow(v))


def analyze_js(source: str, sh: Shared) -> bool:
    """Analyze *source* as JavaScript; False when it does not parse (or tree-sitter is missing)."""
    try:
        parser = _parser()
    except ImportError:
        from ._model import Hit

        sh.hits.append(
            Hit(
                "finding",
                "tree-sitter-javascript",
                1,
                rule="code.unparsable",
                effect=_ESC,
                severity=Severity.MEDIUM,
                message="JavaScript needs the tree-sitter and tree-sitter-javascript packages, which are not installed",
            )
        )
        return True
    data = source.encode("utf-8", "surrogatepass")
    if len(data) <= 2048:
        tree = parser.parse(data)
    else:
        # a long source is parsed in chunks so the time budget can cancel the parse
        deadline = sh.deadline
        try:
            tree = parser.parse(
                lambda off, _pt: data[off : off + 65536],
                progress_callback=lambda *_: time.thread_time() > deadline,
            )
        except ValueError:
            raise LimitError(
                f"parsing took longer than the analysis' {sh.limits.budget_s * 1000:.0f} ms budget"
            ) from None
    root = tree.root_node
    if root.has_error:
        return False
    js = _Js(sh, 0, 0)
    js.hoist(root)
    js.node(root)  # every node evaluated is a step; steps are bounded
    js.finish()
    return True
