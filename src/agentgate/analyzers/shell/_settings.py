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
"""

from __future__ import annotations

import json

from agentgate.analyzers.shell._rules import _split_opts, _State

__all__ = ["SETTING_CLIS", "route_settings"]

#: Commands whose arguments may set a configuration value (the cheap gate).
SETTING_CLIS = frozenset({"git", "npm", "yarn", "pnpm", "pip", "pip3", "az", "gcloud"})
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


def route_settings(base: str, args: list[str], st: _State) -> None:
    """Route the settings *base* *args* changes to the config analyzer."""
    if st.strong or st.remote:
        return
    doc = _document(base, args)
    if doc:
        st.routed.append(("config", json.dumps(doc, sort_keys=True)))
