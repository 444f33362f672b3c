"""Classify a tool call: its kind, its operation, its resources, what to analyze.

Order of evidence, strongest first:

1. the tool's spec (``tools:`` in agentgate.yaml, ``register_tools``, ``@guard(kind=...)``);
2. name conventions: tool-name tokens (``execute_sql`` → sql, ``send_email`` → send)
   and argument names (``path`` → a path resource, ``url`` → a URL, ``to`` → a recipient);
3. argument content: every string argument is sniffed, so a URL, a path, a SQL
   statement or a shell command is analyzed wherever it sits.

The name-dependent part is cached per (tool, spec, argument names); only content
sniffing runs per call.

>>> from agentgate._call import ToolCall
>>> c = classify(ToolCall("execute_sql", {"query": "DROP TABLE users"}))
>>> c.kind, c.operation, [t.argument for t in c.targets["sql"]]
('sql', 'delete', ['query'])
>>> classify(ToolCall("http_request", {"url": "https://hooks.slack.com/services/T0/B0/x", "method": "POST"})).operation
'send'
>>> c = classify(ToolCall("send_email", {"to": "bob@acme.com", "body": "see http://169.254.169.254/"}))
>>> c.operation, [(r.argument, r.kind) for r in c.resources]
('send', [('to', 'email')])
>>> classify(ToolCall("summarize", {"text": "http://169.254.169.254/latest"})).targets["http"][0].source
'sniff'
"""

from __future__ import annotations

import functools
import itertools
import operator
import re
import shlex
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import getaddresses
from types import MappingProxyType
from typing import Any

from .._call import ToolCall, ToolSpec
from ..policy._operations import BUILTIN_OPERATIONS, canonical, declared_operations, declared_version, verb_operation
from ._argshape import (
    GENERIC_SHELL_ARGS,
    GENERIC_SQL_ARGS,
    NL_ARGS,
    NL_TOOL_WORDS,
    RENDERER_WORDS,
    joined_command,
    nested_commands,
    raw_http_url,
    recipient_values,
    reflective_call,
    subresource_urls,
    unnamed_payload,
    values_under,
)
from .base import Resource, Target

__all__ = ["SNIFFERS", "Classification", "classify", "sql_operation", "tokens"]

ANALYZED_KINDS = ("sql", "file", "http", "shell", "code")


@dataclass(frozen=True, slots=True)
class Classification:
    """What a call is.

    Attributes:
        kind: ``sql``, ``file``, ``http``, ``shell``, ``email``, ``message``, ``payment``,
            ``config``, ``code``, ``deploy`` or ``generic``.
        operation: Canonical operation, or None when nothing says (a scope that
            restricts operations then escalates).
        operation_source: ``spec``, ``name``, ``content`` or ``none``.
        resources: Resources to check against the scope.
        targets: Per analyzer kind, the strings to analyze.
        side_effect: From the spec, when declared.
        payload: Names of the arguments that are the call's payload or resources (a
            value there that cannot be read escalates).
        oversize: Payload targets too long to parse within the time budget (see
            `MAX_TARGET_CHARS`): kept out of ``targets``; the arguments analyzer escalates them.
    """

    kind: str
    operation: str | None
    operation_source: str
    resources: tuple[Resource, ...]
    targets: Mapping[str, tuple[Target, ...]]
    side_effect: bool | None = None
    payload: frozenset[str] = frozenset()
    oversize: tuple[tuple[str, Target], ...] = ()


_CLS_SETTERS = tuple(Classification.__dict__[f].__set__ for f in Classification.__dataclass_fields__)


def _new_classification(*values: Any) -> Classification:
    """A Classification from all its field values in order, without the frozen ``__init__``
    (one per decision; the generated init sets each slot through ``object.__setattr__``)."""
    obj = object.__new__(Classification)
    deque(map(operator.call, _CLS_SETTERS, itertools.repeat(obj), values), 0)
    return obj


#: Per analyzer kind, the longest string handed to it: no URL or path is longer (servers
#: reject URLs past 8 KiB, PATH_MAX is 4 KiB); a longer one escalates instead of being
#: parsed. The shell, SQL and code analyzers apply their own limits (they escalate too).
MAX_TARGET_CHARS = {"http": 16_000, "file": 16_000}


# ----------------------------------------------------------------- name conventions

_KIND_TOKENS: dict[str, str] = {
    "sql": "sql",
    "query": "sql",
    "database": "sql",
    "db": "sql",
    "postgres": "sql",
    "mysql": "sql",
    "sqlite": "sql",
    "psql": "sql",
    "bigquery": "sql",
    "snowflake": "sql",
    "file": "file",
    "files": "file",
    "path": "file",
    "dir": "file",
    "directory": "file",
    "folder": "file",
    "fs": "file",
    "filesystem": "file",
    "mkdir": "file",
    "rmdir": "file",
    "unlink": "file",
    "http": "http",
    "https": "http",
    "url": "http",
    "web": "http",
    "webpage": "http",
    "fetch": "http",
    "browse": "http",
    "curl": "http",
    "wget": "http",
    "webhook": "http",
    "scrape": "http",
    "crawl": "http",
    "download": "http",
    "api": "http",
    "shell": "shell",
    "bash": "shell",
    "sh": "shell",
    "zsh": "shell",
    "terminal": "shell",
    "command": "shell",
    "cmd": "shell",
    "subprocess": "shell",
    "powershell": "shell",
    "exec": "shell",
    "email": "email",
    "mail": "email",
    "smtp": "email",
    "slack": "message",
    "sms": "message",
    "message": "message",
    "chat": "message",
    "teams": "message",
    "discord": "message",
    "telegram": "message",
    "tweet": "message",
    "notify": "message",
    "payment": "payment",
    "pay": "payment",
    "transfer": "payment",
    "refund": "payment",
    "wire": "payment",
    "invoice": "payment",
    "stripe": "payment",
    "funds": "payment",
    "payout": "payment",
    "config": "config",
    "configuration": "config",
    "settings": "config",
    "setting": "config",
    # Security configuration: policies, network rules, access controls, agent hooks.
    "flag": "config",
    "flags": "config",
    "iam": "config",
    "policy": "config",
    "policies": "config",
    "permission": "config",
    "permissions": "config",
    "security": "config",
    "ingress": "config",
    "egress": "config",
    "firewall": "config",
    "acl": "config",
    "public": "config",
    "protection": "config",
    "mfa": "config",
    "cloudtrail": "config",
    "trail": "config",
    "hook": "config",
    "hooks": "config",
    "mcp": "config",
    "logging": "config",
    "audit": "config",
    "sandbox": "config",
    "encryption": "config",
    "guardduty": "config",
    "detector": "config",
    "role": "config",
    "roles": "config",
    "rbac": "config",
    "env": "config",
    "envvar": "config",
    "python": "code",
    "python3": "code",
    "py": "code",
    "ipython": "code",
    "jupyter": "code",
    "notebook": "code",
    "cell": "code",
    "repl": "code",
    "interpreter": "code",
    "code": "code",
    "eval": "code",
    "javascript": "code",
    "js": "code",
    "nodejs": "code",
    "deno": "code",
    "typescript": "code",
    "deploy": "deploy",
    "release": "deploy",
    "rollout": "deploy",
    "kubectl": "deploy",
}
# When a name holds several kind tokens, the most specific wins (run_sql_query: sql).
_KIND_PRIORITY = ("sql", "shell", "code", "payment", "email", "message", "http", "file", "config", "deploy")
# Shell tokens that only say "runs something": next to a language token (python_exec,
# python_command) the language decides.
_GENERIC_SHELL_TOKENS = frozenset({"exec", "command", "cmd"})
# "node" names a graph or cluster node as often as the JavaScript runtime: it is code only
# alone or next to a word that runs something (run_node, node_eval, node_script).
_NODE_RUN_TOKENS = frozenset({"run", "eval", "exec", "execute", "script", "repl", "js", "code", "vm"})

