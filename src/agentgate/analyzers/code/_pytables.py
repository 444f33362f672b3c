"""What Python names do: the effect tables of the Python interpreter.

Names are canonical (`canon`): aliases of the same function (``posix.system``,
``commands.getoutput``, ``io.open``, ``cPickle.loads``) map to one name, and objects
made by a constructor are named after it with ``()`` (``socket.socket().connect``);
client objects whose methods behave like the module's functions collapse to the
module (``requests.Session().get`` is ``requests.get``).
"""

from __future__ import annotations

import functools
import re

__all__ = [
    "ARGV_FUNCS",
    "DESERIALIZERS",
    "DYNAMIC_CODE",
    "ESCALATE_ATTRS",
    "ESCAPE_ATTRS",
    "FILE_FUNCS",
    "HOST_FUNCS",
    "NETWORK_MODULES",
    "OUTPUT_FUNCS",
    "SECRET_NAME",
    "SHELLS",
    "SHELL_FUNCS",
    "URL_FUNCS",
    "canon",
    "is_foreign_exec",
]

# First-segment aliases: the same module under another name.
_ROOT_ALIASES = {
    "posix": "os",
    "nt": "os",
    "_os": "os",
    "commands": "subprocess",
    "cPickle": "pickle",
    "_pickle": "pickle",
    "dill": "pickle",
    "cloudpickle": "pickle",
    "joblib": "pickle",
    "urllib2": "urllib.request",
    "__builtin__": "builtins",
    "__builtins__": "builtins",
    "_io": "io",
    "_socket": "socket",
    "_ctypes": "ctypes",
}
# Whole-name aliases (after the root is mapped).
_NAME_ALIASES = {
    "io.open": "builtins.open",
    "codecs.open": "builtins.open",
    "os.fdopen": "builtins.open",
    "importlib.__import__": "builtins.__import__",
    "importlib.import_module": "importlib.import_module",
    "pathlib.PosixPath": "pathlib.Path",
    "pathlib.WindowsPath": "pathlib.Path",
    "pathlib.PurePath": "pathlib.Path",
    "pathlib.PurePosixPath": "pathlib.Path",
    "os.PathLike": "pathlib.Path",
    "builtins.bytes.fromhex": "bytes.fromhex",
    "builtins.bytearray.fromhex": "bytearray.fromhex",
    "os.environb": "os.environ",
    "urllib.urlopen": "urllib.request.urlopen",
    "urllib.urlretrieve": "urllib.request.urlretrieve",
    "requests.api.get": "requests.get",
    "requests.api.post": "requests.post",
    "requests.api.request": "requests.request",
    "subprocess.os": "os",
    "os.sys": "sys",
    "sys.modules.os": "os",
}
# Constructors whose objects act like their module: requests.Session().get is requests.get.
_CLIENTS = {
    "requests.Session()": "requests",
    "requests.session()": "requests",
    "httpx.Client()": "httpx",
    "httpx.AsyncClient()": "httpx",
    "aiohttp.ClientSession()": "aiohttp",
    "urllib3.PoolManager()": "urllib3",
    "urllib3.ProxyManager()": "urllib3",
    "urllib.request.build_opener()": "urllib.request.opener",
    "socket.create_connection()": "socket.socket()",
    "socket.fromfd()": "socket.socket()",
    "ssl.wrap_socket()": "socket.socket()",
    "socket.socket().accept()": "socket.socket()",
    "pathlib.Path.home()": "pathlib.Path()",
    "pathlib.Path.cwd()": "pathlib.Path()",
}


@functools.lru_cache(maxsize=8192)
def canon(name: str) -> str:
    """The canonical dotted name of *name* (see module docstring)."""
    while name.endswith(".__call__"):
        name = name[: -len(".__call__")]  # f.__call__ is f: os.system.__call__('id') runs os.system
    root, dot, rest = name.partition(".")
    root = _ROOT_ALIASES.get(root, root)
    full = f"{root}.{rest}" if dot else root
    for _ in range(3):
        for prefix, to in _CLIENTS.items():
            if full == prefix or full.startswith(prefix + "."):
                full = to + full[len(prefix) :]
                break
        if full in _NAME_ALIASES:
            full = _NAME_ALIASES[full]
            continue
        head, _, tail = full.rpartition(".")
        if head in _NAME_ALIASES:
            full = f"{_NAME_ALIASES[head]}.{tail}"
            continue
        break
    return full


