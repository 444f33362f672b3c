"""Infrastructure and cloud CLIs judged by effect: ``aws``, ``gcloud``/``gsutil``, ``az``, ``kubectl``/``oc``,
``helm``, ``terraform``/``tofu``, ``pulumi``, ``docker``/``podman`` and ``git``.

Each command is reduced to (tool, verb, resource type, flags) and classified:

* **effect** — ``read`` / ``write`` / ``delete`` / ``execute`` / ``configure`` (the operation
  vocabulary), checked against the scope like any shell verb;
* **mass or irreversible deletion** (``shell.infra_destroy``): deleting a container of
  resources (bucket with contents, namespace, project, resource group, cluster, database,
  stack, whole state) or every resource of a kind (``--all``, selectors, ``--recursive``),
  or a delete that disables the safety net (``-auto-approve``, ``--skip-final-snapshot``,
  ``--force-delete-without-recovery``): block; other deletes of named cloud resources escalate;
* **history rewriting on shared branches** (``shell.history_rewrite``): a forced or
  mirrored push, a ``+ref`` refspec or a remote branch deletion aimed at a shared branch
  (``main``, ``master``, ``develop``, ``trunk``, ``release*``, ``prod*``): block; a force push
  whose branch is not named escalates; a feature branch is the agent's own work;
* **privilege** (``shell.privilege``): ``cluster-admin``/owner role bindings, privileged
  pods and containers, host namespaces, a host-root or Docker socket mount, IAM policies
  granting ``*``; credentials minted, secrets read and loader environments: `_infra_ids`;
* **REST through a CLI**: ``gh api`` is read by method and path (`config._rest`).

Resource operands are resources of their kind, not file paths: ``namespace:staging``,
``s3://bucket/key``, ``gs://…``, ``git:main``. A scope constrains a kind only when it lists
patterns of that kind (``namespace:dev-*``), the way host patterns constrain URLs.
"""

from __future__ import annotations

import re

from agentgate._decision import Severity
from agentgate.analyzers.config._rest import rest_findings
from agentgate.analyzers.shell._infra_ids import (
    AWS_MINT,
    az_mints,
    container_env,
    gcloud_mints,
    kubectl_mints,
    metadata_only,
    mint,
    rbac_grant,
    workload_env,
)
from agentgate.analyzers.shell._rules import _BLOCK, _ESC, _emit, _State, _words
from agentgate.policy._resources import match_pattern, split_pattern

INFRA_TOOLS = _words(
    "aws gcloud gsutil az kubectl oc helm terraform tofu terragrunt pulumi docker podman nerdctl git eksctl gh"
)

_PROD = re.compile(r"(?:^|[-_.:/])(?:prod|production|prd|live)(?:$|[-_.:/\d])", re.IGNORECASE)
_SHARED_BRANCH = re.compile(
    r"^(?:main|master|develop|development|dev|trunk|release(?:[-/].*)?|prod(?:uction)?(?:[-/].*)?|stable|gh-pages|HEAD)$"
)


def _opts_ops(args: list[str], takes: frozenset[str]) -> tuple[dict[str, str], list[str], set[str]]:
    """Option values, operands and bare flags (``-f``, ``--all``; short groups split)."""
    vals: dict[str, str] = {}
    ops: list[str] = []
    flags: set[str] = set()
    k = 0
    while k < len(args):
        a = args[k]
        if a == "--":
            ops.extend(args[k + 1 :])
            break
        if a.startswith("--") and "=" in a:
            key, _, v = a.partition("=")
            vals[key] = v
        elif a in takes and k + 1 < len(args):
            vals[a] = args[k + 1]
            k += 1
        elif a.startswith("--"):
            flags.add(a)
        elif a.startswith("-") and len(a) > 1:
            if len(a) > 2 and a[:2] in takes:
                vals[a[:2]] = a[2:]
            else:
                flags.add(a)
                flags.update("-" + c for c in a[1:])
        else:
            ops.append(a)
        k += 1
    return vals, ops, flags


class _Out:
    """What one infra command does, collected for the caller."""

    __slots__ = ("op", "resources")

    def __init__(self) -> None:
        self.op: str | None = None
        self.resources: list[str] = []