#: argument name → resource kind
_RESOURCE_ARGS: dict[str, str] = {
    **dict.fromkeys(
        (
            "path",
            "file",
            "filename",
            "file_name",
            "filepath",
            "file_path",
            "dir",
            "directory",
            "folder",
            "src",
            "dst",
            "source_path",
            "destination_path",
            "dest",
            "target_path",
            "output_path",
            "input_path",
            "output_file",
            "input_file",
            "paths",
            "files",
            "dirpath",
            "dir_path",
            "pathname",
            "location",
            "attachment",
            "attachments",
            "attachment_path",
        ),
        "path",
    ),
    **dict.fromkeys(
        (
            "url",
            "uri",
            "urls",
            "endpoint",
            "href",
            "link",
            "webhook",
            "webhook_url",
            "website",
            "base_url",
            "target_url",
            "callback_url",
        ),
        "url",
    ),
    **dict.fromkeys(("host", "hostname", "domain", "server", "ip", "address_ip"), "host"),
    **dict.fromkeys(("table", "table_name", "tables", "collection", "index", "database", "db", "schema"), "table"),
    **dict.fromkeys(("query", "sql", "statement", "stmt", "sql_query"), "sql"),
    **dict.fromkeys(
        (
            "to",
            "recipient",
            "recipients",
            "cc",
            "bcc",
            "email",
            "email_address",
            "to_email",
            "send_to",
            "to_address",
            "emails",
            "forward_to",
            "to_addrs",
            "to_addresses",
            "cc_addrs",
            "bcc_addrs",
            "recipient_list",
            "recipient_emails",
        ),
        "email",
    ),
    **dict.fromkeys(("customer", "customer_id", "customer_number", "client_id", "customer_ref"), "customer"),
    **dict.fromkeys(("invoice", "invoice_id", "invoice_number", "invoice_ref"), "invoice"),
    **dict.fromkeys(
        (
            "schedule",
            "schedule_id",
            "scheduled_id",
            "scheduled_job",
            "job",
            "job_id",
            "job_name",
            "cron_job",
            "cron_id",
        ),
        "scheduled",
    ),
    **dict.fromkeys(("namespace", "ns", "k8s_namespace", "kube_namespace"), "namespace"),
    **dict.fromkeys(("channel", "channel_id", "channel_name", "room", "slack_channel"), "channel"),
    **dict.fromkeys(("phone", "phone_number", "to_number", "from_number", "mobile", "msisdn"), "phone"),
    **dict.fromkeys(("repo", "repository", "repo_name", "github_repo", "full_name"), "github"),
    **dict.fromkeys(("remote", "remote_url", "git_url", "git_remote", "clone_url"), "git"),
    **dict.fromkeys(("bucket", "bucket_name", "s3_bucket", "s3_uri", "s3_url"), "s3"),
    **dict.fromkeys(
        (
            "iban",
            "account",
            "account_id",
            "account_number",
            "to_account",
            "from_account",
            "destination_account",
            "wallet",
            "card",
            "beneficiary",
            "payee",
            "recipient_account",
            "destination",
            "bic",
            "swift",
        ),
        "account",
    ),
    **dict.fromkeys(
        (
            "chat_id",
            "user_id_to",
            "key",
            "config_key",
            "setting",
            "service",
            "service_name",
            "cluster",
            "environment",
            "deployment",
            "app",
            "branch",
            "queue",
            "topic",
            "resource",
            "container",
            "pod",
            "vm",
        ),
        "generic",
    ),
}

# Argument names whose value is the payload an analyzer of that kind reads.
_CONTENT_ARGS: dict[str, frozenset[str]] = {
    "sql": frozenset({"query", "sql", "statement", "stmt", "sql_query", "q", "command"}),
    "shell": frozenset(
        {"command", "cmd", "script", "commandline", "command_line", "shell_command", "cmdline", "code", "args", "argv"}
    ),
    "http": frozenset(
        {
            "url",
            "uri",
            "endpoint",
            "href",
            "link",
            "webhook",
            "webhook_url",
            "website",
            "base_url",
            "target_url",
            "callback_url",
            "urls",
        }
    ),
    "file": frozenset(k for k, v in _RESOURCE_ARGS.items() if v == "path"),
    "code": frozenset(
        {
            "code",
            "source",
            "source_code",
            "script",
            "cell",
            "cells",
            "program",
            "snippet",
            "python",
            "python_code",
            "js",
            "javascript",
            "js_code",
            "expression",
            "expr",
            "command",
            "cmd",
            "input",
            "content",
            "lines",
        }
    ),
}
# A SQL tool's lone argument named for a natural-language request (ask_database(question))
# is text for a text-to-SQL model, not SQL: content sniffing still finds real SQL in it.
_QUESTION_ARGS = frozenset(
    {"question", "questions", "prompt", "request", "instruction", "instructions", "ask", "nl_query", "natural_language"}
)
# A resource argument of this kind is always analyzed by that analyzer, whatever the tool.
_ALWAYS = {"path": "file", "url": "http"}

# Operation of a tool kind when its name has no verb.
_KIND_DEFAULT_OP = {
    "shell": "execute",
    "code": "execute",
    "email": "send",
    "message": "send",
    "payment": "transfer",
    "deploy": "configure",
    "config": "configure",
}
_OPERATION_ARGS = ("operation", "action", "op", "mode", "method", "verb")

