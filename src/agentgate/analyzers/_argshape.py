"""Argument shapes: which values of a call are its payload, whatever form they take.

Helpers of `classify`. The argument walk (`ToolCall.walk`) has already read every
value into text (bytes, paths, enums, dataclasses, pydantic models, JSON); this
module decides roles:

* an argv list given to a shell tool is one command (``["rm", "-rf", "/"]`` is
  ``rm -rf /``, quoted as a shell would need it), and ``command`` + ``args`` are
  joined the same way;
* a shell, SQL or file tool whose arguments have names we do not recognise still
  has a payload: each such argument is read as one (``bash(input=...)``,
  ``write_file(target=...)``), except option-like names (``timeout``, ``cwd``);
* a generic tool's ``command``/``cmd``/``script`` argument is a command line and its
  ``sql``/``statement`` argument a statement (``run(cmd=...)``, ``do_it(sql=...)``);
* natural-language arguments (``question``, ``prompt``, a search ``query``) are text,
  never a URL or SQL by name alone: ``web_search(query)``, ``ask_database(question)``;
* a process's environment hides in ``env``/``environment`` arguments and fields in three
  shapes (a mapping, ``K=V`` strings, ``{"name", "value"}`` records); `env_assignments` finds
  the variables that matter;
* a renderer (``render_pdf``, ``screenshot``) fetches the subresources its HTML links
  (`subresource_urls`); a raw HTTP request text goes where its ``Host`` header says (`raw_http_url`); a
  ``{module, function, args}`` call runs that function (`reflective_call`);
* recipients hide in headers (``headers={"Bcc": ...}``) and lists of records
  (``to=[{"email": ...}]``); `recipient_values` finds them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from .._call import ToolCall

__all__ = [
    "ENV_KEYS",
    "NL_ARGS",
    "RENDERER_WORDS",
    "env_assignments",
    "joined_command",
    "nested_commands",
    "raw_http_url",
    "recipient_values",
    "reflective_call",
    "subresource_urls",
    "unnamed_payload",
    "values_under",
]

#: Arguments that carry natural language: text, not a payload, unless declared.
NL_ARGS = frozenset(
    {
        "question",
        "questions",
        "prompt",
        "text",
        "message",
        "search",
        "search_query",
        "search_term",
        "keywords",
        "keyword",
        "topic",
        "nl_query",
        "natural_language_query",
        "request",
        "task",
        "instructions",
        "description",
        "input_text",
        "user_query",
        "user_question",
    }
)
# Tool-name words that make a "query" argument a natural-language question.
NL_TOOL_WORDS = frozenset({"search", "ask", "find", "lookup", "question", "nl", "natural", "chat", "answer", "web"})

# Arguments of a shell/SQL/file tool that are settings, not the payload.
_OPTION_ARGS = frozenset(
    {
        "timeout",
        "timeout_ms",
        "timeout_seconds",
        "cwd",
        "workdir",
        "working_dir",
        "working_directory",
        "env",
        "environment",
        "shell",
        "user",
        "username",
        "description",
        "reason",
        "explanation",
        "justification",
        "title",
        "name",
        "id",
        "dialect",
        "database",
        "db",
        "schema",
        "limit",
        "max_rows",
        "encoding",
        "mode",
        "format",
        "verbose",
        "dry_run",
        "stream",
        "background",
        "restart",
        "session",
        "session_id",
        "params",
        "parameters",
        "bindings",
        "connection",
        "connection_id",
        "host",
        "port",
        "append",
        "overwrite",
        "create_dirs",
        "recursive",
        "lang",
        "language",
    }
)
# Arguments of a file tool that hold what is written, not where.
_FILE_DATA_ARGS = frozenset({"content", "contents", "text", "data", "body", "line", "lines", "new_text", "old_text"})
# Names that make an argument of any tool a command line / a statement.
GENERIC_SHELL_ARGS = frozenset(
    {"command", "cmd", "script", "commandline", "command_line", "shell_command", "cmdline", "argv", "bash_command"}
)
GENERIC_SQL_ARGS = frozenset({"sql", "statement", "sql_query", "sql_statement", "stmt"})
# A shell tool's program and its separate argument list.
_PROGRAM_ARGS = ("command", "cmd", "program", "executable", "binary", "exe", "file")
_ARGV_ARGS = ("args", "argv", "arguments", "arg_list", "params")
# Argument names whose list holds whole command lines, one per item.
_COMMAND_LISTS = frozenset({"commands", "cmds", "command_list", "commandlist", "scripts", "lines"})

# Header and field names whose values are mail recipients.
_RECIPIENT_KEYS = frozenset(
    {
        "to",
        "cc",
        "bcc",
        "resent-to",
        "resent-cc",
        "resent-bcc",
        "forward_to",
        "forward-to",
        "to_addrs",
        "to_addresses",
        "cc_addrs",
        "bcc_addrs",
        "recipients",
        "recipient",
        "email",
        "address",
        "email_address",
    }
)


# Argument and field names whose value is the environment of a process the tool starts
# (a mapping, a list of "K=V" strings, or a list of {"name": K, "value": V} records).
ENV_KEYS = frozenset(
    {
        "env",
        "environment",
        "envs",
        "env_vars",
        "envvars",
        "environment_variables",
        "environmentvariables",
        "extra_env",
        "env_overrides",
        "container_env",
        "variables",
        "envvariables",
        "env_variables",
    }
)
_ENV_NAME_KEYS = ("name", "key")
_ENV_VALUE_KEYS = ("value", "val")
_MAX_ENV_NODES = 5_000


def env_assignments(arguments: Mapping[str, Any], names: frozenset[str]) -> list[tuple[str, str, str]]:
    """``(path, NAME, value)`` for every variable in *names* a call sets for a process it starts.

    Environments hide in an ``env``/``environment`` argument or field at any depth (an ``exec``
    tool's options, a container spec), written as a mapping, a list of ``K=V`` strings (Docker,
    ``subprocess``) or a list of ``{"name": K, "value": V}`` records (Kubernetes, ECS). The walk is
    bounded; a variable past the bound is left to the other analyzers (the argument walk's own
    limits escalate a call that large).
    """
    out: list[tuple[str, str, str]] = []
    stack: list[tuple[str, Any, bool]] = [(k, v, k.lower() in ENV_KEYS) for k, v in arguments.items()]
    seen = 0
    while stack and seen < _MAX_ENV_NODES:
        path, value, in_env = stack.pop()
        seen += 1
        if isinstance(value, Mapping):
            if in_env:
                rec = _env_record(value)
                if rec is not None and rec[0] in names:
                    out.append((path, rec[0], rec[1]))
            for k, v in value.items():
                key = str(k)
                if in_env and key in names and isinstance(v, (str, int, float)):
                    out.append((f"{path}.{key}", key, str(v)))
                    continue
                stack.append((f"{path}.{key}", v, in_env or key.lower() in ENV_KEYS))
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                if in_env and isinstance(v, str) and "=" in v:
                    name, _, val = v.partition("=")
                    if name.strip() in names:
                        out.append((f"{path}[{i}]", name.strip(), val))
                    continue
                stack.append((f"{path}[{i}]", v, in_env))
    return out


def _env_record(d: Mapping[Any, Any]) -> tuple[str, str] | None:
    name = next((d[k] for k in _ENV_NAME_KEYS if isinstance(d.get(k), str)), None)
    value = next((d[k] for k in _ENV_VALUE_KEYS if isinstance(d.get(k), (str, int, float))), None)
    if name is None or value is None:
        return None
    return str(name).strip(), str(value)


_RAW_REQUEST = re.compile(
    r"^(?:GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS|CONNECT|TRACE) (\S{1,8192}) HTTP/\d(?:\.\d)?\r?\n"
)
_HOST_HEADER = re.compile(r"(?im)^host:[ \t]*([^\s/]{1,260})[ \t]*\r?$")


def raw_http_url(value: str) -> str | None:
    """The URL a raw HTTP request text goes to (``GET /x HTTP/1.1`` + ``Host: h``), or None.

    A tool that writes a request onto a socket connects where its ``Host`` header (or an
    absolute request target) says, whatever the tool is called.
    """
    m = _RAW_REQUEST.match(value.lstrip())
    if m is None:
        return None
    target = m.group(1)
    if "://" in target:
        return target
    h = _HOST_HEADER.search(value, 0, 16384)
    if h is None:
        return None
    return f"http://{h.group(1)}{target if target.startswith('/') else '/'}"


#: Tool-name words of renderers: a headless browser or a converter that loads what a document links
RENDERER_WORDS = frozenset(
    {"render", "pdf", "screenshot", "rasterize", "wkhtmltopdf", "puppeteer", "playwright", "headless", "html2pdf",
     "weasyprint", "prince", "snapshot", "thumbnail", "preview"}
)  # fmt: skip
_SUBRESOURCE = re.compile(
    r"(?i)(?:\b(?:src|href|data|poster|background|action|formaction|xlink:href|content)\s*=\s*[\"']?"
    r"(?:\d+\s*;\s*url\s*=\s*)?|url\(\s*[\"']?|@import\s+[\"'])"
    r"([a-z][a-z0-9+.\-]{1,15}://[^\s\"'<>)]{1,2048})"
)


def subresource_urls(value: str) -> list[str]:
    """URLs a renderer loads while rendering an HTML/SVG/CSS document (``<iframe src=...>``,
    ``url(...)``, ``@import``, a meta refresh): it fetches each from where it runs."""
    if "<" not in value and "url(" not in value and "@import" not in value:
        return []
    return [m.group(1) for m in _SUBRESOURCE.finditer(value, 0, 1_000_000)][:64]


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}(?:\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,4}")
_MODULE_KEYS = ("module", "module_name", "package", "import")
_FUNCTION_KEYS = ("function", "func", "function_name", "callable", "attr", "attribute")
_CALL_ARG_KEYS = ("args", "arguments", "argv", "params", "positional")
_CALL_KWARG_KEYS = ("kwargs", "keyword_arguments", "named_args")


def reflective_call(arguments: Mapping[str, Any]) -> str | None:
    """The Python a ``{module, function, args}`` call runs (``python_call(module="subprocess",
    function="check_output", args=[["sh", "-c", ...]])``), or None: calling a function by name
    is running it, so the code analyzer reads the call as the program it is."""
    low = {k.lower(): k for k in arguments}
    mod_key = next((low[k] for k in _MODULE_KEYS if k in low), None)
    fn_key = next((low[k] for k in _FUNCTION_KEYS if k in low and low[k] != mod_key), None)
    if mod_key is None or fn_key is None:
        return None
    module, function = arguments[mod_key], arguments[fn_key]
    if not (isinstance(module, str) and isinstance(function, str)):
        return None
    if not (_IDENT.fullmatch(module) and _IDENT.fullmatch(function)):
        return None
    raw_pos: Any = next((arguments[low[k]] for k in _CALL_ARG_KEYS if k in low), [])
    raw_kw: Any = next((arguments[low[k]] for k in _CALL_KWARG_KEYS if k in low), {})
    pos: list[Any] = list(raw_pos) if isinstance(raw_pos, (list, tuple)) else [raw_pos]
    kw: dict[Any, Any] = dict(raw_kw) if isinstance(raw_kw, Mapping) else {}
    try:
        rendered = ", ".join([*(repr(a) for a in pos), *(f"**{{{k!r}: {v!r}}}" for k, v in kw.items())])
    except Exception:  # an argument whose repr fails: the call is still this function
        rendered = "..."
    if module in ("builtins", "__builtins__", "__builtin__"):
        return f"{function}({rendered})"  # builtins.eval(...) is eval(...)
    return f"import {module}\n{module}.{function}({rendered})"


def unnamed_payload(kind: str, arg_names: tuple[str, ...], taken: set[str]) -> list[str]:
    """Arguments of a *kind* tool that no name rule claimed and are not options: its payload."""
    out = []
    for a in arg_names:
        low = a.lower()
        if a in taken or low in _OPTION_ARGS or low in NL_ARGS:
            continue
        if kind == "file" and low in _FILE_DATA_ARGS:
            continue
        out.append(a)
    return out


def values_under(call: ToolCall, arg: str, nested: bool = False) -> list[tuple[str, str]]:
    """``(path, text)`` of the strings read from argument *arg*.

    Direct values and list items (``arg``, ``arg[0]``) always; with *nested*, also
    strings inside records (``arg[0].email``). Values come from the argument walk, so
    bytes, paths and objects are included as text.
    """
    out = []
    n = len(arg)
    for path, v in call.string_arguments():
        if not path.startswith(arg):
            continue
        rest = path[n:]
        if (
            not rest
            or (rest[0] == "[" and (nested or (rest.endswith("]") and rest.count("[") == 1)))
            or (nested and rest[0] == ".")
        ):
            out.append((path, v))
    return out


def joined_command(call: ToolCall, arg: str) -> str | None:
    """The command line of an argv-list argument (``["rm", "-rf", "/"]`` -> ``rm -rf /``).

    A list whose first item holds whitespace (a program name has none), or a list named
    ``commands``, is a list of command lines, joined one per line.

    A program argument with a separate list of arguments (``cmd="rm", args=["-rf", "/"]``)
    is joined into one line as well. None when *arg* is a plain string.
    """
    argv = dict(call.walk().argvs)
    words = argv.get(arg)
    if words is not None:
        if any(c.isspace() for c in words[0]) or arg.lower() in _COMMAND_LISTS:
            # A program name holds no space: ["rm -rf /tmp/x", "ls"] is a list of command lines
            # (LangChain's ShellTool `commands`), run one after the other, not one argv.
            return "\n".join(words)
        return shlex.join(words)
    if arg.lower() in _PROGRAM_ARGS:
        value = call.arguments.get(arg)
        if isinstance(value, str) and value.strip() and " " not in value.strip():
            for a in call.arguments:
                if a.lower() in _ARGV_ARGS and a in argv:
                    return shlex.join((value.strip(), *argv[a]))
    return None


def nested_commands(call: ToolCall) -> list[tuple[str, str]]:
    """``(path, command line)`` of a program and its argv list given together inside a record
    (``run_task(spec={"cmd": "rm", "args": ["-rf", "/var/lib/postgresql"]})``): the record is one
    command, at any depth, as `joined_command` reads the same pair at the top level."""
    out: list[tuple[str, str]] = []
    argvs = call.walk().argvs
    if not argvs:
        return out
    strings: dict[str, str] | None = None
    for path, words in argvs:
        parent, dot, leaf = path.rpartition(".")
        if not dot or leaf.split("[", 1)[0].lower() not in _ARGV_ARGS:
            continue
        if strings is None:
            strings = dict(call.string_arguments())
        prefix = parent + "."
        prog = next(
            (
                v.strip()
                for p, v in strings.items()
                if p.startswith(prefix)
                and p[len(prefix) :].lower() in _PROGRAM_ARGS
                and v.strip()
                and " " not in v.strip()
            ),
            None,
        )
        if prog is not None:
            out.append((path, shlex.join((prog, *words))))
    return out


def recipient_values(call: ToolCall) -> list[tuple[str, str]]:
    """Recipients held in nested fields: ``headers.Bcc``, ``to[0].email``, ``message.forward_to``."""
    out = []
    for path, v in call.string_arguments():
        if "." not in path and "[" not in path:
            continue
        leaf = path.rsplit(".", 1)[-1].split("[", 1)[0].lower()
        if leaf in _RECIPIENT_KEYS and "@" in v:
            out.append((path, v))
    return out