def infra(base: str, args: list[str], st: _State, shown: str, stdin: str | None) -> str | None:
    """Judge an infrastructure command; returns its effect (operation) or None when it has none to add."""
    o = _Out()
    if any(a in _DRY_RUN for a in args):
        return "read"  # a dry run prints what would happen: --dryrun, --dry-run[=client|server], --what-if
    if base in ("kubectl", "oc"):
        _kubectl(base, args, st, shown, stdin, o)
    elif base == "helm":
        _helm(args, st, shown, o)
    elif base in ("terraform", "tofu", "terragrunt"):
        _terraform(base, args, st, shown, o)
    elif base == "pulumi":
        _pulumi(args, st, shown, o)
    elif base == "aws":
        _aws(args, st, shown, o)
    elif base in ("gcloud", "gsutil"):
        _gcloud(base, args, st, shown, o)
    elif base == "az":
        _az(args, st, shown, o)
    elif base in ("docker", "podman", "nerdctl"):
        _docker(base, args, st, shown, o)
    elif base == "git":
        _git(args, st, shown, o)
    elif base == "gh":
        _gh(args, st, shown, o)
    elif base == "eksctl":
        _vals, ops, _flags = _opts_ops(args, _words("--name -n --region -f --config-file"))
        if ops[:1] == ["delete"]:
            o.op = "delete"
            _emit(st, "shell.infra_destroy", _BLOCK, f"eksctl delete {' '.join(ops[1:2])} removes a cluster", shown)
    for r in o.resources:
        _scope(st, r, shown)
    return o.op


_DRY_RUN = _words("--dryrun --dry-run --dry-run=client --dry-run=server --dry-run=true --what-if --whatif")


def _carried(st: _State, how: str, words: list[str] | str) -> None:
    """A command run elsewhere (a container, a VM, every instance of a fleet) is analyzed as a command."""
    from agentgate.analyzers.shell._walk import _parse_into

    text = words if isinstance(words, str) else " ".join(_quote(w) for w in words)
    saved = st.remote
    st.remote = True  # its paths are the other machine's: no local scope checks
    _parse_into(text, st, how)
    st.remote = saved


def _quote(w: str) -> str:
    import shlex

    return w if re.fullmatch(r"[\w@%+=:,./-]+", w) else shlex.quote(w)


_EXEC_TAKES = _words("-e --env --env-file -u --user -w --workdir --detach-keys")
_SSM_COMMANDS = re.compile(r"commands=\[(.*)\]|commands=(.*)", re.DOTALL)


def _destroy(st: _State, why: str, shown: str, block: bool = True) -> None:
    _emit(st, "shell.infra_destroy", _BLOCK if block else _ESC, why, shown, None if block else Severity.HIGH)


def _scoped_delete(st: _State, ns: str | None) -> bool:
    """The scope itself allows deleting in namespace *ns*: it, not a review, decides a named delete."""
    pol = st.policy
    return (
        ns is not None
        and not _PROD.search(ns)
        and pol.restricts_operations
        and pol.allows_operation("delete")
        and pol.has_resource_rules
        and pol.allows_resource(ns, "namespace")
    )


def _scope(st: _State, value: str, shown: str) -> None:
    """A resource of a kind (``namespace:x``, ``s3://b/k``, ``git:main``) against patterns of that kind."""
    pol = st.policy
    if not pol.has_resource_rules or st.strong:
        return
    prefix = value.split("//", 1)[0] + "//" if "://" in value else value.split(":", 1)[0] + ":"
    # Typed values match with their kind's rules (an s3 key's "*" spans "/", as in IAM).
    kind, bare = split_pattern(value)
    rk = kind or "generic"
    for layer in pol.layers:
        if any(p.lower().startswith(prefix) and match_pattern(p, bare, rk) for p in layer.denied_resources):
            _emit(st, "shell.scope", _BLOCK, f"{value} is denied by {layer.name}", shown)
            return
        kind_pats = [p for p in layer.allowed_resources if p.lower().startswith(prefix)]
        if kind_pats and not any(match_pattern(p, bare, rk) for p in kind_pats):
            _emit(st, "shell.scope", _BLOCK, f"{value} is outside {layer.name}'s allowed {prefix} resources", shown)
            return


# ---------------------------------------------------------------------- kubernetes

_K_TAKES = _words(
    "-n --namespace --context --cluster --kubeconfig -l --selector -o --output -f --filename --field-selector "
    "--as --as-group --user -c --container --token --server -s --clusterrole --role --serviceaccount --image "
    "--overrides --type -p --patch --replicas --timeout --grace-period -i -k --kustomize --from-literal --from-file "
    "--duration"
)
_K_READ = _words(
    "get describe logs top explain api-resources api-versions version cluster-info diff events wait auth completion"
)
_K_CLUSTER_SCOPED = _words(
    "namespace namespaces ns node nodes no persistentvolume persistentvolumes pv customresourcedefinition "
    "customresourcedefinitions crd crds clusterrole clusterroles clusterrolebinding clusterrolebindings "
    "storageclass storageclasses sc mutatingwebhookconfiguration validatingwebhookconfiguration"
)
_K_DATA = _words("persistentvolumeclaim persistentvolumeclaims pvc statefulset statefulsets sts secret secrets")
_K_CHEAP = _words("pod pods po job jobs replicaset replicasets rs event events")
_PRIV_MANIFEST = re.compile(
    r"privileged[\"']?\s*[:=]\s*true|host(?:PID|IPC|Network)[\"']?\s*[:=]\s*true"
    r"|allowPrivilegeEscalation[\"']?\s*[:=]\s*true"
    r"|docker\.sock|containerd\.sock|SYS_ADMIN|cluster-admin"
    r"|hostPath[\"']?\s*:\s*\{?\s*(?:[\"']?type[\"']?\s*:\s*[\"']?\w+[\"']?\s*,?\s*)?[\"']?path[\"']?\s*:\s*[\"']?/[\"']?\s*(?:$|[,}\n])",
    re.IGNORECASE | re.MULTILINE,
)