#: First argument (or ``cmd``/``command``) is a command line a shell runs.
SHELL_FUNCS = frozenset(
    {
        "os.system",
        "os.popen",
        "os.popen2",
        "os.popen3",
        "os.popen4",
        "subprocess.getoutput",
        "subprocess.getstatusoutput",
        "platform.popen",
        "asyncio.create_subprocess_shell",
        "pexpect.run",
        "pexpect.spawn",
        "pexpect.popen_spawn.PopenSpawn",
        "sh.Command",
        "invoke.run",
        "fabric.Connection().run",
        "fabric.Connection().sudo",
        "IPython.get_ipython().system",
        "IPython.get_ipython().getoutput",
        "get_ipython().system",
        "get_ipython().getoutput",
    }
)
#: ``(args, shell=...)``: a string with ``shell=True`` is a command line, a list an argv.
ARGV_FUNCS = frozenset(
    {"subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output", "subprocess.Popen"}
)
#: name -> index of the argv (or of the program, for ``*args`` forms), ``-1`` = the rest of the arguments.
EXEC_FUNCS: dict[str, tuple[int, bool]] = {
    # (index of the first argv element, whether the argv is one list argument)
    **dict.fromkeys(("os.execv", "os.execve", "os.execvp", "os.execvpe"), (1, True)),
    **dict.fromkeys(("os.execl", "os.execle", "os.execlp", "os.execlpe"), (1, False)),
    **dict.fromkeys(("os.spawnv", "os.spawnve", "os.spawnvp", "os.spawnvpe"), (2, True)),
    **dict.fromkeys(("os.spawnl", "os.spawnle", "os.spawnlp", "os.spawnlpe"), (2, False)),
    **dict.fromkeys(("os.posix_spawn", "os.posix_spawnp"), (1, True)),
    "pty.spawn": (0, True),
    "asyncio.create_subprocess_exec": (0, False),
    "os.startfile": (0, False),
}
#: Foreign-function calls that start processes (libc through ctypes/cffi, the Win32 API).
_FOREIGN_EXEC = frozenset(
    {
        "system",
        "popen",
        "execv",
        "execve",
        "execvp",
        "execl",
        "execlp",
        "execle",
        "posix_spawn",
        "WinExec",
        "ShellExecuteA",
        "ShellExecuteW",
        "CreateProcessA",
        "CreateProcessW",
    }
)


def is_foreign_exec(name: str) -> bool:
    """A libc/Win32 process function reached through ctypes or cffi (``ctypes.CDLL(None).system``)."""
    root = name.partition(".")[0]
    return root in ("ctypes", "cffi") and name.rpartition(".")[2] in _FOREIGN_EXEC