# HTTP: the method is the effect. A tool that names no method sends a GET (every client's default).
_HTTP_METHOD_OP = {
    "get": "read",
    "head": "read",
    "options": "read",
    "trace": "read",
    "post": "write",
    "put": "write",
    "patch": "write",
    "delete": "delete",
}
_METHOD_ARGS = ("method", "http_method", "verb", "request_method")
# A request body means the tool POSTs: clients send a body with writing methods only.
_BODY_ARGS = ("body", "data", "json", "payload", "json_body", "form", "files", "content")
# Host labels and path segments that name a messaging API: a POST there delivers a
# message to people (Slack/Teams/Discord webhooks, chat.postMessage, Telegram sendMessage,
# Twilio Messages, SendGrid mail/send, Graph sendMail), so it is a send, not a write.
_MESSAGING_WORDS = frozenset(
    {
        "webhook", "webhooks", "hooks", "hook", "incomingwebhook", "messages", "message", "sendmessage",
        "chat.postmessage", "postmessage", "sendmail", "mail", "email", "emails", "sms", "notify",
        "notifications", "notification", "sendtext", "chat", "publish", "send",
    }
)  # fmt: skip
_MESSAGING_HOSTS = ("slack.com", "discord.com", "discordapp.com", "api.telegram.org", "api.twilio.com", "sendgrid.com",
                    "mailgun.net", "postmarkapp.com", "chat.googleapis.com", "webhook.office.com", "ntfy.sh",
                    "api.pushover.net", "events.pagerduty.com", "hooks.zapier.com")  # fmt: skip
_URL_SPLIT = re.compile(r"[/?#&=]+")


def messaging_endpoint(url: str) -> bool:
    """True when *url* names a messaging API (a POST there is a ``send``).

    >>> messaging_endpoint("https://hooks.slack.com/services/T0/B0/x"), messaging_endpoint("https://api.acme.com/v1/orders")
    (True, False)
    """
    low = url.strip().lower()
    rest = low.split("://", 1)[1] if "://" in low else low
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0].rstrip(".")
    if any(host == h or host.endswith("." + h) for h in _MESSAGING_HOSTS):
        return True
    if any(lab in _MESSAGING_WORDS for lab in host.split(".")[:-2]):
        return True
    path = rest[len(host) :] if rest.startswith(host) else rest
    return any(seg in _MESSAGING_WORDS for seg in _URL_SPLIT.split(path.split("?", 1)[0]) if seg)


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SPLIT = re.compile(r"[^A-Za-z0-9]+")


@functools.lru_cache(maxsize=8192)
def tokens(name: str) -> tuple[str, ...]:
    """Lower-case word tokens of a tool or argument name (snake, kebab, camel, dotted).

    >>> tokens("sendSlackMessage"), tokens("db.execute-SQL")
    (('send', 'slack', 'message'), ('db', 'execute', 'sql'))
    """
    return tuple(t.lower() for t in _SPLIT.split(_CAMEL.sub("_", name)) if t)


# ------------------------------------------------------------------------- sniffing

_URL_RE = re.compile(
    r"^\s*(?:[a-z][a-z0-9+.\-]{1,20}:(?://|\\\\)|(?:file|gopher|dict|ldap|ldaps|jar|netdoc|tftp|sftp|data|javascript):|//[^\s/]|www\.[^\s]+\.[a-z]{2,})",
    re.IGNORECASE,
)
_PATH_RE = re.compile(
    r"^\s*(?:~[^\s]*|/[^\s]*|\.{1,2}[/\\]|[a-z]:[\\/]|\\\\[^\\]|%2e|%252e|file:)|(?:\.\.[/\\]|%2e%2e|%252e|\.\.%2f|%c0%ae|\x00)|(?:^|/)\.(?:env|ssh|aws|git|kube|netrc|pgpass|bashrc|zshrc|profile)\b",
    re.IGNORECASE,
)
_SQL_RE = re.compile(
    r"\(?\s*(?:select|insert|update|delete|drop|create|alter|truncate|grant|revoke|with|exec|execute|copy|attach|detach|pragma|merge|replace|call|load|set|show|declare|prepare|rename|vacuum|lock|handler|values|upsert|begin|use|analyze|explain|comment|import|export|unload|deallocate|reindex|cluster|refresh|do)\b[\s\S]*?(?:\b(?:from|into|table|set|where|database|schema|user|role|view|index|program|function|procedure|trigger|extension|privileges|on|to|as|values|select|all)\b|\*|;|\()",
    re.IGNORECASE,
)


def _skip_sql_lead(v: str, hash_comments: bool) -> int:
    """Offset after leading whitespace and comments (``--``, ``/* */``, and ``#`` when asked).

    A scan, not a regex: ``^\\s*(?:comment\\s*)*\\s*`` backtracks quadratically on a run of blanks
    (5 s on 4 kB of spaces).
    """
    i, n = 0, len(v)
    while True:
        i = _BLANKS.match(v, i).end()  # type: ignore[union-attr]  # \s* always matches
        if i >= n:
            return i
        if v.startswith("--", i) or (hash_comments and v[i] == "#"):
            j = v.find("\n", i)
            if j < 0:
                return i  # an unterminated line comment: what follows is not a statement
            i = j + 1
        elif v.startswith("/*", i):
            j = v.find("*/", i + 2)
            if j < 0:
                return i
            i = j + 2
        else:
            return i