def _kubectl(base: str, args: list[str], st: _State, shown: str, stdin: str | None, o: _Out) -> None:
    from agentgate.analyzers.shell._walk import _parse_into

    before, _, after = (
        (args[: args.index("--")], "--", args[args.index("--") + 1 :]) if "--" in args else (args, "", [])
    )
    vals, ops, flags = _opts_ops(before, _K_TAKES)
    verb = ops[0] if ops else ""
    ns = vals.get("-n") or vals.get("--namespace")
    if ns:
        o.resources.append(f"namespace:{ns}")
    if "-A" in flags or "--all-namespaces" in flags:
        o.resources.append("namespace:*")  # every namespace: only a scope that admits them all allows it
    every = "--all" in flags or "-A" in flags or "--all-namespaces" in flags or "-l" in vals or "--selector" in vals
    if verb in _K_READ or (verb == "config" and ops[1:2] in (["view"], ["get-contexts"], ["current-context"])):
        o.op = "read"
        output = vals.get("-o", vals.get("--output", "")).removeprefix("=")  # pflag reads -o=json as json
        if (
            verb == "get"
            and any(
                k.split(".")[0].lower() in ("secret", "secrets") for t in ops[1:2] for k in t.split("/")[0].split(",")
            )
            and output not in ("", "name", "wide")
            and not metadata_only(output)
        ):
            _emit(st, "shell.sensitive", _ESC, "kubectl prints secret values", shown, Severity.HIGH)
        if verb == "config" and "--raw" in flags:
            _emit(
                st,
                "shell.sensitive",
                _ESC,
                "kubectl config view --raw prints cluster credentials",
                shown,
                Severity.HIGH,
            )
        return
    if ops[:2] == ["set", "env"] or (verb in ("run", "create") and any(a.startswith("--env") for a in args)):
        workload_env(ops, args, st)
    if kubectl_mints(ops, vals, args):
        o.op = "configure"
        mint(st, f"kubectl {' '.join(ops[:2])}", shown)
        return
    if verb == "delete":
        o.op = "delete"
        kinds = [t.split("/")[0].lower().split(".")[0] for t in ops[1:]]
        kind = kinds[0] if kinds else ""
        if kind == "namespace" or kind in ("namespaces", "ns"):
            o.resources.extend(f"namespace:{n}" for n in ops[2:])
        if kind in _K_CLUSTER_SCOPED or every or (kind in _K_DATA and (ns is None or _PROD.search(ns or ""))):
            _destroy(
                st,
                f"kubectl delete {' '.join(ops[1:3])}{' --all' if every else ''} deletes irreversibly or en masse",
                shown,
            )
        elif "-f" in vals or "--filename" in vals or "-k" in vals:
            _destroy(st, "kubectl delete -f removes everything the manifest names", shown, block=False)
        elif kind not in _K_CHEAP and not _scoped_delete(st, ns):
            _destroy(
                st,
                f"kubectl delete {' '.join(ops[1:3])} removes a workload or its configuration",
                shown,
                block=ns is not None and bool(_PROD.search(ns)),
            )
        return
    if verb in ("exec", "attach", "debug", "run", "cp", "port-forward", "proxy"):
        o.op = "execute"
        if verb == "debug" and any(t.startswith(("node/", "nodes/")) for t in ops[1:]):
            _emit(st, "shell.privilege", _BLOCK, "kubectl debug node/… mounts the node's root filesystem", shown)
        if verb == "run" and (
            "--privileged" in flags or (vals.get("--overrides") and _PRIV_MANIFEST.search(vals["--overrides"]))
        ):
            _emit(st, "shell.privilege", _BLOCK, "kubectl run starts a privileged pod or joins host namespaces", shown)
        if after:
            saved = st.remote
            st.remote = True
            _parse_into(" ".join(after), st, f"kubectl {verb}")
            st.remote = saved
        return
    if verb in ("create", "apply", "replace", "patch"):
        o.op = "configure" if "rolebinding" in " ".join(ops[1:2]) else "write"
        role = vals.get("--clusterrole", "") + " " + vals.get("--role", "")
        if "cluster-admin" in role or re.search(r"\badmin\b", role):
            _emit(st, "shell.privilege", _BLOCK, f"kubectl {verb} binds {role.strip()} (full control)", shown)
        manifest = " ".join(v for k, v in vals.items() if k in ("-p", "--patch", "--overrides"))
        if (vals.get("-f") == "-" or vals.get("--filename") == "-") and stdin:
            manifest += "\n" + stdin
        if (why := rbac_grant(manifest, vals)) is not None:
            _emit(st, "shell.privilege", _BLOCK, f"kubectl {verb}: {why}", shown)
        if manifest and _PRIV_MANIFEST.search(manifest):
            _emit(
                st,
                "shell.privilege",
                _BLOCK,
                "the manifest runs privileged, shares host namespaces, mounts the host root or the container socket, or binds cluster-admin",
                shown,
            )
        return
    if verb in ("drain",):
        o.op = "write"
        _destroy(st, "kubectl drain evicts every pod from a node", shown, block=False)
        return
    if verb:
        o.op = "write"


