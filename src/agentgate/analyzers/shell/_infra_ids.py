"""Identities and secrets in infrastructure CLIs: credentials minted, secrets read, loader environments.

Helpers of `_infra`:

* **credential minting** (``shell.privilege``, escalate): a command that creates a credential
  someone can keep using for an identity, from the CLIs' references: AWS access keys, console
  passwords, service-specific credentials, key pairs, API keys; ``gcloud iam service-accounts keys
  create``, HMAC and API keys, a Cloud SQL user's password; ``az ad sp|app credential reset``,
  ``create-for-rbac``, regenerated account keys, registry tokens;
  a Kubernetes service-account token valid for over a day (or a never-expiring token secret), an
  approved certificate signing request. Whoever holds one acts as that identity outside every
  session the firewall sees;
* **RBAC in a patch or manifest** (``kubectl patch clusterrole view -p '[{"op": "add", "path":
  "/rules/-", "value": {"verbs": ["*"], ...}}]'``, ``kubectl create clusterrole --verb=* --resource=*``):
  each rule is read by the config analyzer's RBAC check (`rbac_grant`);
* **secret metadata**: ``kubectl get secret -o jsonpath=...`` printing only metadata fields is not
  a secret read (`metadata_only`);
* **container and workload environments**: ``docker run -e NAME=value``, ``kubectl set env``
  are judged as ``export`` (loaders, start-up files, planted search paths, commands in values).

>>> metadata_only("jsonpath={.metadata.creationTimestamp}"), metadata_only("jsonpath={.data}")
(True, False)
"""

from __future__ import annotations

import re

from agentgate._decision import Severity
from agentgate.analyzers.shell._rules import _ESC, _emit, _State, _words

__all__ = [
    "AWS_MINT",
    "az_mints",
    "container_env",
    "gcloud_mints",
    "kubectl_mints",
    "metadata_only",
    "mint",
    "workload_env",
]