_BLANKS = re.compile(r"\s*")
# An injection fragment meant to be interpolated into a query: a quote, number or
# parenthesis closing the value, then a stacked statement, a UNION SELECT or an
# OR/AND comparison or a comment ("x' UNION SELECT ...", "1=1; DROP TABLE t",
# "' OR '1'='1", "admin'--").
# Inline comments count as whitespace. The SQL analyzer parses the value in a string
# and an expression frame to confirm.
_SQL_FRAGMENT_RE = re.compile(
    r"['\")0-9](?:\s|/\*[^*]*\*/)*(?:;(?:\s|/\*[^*]*\*/)*(?:select|insert|update|delete|drop|truncate|alter|create|grant|revoke|exec|execute|declare|copy|shutdown|waitfor|load|attach)\b|union(?:(?:\s|/\*[^*]*\*/)+all)?(?:\s|/\*[^*]*\*/)+select\b|(?:or|and)(?:\s|/\*[^*]*\*/)+(?:'[^']*'|\d+)(?:\s|/\*[^*]*\*/)*(?:=|<>|!=|<=|>=|<|>|like\b)|(?:or|and)(?:\s|/\*[^*]*\*/)+true\b|--)",
    re.IGNORECASE,
)
# A command line either starts with a known command (after sudo/env/VAR=...), or holds
# shell syntax somewhere. The start is one anchored match; the syntax is only searched
# for when one of its characters occurs (a C-level scan), so prose costs ~nothing.
_SHELL_START = re.compile(
    r"\s*(?:sudo\s+|env\s+|exec\s+|nohup\s+|\w+=\S*\s+)*(?:/(?:usr/)?(?:local/)?s?bin/)?(?:rm|curl|wget|bash|sh|zsh|dash|ksh|nc|ncat|netcat|socat|telnet|chmod|chown|chgrp|dd|mkfs(?:\.\w+)?|python[0-9.]*|perl|ruby|php|node|eval|base64|crontab|kill|pkill|killall|su|sudo|scp|rsync|ssh|tar|find|xargs|echo|printf|cat|cp|mv|ln|git|docker|kubectl|systemctl|service|iptables|useradd|usermod|passwd|shutdown|reboot|mount|umount|ls|grep|head|tail|wc|sed|awk|tee|touch|mkdir|rmdir|truncate|shred|openssl|nohup|at|tr|sort|uniq|env|export|source|npm|pip[0-9.]*|apt(?:-get)?|yum|brew|make|powershell|cmd|iex|chattr|setfacl|history|unset|alias)(?:\s|$|;|\||&)",
    re.IGNORECASE,
)
_SHELL_SYNTAX = re.compile(
    r"\$\(|`[^`]+`|\$\{|\$IFS|/dev/(?:tcp|udp)/|\|\s*(?:ba|z|da|k)?sh\b|;\s*\w+\s|&&|\|\||\(\)\s*\{",  # last: fork bombs
    re.IGNORECASE,
)
_SHELL_CHARS = ("$", "`", "|", ";", "&&", "()", "/dev/")


# Program text, only where it is unambiguous: an import of a module that reaches processes,
# sockets or code loading, a call of one of their functions, __import__, or a require of a
# Node module of that kind. A paragraph that merely says "import" or "eval" is prose.
_CODE_RE = re.compile(
    r"(?m)^[ \t]*(?:import[ \t]+(?:os|subprocess|socket|pty|ctypes|marshal|pickle|shutil|urllib|requests)\b|from[ \t]+(?:os|subprocess|socket|pty|ctypes)[ \t]+import\b)"
    r"|__import__[ \t]*\(|\bsubprocess\.[A-Za-z_]+[ \t]*\(|\bos\.(?:system|popen|exec[a-z]*|spawn[a-z]*|dup2)[ \t]*\("
    r"|\brequire[ \t]*\([ \t]*['\"`](?:node:)?(?:child_process|net|vm|fs)['\"`]"
)
_CODE_HINTS = ("import", "__", "os.", "subprocess", "require")


def _looks_code(v: str) -> bool:
    return len(v) < 65536 and any(h in v for h in _CODE_HINTS) and bool(_CODE_RE.search(v))


def _looks_url(v: str) -> bool:
    return len(v) < 8192 and bool(_URL_RE.match(v))


def _looks_path(v: str) -> bool:
    s = v.strip()
    # A path is one token; prose that mentions a path is not a file access.
    return (
        0 < len(s) < 4096
        and "\n" not in s
        and (" " not in s or s.startswith(("/", "~", "\\\\")))
        and bool(_PATH_RE.search(s))
    )


def _looks_sql(v: str) -> bool:
    head = v[:4096]
    return bool(_SQL_RE.match(head, _skip_sql_lead(head, True))) or (
        "\n" not in v[:512] and bool(_SQL_FRAGMENT_RE.search(v[:512]))
    )


def _looks_shell(v: str) -> bool:
    if len(v) >= 65536:
        return False
    if _SHELL_START.match(v):
        return True
    return any(ch in v for ch in _SHELL_CHARS) and bool(_SHELL_SYNTAX.search(v))


#: kind → predicate deciding whether a string argument looks like that kind's input.
SNIFFERS: dict[str, Callable[[str], bool]] = {
    "http": _looks_url,
    "sql": _looks_sql,
    "shell": _looks_shell,
    "file": _looks_path,
    "code": _looks_code,
}

_FIRST_WORD = re.compile(r"\(?\s*([A-Za-z]+)")
# First keyword → operation (docs/policy.md). Additive DDL is a write, destructive DDL a
# delete, privileges and server settings configure, procedures execute; statements that do
# nothing by themselves (BEGIN, DECLARE, USE) read. The SQL analyzer refines this per statement.
_SQL_WORD_OP = {
    **dict.fromkeys(("select", "with", "show", "explain", "describe", "values", "table", "desc", "export",
                     "unload", "begin", "commit", "rollback", "declare", "use", "prepare", "deallocate",
                     "handler"), "read"),
    **dict.fromkeys(("insert", "update", "merge", "upsert", "replace", "create", "alter", "rename", "comment",
                     "copy", "load", "import", "lock", "refresh", "vacuum", "reindex", "cluster", "analyze"),
                    "write"),
    **dict.fromkeys(("delete", "truncate", "drop"), "delete"),
    **dict.fromkeys(("grant", "revoke", "set", "pragma", "attach", "detach"), "configure"),
    **dict.fromkeys(("exec", "execute", "call", "do"), "execute"),
}  # fmt: skip


def sql_operation(sql: str) -> str | None:
    """The operation of a SQL text by its first keyword; None when it does not look like SQL.

    The SQL analyzer refines this from the parsed statements (every statement,
    CTE bodies, ...).
    """
    m = _FIRST_WORD.match(sql, _skip_sql_lead(sql, False))
    if not m:
        return None
    return _SQL_WORD_OP.get(m.group(1).lower())


_sniffed: dict[str, tuple[str, ...]] = {}


def _sniff(v: str) -> tuple[str, ...]:
    """The kinds *v* looks like; memoized, since agents repeat values (bounded, cleared when full)."""
    hit = _sniffed.get(v)
    if hit is None:
        hit = tuple(k for k, f in SNIFFERS.items() if f(v))
        if "code" in hit:
            # a program: the code analyzer reads it and routes its commands and queries; the
            # statement sniffers would read Python ("import os ...") as SQL or a command line
            hit = tuple(k for k in hit if k not in ("sql", "shell"))
        if len(v) <= 4096:
            if len(_sniffed) >= 8192:
                _sniffed.clear()
            _sniffed[v] = hit
    return hit


# ---------------------------------------------------------------- static (cached)