# ---------------------------------------------------------------------- helm / iac


def _helm(args: list[str], st: _State, shown: str, o: _Out) -> None:
    vals, ops, _flags = _opts_ops(
        args, _words("-n --namespace --kube-context -f --values --set --version --repo -o --output --timeout")
    )
    verb = ops[0] if ops else ""
    ns = vals.get("-n") or vals.get("--namespace")
    if ns:
        o.resources.append(f"namespace:{ns}")
    if verb in ("uninstall", "delete", "del", "un"):
        o.op = "delete"
        prod = bool(ns and _PROD.search(ns)) or any(_PROD.search(r) for r in ops[1:])
        if prod:
            _destroy(st, f"helm {verb} removes release {' '.join(ops[1:2])} from a production namespace", shown)
    elif verb in ("list", "ls", "status", "get", "template", "show", "search", "history", "lint", "version", "env"):
        o.op = "read"
    elif verb:
        o.op = "write"
        # Chart values set on the command line can make the release privileged (--set securityContext.privileged=true).
        values = " ".join(a for a in args if "=" in a)
        if verb in ("install", "upgrade") and _PRIV_MANIFEST.search(values):
            _emit(
                st,
                "shell.privilege",
                _BLOCK,
                f"helm {verb} sets values that run the release privileged or on the host",
                shown,
            )


def _terraform(base: str, args: list[str], st: _State, shown: str, o: _Out) -> None:
    ops = [a for a in args if not a.startswith("-")]
    # terraform -chdir=x destroy: global options come first
    verb = ops[0] if ops else ""
    auto = any(a.lstrip("-") in ("auto-approve", "auto-approve=true", "force") for a in args)
    if verb == "destroy" or (verb == "apply" and any(a.lstrip("-") == "destroy" for a in args)):
        o.op = "delete"
        _destroy(
            st,
            f"{base} destroy{' -auto-approve' if auto else ''} deletes every resource in the state"
            + ("" if auto else " (after a prompt an agent can answer)"),
            shown,
            block=auto,
        )
    elif (verb == "state" and ops[1:2] in (["rm"], ["push"], ["replace-provider"])) or verb in (
        "force-unlock",
        "taint",
        "untaint",
    ):
        o.op = "configure"
        _destroy(st, f"{base} {' '.join(ops[:2])} rewrites the state other runs rely on", shown, block=False)
    elif verb == "workspace" and ops[1:2] == ["delete"]:
        o.op = "delete"
        _destroy(st, f"{base} workspace delete drops a whole state", shown, block=False)
    elif verb in (
        "plan",
        "validate",
        "fmt",
        "show",
        "output",
        "graph",
        "providers",
        "version",
        "state",
        "init",
        "get",
        "console",
    ):
        o.op = "read"
    elif verb:
        o.op = "write"


def _pulumi(args: list[str], st: _State, shown: str, o: _Out) -> None:
    ops = [a for a in args if not a.startswith("-")]
    verb = ops[0] if ops else ""
    yes = any(a in ("--yes", "-y", "-f", "--force", "--skip-preview") for a in args)
    if verb == "destroy" or (verb == "stack" and ops[1:2] == ["rm"]):
        o.op = "delete"
        _destroy(st, f"pulumi {' '.join(ops[:2])} deletes every resource of the stack", shown, block=yes)
    elif verb in ("preview", "stack", "whoami", "about", "version", "logs", "config"):
        o.op = "read"
    elif verb:
        o.op = "write"


# ---------------------------------------------------------------------- clouds

