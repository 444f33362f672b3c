"""Security controls switched off, things made public, agents told to stop asking.

Settings are read by meaning, not spelling: a key is split into words
(`key_words`) and matched against the control it names (MFA, TLS verification,
audit logging, a firewall, a sandbox, branch protection, encryption, a public-access
block, deletion protection). The value decides the direction: a control key
(``enable_mfa``, ``ssl_verify``, ``enforce_admins``) set to a false value
(``False``, ``0``, ``"off"``, ``"disabled"``, ``None``) switches it off, and so does
a negated key (``disable_mfa``, ``insecure_skip_verify``, ``GIT_SSL_NO_VERIFY``)
set to a true one. ``{"name": "mfa.enabled", "value": false}`` pairs are read as
the setting they spell. A generic key (``enabled``, ``status``) takes its control
from the enclosing key (``{"firewall": {"enabled": false}}``).

>>> [h[0] for h in setting_findings("ssl_verify", False, ())]
['config.disable_control']
>>> setting_findings("verify_email", False, ())
[]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agentgate._decision import Effect, Severity

from ._doc import falsy, key_words, truthy
from ._iam import RawHit

__all__ = ["agent_findings", "control_of", "public_findings", "setting_findings"]

_NEGATIONS = frozenset(
    {"disable", "disabled", "skip", "no", "insecure", "bypass", "dangerously", "without", "unsafe", "off", "ignore"}
)
_GENERIC = frozenset(
    {
        ("enabled",),
        ("enable",),
        ("status",),
        ("state",),
        ("value",),
        ("mode",),
        ("required",),
        ("on",),
        ("active",),
        ("enforced",),
        ("enforce",),
        ("is", "enabled"),
        ("is", "enforced"),
    }
)
_TLS_WORDS = frozenset({"ssl", "tls", "https", "cert", "certs", "certificate", "certificates", "hostname", "sslmode"})
_TLS_CHECKS = frozenset({"verify", "verification", "check", "validate", "validation", "strict", "reject", "mode"})


def control_of(words: tuple[str, ...]) -> str | None:
    """The security control a key names, or None."""
    s = set(words)
    if (
        s & {"mfa", "2fa", "2sv", "totp", "otp", "twofactor", "multifactor", "webauthn", "fido2"}
        or {"two", "factor"} <= s
        or {"multi", "factor"} <= s
        or {"two", "step"} <= s
        # Okta's requireFactor / factorMode, "second factor required"
        or ("factor" in s and bool(s & {"require", "required", "requires", "enforce", "enforced", "mode", "second"}))
    ):
        return "MFA"
    if {"conditional", "access"} <= s:
        return "conditional access"
    if {"security", "defaults"} <= s:
        return "security defaults"
    if words in (("verify",), ("insecure",), ("ssl",), ("tls",), ("use", "ssl"), ("use", "tls"), ("sslmode",)):
        return "TLS verification"
    if s & _TLS_WORDS and (s & _TLS_CHECKS or s & _NEGATIONS or {"reject", "unauthorized"} <= s or "required" in s):
        return "TLS verification"
    if s >= {"insecure", "skip", "verify"} or {"no", "verify"} <= s:
        return "TLS verification"
    if s & {"audit", "auditing", "cloudtrail", "guardduty", "securityhub"} or {"log", "file", "validation"} <= s:
        return "audit logging"
    if words in (("logging",), ("enable", "logging"), ("logging", "enabled"), ("is", "logging"), ("flow", "logs")):
        return "audit logging"
    if s & {"firewall", "waf", "ufw", "iptables", "nftables", "firewalld"}:
        return "the firewall"
    if s & {"guardduty", "detector", "threat", "defender", "securityhub", "inspector", "macie", "falco", "edr"}:
        return "threat detection"
    if s & {"sandbox", "sandboxed", "sandboxing", "seccomp", "apparmor", "selinux"}:
        return "the sandbox"
    if {"branch", "protection"} <= s or {"enforce", "admins"} <= s or ("required" in s and s & {"reviews", "review"}):
        return "branch protection"
    if {"required", "status", "checks"} <= s or {"required", "signatures"} <= s or {"code", "owner", "reviews"} <= s:
        return "branch protection"
    if s & {"encryption", "encrypted", "encrypt"}:
        return "encryption"
    if {"secret", "scanning"} <= s or {"push", "protection"} <= s:
        return "secret scanning"
    if {"pod", "security"} <= s:
        return "pod security admission"
    if {"deletion", "protection"} <= s or {"termination", "protection"} <= s:
        return "deletion protection"
    return None


def _public_block(words: tuple[str, ...]) -> bool:
    s = set(words)
    return (
        "public" in s and bool(s & {"acls", "acl", "policy", "buckets"}) and bool(s & {"block", "ignore", "restrict"})
    )


_WEAK_VALUES = frozenset(
    {"optional", "permissive", "disable", "allow", "prefer", "never", "none", "insecure", "privileged", "1fa"}
)


def setting_findings(key: str, value: Any, parents: tuple[str, ...], tool: str | None = None) -> list[RawHit]:
    """A control switched off by ``key: value`` (*parents*: enclosing keys, nearest first;
    *tool*: the control the tool's own name names, for its generic ``enable``/``status`` keys)."""
    words = key_words(key)
    if _public_block(words):
        if falsy(value):
            return [
                (
                    "config.public_access",
                    Severity.HIGH,
                    Effect.BLOCK,
                    f"{key} = {value!r} lifts the public-access block: buckets can be made public",
                    f"{key}={value!r}"[:120],
                )
            ]
        return []
    control = control_of(words)
    if control is None and words in _GENERIC:
        for p in parents:
            control = control_of(key_words(p))
            if control is not None:
                break
        else:
            control = tool
    if control is None:
        return []
    negated = bool(set(words) & _NEGATIONS)
    text = value.strip().lower() if isinstance(value, str) else None
    off = truthy(value) if negated else falsy(value) or (text is not None and text in _WEAK_VALUES)
    if isinstance(value, (dict, list)) and not negated:
        off = not value  # "required_pull_request_reviews": {} / [] removes the requirement
    if not off:
        return []
    return [
        (
            "config.disable_control",
            Severity.HIGH,
            Effect.BLOCK,
            f"{key} = {value!r} switches off {control}",
            f"{key}={value!r}"[:120],
        )
    ]


_PUBLIC_ACLS = frozenset({"publicread", "publicreadwrite", "authenticatedread", "allusers", "allauthenticatedusers"})
_PUBLIC_MEMBERS = frozenset({"allusers", "allauthenticatedusers"})
_ALNUM = re.compile(r"[^a-z0-9]+")


def public_findings(key: str, value: Any, *, generic: bool = True) -> list[RawHit]:
    """Buckets, objects, repositories or databases made readable by anyone.

    With *generic* False (a tool that is not a configuration tool) a bare
    ``public``/``private``/``visibility`` key is not read: only keys that can only
    mean access (ACLs, members, ``publicly_accessible``) count."""
    words = key_words(key)
    s = set(words)
    if s & {"denied", "deny", "denies"}:
        return []
    out: list[RawHit] = []

    def hit(why: str) -> None:
        out.append(("config.public_access", Severity.HIGH, Effect.BLOCK, why, f"{key}={value!r}"[:120]))

    strings = (
        [value]
        if isinstance(value, str)
        else [x for x in value if isinstance(x, str)]
        if isinstance(value, list)
        else []
    )
    norm = [_ALNUM.sub("", x.lower()) for x in strings]
    if s & {"acl", "acls"} and any(n in _PUBLIC_ACLS for n in norm):
        hit(f"{key} = {value!r} makes the resource readable by anyone")
    elif s & {"member", "members", "entity", "principal", "principals", "grantee"} and any(
        n in _PUBLIC_MEMBERS for n in norm
    ):
        hit(f"{key} grants {value!r}: everyone on the internet")
    elif any("acs.amazonaws.com/groups/global/allusers" in x.lower() for x in strings) or any(
        "acs.amazonaws.com/groups/global/authenticatedusers" in x.lower() for x in strings
    ):
        hit(f"{key} grants to the AllUsers/AuthenticatedUsers group: everyone")
    elif not generic:
        if words == ("publicly", "accessible") and truthy(value):
            hit(f"{key} = {value!r} makes the resource reachable from the internet")
    elif "visibility" in s and any(n in ("public", "internal") for n in norm):
        hit(f"{key} = {value!r} publishes the repository or resource")
    elif (words in (("private",), ("is", "private")) and falsy(value) and value is not None) or (
        words in (("public",), ("is", "public"), ("publicly", "accessible"), ("public", "access", "enabled"))
        and truthy(value)
    ):
        hit(f"{key} = {value!r} makes the resource public")
    elif {"allow", "public", "access"} <= s and truthy(value):
        hit(f"{key} = {value!r} allows public access")
    elif words == ("public", "access") and any(n in ("blob", "container") for n in norm):
        hit(f"{key} = {value!r} makes the storage container public")
    return out


_APPROVE_WORDS = (
    {"auto", "approve"},
    {"autoapprove"},
    {"auto", "approval"},
    {"always", "allow"},
    {"always", "approve"},
    {"auto", "accept"},
    {"auto", "confirm"},
    {"auto", "run"},
    {"auto", "execute"},
    {"yolo"},
)
_MODE_WORDS = (
    {"permission", "mode"},
    {"default", "mode"},
    {"approval", "policy"},
    {"approval", "mode"},
    {"sandbox", "mode"},
    {"ask", "for", "approval"},
    {"mode"},
)
_YOLO_VALUES = frozenset(
    {
        "bypasspermissions",
        "never",
        "fullauto",
        "yolo",
        "dangerfullaccess",
        "acceptall",
        "dontask",
        "noconfirm",
        "autoall",
    }
)
_CONFIRM_WORDS = (
    {"require", "approval"},
    {"requires", "approval"},
    {"require", "confirmation"},
    {"confirm"},
    {"confirmation"},
    {"human", "approval"},
    {"ask", "before"},
    {"prompt", "before"},
)
_ALL_OF = frozenset({"mcp", "servers", "server", "tools", "commands", "plugins", "extensions", "hooks"})
_SHELL_TOOLS = frozenset({"bash", "shell", "runshellcommand", "terminal", "execute", "exec", "run", "command"})
_SKIP_FLAG = re.compile(r"dangerously[-_ ]?skip[-_ ]?permissions|--yolo\b|bypasspermissions", re.IGNORECASE)


def _grants_all(value: Any) -> bool:
    if truthy(value):
        return True
    items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    for x in items:
        if not isinstance(x, str):
            continue
        t = x.strip()
        low = _ALNUM.sub("", t.lower())
        if t in ("*", "**") or t.endswith(("(*)", "(**)", ":*")) or low in _SHELL_TOOLS:
            return True
    return False


# Keys of a list that bounds what auto-approval covers (commandAllowlist, allowedCommands).
_BOUND_WORDS = frozenset({"allowlist", "whitelist", "allowed", "allow", "safelist"})
# Programs that run whatever they are given: an allowlist naming one bounds nothing.
_RUNS_ANY = frozenset(
    {"bash", "sh", "zsh", "fish", "dash", "pwsh", "powershell", "cmd", "eval", "exec", "sudo", "env", "xargs",
     "python", "python3", "node", "deno", "bun", "perl", "ruby", "php", "npx", "curl", "wget", "ssh"}
)  # fmt: skip


def _bounded_by(siblings: Mapping[str, Any] | None) -> bool:
    """A sibling list names the only commands auto-approval covers, each one specific and harmless by name."""
    if not siblings:
        return False
    for k, v in siblings.items():
        if not (set(key_words(k)) & _BOUND_WORDS) or not isinstance(v, list) or not v:
            continue
        if all(
            isinstance(x, str)
            and x.strip()
            and not _grants_all([x])
            and not any(c in x for c in "*?;|&`$><")
            and x.split()[0].lower() not in _RUNS_ANY
            for x in v
        ):
            return True
    return False


def agent_findings(
    key: str, value: Any, parents: tuple[str, ...] = (), siblings: Mapping[str, Any] | None = None
) -> list[RawHit]:
    """An agent told to run tools without asking (auto-approval, "YOLO mode"); *parents*:
    enclosing keys, so ``autoApprovalSettings.actions.executeCommands: true`` counts.
    *siblings*: the enclosing mapping; ``autoRun: true`` beside ``commandAllowlist: ["npm
    test"]`` approves those named commands only, not everything."""
    words = key_words(key)
    s = set(words)
    why: str | None = None
    under_auto = any(any(w <= set(key_words(p)) for w in _APPROVE_WORDS) for p in parents)
    if under_auto and s & {"execute", "commands", "command", "shell", "terminal", "bash", "all"} and truthy(value):
        why = f"{key} = {value!r} under auto-approval: the agent runs commands without asking"
    elif any(w <= s for w in _APPROVE_WORDS) and _grants_all(value):
        if not (value is True and _bounded_by(siblings)):
            why = f"{key} = {value!r} auto-approves the agent's actions"
    elif {"allowed", "tools"} <= s or words == ("allow",) or {"allowed", "commands"} <= s:
        if _grants_all(value) and not truthy(value):
            why = f"{key} = {value!r} lets the agent run any tool or shell command without asking"
    elif any(w <= s for w in _MODE_WORDS) and isinstance(value, str) and _ALNUM.sub("", value.lower()) in _YOLO_VALUES:
        why = f"{key} = {value!r} switches off the agent's permission prompts"
    elif any(w <= s for w in _CONFIRM_WORDS) and falsy(value) and value is not None:
        why = f"{key} = {value!r} stops the agent from asking before it acts"
    elif (
        "all" in s
        and s & _ALL_OF
        and s & {"enable", "enabled", "trust", "trusted", "approve", "allow", "accept"}
        and truthy(value)
    ):
        why = f"{key} = {value!r} trusts every server or tool a project declares, without asking"
    elif _SKIP_FLAG.search(key) and (truthy(value) or value is None):
        why = f"{key} turns off the agent's permission checks"
    elif isinstance(value, str) and _SKIP_FLAG.search(value) and len(value) < 4096:
        why = f"{key} passes {_SKIP_FLAG.search(value).group(0)!r}: the agent stops asking"  # type: ignore[union-attr]
    elif isinstance(value, list) and any(isinstance(x, str) and _SKIP_FLAG.search(x) for x in value):
        why = f"{key} passes a permission-bypass flag: the agent stops asking"
    if why is None:
        return []
    return [("config.agent_autoapprove", Severity.HIGH, Effect.BLOCK, why, f"{key}={value!r}"[:120])]
