"""Config analyzer: security-relevant configuration changes, read as documents.

A ``config`` tool (``update_config``, ``set_flag``, ``modify_security_group``,
``put_bucket_policy``, ``update_iam_policy``, ``update_branch_protection``, agent
settings ...) carries its change as arguments: nested dicts and lists, or JSON and
YAML documents inside strings. All of it is loaded into one tree (documents
parsed, see `_doc`) and every mapping in it is read by meaning: keys are compared
by their words, so ``FromPort``/``from_port``/``from-port`` agree. Other tools are
read the same way when an argument is a mapping or a JSON document (an IAM policy
handed to a generic API tool, agent settings written to a file), but only by the
rules that need a recognisable structure (everything except ``disable_control``,
which also applies to a modifying tool's structured arguments: ``update_cluster(logging={...})``).
Documents may be JSON, YAML (CloudFormation tags read as plain values), TOML or HCL.

========================  ==================  =================================================
rule                      effect              what
========================  ==================  =================================================
config.iam_wildcard       BLOCK (critical)    an Allow statement with ``Action: "*"`` (or any
                                              wildcard service), ``NotAction``, ``service:*``
                                              on every resource, or ``iam:*``/``sts:*``; a
                                              Kubernetes RBAC rule with ``verbs: ["*"]`` on
                                              ``resources: ["*"]``
config.iam_escalation     BLOCK (high)        an Allow of a privilege-escalation action
                                              (``iam:PassRole``, ``iam:CreateAccessKey``,
                                              ``iam:Put*Policy`` ...) on every resource
config.iam_admin          BLOCK (critical)    attaching or assigning an administrator policy
                                              or role (``AdministratorAccess``, ``roles/owner``,
                                              ``Owner``, ``cluster-admin``); detaching is not
config.public_principal   BLOCK / ESCALATE    an Allow to ``Principal: "*"`` or a
                                              ``NotPrincipal`` (BLOCK); under a ``Condition``
                                              ESCALATE: the judge checks the condition binds
config.open_ingress       BLOCK (high)        an inbound rule open to the internet (public
                                              sources adding up to a /8 or more: ``0.0.0.0/0``,
                                              ``::/0``, ``/1`` splits) on every port or a
                                              port range holding an admin or database port
config.public_access      BLOCK (high)        public ACLs (``public-read``), ``allUsers``
                                              members, AllUsers grantees, public visibility,
                                              a lifted public-access block
config.disable_control    BLOCK (high)        MFA, TLS verification, audit logging or
                                              CloudTrail, a firewall, a sandbox, threat
                                              detection, branch protection, secret scanning,
                                              pod security admission, encryption, deletion
                                              protection switched off, by a setting or by the
                                              tool's own verb (``stop_logging``, ``disable_mfa``)
config.agent_autoapprove  BLOCK (high)        an agent told not to ask: auto-approve all,
                                              ``bypassPermissions``, ``--dangerously-skip-
                                              permissions``, ``--yolo``, ``allow: ["*"]``
config.agent_command      BLOCK / ESCALATE    an MCP server or hook registered with a
                                              command: the command line goes to the shell
                                              analyzer (its BLOCK blocks); a shell or an
                                              interpreter running inline code escalates
config.credential_mint    ESCALATE (high)     a key, token or password created for an
                                              identity: a REST ``POST`` to a credential
                                              path (``serviceAccounts/x/keys``,
                                              ``addPassword``, ``personal_access_tokens``)
                                              or a tool named for it (``create_access_key``)
config.weak_auth          ESCALATE (high)     a session lifetime above 30 days or unlimited,
                                              a password minimum below 8, lockout off
config.unreadable         ESCALATE (medium)   a config tool's document that does not parse,
                                              or arguments past the size/depth limits
========================  ==================  =================================================

A REST call (a ``method`` and a ``path``/``url`` argument) is also read by effect
(`_rest`): ``DELETE`` of a control's path (branch protection, rulesets, protected branches,
audit-log streams, conditional-access policies) is ``config.disable_control``, and its body
is read as that control's settings.

A ``Deny`` statement, an egress rule or a deny action grants nothing. The
findings are the same in every scope: a scope that allows ``configure`` still
needs the judge to allow switching a control off.

>>> from agentgate._call import ToolCall
>>> from agentgate.analyzers.base import make_context
>>> call = ToolCall("update_iam_policy", {"document": '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'})
>>> [(f.rule_id, f.effect.value) for f in analyze_config(call, make_context(call))]
[('config.iam_wildcard', 'block')]
>>> call = ToolCall("authorize_security_group_ingress", {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"})
>>> analyze_config(call, make_context(call))
[]
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from agentgate._call import ToolCall
from agentgate._decision import Effect, Finding, Severity
from agentgate.analyzers.base import Context, make_context
from agentgate.analyzers.classify import tokens

from ._authn import authn_findings, authn_key, enrollment_findings, frequency_findings
from ._controls import _GENERIC as _GENERIC_KEYS
from ._controls import agent_findings, control_of, public_findings, setting_findings
from ._doc import key_words, load, nodes
from ._iam import RawHit, admin_role_findings, rbac_findings, statement_findings
from ._network import ingress_findings
from ._rest import body_findings, path_control, rest_findings

__all__ = ["analyze_config"]

# Verbs that switch a control off when the tool is named for the control (stop_logging, disable_mfa).
_OFF_VERBS = frozenset(
    {"disable", "stop", "delete", "remove", "deactivate", "suspend", "unset", "turn", "bypass", "unprotect", "pause"}
)
# Tools that assign roles: a plain role name ("Owner") there is an access grant.
_ROLE_TOOL_WORDS = frozenset(
    {
        "role",
        "roles",
        "assignment",
        "assignments",
        "binding",
        "bindings",
        "rbac",
        "iam",
        "member",
        "membership",
        "grant",
    }
)
_MODIFY_VERBS = frozenset(
    {"update", "patch", "modify", "set", "put", "configure", "change", "edit", "enable", "disable", "label", "apply"}
)
# Tools about a shareable resource: a bare public/private/visibility key there is its access.
_SHARED_TOOL_WORDS = frozenset({"repo", "repos", "repository", "repositories", "bucket", "buckets", "share", "sharing"})
_FILLER = frozenset({"settings", "setting", "config", "configuration", "for", "of", "the", "all", "device"})
# Removing one rule or entry of a control may tighten it as well as loosen it: not a switch-off.
_PARTS = frozenset(
    {"rule", "rules", "entry", "entries", "item", "items", "record", "records", "exception", "exemption"}
)
_REMOVE_VERBS = frozenset({"detach", "remove", "delete", "revoke", "deny", "get", "list", "describe", "read", "show"})
_EGRESS_WORDS = frozenset({"egress", "outbound"})
_NAME_KEYS = frozenset({("key",), ("name",), ("setting",), ("flag",), ("parameter",), ("option",), ("config", "key")})
_VALUE_KEYS = frozenset({("value",), ("new", "value"), ("enabled",), ("state",), ("setting", "value")})
_COMMAND_CONTAINERS = frozenset({"mcp", "servers", "mcpservers", "hooks", "hook", "server", "plugins", "extensions"})
_INLINE = frozenset({"-c", "-e", "--eval", "-command", "/c", "-encodedcommand", "--command"})
_SHELLS = frozenset(
    {
        "sh",
        "bash",
        "zsh",
        "dash",
        "ksh",
        "fish",
        "cmd",
        "cmd.exe",
        "powershell",
        "pwsh",
        "python",
        "python3",
        "node",
        "perl",
        "ruby",
        "php",
        "deno",
        "bun",
        "osascript",
    }
)


_DOC_MARKERS = re.compile(
    r"(?i)statement|ippermissions|ingress|cidr|principal|mcpservers|mcp_servers|hooks|acl|publicaccess|permissions|"
    r"autoapprove|publicly|approval|sandbox|yolo|verbs|clusterrole"
)


def _structured(call: ToolCall, ctx: Context | None = None) -> bool:
    """Does a non-config call carry a mapping, a document or a key worth reading?"""
    for i, (k, v) in enumerate(call.arguments.items()):
        if ctx is not None and i & 255 == 255:
            ctx.check_budget()  # 20,000 argument names cost ~300 ms to read
        if isinstance(v, (Mapping, list, tuple)) or _worth_reading(k):
            return True
        if (
            isinstance(v, str)
            and len(v) > 2
            and (v.lstrip()[:1] in ("{", "[") or ("\n" in v and len(v) < 65536 and _DOC_MARKERS.search(v)))
        ):
            return True
    return False


@functools.lru_cache(maxsize=4096)
def _tool_facts(tool_name: str) -> tuple[tuple[str, ...], frozenset[str], RawHit | None, str | None]:
    """(name words, their set, the disable-control hit of the name itself, the control the name
    names): what the tool's name alone says, worked out once per tool."""
    name = tokens(tool_name)
    verbs = frozenset(name)
    off: RawHit | None = None
    if verbs & _OFF_VERBS:
        rest = tuple(w for w in name if w not in _OFF_VERBS and w not in _FILLER)
        control = control_of(rest) if len(rest) <= 3 and not set(rest) & _PARTS else None
        if control is not None:
            off = (
                "config.disable_control",
                Severity.HIGH,
                Effect.BLOCK,
                f"{tool_name} switches off {control}",
                tool_name,
            )
    if off is None and verbs & _MINT_VERBS and any(c <= verbs for c in _CREDENTIAL_NOUNS):
        off = (
            "config.credential_mint",
            Severity.HIGH,
            Effect.ESCALATE,
            f"{tool_name} creates a long-lived credential for an identity: whoever holds it acts as that identity "
            "outside any session",
            tool_name,
        )
    return name, verbs, off, control_of(tuple(w for w in name if w not in _FILLER))


