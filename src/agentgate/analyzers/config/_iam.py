"""Identity and access rules: policy statements, admin roles, grants to everyone.

An IAM statement is any mapping with an ``Effect`` and an ``Action``/``NotAction``
(AWS policies, bucket and key policies, trust policies, in JSON or YAML, at any
depth). Only ``Allow`` grants; a ``Deny`` statement never does. A missing
``Effect`` reads as ``Allow`` (the most severe reading). Action names compare
case-insensitively and with IAM's own wildcard semantics (``i?m:*`` is every
action of every service whose name fits, so any wildcard in the service part is
read as "every service").

>>> [f[0] for f in statement_findings({"Effect": "Allow", "Action": "*", "Resource": "*"})]
['config.iam_wildcard']
>>> statement_findings({"Effect": "Deny", "Action": "*", "Resource": "*"})
[]
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from agentgate._decision import Effect, Severity

from ._doc import key_words

__all__ = ["RawHit", "admin_role_findings", "rbac_findings", "statement_findings"]

RawHit = tuple[str, Severity, Effect, str, str]  # rule, severity, effect, message, evidence

# Actions that let a principal raise its own privileges (published IAM escalation paths):
# minting credentials, rewriting policies, passing or assuming roles, replacing code that
# runs under a role.
_ESCALATION_ACTIONS = (
    "iam:createaccesskey",
    "iam:createloginprofile",
    "iam:updateloginprofile",
    "iam:createpolicyversion",
    "iam:setdefaultpolicyversion",
    "iam:attachuserpolicy",
    "iam:attachgrouppolicy",
    "iam:attachrolepolicy",
    "iam:putuserpolicy",
    "iam:putgrouppolicy",
    "iam:putrolepolicy",
    "iam:addusertogroup",
    "iam:updateassumerolepolicy",
    "iam:passrole",
    "iam:createuser",
    "sts:assumerole",
    "lambda:updatefunctioncode",
    "kms:decrypt",
    "secretsmanager:getsecretvalue",
    "ssm:getparameter",
    "ssm:sendcommand",
)
_WILD = frozenset("*?")


def _strings(v: Any) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, list):
        return [x for x in v if isinstance(x, str)]
    return []


def _get(d: dict[str, Any], *words: str) -> tuple[bool, Any]:
    for k, v in d.items():
        if key_words(k) == words:
            return True, v
    return False, None


def _all_wild(s: str) -> bool:
    return bool(s) and set(s) <= _WILD


def _action_reach(action: str) -> str:
    """``all`` (every service), ``service`` (every action of one service), ``escalation``
    (an action pattern that covers a privilege-escalation action), or ``""``."""
    a = action.strip().lower()
    service, sep, name = a.partition(":")
    if not sep:
        return "all" if _all_wild(a) else ""
    if set(service) & _WILD:
        return "all"
    if _all_wild(name):
        return "service"
    if any(fnmatch.fnmatchcase(e, a) for e in _ESCALATION_ACTIONS):
        return "escalation"
    return ""


def _broad_resource(resource: str) -> bool:
    """``*``, or an ARN whose resource part is only a wildcard (every resource of a service)."""
    r = resource.strip()
    if _all_wild(r):
        return True
    parts = r.split(":", 5)
    return len(parts) == 6 and (_all_wild(parts[5]) or parts[5] == "")


def _public_principal(p: Any) -> bool:
    if isinstance(p, str):
        return _all_wild(p.strip())
    if isinstance(p, dict):
        return any(_all_wild(s.strip()) for k, v in p.items() if k.lower() in ("aws", "*") for s in _strings(v))
    return any(_public_principal(x) for x in p) if isinstance(p, list) else False


def statement_findings(st: dict[str, Any]) -> list[RawHit]:
    """Findings for one IAM statement (see the module docstring)."""
    has_effect, effect = _get(st, "effect")
    if has_effect and not (isinstance(effect, str) and effect.strip().lower() == "allow"):
        return []
    out: list[RawHit] = []
    _, action = _get(st, "action")
    has_not_action, not_action = _get(st, "not", "action")
    has_resource, resource = _get(st, "resource")
    has_not_resource, _ = _get(st, "not", "resource")
    resources = _strings(resource)
    has_principal, principal = _get(st, "principal")
    has_not_principal, _ = _get(st, "not", "principal")
    # A resource or trust policy (it names a principal) applies to the resource it is
    # attached to: no Resource there is not "every resource".
    implicit = not has_resource and (has_principal or has_not_principal)
    broad = has_not_resource or (not has_resource and not implicit) or any(_broad_resource(r) for r in resources)
    actions = _strings(action)
    reaches = {a: _action_reach(a) for a in actions}
    if any(r == "all" for r in reaches.values()):
        every = next(a for a, r in reaches.items() if r == "all")
        out.append(
            (
                "config.iam_wildcard",
                Severity.CRITICAL,
                Effect.BLOCK,
                f"the policy allows every action ({every!r}): full administrator access",
                every,
            )
        )
    elif has_not_action:
        out.append(
            (
                "config.iam_wildcard",
                Severity.CRITICAL,
                Effect.BLOCK,
                "the policy allows NotAction: every action except the few listed",
                str(not_action)[:120],
            )
        )
    else:
        svc = [a for a, r in reaches.items() if r == "service"]
        esc = [a for a, r in reaches.items() if r == "escalation"]
        if svc and broad:
            out.append(
                (
                    "config.iam_wildcard",
                    Severity.HIGH,
                    Effect.BLOCK,
                    f"the policy allows every action of a service ({svc[0]!r}) on every resource",
                    svc[0],
                )
            )
        elif svc and any(a.lower().startswith(("iam:", "sts:", "organizations:")) for a in svc):
            out.append(
                (
                    "config.iam_wildcard",
                    Severity.HIGH,
                    Effect.BLOCK,
                    f"the policy allows every identity action ({svc[0]!r}): it can grant itself anything",
                    svc[0],
                )
            )
        elif esc and broad:
            out.append(
                (
                    "config.iam_escalation",
                    Severity.HIGH,
                    Effect.BLOCK,
                    f"the policy allows {esc[0]!r} on every resource: a privilege-escalation path",
                    esc[0],
                )
            )
    if has_not_principal or (has_principal and _public_principal(principal)):
        has_cond, cond = _get(st, "condition")
        bounded = has_cond and isinstance(cond, dict) and bool(cond)
        out.append(
            (
                "config.public_principal",
                Severity.HIGH,
                Effect.ESCALATE if bounded else Effect.BLOCK,
                "the policy grants to every principal ('*')"
                + (" under a condition; check that it really restricts who" if bounded else ": anyone can use it"),
                str(principal)[:120],
            )
        )
    return out


_ADMIN_POLICY = re.compile(
    r"(?:^|[:/])(?:AdministratorAccess|PowerUserAccess|IAMFullAccess|AWSOrganizationsFullAccess)$", re.IGNORECASE
)
_ADMIN_ROLE_NAMES = frozenset(
    {
        "roles/owner",
        "roles/editor",
        "roles/iam.securityadmin",
        "roles/iam.serviceaccountadmin",
        "roles/iam.serviceaccounttokencreator",
        "roles/iam.serviceaccountkeyadmin",
        "roles/resourcemanager.projectiamadmin",
        "roles/resourcemanager.organizationadmin",
        "owner",
        "contributor",
        "user access administrator",
        "role based access control administrator",
        "global administrator",
        "privileged role administrator",
        "cluster-admin",
        "administratoraccess",
    }
)
_ROLE_KEY_WORDS = frozenset({"role", "roles", "policy", "policies", "arn", "arns", "definition", "ref"})


def admin_role_findings(key: str, value: Any, *, by_name: bool) -> list[RawHit]:
    """An all-powerful managed policy or role attached or assigned through *key*.

    Policy ARNs count anywhere; plain role names (``Owner``) only when *by_name*
    (a configuration tool: elsewhere "owner" is as likely a business role)."""
    words = set(key_words(key))
    out: list[RawHit] = []
    for s in _strings(value):
        low = s.strip().lower()
        if _ADMIN_POLICY.search(s.strip()) or (
            (by_name or "/" in low) and words & _ROLE_KEY_WORDS and low in _ADMIN_ROLE_NAMES
        ):
            out.append(
                (
                    "config.iam_admin",
                    Severity.CRITICAL,
                    Effect.BLOCK,
                    f"the call attaches the administrator role or policy {s.strip()!r}",
                    s.strip()[:120],
                )
            )
    return out


def rbac_findings(rule: dict[str, Any]) -> list[RawHit]:
    """A Kubernetes RBAC rule granting every verb on every resource, or escalation verbs on all."""
    has_verbs, verbs = _get(rule, "verbs")
    has_resources, resources = _get(rule, "resources")
    if not (has_verbs and has_resources):
        return []
    v = {x.strip().lower() for x in _strings(verbs)}
    r = {x.strip().lower() for x in _strings(resources)}
    if "*" in v and "*" in r:
        return [
            (
                "config.iam_wildcard",
                Severity.CRITICAL,
                Effect.BLOCK,
                "the RBAC rule grants every verb on every resource: cluster administrator",
                "verbs: *, resources: *",
            )
        ]
    if v & {"escalate", "bind", "impersonate", "*"} and (
        "*" in r or r & {"roles", "clusterroles", "users", "serviceaccounts"}
    ):
        return [
            (
                "config.iam_escalation",
                Severity.HIGH,
                Effect.BLOCK,
                f"the RBAC rule grants {sorted(v & {'escalate', 'bind', 'impersonate', '*'})} on {sorted(r)[:3]}: a privilege-escalation path",
                str(sorted(v))[:120],
            )
        ]
    return []
