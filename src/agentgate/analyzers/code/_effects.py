"""Effects of Python calls, shared by the JavaScript side: processes, dynamic code,
deserialization, exfiltration, URLs, paths and SQL handed to database clients.

Each function records `Hit` observations (through the interpreter's ``hit``/``find``) for
the router; none decides on its own what the machine-dependent analyzers decide.
"""

from __future__ import annotations

import pickletools
import posixpath
import re
import shlex
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agentgate._decision import Effect, Severity

from . import _pytables as tables
from ._decode import MAX_DECODED
from ._model import EMPTY, HOLE, V
from ._python import _flow, _s, secret

if TYPE_CHECKING:
    from ._python import _Py

_BLOCK, _ESC = Effect.BLOCK, Effect.ESCALATE
_WALKERS = frozenset({"os.walk", "os.scandir", "os.listdir", "glob.glob", "glob.iglob"})

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


def pickle_globals(data: bytes) -> Iterator[str]:
    """The ``module.name`` globals an embedded pickle imports (read with pickletools, never loaded)."""
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(data[:MAX_DECODED]):
            if op.name in ("GLOBAL", "INST") and isinstance(arg, str):
                yield arg.replace(" ", ".")
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                yield f"{strings[-2]}.{strings[-1]}"
            elif op.name in ("REDUCE", "OBJ", "NEWOBJ", "NEWOBJ_EX", "BUILD") and not strings:
                yield "?"
            if isinstance(arg, str):
                strings.append(arg)
    except (ValueError, KeyError, IndexError, TypeError):
        yield "?"  # a pickle pickletools cannot read is not one we can vouch for


def argv_command(items: list[V]) -> tuple[str | None, frozenset[str]]:
    """An argv list as a shell command line (unknown elements become shell variables)."""
    words: list[str] = []
    for i, v in enumerate(items):
        s = v.text()
        if s is None or HOLE in s:
            words.append(f'"$ARG{i}"')
        else:
            words.append(shlex.quote(s))
    return (" ".join(words) if words else None), _flow(*items)


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