@dataclass(frozen=True, slots=True)
class _Static:
    kind: str
    operation: str | None
    operation_source: str
    resource_args: tuple[tuple[str, str], ...]  # (argument, resource kind)
    content_args: tuple[tuple[str, str, str], ...]  # (argument, analyzer kind, source)
    side_effect: bool | None
    infra: tuple[str, ...] = ()  # a dedicated CLI tool (``kubectl``, ``git_push``): program and subcommand words
    payload: frozenset[str] = frozenset()
    # What the tool's name says to `classify` (per call it only reads these).
    nl_sql: bool = False  # a text-to-SQL tool (ask_database)
    text_tool: bool = False  # a mail, a message or a ticket: it quotes commands and SQL
    opaque: bool = False  # a dispatcher with no spec (do_it, run)


def _tool_kind(name_tokens: tuple[str, ...]) -> str:
    found = {_KIND_TOKENS[t] for t in name_tokens if t in _KIND_TOKENS}
    if "node" in name_tokens and (len(name_tokens) == 1 or _NODE_RUN_TOKENS.intersection(name_tokens)):
        found.add("code")
    if (
        "code" in found
        and "shell" in found
        and all(t in _GENERIC_SHELL_TOKENS for t in name_tokens if _KIND_TOKENS.get(t) == "shell")
    ):
        found.discard("shell")
    for k in _KIND_PRIORITY:
        if k in found:
            return k
    return "generic"


_RESOURCE_KIND_FOR_TOOL = {"file": "path", "http": "url", "email": "email", "payment": "account", "sql": "sql"}


# A SQL tool by a word that only SQL tools use (modify_db_instance is an RDS call, not SQL).
_SQL_NAME_WORDS = frozenset(
    {"sql", "query", "psql", "postgres", "postgresql", "mysql", "sqlite", "bigquery", "snowflake", "clickhouse"}
)
_STATEMENT_VERBS = frozenset({"run", "execute", "exec", "query", "statement"})


def _statement_tool(name_tokens: tuple[str, ...]) -> bool:
    """A tool that runs statements (run_sql, mysql, query_postgres), not one that manages a server (patch_sql_instance)."""
    return bool(set(name_tokens) & _STATEMENT_VERBS) or (len(name_tokens) == 1 and name_tokens[0] in _SQL_NAME_WORDS)


# search(query=...), web_search(q=...): a single argument that is a question, not a URL.
_SEARCH_TOOL_WORDS = frozenset({"search", "lookup", "ask", "question", "answer"})
_HTTP_TEXT_ARGS = NL_ARGS | {"query", "q", "term", "terms", "phrase"}


def _static(tool_name: str, spec: ToolSpec | None, arg_names: tuple[str, ...]) -> _Static:
    return _static_cached(tool_name, spec, arg_names, declared_version())


@functools.lru_cache(maxsize=4096)
def _static_cached(tool_name: str, spec: ToolSpec | None, arg_names: tuple[str, ...], _version: int) -> _Static:
    name_tokens = tokens(tool_name)
    kind = spec.kind if spec is not None and spec.kind != "generic" else _tool_kind(name_tokens)
    if spec is not None and spec.operation:
        op: str | None = spec.operation.strip().lower()
        op_source = "spec"
    else:
        op = verb_operation(name_tokens, declared_operations())
        op_source = "name" if op else "none"
        if kind == "http":
            # The method decides per call (classify); the name only when it is one (http_post).
            methods = [_HTTP_METHOD_OP[t] for t in name_tokens if t in _HTTP_METHOD_OP]
            if methods:
                op = methods[0]
            elif op is None or op == "send":
                op = "read" if op is None else op
            op_source = "http"
        elif kind == "sql":
            op, op_source = None, "none"  # the statement decides
        elif kind == "config" and op == "write":
            op = "configure"  # update_iam_policy changes configuration, not data
        elif op is None and kind in _KIND_DEFAULT_OP:
            op, op_source = _KIND_DEFAULT_OP[kind], "name"

    resources: dict[str, str] = {}
    if spec is not None:
        declared_kinds = dict(spec.resource_kinds)
        for a in (*spec.resource_args, *declared_kinds):
            resources[a] = (
                declared_kinds.get(a) or _RESOURCE_KIND_FOR_TOOL.get(kind) or _RESOURCE_ARGS.get(a.lower(), "generic")
            )
    for a in arg_names:
        if a in resources:
            continue
        rk = _RESOURCE_ARGS.get(a.lower())
        if rk is None:
            continue
        if rk == "sql" and kind != "sql":
            continue  # "query" of a search tool is text, not SQL
        if rk == "account" and a.lower() == "destination" and kind not in ("payment",):
            rk = "path" if kind == "file" else "generic"
        if rk == "email" and a.lower() == "to" and kind not in ("email", "message", "generic", "payment"):
            rk = "generic"
        if rk == "host" and a.lower() in ("ip", "address_ip") and kind != "http":
            rk = "generic"  # lookup_ip(ip=...) reads about an address; only a network tool connects to it
        if rk == "email" and kind == "message":
            rk = "recipient"  # chat recipients: a #channel, a phone number or a name (decided per value)
        if rk == "phone" and kind not in ("message", "email", "generic", "payment") and a.lower() == "mobile":
            rk = "generic"
        resources[a] = rk

    content: list[tuple[str, str, str]] = []
    declared = spec.content_args or spec.resource_args if spec is not None else ()
    if kind in ANALYZED_KINDS:
        for a in declared:
            content.append((a, kind, "spec"))
        for a in arg_names:
            if a not in declared and a.lower() in _CONTENT_ARGS[kind]:
                content.append((a, kind, "name"))
        nl_tool = bool(set(name_tokens) & NL_TOOL_WORDS)
        # web_search(tool_input=...), search(input=...): a search tool's one argument is what is
        # searched for, whatever it is named; a value that is a URL is still sniffed as one.
        search_tool = kind == "http" and bool(set(name_tokens) & _SEARCH_TOOL_WORDS)
        if not declared and not any(c[1] == kind for c in content):
            if kind in ("shell", "file") or (kind == "sql" and not nl_tool and _statement_tool(name_tokens)):
                # bash(input=...), write_file(target=...): an unrecognised name is still the payload
                taken = {a for a in resources if resources[a] != "sql"}
                for a in unnamed_payload(kind, arg_names, taken):
                    content.append((a, kind, "name"))
                    if kind == "file":
                        resources[a] = "path"
            elif (
                len(arg_names) == 1
                and _RESOURCE_ARGS.get(arg_names[0].lower(), "sql") == "sql"
                and not (kind == "http" and (arg_names[0].lower() in _HTTP_TEXT_ARGS or search_tool))
                and not (kind == "sql" and arg_names[0].lower() in _QUESTION_ARGS)
            ):
                content.append((arg_names[0], kind, "name"))  # fetch(u), run_python(src): its one argument
    elif kind in ("generic", "deploy", "config"):
        # run(cmd=...), do_it(sql=...): the argument name says what the value is, whatever the tool
        for a in arg_names:
            if a.lower() in GENERIC_SHELL_ARGS:
                content.append((a, "shell", "name"))
            elif a.lower() in GENERIC_SQL_ARGS:
                content.append((a, "sql", "name"))
    for a, rk in resources.items():
        ak = _ALWAYS.get(rk)
        if ak and not any(c[0] == a and c[1] == ak for c in content):
            content.append((a, ak, "name"))
    infra: tuple[str, ...] = ()
    if kind != "shell":
        at = next((i for i, t in enumerate(name_tokens) if t in _INFRA_PROGRAMS), None)
        if at is not None:
            infra = (name_tokens[at], *(t for t in name_tokens[at + 1 :] if t not in ("cli", "cmd", "command", "tool")))
    payload = frozenset(a for a, _, _ in content) | frozenset(resources)
    words = set(name_tokens)
    return _Static(
        kind,
        op,
        op_source,
        tuple(resources.items()),
        tuple(content),
        spec.side_effect if spec else None,
        infra,
        payload,
        kind == "sql" and bool(words & NL_TOOL_WORDS),
        kind in _MAIL_KINDS or bool(words & _TEXT_TOOL_WORDS),
        kind == "generic" and spec is None and bool(words & _OPAQUE_WORDS),
    )