_AWS_TAKES = _words(
    "--region --profile --output --query --endpoint-url --bucket --key --instance-ids --cli-input-json "
    "--policy-arn --policy-document --role-name --user-name --group-name --db-instance-identifier --table-name "
    "--stack-name --function-name --secret-id --key-id --cluster --name --hosted-zone-id --repository-name "
    "--group-id --cidr --port --protocol --ip-permissions --source --include --exclude --storage-class --acl "
    "--recovery-window-in-days --pending-window-in-days --color --cli-read-timeout --cli-connect-timeout "
    "--parameters --document-name --targets"
)
# Deleting these removes a whole container of data or a whole environment.
_AWS_CONTAINERS = re.compile(
    r"^(?:delete-(?:bucket|table|db-cluster|db-instance|cluster|stack|hosted-zone|repository|file-system|"
    r"vault|backup-vault|recovery-point|global-table|replication-group|cache-cluster|domain|log-group|"
    r"user-pool|identity-pool|stream|vpc|keyspace|graph|collection|index|environment|workspace|project)"
    r"|terminate-instances|schedule-key-deletion|close-account|leave-organization|delete-objects|"
    r"deregister-image|delete-snapshot|delete-db-snapshot|delete-db-cluster-snapshot|delete-volume)$"
)
_AWS_UNSAFE = _words(
    "--skip-final-snapshot --force-delete-without-recovery --delete-automated-backups --force --recursive "
    "--no-deletion-protection"
)
_ADMIN_POLICY = re.compile(
    r"AdministratorAccess|IAMFullAccess|PowerUserAccess|\"Action\"\s*:\s*(?:\[\s*)?\"(?:\*|iam:\*)\"|NotAction", re.I
)
_OPEN_CIDR = re.compile(r"(?:^|[\s,=\[{\"'])(?:0\.0\.0\.0/0|::/0)\b")


def _aws(args: list[str], st: _State, shown: str, o: _Out) -> None:
    vals, ops, flags = _opts_ops(args, _AWS_TAKES)
    service = ops[0] if ops else ""
    action = ops[1] if len(ops) > 1 else ""
    if service == "ssm" and action == "send-command" and (m := _SSM_COMMANDS.search(vals.get("--parameters", ""))):
        body = m.group(1) if m.group(1) is not None else m.group(2)
        for item in re.findall(r'"((?:[^"\\]|\\.)*)"', body) or [body]:
            _carried(st, "aws ssm send-command", item)
    if service == "s3":
        targets = [x for x in ops[2:] if x.startswith("s3://")]
        o.resources.extend(targets)
        recursive = "--recursive" in flags
        if action == "rm":
            o.op = "delete"
            if recursive:
                _destroy(
                    st, f"aws s3 rm --recursive deletes every object under {' '.join(targets) or 'a prefix'}", shown
                )
        elif action == "rb":
            o.op = "delete"
            _destroy(st, f"aws s3 rb {' '.join(targets)} removes a bucket", shown, block="--force" in flags)
        elif action == "sync" and "--delete" in flags:
            o.op = "delete"
            _destroy(st, "aws s3 sync --delete deletes destination objects missing from the source", shown, block=False)
        elif action in ("cp", "mv", "sync"):
            dest = ops[-1] if len(ops) > 3 else ""
            o.op = "send" if dest.startswith("s3://") and not ops[2].startswith("s3://") else "write"
            if action == "mv":
                o.op = "delete"
        elif action in ("ls", "presign"):
            o.op = "read"
        else:
            o.op = "write"
        return
    if not action:
        o.op = "configure" if service == "configure" else "read"
        return
    joined = " ".join(args)
    if action.startswith(
        ("describe-", "list-", "get-", "head-", "lookup-", "search-", "batch-get-", "scan", "query")
    ) or action in ("wait", "help"):
        o.op = "read"
        if action in (
            "get-secret-value",
            "get-parameter",
            "get-parameters",
            "get-parameters-by-path",
            "get-session-token",
        ) and (service == "secretsmanager" or "--with-decryption" in flags or service == "sts"):
            _emit(st, "shell.sensitive", _ESC, f"aws {service} {action} returns secret material", shown, Severity.HIGH)
        return
    if action.startswith(
        (
            "delete-",
            "terminate-",
            "remove-",
            "purge-",
            "deregister-",
            "schedule-key-deletion",
            "close-",
            "leave-",
            "disable-",
        )
    ):
        o.op = "delete" if not action.startswith("disable-") else "configure"
        if _AWS_CONTAINERS.match(action) or flags & _AWS_UNSAFE:
            _destroy(st, f"aws {service} {action} deletes irreversibly", shown)
        elif action.startswith(("delete-", "terminate-", "purge-")):
            _destroy(st, f"aws {service} {action} deletes a cloud resource", shown, block=False)
        if service == "cloudtrail" or action in (
            "delete-trail",
            "stop-logging",
            "disable-security-hub",
            "delete-detector",
        ):
            _emit(st, "shell.infra_destroy", _BLOCK, f"aws {service} {action} switches off audit logging", shown)
        return
    if (
        service == "iam"
        or service == "organizations"
        or action.startswith(("put-", "attach-", "authorize-", "create-access-key", "update-assume-role"))
    ):
        o.op = "configure"
        if (action.startswith(("attach-", "put-")) and "polic" in action) and _ADMIN_POLICY.search(joined):
            _emit(st, "shell.privilege", _BLOCK, f"aws {service} {action} grants administrator access", shown)
        elif action in AWS_MINT:
            mint(st, f"aws {service} {action}", shown)
        elif action.startswith("authorize-security-group-ingress") and _OPEN_CIDR.search(joined):
            _emit(
                st, "shell.privilege", _ESC, "the security group is opened to the whole internet", shown, Severity.HIGH
            )
        elif action == "stop-logging":
            _emit(st, "shell.infra_destroy", _BLOCK, "aws cloudtrail stop-logging switches off audit logging", shown)
        return
    if action in ("stop-logging",):
        o.op = "configure"
        _emit(st, "shell.infra_destroy", _BLOCK, f"aws {service} stop-logging switches off audit logging", shown)
        return
    if action.startswith(("run-", "start-", "invoke", "send-command", "execute-")):
        o.op = "execute"
        return
    o.op = "write"
    if action in AWS_MINT:
        mint(st, f"aws {service} {action}", shown)