# create_access_key, create_service_account_key, add_sp_password, generate_api_key ...: the tool's
# name says it makes a credential (the REST and CLI spellings are in _rest and the shell analyzer).
# Adding a public key (add_deploy_key, add_ssh_key) generates no secret: whose key it is is a
# provenance question, not this one.
_MINT_VERBS = frozenset({"create", "generate", "mint", "issue", "add", "reset", "regenerate", "new"})
_CREDENTIAL_NOUNS = (
    frozenset({"access", "key"}),
    frozenset({"access", "keys"}),
    frozenset({"service", "account", "key"}),
    frozenset({"sa", "key"}),
    frozenset({"api", "key"}),
    frozenset({"hmac", "key"}),
    frozenset({"deploy", "token"}),
    frozenset({"access", "token"}),
    frozenset({"personal", "token"}),
    frozenset({"client", "secret"}),
    frozenset({"login", "profile"}),
    frozenset({"sp", "credential"}),
    frozenset({"sp", "password"}),
    frozenset({"principal", "credential"}),
    frozenset({"principal", "password"}),
    frozenset({"app", "password"}),
    frozenset({"application", "password"}),
    frozenset({"service", "credential"}),
)


def analyze_config(call: ToolCall, ctx: Context) -> Sequence[Finding]:
    """Analyze a configuration change (see the module docstring for the rules)."""
    full = ctx.classification.kind == "config"
    name, verbs, off, tool_control = _tool_facts(call.tool_name)
    raw: list[tuple[RawHit, str]] = [] if off is None else [(off, "")]
    rest = _rest_call(call, name)
    writes_body = False  # a settings body sent to a REST path
    if rest is not None:
        method, where, arg = rest
        raw.extend((h, arg) for h in rest_findings(method, where))
        body_key = next((k for k in call.arguments if k.lower() in _BODY_ARGS), None)
        if body_key is not None:
            raw.extend((h, body_key) for h in body_findings(method, where, call.arguments[body_key]))
        # A body PUT/PATCHed (an update of settings), or POSTed to a control's own path, is
        # settings; other POSTs create records, whose fields are data.
        named = path_control(where)
        writes_body = method in ("PUT", "PATCH") or (method == "POST" and named is not None)
        tool_control = named or tool_control
    if not full and not _structured(call, ctx):
        return _findings(raw) if raw else []
    if any(p in ("items", "strings", "chars") for _, p in call.walk().problems):
        # Past the argument walk's limits the call escalates (args.limit); walking a 1M-key
        # document here would cost seconds for a decision that is already made.
        return _findings(raw)
    tree, problems = load(call.arguments, None if full or writes_body else _DOC_MARKERS)
    removing = bool(verbs & _REMOVE_VERBS)
    if full:
        for p in problems:
            raw.append(
                (
                    (
                        "config.unreadable",
                        Severity.MEDIUM,
                        Effect.ESCALATE,
                        f"{p}: the change is not applied unseen",
                        p,
                    ),
                    "",
                )
            )
    egress_tool = bool(verbs & _EGRESS_WORDS)
    for h in ingress_findings(tree, egress_tool=egress_tool):
        raw.append((h, ""))
    by_name = full or bool(verbs & _ROLE_TOOL_WORDS)
    generic = full or bool(verbs & _SHARED_TOOL_WORDS)
    # A tool that modifies something and carries structured settings is a configuration change.
    settings = (
        full
        or writes_body
        or (bool(verbs & _MODIFY_VERBS) and any(isinstance(v, Mapping) for v in call.arguments.values()))
    )
    for i, node in enumerate(nodes(tree)):
        if i & 63 == 63:
            ctx.check_budget()
        d = node.value
        parents = _parent_keys(node.path)
        if any(p.lower() == "condition" for p in parents):
            continue  # an IAM condition's keys ("aws:MultiFactorAuthPresent": "false") are tests, not settings
        if any(k.lower() in ("effect", "action", "notaction") for k in d) and _is_statement(d):
            raw.extend((h, node.path) for h in statement_findings(d))
        if "verbs" in d:
            raw.extend((h, node.path) for h in rbac_findings(d))
        _pair(d, parents, raw, node.path, full)
        for k, v in d.items():
            if isinstance(v, str) and len(v) > _MAX_VALUE:
                continue  # a blob, not a setting (documents were parsed into the tree)
            if settings and isinstance(v, (dict, list)) and k.lower().endswith(("factors", "authenticators")):
                raw.extend((h, f"{node.path}.{k}" if node.path else k) for h in enrollment_findings(k, v))
            checks = _key_checks(k)
            if isinstance(v, str) and _MARKERS.search(v):
                checks = _ALL_CHECKS  # a value that names a role, a public group or a bypass flag
            if not checks:
                continue
            path = f"{node.path}.{k}" if node.path else k
            if "admin" in checks and not removing:
                raw.extend((h, path) for h in admin_role_findings(k, v, by_name=by_name))
            if settings and "authn" in checks:
                raw.extend((h, path) for h in authn_findings(k, v, parents) or frequency_findings(k, v))
            if isinstance(v, dict) and v:
                continue
            if "public" in checks:
                raw.extend((h, path) for h in public_findings(k, v, generic=generic))
            if "agent" in checks:
                raw.extend((h, path) for h in agent_findings(k, v, parents, d))
            if settings and "setting" in checks:
                raw.extend((h, path) for h in setting_findings(k, v, parents, tool_control))
        cmd = _command_line(d, node.path, name)
        if cmd is not None:
            raw.extend((h, node.path) for h in _command_findings(cmd, ctx))
    return _findings(raw)