#: Run a string (or code object) as Python.
DYNAMIC_CODE = frozenset(
    {
        "builtins.exec",
        "builtins.eval",
        "builtins.compile",
        "builtins.execfile",
        "code.InteractiveInterpreter().runsource",
        "code.InteractiveInterpreter().runcode",
        "code.InteractiveConsole().push",
        "code.InteractiveConsole().runsource",
        "code.compile_command",
        "codeop.compile_command",
        "timeit.timeit",
        "timeit.repeat",
        "timeit.Timer",
        "cProfile.run",
        "profile.run",
        "pdb.run",
        "ctypes.pythonapi.PyRun_SimpleString",
        "IPython.get_ipython().run_cell",
        "get_ipython().run_cell",
        "get_ipython().ex",
    }
)
#: Turn bytes into live objects, running code on the way (pickle REDUCE, marshal code objects).
DESERIALIZERS = frozenset(
    {
        "pickle.loads",
        "pickle.load",
        "pickle.Unpickler",
        "marshal.loads",
        "marshal.load",
        "shelve.open",
        "jsonpickle.decode",
        "yaml.unsafe_load",
        "yaml.unsafe_load_all",
        "yaml.full_load",
        "pandas.read_pickle",
        "types.CodeType",
        "types.FunctionType",
    }
)
#: URL is the first argument or ``url=``; requests.request-style functions take the method first.
URL_FUNCS: dict[str, int] = {
    **{
        f"{m}.{v}": 0
        for m in ("requests", "httpx", "aiohttp")
        for v in ("get", "post", "put", "patch", "delete", "head", "options")
    },
    **{f"{m}.{v}": 1 for m in ("requests", "httpx", "aiohttp", "urllib3") for v in ("request", "stream")},
    "urllib3.urlopen": 1,
    "urllib.request.urlopen": 0,
    "urllib.request.Request": 0,
    "urllib.request.urlretrieve": 0,
    "urllib.request.opener.open": 0,
    "webbrowser.open": 0,
    "webbrowser.open_new": 0,
    "webbrowser.open_new_tab": 0,
    "wget.download": 0,
    "websocket.create_connection": 0,
    "websockets.connect": 0,
    "pycurl.Curl().setopt": 1,
}
#: Host is the first argument (or ``host=``/``hostname=``), or the first element of an address tuple.
HOST_FUNCS = frozenset(
    {
        "http.client.HTTPConnection",
        "http.client.HTTPSConnection",
        "ftplib.FTP",
        "ftplib.FTP_TLS",
        "smtplib.SMTP",
        "smtplib.SMTP_SSL",
        "telnetlib.Telnet",
        "poplib.POP3",
        "imaplib.IMAP4",
        "imaplib.IMAP4_SSL",
        "paramiko.SSHClient().connect",
        "asyncio.open_connection",
        "socket.create_connection",
        "socket.socket().connect",
        "socket.socket().connect_ex",
        "socket.socket().sendto",
        "socket.gethostbyname",
        "socket.gethostbyname_ex",
        "socket.getaddrinfo",
    }
)
#: Modules whose calls move data off the machine (exfiltration sinks).
NETWORK_MODULES = ("requests", "httpx", "aiohttp", "urllib", "urllib3", "http.client", "socket", "smtplib", "ftplib")
#: What a file function does to its path arguments: name -> ((index, keyword, op), ...).
FILE_FUNCS: dict[str, tuple[tuple[int, str, str], ...]] = {
    "builtins.open": ((0, "file", "?mode"),),
    "os.open": ((0, "path", "?flags"),),
    **{f"os.{f}": ((0, "path", "delete"),) for f in ("remove", "unlink", "rmdir", "removedirs")},
    "shutil.rmtree": ((0, "path", "delete"),),
    **{
        f"os.{f}": ((0, "path", "write"),)
        for f in ("chmod", "lchmod", "chown", "lchown", "truncate", "utime", "mkdir", "makedirs", "mkfifo", "mknod")
    },
    **{f"os.{f}": ((0, "path", "read"),) for f in ("listdir", "scandir", "walk", "stat", "lstat", "chdir", "readlink")},
    "glob.glob": ((0, "pathname", "read"),),
    "glob.iglob": ((0, "pathname", "read"),),
    **{f"os.{f}": ((0, "src", "delete"), (1, "dst", "write")) for f in ("rename", "renames", "replace")},
    "shutil.move": ((0, "src", "delete"), (1, "dst", "write")),
    **{
        f"shutil.{f}": ((0, "src", "read"), (1, "dst", "write"))
        for f in ("copy", "copy2", "copyfile", "copytree", "copymode", "copystat")
    },
    "os.symlink": ((0, "src", "read"), (1, "dst", "write")),
    "os.link": ((0, "src", "read"), (1, "dst", "write")),
    "shutil.chown": ((0, "path", "write"),),
    "tarfile.open": ((0, "name", "?mode"),),
    "zipfile.ZipFile": ((0, "file", "?mode"),),
    "sqlite3.connect": ((0, "database", "read"),),
    "shelve.open": ((0, "filename", "read"),),
    "runpy.run_path": ((0, "path_name", "read"),),
}
#: pathlib.Path methods -> op on the path.
PATH_METHODS = {
    **dict.fromkeys(("read_text", "read_bytes", "iterdir", "glob", "rglob", "stat", "exists", "readlink"), "read"),
    **dict.fromkeys(("write_text", "write_bytes", "touch", "mkdir", "chmod", "lchmod", "symlink_to"), "write"),
    **dict.fromkeys(("hardlink_to", "link_to"), "write"),
    **dict.fromkeys(("unlink", "rmdir"), "delete"),
    "open": "?mode",
    "rename": "delete",
    "replace": "delete",
}
#: Where output goes to the agent's transcript (and so to the model provider).
OUTPUT_FUNCS = frozenset(
    {
        "builtins.print",
        "pprint.pprint",
        "pprint.pp",
        "sys.stdout.write",
        "sys.stderr.write",
        "IPython.display.display",
        "builtins.display",
        "logging.info",
        "logging.warning",
        "logging.error",
        "logging.debug",
        "logging.critical",
    }
)
#: Shell interpreters: a socket joined to one of these is a remote shell.
SHELLS = frozenset(
    {
        "sh",
        "bash",
        "zsh",
        "dash",
        "ksh",
        "csh",
        "tcsh",
        "fish",
        "ash",
        "busybox",
        "cmd",
        "cmd.exe",
        "powershell",
        "pwsh",
    }
)
#: Attributes that reach the interpreter's internals from an ordinary object (sandbox escapes).
ESCAPE_ATTRS = frozenset({"__subclasses__", "__globals__", "f_globals", "f_builtins", "__builtins__", "func_globals"})
#: Introspection that can rewrite running code or reach the firewall's objects.
ESCALATE_ATTRS = frozenset({"__code__", "co_code", "f_locals", "f_back", "gi_frame", "cr_frame", "tb_frame"})
#: An environment variable name that holds a credential.
SECRET_NAME = re.compile(
    r"key|token|secret|passw|pwd|credential|auth|session|cookie|private|signature|dsn|conn(?:ection)?_?str", re.I
)