_G_TAKES = _words(
    "--project --zone --region --format --filter --member --role --account --configuration --location --command"
)


def _gcloud(base: str, args: list[str], st: _State, shown: str, o: _Out) -> None:
    vals, ops, flags = _opts_ops(args, _G_TAKES)
    if base == "gsutil":
        verb = ops[0] if ops else ""
        o.resources.extend(x for x in ops if x.startswith("gs://"))
        if verb == "rm":
            o.op = "delete"
            if "-r" in flags or "-R" in flags or "-a" in flags or any(x.endswith(("/**", "/*")) for x in ops):
                _destroy(st, "gsutil rm -r deletes every object under the prefix", shown)
        elif verb == "rb":
            o.op = "delete"
            _destroy(st, "gsutil rb removes a bucket", shown, block=False)
        elif verb in ("ls", "cat", "stat", "du", "hash"):
            o.op = "read"
        elif (
            verb == "iam"
            and ops[1:2] == ["ch"]
            and any(x.startswith(("allUsers", "allAuthenticatedUsers")) for x in ops)
        ):
            o.op = "configure"
            _emit(st, "shell.privilege", _BLOCK, "gsutil iam ch makes a bucket public", shown)
        else:
            o.op = "write"
        return
    if "ssh" in ops and ("--command" in vals or "--" in args):
        _carried(st, "gcloud compute ssh", vals.get("--command") or " ".join(args[args.index("--") + 1 :]))
    if "secrets" in ops and "access" in ops:
        _emit(st, "shell.sensitive", _ESC, "gcloud secrets versions access prints a secret", shown, Severity.HIGH)
    words = [w for w in ops if not w.startswith("gs://")]
    o.resources.extend(x for x in ops if x.startswith("gs://"))
    verbs = [w for w in words if w in ("delete", "rm", "remove", "destroy", "purge")]
    if verbs:
        o.op = "delete"
        groups = words[: words.index(verbs[0])]
        container = {
            "projects",
            "clusters",
            "buckets",
            "instances" if "sql" in groups else "",
            "datasets",
            "folders",
            "organizations",
            "databases",
            "keyrings",
            "repositories",
        }
        if (set(groups) & container) or ("storage" in groups and ("--recursive" in flags or "-r" in flags)):
            _destroy(st, f"gcloud {' '.join(words[: words.index(verbs[0]) + 1])} deletes irreversibly", shown)
        else:
            _destroy(
                st,
                f"gcloud {' '.join(words[: words.index(verbs[0]) + 1])} deletes a cloud resource",
                shown,
                block=False,
            )
        return
    if gcloud_mints(words, args):
        o.op = "configure"
        mint(st, "gcloud " + " ".join(w for w in words if not w.startswith("-"))[:80], shown)
        return
    if "add-iam-policy-binding" in words or "set-iam-policy" in words:
        o.op = "configure"
        role = vals.get("--role", "")
        member = vals.get("--member", "")
        if role in (
            "roles/owner",
            "roles/editor",
            "roles/iam.securityAdmin",
            "roles/resourcemanager.organizationAdmin",
        ) or member.startswith(("allUsers", "allAuthenticatedUsers")):
            _emit(st, "shell.privilege", _BLOCK, f"gcloud grants {role or 'a role'} to {member or 'a member'}", shown)
        else:
            _emit(st, "shell.privilege", _ESC, f"gcloud grants {role or 'a role'}", shown, Severity.HIGH)
        return
    if any(w in ("list", "describe", "get", "ls", "read", "print-access-token", "print-identity-token") for w in words):
        o.op = "read"
        if any(w.startswith("print-") for w in words) or ("versions" in words and "access" in words):
            _emit(st, "shell.sensitive", _ESC, "gcloud prints a credential or secret", shown, Severity.HIGH)
        return
    o.op = "write"