_MAX_VALUE = 4096
_ALL_CHECKS = frozenset({"admin", "public", "agent", "setting", "authn"})
_ADMIN_WORDS = frozenset({"role", "roles", "policy", "policies", "arn", "arns", "definition", "ref"})
_PUBLIC_WORDS = frozenset(
    {
        "acl",
        "acls",
        "member",
        "members",
        "entity",
        "principal",
        "principals",
        "grantee",
        "grantees",
        "grants",
        "visibility",
        "private",
        "public",
        "publicly",
        "uri",
        "id",
        "type",
    }
)
_AGENT_WORDS = frozenset(
    {
        "auto",
        "autoapprove",
        "always",
        "yolo",
        "allowed",
        "allow",
        "tools",
        "commands",
        "permission",
        "permissions",
        "mode",
        "approval",
        "policy",
        "sandbox",
        "ask",
        "confirm",
        "confirmation",
        "require",
        "requires",
        "human",
        "prompt",
        "dangerously",
        "skip",
        "all",
        "trust",
        "trusted",
        "mcp",
        "execute",
        "command",
        "shell",
        "terminal",
        "bash",
        "args",
        "flags",
        "arguments",
        "value",
        "launch",
    }
)
# Values that matter whatever their key: role and policy ARNs, public groups, bypass flags.
_MARKERS = re.compile(
    r"(?i)administratoraccess|poweruseraccess|iamfullaccess|organizationsfullaccess|roles/|allusers|"
    r"allauthenticatedusers|authenticatedusers|dangerously|yolo|bypasspermissions|public-read|cluster-admin"
)


