"""Hand routed operands (see `_route`) to the SQL, HTTP and code analyzers, as if a tool of that kind carried them.

Each operand becomes a one-argument call of its kind with the shell call's tool name,
policy, agent and settings, so the owning analyzer applies all of its rules (scope,
DNS, dialect). Findings keep the owning analyzer's rule ids and name the shell argument.
Two HTTP rules are read for what a shell command is: loopback is dropped (the shell already
runs code on this host), internal networks escalate for HTTP clients and are dropped for
ssh/scp/nc (administration); see `_LOCAL` and `_INTERNAL`.
"""

from __future__ import annotations

from types import MappingProxyType

from agentgate._call import ToolCall, ToolSpec
from agentgate._decision import Effect, Finding, Severity
from agentgate.analyzers.base import Context, Resource, Target
from agentgate.analyzers.classify import Classification


def delegate(call: object, ctx: Context, argument: str, routed: tuple[tuple[str, str], ...]) -> list[Finding]:
    """Findings of the SQL and HTTP analyzers for the operands a shell command hands them."""
    from agentgate.analyzers.http import analyze_http  # imported here: those packages import the shell's siblings
    from agentgate.analyzers.sql import analyze_sql

    tool = call.tool_name if isinstance(call, ToolCall) else "shell"
    out: list[Finding] = []
    # A client that does not follow redirects sends the query to the host as data: the open-redirect
    # check (a metadata URL inside the query) is for clients that go where the answer points.
    urls = tuple(
        Target(argument, v if k == "url" else v.split("?", 1)[0].split("#", 1)[0], "name")
        for k, v in routed
        if k in ("url", "url-nofollow")
    )
    hosts = tuple(Resource(argument, v, "host") for k, v in routed if k == "host")
    for items, is_url in ((urls, True), (hosts, False)):
        if not items:
            continue
        cls = Classification(
            "http",
            "network",
            "name",
            () if is_url else hosts,
            MappingProxyType({"http": urls}) if is_url else _EMPTY,
        )
        sub = ToolCall(tool, {argument: items[0].value})
        for f in analyze_http(sub, Context(sub, ctx.agent, ctx.policy, cls, ctx.settings)):
            if f.rule_id in _LOCAL:
                continue
            if f.rule_id in _INTERNAL:
                if not is_url:
                    continue
                f = Finding(
                    f.rule_id,
                    Severity.HIGH,
                    Effect.ESCALATE,
                    f"{f.message} (escalated: a shell command fetching from an internal service)",
                    f.evidence,
                    f.argument,
                )
            out.append(f)
    for kind, value in routed:
        if kind == "config":
            out.extend(_config(ctx, argument, value))
            continue
        if kind.startswith("code:"):
            out.extend(_code(tool, ctx, argument, kind[5:], value))
            continue
        if not kind.startswith("sql:"):
            continue
        dialect = kind[4:] or None
        spec = ToolSpec(kind="sql", dialect=dialect)
        sub = ToolCall(tool, {argument: value}, spec=spec)
        cls = Classification("sql", None, "none", (), MappingProxyType({"sql": (Target(argument, value, "spec"),)}))
        out.extend(analyze_sql(sub, Context(sub, ctx.agent, ctx.policy, cls, ctx.settings)))
    return out


def _config(ctx: Context, argument: str, document: str) -> list[Finding]:
    """Settings a command line changes (`_settings`), as a configuration tool would carry them."""
    import json

    from agentgate.analyzers.config import analyze_config

    sub = ToolCall("update_config", {argument: json.loads(document)})
    cls = Classification("config", "configure", "name", (), _EMPTY)
    found = analyze_config(sub, Context(sub, ctx.agent, ctx.policy, cls, ctx.settings))
    return [Finding(f.rule_id, f.severity, f.effect, f.message, f.evidence, argument) for f in found]


def _code(tool: str, ctx: Context, argument: str, language: str, source: str) -> list[Finding]:
    """Inline interpreter code (``python -c``, ``node -e``, here-documents, staged files) to the code analyzer."""
    from agentgate.analyzers.code import analyze_code

    del tool
    sub = ToolCall("run_python" if language == "python" else "run_javascript", {argument: source})
    cls = Classification("code", "execute", "name", (), MappingProxyType({"code": (Target(argument, source, "name"),)}))
    return list(analyze_code(sub, Context(sub, ctx.agent, ctx.policy, cls, ctx.settings)))


# A shell already runs code on this host: reaching its loopback gives a network command nothing a
# local command could not (``curl localhost:3000`` is how agents test their dev servers).
_LOCAL = frozenset({"http.loopback", "http.unspecified"})
# Internal networks: an HTTP client fetching from one is the SSRF pivot shape (escalate); ssh, scp
# and nc to a LAN host is administration. Metadata, obfuscated addresses, rebinding and scope keep
# their effect for every command.
_INTERNAL = frozenset(
    {"http.private", "http.link_local", "http.reserved", "http.multicast", "http.dns_private", "http.internal_name"}
)
_EMPTY: MappingProxyType[str, tuple[Target, ...]] = MappingProxyType({})