# ------------------------------------------------------------- dedicated CLI tools

_INFRA_PROGRAMS = frozenset(
    [
        "kubectl",
        "oc",
        "helm",
        "terraform",
        "tofu",
        "terragrunt",
        "pulumi",
        "aws",
        "gcloud",
        "gsutil",
        "az",
        "docker",
        "podman",
        "git",
        "eksctl",
        "gh",
    ]
)
# Argument names read in this order as the command's words, after the program and the name's subcommand.
_CLI_WORDS = (
    "service",
    "subcommand",
    "command",
    "operation",
    "action",
    "verb",
    "resource",
    "resource_type",
    "kind",
    "type",
    "name",
    "resource_name",
    "release",
    "chart",
    "remote",
    "remote_url",  # the git resource's argument names (docs/policy.md): a push names its remote first
    "git_url",
    "branch",
    "refspec",
    "target",
)
_CLI_REST = ("args", "argv", "arguments", "params", "parameters", "flags", "options", "extra_args")
_CLI_STDIN = ("manifest", "yaml", "document", "template", "spec", "body", "policy_document")
_CLI_OPTIONS = {"namespace": "-n", "context": "--context", "region": "--region", "project": "--project"}


def _kebab(key: str) -> str:
    return "--" + "-".join(tokens(key.lstrip("-")))


def _cli_words(value: Any) -> list[str]:
    """One argument's value as command words (a string is split like a shell would; a dict is --key value)."""
    import shlex

    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError:
            return value.split()
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if isinstance(value, dict):
        out: list[str] = []
        for k, v in value.items():
            if v is True:
                out.append(_kebab(str(k)))
            elif v is False or v is None:
                continue
            elif isinstance(v, (dict, list)):
                import json

                out.extend((_kebab(str(k)), json.dumps(v)))
            else:
                out.extend((_kebab(str(k)), str(v)))
        return out
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [str(value)]
    return []


def _infra_command(infra: tuple[str, ...], args: Mapping[str, Any]) -> tuple[str, str] | None:
    """The command line a dedicated CLI tool runs (``aws_cli{service, operation, params}`` → ``aws s3 rb …``).

    Returns (argument label, command line), or None when the arguments say nothing.
    """
    import shlex

    program = infra[0]
    words: list[str] = list(infra[1:])
    flags: list[str] = []
    used: list[str] = []
    stdin = None
    lowered = {k.lower(): k for k in args}
    for key in _CLI_WORDS:
        k = lowered.get(key)
        if k is None:
            continue
        v = _cli_words(args[k])
        if v and v[0] == program:
            v = v[1:]
        if program == "aws" and key in ("operation", "action") and len(v) == 1:
            v = ["-".join(tokens(v[0]))]  # DeleteBucket / delete_bucket → delete-bucket
        words.extend(v)
        used.append(k)
    for key, opt in _CLI_OPTIONS.items():
        k = lowered.get(key)
        if k is not None and isinstance(args[k], str) and args[k]:
            flags.extend((opt, args[k]))
            used.append(k)
    for key in _CLI_REST:
        k = lowered.get(key)
        if k is not None:
            v = _cli_words(args[k])
            if v and v[0] == program:
                v = v[1:]
            words.extend(v)
            used.append(k)
    for key in _CLI_STDIN:
        k = lowered.get(key)
        if k is not None and isinstance(args[k], str) and args[k].strip():
            stdin = args[k]
            flags.extend(("-f", "-"))
            used.append(k)
            break
    for k, v in args.items():
        if k not in used and v is True:
            flags.append(_kebab(k))  # force=True, auto_approve=True
            used.append(k)
    if not used:
        return None
    line = shlex.join([program, *words, *flags])
    if stdin is not None:
        line += "\n".join([" <<'AGENTGATE_EOF'", stdin.rstrip("\n"), "AGENTGATE_EOF"])
    return "+".join(used), line


_E164 = re.compile(r"\+?[0-9][0-9 ().\-]{5,20}")
_KEY_ARGS = ("key", "object_key", "s3_key", "prefix", "object", "path")


def _recipient_kind(v: str) -> str:
    """A chat recipient: ``#name`` is a channel, a phone number is E.164, an address is e-mail."""
    s = v.strip()
    if s.startswith("#"):
        return "channel"
    if _E164.fullmatch(s):
        return "phone"
    if "@" in s and "." in s.rsplit("@", 1)[-1]:
        return "email"
    return "channel"


def _s3_value(v: str, args: Mapping[str, Any]) -> str:
    """``bucket/key`` of an S3 object named by a bucket argument (plus a key argument) or an s3:// URL."""
    s = v.strip()
    if s.lower().startswith("s3://"):
        return s[5:]
    for k in _KEY_ARGS:
        key = args.get(k)
        if isinstance(key, str) and key:
            return f"{s.rstrip('/')}/{key.lstrip('/')}"
    return s


_MAX_ARG_NAMES = 1024
_MAIL_KINDS = frozenset({"email", "message"})
# Tools whose text is read by people: tickets, issues, comments, reviews, posts.
_TEXT_TOOL_WORDS = frozenset(
    {"ticket", "issue", "comment", "reply", "review", "note", "notes", "memo", "post", "forum", "feedback", "jira"}
)


# Tool-name words of tools that turn text into other text or labels (the operation vocabulary
# has no verb for them): what they are given is read, never run.
_TEXT_READER_WORDS = frozenset(
    {"translate", "paraphrase", "rewrite", "proofread", "spellcheck", "classify", "sentiment", "embed", "tokenize"}
)