# Words that make a key "public"-relevant only beside others (the id or type of a grantee): on
# their own (item_id, customer_id, doc_type) they do not make a plain call worth reading as config.
_WEAK_PUBLIC = frozenset({"id", "type", "uri"})


@functools.lru_cache(maxsize=4096)
def _worth_reading(key: str) -> bool:
    """Is a scalar argument named *key* a reason to read a non-config call as configuration?"""
    checks = _key_checks(key)
    if checks != {"public"}:
        return bool(checks)
    words = set(key_words(key))
    return bool(words & (_PUBLIC_WORDS - _WEAK_PUBLIC)) or {"access"} <= words


@functools.lru_cache(maxsize=4096)
def _key_checks(key: str) -> frozenset[str]:
    """Which per-setting rules can fire for *key* (most keys name nothing they look at)."""
    words = key_words(key)
    s = set(words)
    out = set()
    if s & _ADMIN_WORDS:
        out.add("admin")
    if s & _PUBLIC_WORDS or {"access"} <= s:
        out.add("public")
    if s & _AGENT_WORDS:
        out.add("agent")
    if control_of(words) is not None or words in _GENERIC_KEYS or ("public" in s):
        out.add("setting")
    if authn_key(words):
        out.add("authn")
    return frozenset(out)


# Argument names that carry a REST call's method and its path or URL.
_METHOD_ARGS = ("method", "http_method", "verb", "request_method", "httpmethod")
_PATH_ARGS = ("path", "url", "endpoint", "uri", "route", "api_path", "resource_path", "href", "resource")
_BODY_ARGS = ("body", "json", "data", "payload", "json_body", "request_body")
_NAME_METHODS = {"delete": "DELETE", "put": "PUT", "patch": "PATCH", "post": "POST", "get": "GET"}