def _az(args: list[str], st: _State, shown: str, o: _Out) -> None:
    vals, ops, _flags = _opts_ops(
        args, _words("-g --resource-group -n --name --role --assignee --scope --subscription -o --output --query")
    )
    if az_mints(ops, args):
        o.op = "configure"
        mint(st, "az " + " ".join(ops[:4]), shown)
        return
    if "delete" in ops or "purge" in ops:
        o.op = "delete"
        groups = ops[: ops.index("delete" if "delete" in ops else "purge")]
        if (
            groups[:1] in (["group"], ["aks"], ["keyvault"], ["cosmosdb"])
            or groups[:2] in (["storage", "account"], ["sql", "server"], ["sql", "db"])
            or "purge" in ops
        ):
            _destroy(st, f"az {' '.join(groups)} delete removes a whole group, cluster, vault or database", shown)
        else:
            _destroy(st, f"az {' '.join(groups)} delete removes a cloud resource", shown, block=False)
    elif ops[:3] == ["role", "assignment", "create"]:
        o.op = "configure"
        role = vals.get("--role", "")
        _emit(
            st,
            "shell.privilege",
            _BLOCK if role.lower() in ("owner", "contributor", "user access administrator") else _ESC,
            f"az role assignment grants {role or 'a role'}",
            shown,
        )
    elif any(w in ("list", "show", "get", "download") for w in ops):
        o.op = "read"
        if "secret" in ops and any(w in ("show", "download") for w in ops):
            _emit(st, "shell.sensitive", _ESC, "az keyvault secret show prints a secret value", shown, Severity.HIGH)
    elif ops:
        o.op = "write"


# ---------------------------------------------------------------------- containers and git

_D_PRIV = re.compile(
    r"--privileged|--pid[= ]host|--ipc[= ]host|--userns[= ]host|--cap-add[= ](?:all|sys_admin|sys_ptrace|sys_module)"
    r"|(?:-v|--volume)[= ]/:|--volume=/:|(?:source|src)=/(?:,|$)|docker\.sock|containerd\.sock"
    r"|--security-opt[= ](?:apparmor|seccomp)[=:]unconfined",
    re.IGNORECASE,
)


def _docker(base: str, args: list[str], st: _State, shown: str, o: _Out) -> None:
    vals, ops, flags = _opts_ops(
        args,
        _words(
            "-H --host --context --config -v --volume -e --env --name -p --publish --network --mount -u --user -w --workdir --entrypoint --pid --ipc --cap-add --security-opt --userns"
        ),
    )
    verb = ops[0] if ops else ""
    sub = ops[1] if len(ops) > 1 else ""
    if verb in ("run", "create", "exec") or (verb == "container" and sub in ("run", "create", "exec")):
        container_env(args, st)
    if verb == "exec" or (verb == "container" and sub == "exec"):
        rest = args[args.index("exec") + 1 :]
        k = 0
        while k < len(rest) and rest[k].startswith("-"):
            k += 2 if rest[k] in _EXEC_TAKES else 1
        if k + 1 < len(rest):
            _carried(st, f"{base} exec", rest[k + 1 :])  # the words after the container name, as written
    if verb in ("run", "create") or (verb == "container" and sub in ("run", "create")):
        o.op = "execute"
        joined = " ".join(args)
        if _D_PRIV.search(joined) or _D_PRIV.search(" ".join(f"{k}={v}" for k, v in vals.items())):
            _emit(
                st, "shell.privilege", _BLOCK, "a privileged container or a host-root mount escapes the sandbox", shown
            )
        return
    if (verb == "system" and sub == "prune") or (
        verb in ("volume", "image", "container", "network", "builder") and sub == "prune"
    ):
        o.op = "delete"
        every = "--all" in flags or "-a" in flags
        volumes = "--volumes" in flags or verb == "volume"
        if volumes and (every or verb == "system"):
            _destroy(
                st,
                f"{base} {verb} prune {'-a ' if every else ''}--volumes deletes every unused volume and its data",
                shown,
            )
        elif every:
            _destroy(st, f"{base} {verb} prune -a deletes every unused image and container", shown, block=False)
        return
    if verb in ("rm", "rmi", "kill", "stop") or sub in ("rm", "remove"):
        o.op = "delete"
        if verb == "volume" or "--volumes" in flags:
            _destroy(st, f"{base} {' '.join(ops[:2])} deletes volume data", shown, block=False)
        return
    if verb in ("exec", "cp", "build", "compose", "push", "pull", "login", "start", "restart"):
        o.op = "execute" if verb in ("exec", "build", "compose", "start", "restart") else "write"
        return
    if verb in (
        "ps",
        "images",
        "logs",
        "inspect",
        "version",
        "info",
        "stats",
        "top",
        "history",
        "search",
        "port",
        "diff",
    ):
        o.op = "read"