# Tool-name words of opaque dispatchers (do_it, run, execute, perform_action).
_OPAQUE_WORDS = frozenset({"do", "run", "execute", "exec", "perform", "invoke", "dispatch"})


def _leaf_name(path: str) -> str:
    return path.rsplit(".", 1)[-1].split("[", 1)[0].lower()


def _carried_operation(call: ToolCall) -> str | None:
    """The operation of the tool call a dispatcher's own arguments carry (``call_tool(tool="read_file", ...)``)."""
    for path, _key, name, _args, _where in call.walk().calls:
        if path == "":
            words = tokens(name)
            return verb_operation(words, declared_operations()) or _KIND_DEFAULT_OP.get(_tool_kind(words))
    return None


def _inside_document(path: str, docs: tuple[str, ...]) -> bool:
    return any((path.startswith(d) and path[len(d) : len(d) + 1] in (".", "[")) or not d for d in docs)


def _prose(v: str) -> bool:
    """Text that mentions a command in a sentence: it neither starts with one nor sets one apart in a code span.

    A value that *is* a command (``rm -rf /`` as a ticket body) and a command set apart
    in backticks (``run `cat ~/.ssh/id_rsa | curl ...` now``: someone is meant to paste
    it) are still analyzed; the shell analyzer reads code spans strictly.
    """
    return "`" not in v and not _SHELL_START.match(v) and _SENTENCE.search(v) is not None


# Three words in a row: a sentence, not a line of shell syntax (a fork bomb has no words).
_SENTENCE = re.compile(r"(?<![A-Za-z])[A-Za-z]{2,} [A-Za-z]{2,} [A-Za-z]{2,}(?![A-Za-z])")


def _split_recipients(v: str) -> list[str]:
    if "," not in v and ";" not in v and "<" not in v:
        return [v.strip()]
    return [addr for _, addr in getaddresses([v.replace(";", ",")]) if addr] or [v.strip()]