def _rest_call(call: ToolCall, name: tuple[str, ...]) -> tuple[str, str, str] | None:
    """(method, path or URL, argument) of a call that is a REST request (``github_api(method,
    path)``, ``http_delete(url)``), or None."""
    args = call.arguments
    method = next(
        (v for k, v in args.items() if k.lower() in _METHOD_ARGS and isinstance(v, str) and 0 < len(v) < 16), None
    )
    api_tool = bool({"http", "api", "rest", "request", "graph"} & set(name))
    by_name = method is None
    if method is None:
        method = next((_NAME_METHODS[w] for w in name if w in _NAME_METHODS), None)
        if method is None:
            return None
    for k, v in args.items():
        if k.lower() in _PATH_ARGS and isinstance(v, str) and "/" in v and len(v) < 4096:
            # graph_patch(url="https://..."): a method in the name is a request when the target is
            # a web URL or the tool is an API tool; delete_file(path=...) is not a REST call.
            if by_name and not api_tool and not v.strip().lower().startswith(("https://", "http://")):
                return None
            return method.upper(), v, k
    return None


def _parent_keys(path: str) -> tuple[str, ...]:
    parts = [p.split("[", 1)[0] for p in path.split(".") if p]
    return tuple(p for p in reversed(parts) if p)


def _is_statement(d: dict[str, Any]) -> bool:
    words = {key_words(k) for k in d}
    return ("action",) in words or ("not", "action") in words


