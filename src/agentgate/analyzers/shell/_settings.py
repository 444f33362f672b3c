"""Shell analyzer: settings changed from the command line go to the config analyzer.

``git config --global http.sslVerify false``, ``git -c http.sslVerify=false clone …``,
``npm config set strict-ssl false``, ``pip config set global.trusted-host …``,
``az storage account update --allow-blob-public-access true`` and ``gcloud compute
firewall-rules create … --source-ranges=0.0.0.0/0 --allow=tcp:22`` change a security
setting exactly as an ``update_config`` tool would: each becomes the document it sets
(``{"http.sslVerify": "false"}``; a firewall rule in the cloud's own rule shape) and is
routed as ``("config", json)`` to `agentgate.analyzers.config` (``config.*`` findings:
TLS verification off, public access, ingress open to the internet ...). Settings that
touch no control (``git config user.name``) produce nothing there.

Package managers: a script set from the command line (``npm pkg set scripts.preinstall='curl …
| sh'``, ``npm set-script``) is a command npm runs by itself at install, so it is analyzed as
one; an install from an index reached over ``http://`` or with ``--trusted-host`` escalates
(``shell.remote_code``): a network path that is not verified serves the code that installs.
"""

from __future__ import annotations

import json

from agentgate._decision import Severity
from agentgate.analyzers.shell._rules import _ESC, _emit, _split_opts, _State

__all__ = ["SETTING_CLIS", "route_settings"]

#: Commands whose arguments may set a configuration value (the cheap gate).
SETTING_CLIS = frozenset({"git", "npm", "yarn", "pnpm", "pip", "pip3", "uv", "az", "gcloud"})
_GIT_CONFIG_OPTS = frozenset({"--global", "--system", "--local", "--worktree", "--add", "--replace-all", "--bool"})


def _long_options(args: list[str]) -> dict[str, str]:
    """``--name value`` / ``--name=value`` (a flag alone reads as ``"true"``)."""
    out: dict[str, str] = {}
    k = 0
    while k < len(args):
        a = args[k]
        if a.startswith("--") and len(a) > 2:
            key, eq, val = a[2:].partition("=")
            if not eq:
                nxt = args[k + 1] if k + 1 < len(args) else None
                if nxt is not None and not nxt.startswith("--"):
                    val = nxt
                    k += 1
                else:
                    val = "true"
            out[key] = val
        k += 1
    return out


def _firewall(opts: dict[str, str]) -> dict[str, object]:
    """A ``gcloud compute firewall-rules`` command as the GCP rule it creates."""
    allowed = []
    for spec in filter(None, opts.get("allow", "").split(",")):
        proto, _, ports = spec.partition(":")
        allowed.append({"IPProtocol": proto, **({"ports": [ports]} if ports else {})})
    return {
        "direction": opts.get("direction", "INGRESS").upper(),
        "sourceRanges": [r for r in opts.get("source-ranges", "").split(",") if r],
        "allowed": allowed,
    }


def _document(base: str, args: list[str]) -> dict[str, object] | None:
    _opts, ops = _split_opts(args)
    if base == "git":
        doc: dict[str, object] = {}
        for k, a in enumerate(args[:-1]):
            if a == "-c" and "=" in args[k + 1]:
                key, _, val = args[k + 1].partition("=")
                doc[key] = val
        words = [a for a in args if a not in _GIT_CONFIG_OPTS]
        if "config" in words:
            rest = words[words.index("config") + 1 :]
            if len(rest) >= 2 and not rest[0].startswith("-"):
                doc[rest[0]] = rest[1]
        return doc or None
    if base in ("npm", "yarn", "pnpm", "pip", "pip3"):
        if ops[:2] != ["config", "set"] or len(ops) < 3:
            return None
        key, eq, val = ops[2].partition("=")
        return {key: val if eq else (ops[3] if len(ops) > 3 else "")}
    opts = _long_options(args)
    if not opts:
        return None
    if base == "gcloud" and "firewall-rules" in ops and ("source-ranges" in opts or "allow" in opts):
        return _firewall(opts)
    return dict(opts)


# npm/yarn/pnpm run these scripts on their own (install, publish, pack): setting one is code to run.
_PM = frozenset({"npm", "yarn", "pnpm"})
_INDEX_OPTS = frozenset(
    {"--index-url", "-i", "--extra-index-url", "--registry", "--source", "--default-index", "--index"}
)


def _scripts_set(base: str, ops: list[str]) -> list[tuple[str, str]]:
    """``(script, command)`` set by ``npm pkg set scripts.x=cmd`` / ``npm set-script x cmd``."""
    if base not in _PM:
        return []
    if ops[:2] == ["pkg", "set"]:
        out = []
        for item in ops[2:]:
            key, eq, val = item.partition("=")
            if eq and key.startswith("scripts."):
                out.append((key[8:], val))
        return out
    if ops[:1] == ["set-script"] and len(ops) >= 3:
        return [(ops[1], ops[2])]
    return []


def _insecure_index(base: str, args: list[str]) -> str | None:
    """A package index reached without TLS (``http://``) or with verification off (``--trusted-host``):
    whoever answers on the way serves the code that runs at install time."""
    for k, a in enumerate(args):
        key, eq, val = a.partition("=")
        if key in _INDEX_OPTS or (base in ("pip", "pip3", "uv") and key == "--trusted-host"):
            v = val if eq else (args[k + 1] if k + 1 < len(args) else "")
            if key == "--trusted-host" or v.lower().startswith("http://"):
                return f"{base} {key} {v}"[:120]
    return None


def route_settings(base: str, args: list[str], st: _State) -> None:
    """Route the settings *base* *args* changes to the config analyzer; package-manager scripts
    set from the command line are judged as the commands they are, and an index reached without
    TLS verification escalates."""
    if st.strong or st.remote:
        return
    from agentgate.analyzers.shell._walk import _parse_into  # the walk imports this module

    _opts, ops = _split_opts(args)
    for script, command in _scripts_set(base, ops):
        _parse_into(command, st, f"{base} script {script}")
    if (where := _insecure_index(base, args)) is not None and any(
        o in ("install", "add", "i", "sync") for o in ops[:2]
    ):
        _emit(
            st,
            "shell.remote_code",
            _ESC,
            f"{where}: packages fetched without TLS verification run their install code",
            where,
            Severity.HIGH,
        )
    doc = _document(base, args)
    if doc:
        st.routed.append(("config", json.dumps(doc, sort_keys=True)))