_G_TAKES_GIT = _words("-C -c --git-dir --work-tree --namespace -o --push-option --repo --receive-pack --exec")


def _git(args: list[str], st: _State, shown: str, o: _Out) -> None:
    if "push" not in args:
        return  # only a push changes what others share (config and hooks are the persistence rules')
    vals, ops, flags = _opts_ops(args, _G_TAKES_GIT)
    verb = ops[0] if ops else ""
    if verb != "push":
        return
    o.op = "write"
    force = bool(flags & {"--force", "-f", "--force-with-lease", "--force-if-includes"}) or any(
        a.startswith("--force-with-lease=") for a in args
    )
    refs = ops[2:]  # push [remote] [refspec...]
    targets: list[tuple[str, bool, bool]] = []  # (branch, forced, deleted)
    for r in refs:
        plus = r.startswith("+")
        src, colon, dst = r.lstrip("+").partition(":")
        branch = (dst if colon else src).removeprefix("refs/heads/")
        targets.append((branch, plus or force, bool(colon) and not src))
    for r in [vals[k] for k in ("--delete",) if k in vals] + ([*refs] if "--delete" in flags or "-d" in flags else []):
        targets.append((r.removeprefix("refs/heads/"), False, True))
    if len(ops) > 1:
        # The scope's git: patterns name remotes (docs/policy.md), never branches: the resource
        # is the remote pushed to (a URL, or a remote's name that a scope can list as git:origin).
        o.resources.append(f"git:{ops[1]}")
    for branch, forced, deleted in targets:
        if deleted and _SHARED_BRANCH.match(branch):
            _emit(
                st, "shell.history_rewrite", _BLOCK, f"git push deletes the shared branch {branch} on the remote", shown
            )
        elif forced and _SHARED_BRANCH.match(branch):
            _emit(
                st,
                "shell.history_rewrite",
                _BLOCK,
                f"a forced push rewrites the history of the shared branch {branch}",
                shown,
            )
    if "--mirror" in flags:
        _emit(
            st,
            "shell.history_rewrite",
            _BLOCK,
            "git push --mirror overwrites and deletes every ref on the remote",
            shown,
        )
    elif force and ("--all" in flags or "--tags" in flags):
        _emit(st, "shell.history_rewrite", _BLOCK, "a forced push of every branch rewrites shared history", shown)
    elif force and not refs:
        _emit(
            st,
            "shell.history_rewrite",
            _ESC,
            "a forced push of the current branch (which one is not visible)",
            shown,
            Severity.HIGH,
        )


_GH_REF = re.compile(r"repos/[^/\s]+/[^/\s]+/git/refs/heads/(.+)$")


def _gh(args: list[str], st: _State, shown: str, o: _Out) -> None:
    """GitHub CLI: deleting a repository, or a shared branch through the API."""
    vals, ops, _flags = _opts_ops(args, _words("-X --method -f -F --field --raw-field -H --header -R --repo --jq -q"))
    if ops[:2] in (["repo", "delete"], ["repo", "archive"]):
        o.op = "delete"
        _destroy(st, f"gh {' '.join(ops[:3])} deletes a repository", shown)
    elif ops[:1] == ["api"] and len(ops) > 1:
        method = (vals.get("-X") or vals.get("--method") or "").upper()
        if not method and any(k in vals for k in ("-f", "-F", "--field", "--raw-field")):
            method = "POST"  # gh api sends fields as a POST unless told otherwise
        ref = _GH_REF.search(ops[1])
        for rule, sev, eff, why, _evidence in rest_findings(method, "/" + ops[1].lstrip("/")):
            o.op = "configure"
            _emit(st, rule, eff, f"gh api: {why}", shown, sev)
        if method == "DELETE":
            o.op = "delete"
            if ref and _SHARED_BRANCH.match(ref.group(1)):
                _emit(st, "shell.history_rewrite", _BLOCK, f"gh api deletes the shared branch {ref.group(1)}", shown)
            elif re.fullmatch(r"/?repos/[^/]+/[^/]+/?", ops[1]):
                _destroy(st, "gh api DELETE removes a repository", shown)
            else:
                _destroy(st, f"gh api DELETE {ops[1]}", shown, block=False)