def _pair(d: dict[str, Any], parents: tuple[str, ...], raw: list[tuple[RawHit, str]], path: str, full: bool) -> None:
    """``{"name": "security.mfa.enabled", "value": false}``: read it as the setting it spells."""
    if not full:
        return
    name = next((v for k, v in d.items() if key_words(k) in _NAME_KEYS and isinstance(v, str)), None)
    if name is None or len(name) > 200:
        return
    for k, v in d.items():
        if key_words(k) in _VALUE_KEYS:
            segs = [s for s in name.replace("/", ".").split(".") if s]
            leaf = segs[-1] if segs else name
            raw.extend((h, path) for h in setting_findings(leaf, v, tuple(reversed(segs[:-1])) + parents))
            raw.extend((h, path) for h in agent_findings(leaf, v))
            raw.extend((h, path) for h in public_findings(leaf, v))


def _command_line(d: dict[str, Any], path: str, tool_words: tuple[str, ...]) -> str | None:
    """The command line of an MCP server or hook entry, or None when *d* is not one."""
    cmd = next((v for k, v in d.items() if key_words(k) == ("command",)), None)
    if not isinstance(cmd, str) or not cmd.strip():
        return None
    where = {w for p in _parent_keys(path) for w in key_words(p)} | set(tool_words)
    typed = any(key_words(k) == ("type",) and v == "command" for k, v in d.items())
    args = next((v for k, v in d.items() if key_words(k) == ("args",)), None)
    if not (where & _COMMAND_CONTAINERS or typed or isinstance(args, list)):
        return None
    if isinstance(args, list):
        return shlex.join([cmd, *(str(a) for a in args)])
    return cmd


def _command_findings(line: str, ctx: Context) -> list[RawHit]:
    """The shell analyzer's verdict on a registered command, plus: a shell or interpreter
    running inline code is code the agent will run on every start or tool call."""
    from agentgate.analyzers.shell import analyze_shell  # the shell analyzer imports the classifier

    call = ToolCall("run_shell", {"command": line})
    out: list[RawHit] = []
    for f in analyze_shell(call, make_context(call, policy=ctx.policy, settings=ctx.settings)):
        if f.effect is Effect.INFO:
            continue
        out.append(
            (
                "config.agent_command",
                f.severity,
                f.effect,
                f"the registered command {line[:60]!r}: {f.message}",
                line[:120],
            )
        )
    try:
        words = shlex.split(line)
    except ValueError:
        words = line.split()
    prog = words[0].rsplit("/", 1)[-1].lower() if words else ""
    if prog in _SHELLS and any(w.lower() in _INLINE for w in words[1:]):
        out.append(
            (
                "config.agent_command",
                Severity.HIGH,
                Effect.ESCALATE,
                f"registers {prog} running inline code ({line[:60]!r}); it runs with the agent's privileges",
                line[:120],
            )
        )
    return out


def _findings(raw: list[tuple[RawHit, str]]) -> list[Finding]:
    out: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for (rule, sev, eff, msg, evidence), arg in raw:
        key = (rule, evidence)
        if key in seen:
            continue
        seen.add(key)
        out.append(Finding(rule, sev, eff, msg, evidence, arg.split(".", 1)[0].split("[", 1)[0] or None))
    return out