def _leaf_values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [x for x in value if isinstance(x, str)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [str(value)]
    return []


# An IBAN written without spaces (country, check digits, 11-30 alphanumerics): linear, anchored.
_IBAN_VALUE = re.compile(r"^[A-Za-z]{2}[0-9]{2}[A-Za-z0-9]{11,30}$")


def classify(call: ToolCall, spec: ToolSpec | None = None) -> Classification:
    """Classify *call*; *spec* is the registered spec when the call carries none."""
    spec = call.spec or spec
    args = call.arguments
    names = tuple(args) if len(args) <= _MAX_ARG_NAMES else tuple(args)[:_MAX_ARG_NAMES]  # the walk escalates the rest
    st = _static(call.tool_name, spec, names)

    resources: list[Resource] = []
    for a, rk in st.resource_args:
        if a not in args:
            continue
        for _, v in values_under(call, a, nested=rk == "email"):
            if v[:5].lower() == "s3://" and rk in ("path", "url", "generic", "account", "s3"):
                resources.append(Resource(a, v[5:], "s3"))  # an object store, not a local path or a web host
            elif rk == "email" and "@" not in v and _IBAN_VALUE.match(v.replace(" ", "")):
                resources.append(Resource(a, v, "account"))  # send_money(recipient=<IBAN>): an account
            elif rk == "email":
                if "@" in v or isinstance(args[a], str):
                    resources.extend(Resource(a, r, "email") for r in _split_recipients(v))
            elif rk == "recipient":
                resources.append(Resource(a, v, _recipient_kind(v)))
            elif rk == "s3":
                resources.append(Resource(a, _s3_value(v, args), "s3"))
            elif rk == "generic" and v.startswith("#") and len(v) > 1:
                resources.append(Resource(a, v, "channel"))
            else:
                resources.append(Resource(a, v, rk))

    if resources and any(r.kind == "s3" for r in resources):
        # The object key is part of the bucket's resource (bucket/key), not a name of its own.
        resources = [r for r in resources if not (r.kind == "generic" and r.argument in _KEY_ARGS)]
    if st.kind in _MAIL_KINDS or st.operation == "send":
        listed = {r.value for r in resources if r.kind == "email"}
        for path, v in recipient_values(call):
            resources.extend(Resource(path, r, "email") for r in _split_recipients(v) if r not in listed)

    targets: dict[str, list[Target]] = {}
    seen: set[tuple[str, str]] = set()
    nl_sql = st.nl_sql
    for a, ak, src in st.content_args:
        if a not in args:
            continue
        line = joined_command(call, a) if ak == "shell" else None
        if line is not None:  # an argv list is one command
            targets.setdefault(ak, []).append(Target(a, line, src))
            seen.update((p, ak) for p, _ in values_under(call, a))
            seen.add((a, ak))
            continue
        for path, v in values_under(call, a):
            if ak in ("file", "http") and v[:5].lower() == "s3://":
                continue
            if ak == "sql" and src == "name" and nl_sql and not _looks_sql(v):
                continue  # ask_database(query="how many users signed up?"): a question, not SQL
            targets.setdefault(ak, []).append(Target(path, v, src))
            seen.add((path, ak))
    text_tool = st.text_tool
    # summarize(text=...), classify_sentiment(text=...): a tool that reads text and returns text
    # (generic, a read by its name, not a dispatcher) runs nothing and shows nothing to a person
    # who could paste it, so a command quoted in its natural-language argument is data.
    reads_text = (
        st.kind == "generic"
        and not st.opaque
        and (
            (st.operation == "read" and st.operation_source == "name")
            or (st.operation is None and bool(set(tokens(call.tool_name)) & _TEXT_READER_WORDS))
        )
    )
    # A mail or a ticket quotes SQL; a question to a text-to-SQL tool that *is* SQL is still sniffed.
    no_sql_sniff = text_tool
    opaque = st.opaque
    docs = call.walk().documents
    for path, v in call.string_arguments():
        if not v:
            continue
        if v[:5].lower() == "s3://":
            # An s3:// URL anywhere in the arguments names an object: a resource, wherever it sits.
            if not any(r.kind == "s3" and r.value == v[5:] for r in resources):
                resources.append(Resource(path, v[5:], "s3"))
            continue
        if (path, "code") in seen:
            continue  # a code tool's program is the code analyzer's alone (see _sniff)
        in_doc = bool(docs) and path not in docs and _inside_document(path, docs)
        for ak in _sniff(v):
            if in_doc and ak == "file":
                continue  # '{"path": "/pricing"}' in a message is data about a page, not a file access
            if (
                (path, ak) in seen
                or ((text_tool or _leaf_name(path) in NL_ARGS) and ak == "shell" and _prose(v))
                or (reads_text and ak == "shell" and _leaf_name(path) in NL_ARGS)
                or (no_sql_sniff and ak == "sql" and not _SQL_FRAGMENT_RE.search(v[:512]))
            ):
                continue  # a mail or a ticket that mentions a command in a sentence is text: nobody runs it
            # do_it(what="curl ..."): an opaque dispatcher's command-looking value is the command it runs
            src = "name" if opaque and ak == "shell" and "." not in path and "[" not in path else "sniff"
            targets.setdefault(ak, []).append(Target(path, v, src))
    if not text_tool:
        for path, v in call.string_arguments():
            if v[:3].isupper() and (url := raw_http_url(v)) is not None:
                # raw_http(request="GET / HTTP/1.1\r\nHost: 127.0.0.1:2379"): it connects to the Host
                targets.setdefault("http", []).append(Target(path, url, "name" if st.kind == "http" else "sniff"))
        if RENDERER_WORDS.intersection(tokens(call.tool_name)):
            # render_pdf(html='<iframe src="http://169.254.169.254/...">'): the renderer fetches it
            for path, v in call.string_arguments():
                for url in subresource_urls(v):
                    targets.setdefault("http", []).append(Target(path, url, "sniff"))
        if (source := reflective_call(args)) is not None:
            targets.setdefault("code", []).append(Target("function", source, "name"))
        for path, line in nested_commands(call):
            if (path, "shell") not in seen:
                targets.setdefault("shell", []).append(Target(path, line, "name" if opaque else "sniff"))
                seen.add((path, "shell"))
        for path, argv in call.walk().argvs:
            if len(argv) > 1 and (path, "shell") not in seen and _SHELL_START.match(argv[0] + " "):
                targets.setdefault("shell", []).append(Target(path, shlex.join(argv), "sniff"))

    if st.infra:
        cli = _infra_command(st.infra, args)
        if cli is not None:
            targets.setdefault("shell", []).append(Target(cli[0], cli[1], "name"))

    op, op_source = st.operation, st.operation_source
    if op_source == "http":
        op = _http_operation(args, st, op)
        op_source = "content" if op is not None else "none"
    if st.kind == "sql" and op is None:
        ops = [o for t in targets.get("sql", ()) if (o := sql_operation(t.value))]
        if ops:
            op, op_source = _strongest(ops), "content"
    if st.kind == "generic" and (carried := _carried_operation(call)) is not None:
        op, op_source = carried, "content"  # a dispatcher does what the call it carries does
    if op is None or op_source == "none":
        for a in _OPERATION_ARGS:
            word: Any = args.get(a)
            if isinstance(word, str) and word:
                if st.kind == "http" and a in _METHOD_ARGS:
                    break  # an HTTP method was read above; an unknown one says nothing
                c = _verb_word(word)
                if c is not None:
                    op, op_source = c, "content"
                break
    if op_source != "spec" or st.kind in ("deploy", "generic", "shell"):
        cli_op, cli_res = _cli_facts(tokens(call.tool_name), args)
        if cli_op is not None and st.operation_source != "spec":
            op, op_source = cli_op, "content"
        if cli_res:
            resources = [*resources, *cli_res]
    oversize: list[tuple[str, Target]] = []
    for k, ts in targets.items():
        limit = MAX_TARGET_CHARS.get(k)
        if limit is not None and any(len(t.value) > limit for t in ts):
            oversize.extend((k, t) for t in ts if len(t.value) > limit)
            targets[k] = [t for t in ts if len(t.value) <= limit]
    return _new_classification(
        st.kind,
        op,
        op_source if op else "none",
        tuple(resources),
        {k: tuple(v) for k, v in targets.items() if v} if targets else _NO_TARGETS,
        st.side_effect,
        st.payload,
        tuple(oversize),
    )


_NO_TARGETS: Mapping[str, tuple[Target, ...]] = MappingProxyType({})


# Tools named after a command-line client (kubectl(args="get pods -n prod")): the argument
# string is that client's command line, so its subcommand is the effect.
_CLI_TOOLS = frozenset(
    {"kubectl", "helm", "oc", "aws", "gcloud", "az", "gsutil", "docker", "git", "gh", "terraform", "systemctl"}
)
_CLI_ARGS = ("args", "command", "cmd", "arguments", "argv", "subcommand", "command_line")


def _cli_facts(tool_tokens: tuple[str, ...], args: Mapping[str, Any]) -> tuple[str | None, list[Resource]]:
    """(operation, namespace resources) of a CLI-named tool's command line, or (None, [])."""
    if not tool_tokens or tool_tokens[0] not in _CLI_TOOLS:
        return None, []
    for a in _CLI_ARGS:
        v = args.get(a)
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            argv = list(v)
        elif isinstance(v, str) and 0 < len(v) <= 4096:
            import shlex

            try:
                argv = shlex.split(v)
            except ValueError:
                return None, []
        else:
            continue
        from .shell._rules import _split_opts, command_effect, command_namespaces

        base = tool_tokens[0]
        opts, ops = _split_opts(argv)
        op = command_effect(base, argv, opts, ops)
        return op, [Resource(a, ns, "namespace") for ns in command_namespaces(base, argv)]
    return None, []


def _verb_word(word: str) -> str | None:
    """An operation argument's word: an operation, a synonym, or a CLI subcommand (``cp``, ``rm``, ``ls``)."""
    c = canonical(word)
    if c in BUILTIN_OPERATIONS or c in declared_operations():
        return c
    from .shell._rules import _SUBCOMMAND_OP

    return _SUBCOMMAND_OP.get(word.strip().lower())


def _http_operation(args: Mapping[str, Any], st: _Static, name_op: str | None) -> str | None:
    """An HTTP tool's operation: its method argument, else its name, else GET; a write to a
    messaging endpoint is a send."""
    op = name_op
    for a in _METHOD_ARGS:
        m = args.get(a)
        if isinstance(m, str) and m.strip():
            op = _HTTP_METHOD_OP.get(m.strip().lower())
            if op is None:
                return None  # CONNECT, PROPFIND, a typo: nothing says what it does
            break
    else:
        if op == "read" and any(args.get(b) not in (None, "", {}, []) for b in _BODY_ARGS):
            op = "write"
    if op == "write":
        for a, rk in st.resource_args:
            if rk == "url":
                for v in _leaf_values(args.get(a)):
                    if messaging_endpoint(v):
                        return "send"
    return op


_OP_STRENGTH = ("configure", "execute", "delete", "write", "read")


def _strongest(ops: list[str]) -> str:
    for o in _OP_STRENGTH:
        if o in ops:
            return o
    return ops[0]