# An output template that prints only these fields of a secret prints no secret material.
# Not ``annotations`` as a whole: ``kubectl apply`` keeps the full manifest (``data`` included)
# in the ``last-applied-configuration`` annotation.
_META_FIELDS = _words(
    "name namespace creationTimestamp uid resourceVersion generation labels deletionTimestamp ownerReferences "
    "finalizers generateName"
)
_TOP_FIELDS = _words("kind type apiVersion immutable")
# A template's pieces: string literals, braces, keywords, field paths; anything else (functions,
# variables, filters, recursive descent) makes it not provably metadata-only.
_TEMPLATE_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\s+|[{}]+|range\b|end\b|\.[^\s{}"]*|.')
_ITEMS = re.compile(r"^\.items(?:\[[^\]]*\])?")


def _metadata_path(path: str, after_range: bool) -> bool:
    if ".." in path or "@" in path or "$" in path or "?" in path:
        return False  # recursive descent and filters reach every field
    rest = _ITEMS.sub("", path, count=1)
    if not rest:
        return after_range  # {range .items[*]} selects the objects; printing them whole prints data
    parts = rest[1:].replace("[", ".[").split(".")
    if parts[0] in _TOP_FIELDS:
        return len(parts) == 1
    if parts[0] != "metadata" or len(parts) < 2:
        return False
    if parts[1] == "annotations":
        return len(parts) > 2 and "last-applied" not in rest  # one named annotation
    return parts[1] in _META_FIELDS


def metadata_only(output: str) -> bool:
    """Does a kubectl output format print only metadata (``jsonpath={.metadata.creationTimestamp}``,
    ``custom-columns=NAME:.metadata.name``)? Reading a secret's metadata is not reading its data."""
    fmt, _, expr = output.partition("=")
    if fmt == "custom-columns" and expr:
        cols = [c.partition(":")[2].strip() for c in expr.split(",")]
        return all(c and _metadata_path(c if c.startswith(".") else "." + c, False) for c in cols)
    if fmt not in ("jsonpath", "jsonpath-as-json", "go-template") or not expr:
        return False  # json, yaml, template files: the whole object
    expr = expr.strip().strip("'")
    after_range = False
    paths = 0
    for tok in _TEMPLATE_TOKEN.findall(expr):
        if tok.isspace() or tok.startswith('"') or set(tok) <= {"{", "}"}:
            continue
        if tok in ("range", "end"):
            after_range = tok == "range"
            continue
        if not tok.startswith(".") or not _metadata_path(tok, after_range):
            return False
        after_range = False
        paths += 1
    return paths > 0


_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def kubectl_mints(ops: list[str], vals: dict[str, str], args: list[str]) -> bool:
    """A service-account token valid for more than a day (or a legacy never-expiring token
    secret), or an approved certificate signing request: a credential that outlives the task."""
    if ops[:2] == ["create", "token"]:
        m = _DURATION.match(vals.get("--duration", "1h"))
        if m is None:
            return True  # a duration we cannot read: as long as it says
        hours = int(m.group(1) or 0) + int(m.group(2) or 0) / 60 + int(m.group(3) or 0) / 3600
        return hours > 24 or hours == 0  # 0 asks for the server's maximum
    if ops[:2] == ["create", "secret"] and "kubernetes.io/service-account-token" in (vals.get("--type") or ""):
        return True
    return ops[:2] == ["certificate", "approve"]


# Calls that create a credential someone can keep using: an access key, a console password, a
# service credential, a key pair whose private half is returned, an API key.
AWS_MINT = _words(
    "create-access-key create-login-profile update-login-profile create-service-specific-credential "
    "reset-service-specific-credential create-key-pair "
    "download-default-key-pair create-api-key admin-set-user-password create-user-pool-client-secret"
)


def mint(st: _State, what: str, shown: str) -> None:
    """A command that creates a long-lived credential for an identity: whoever holds it acts as
    that identity, outside every session the firewall sees."""
    _emit(st, "shell.privilege", _ESC, f"{what} mints a long-lived credential for an identity", shown, Severity.HIGH)


def gcloud_mints(words: list[str], args: list[str]) -> bool:
    """``iam service-accounts keys create``, HMAC keys, API keys, a SQL user's password (uploading a
    public key generates no secret: whose key it is is a provenance question)."""
    ws = set(words)
    if "keys" in ws and "create" in ws and ("service-accounts" in ws or "hmac" in ws):
        return True
    if {"api-keys", "create"} <= ws:
        return True
    return {"sql", "users"} <= ws and (
        "set-password" in ws or ("create" in ws and any(a.startswith("--password") for a in args))
    )


def az_mints(ops: list[str], args: list[str]) -> bool:
    """A secret or certificate generated for an app or service principal, a service
    principal created with one, storage/registry/database keys regenerated, a user's password set."""
    ws = set(ops)
    if ops[:1] == ["ad"] and ws & {"sp", "app"} and ({"credential", "reset"} <= ws or "create-for-rbac" in ws):
        return True
    if ws & {"keys", "key"} and ws & {"renew", "regenerate"}:
        return True
    if "acr" in ws and "token" in ws and ws & {"create", "generate"}:
        return True
    if ops[:3] == ["ad", "user", "update"] and any(a.startswith("--password") for a in args):
        return True
    return ops[:4] == ["webapp", "deployment", "user", "set"]


def container_env(args: list[str], st: _State) -> None:
    """``-e LD_PRELOAD=/tmp/x.so``: each variable given to the container's process is judged as if
    exported (every ``-e``; the option table keeps only the last)."""
    from agentgate.analyzers.shell._caps import env_assignment

    for k, a in enumerate(args):
        if a in ("-e", "--env") and k + 1 < len(args):
            item = args[k + 1]
        elif a.startswith("--env="):
            item = a[6:]
        elif a.startswith("-e") and len(a) > 2 and not a.startswith("--"):
            item = a[2:]
        else:
            continue
        name, eq, value = item.partition("=")
        if eq:
            env_assignment(name, value, "$" in value, st)


def workload_env(ops: list[str], args: list[str], st: _State) -> None:
    """``kubectl set env deploy/web NAME=value``, ``kubectl run --env=NAME=value``: every process of
    the workload gets the variable, so it is judged as ``export``."""
    from agentgate.analyzers.shell._caps import env_assignment

    for item in [*ops[2:], *(a[6:] for a in args if a.startswith("--env="))]:
        name, eq, value = item.partition("=")
        if eq and name and "/" not in name:
            env_assignment(name.strip(), value, "$" in value, st)


def rbac_grant(manifest: str, vals: dict[str, str]) -> str | None:
    """What an RBAC rule in a kubectl patch or manifest grants, when it is every verb on every
    resource or an escalation verb (``bind``/``escalate``/``impersonate``); else None."""
    import json

    import yaml

    from agentgate.analyzers.config._iam import rbac_findings

    verbs, resources = vals.get("--verb", ""), vals.get("--resource", "")
    if verbs or resources:  # kubectl create (cluster)role --verb=... --resource=...
        rule = {"verbs": verbs.split(","), "resources": resources.split(",")}
        hits = rbac_findings(rule)
        if hits:
            return hits[0][3]
    if "verbs" not in manifest or len(manifest) > 200_000:
        return None
    try:
        docs: list[object] = [json.loads(manifest)]
    except ValueError:
        try:
            docs = list(yaml.safe_load_all(manifest))
        except yaml.YAMLError:
            return None
    stack, seen = docs, 0
    while stack and seen < 5_000:
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            if "verbs" in node and (hits := rbac_findings(node)):
                return hits[0][3]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None
