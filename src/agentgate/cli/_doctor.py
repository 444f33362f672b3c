"""``agentgate doctor``: is this installation ready to protect an agent, and what would it patch.

Checks, in order: the policy file (``--config`` / ``AGENTGATE_CONFIG``), the audit target (can
decisions be stored there?), the tier-2 judge (model, key present, endpoint reachable), and every
framework integration (installed version, tested range, patched now, would ``protect_all()`` patch
it). Nothing here changes state: no file is created, no framework is patched, no key is printed.
Exit status: 0 when nothing is wrong, 1 when a check failed, 2 on a usage error.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import os
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from .. import __version__ as agentgate_version
from .._errors import DISTRIBUTION, ConfigError
from ._common import EXIT_BLOCK, EXIT_OK, config_option, dump_json

#: Seconds a network check (PostgreSQL, the judge's endpoint) may take.
_NET_TIMEOUT = 3.0


def _check_config(path: str | None) -> tuple[dict[str, Any], Any]:
    from ..policy._config import load_config

    if path is None:
        return {"path": None, "ok": True, "note": "no policy file: the permissive default policy applies"}, None
    try:
        cfg = load_config(path)
    except ConfigError as e:
        return {"path": path, "ok": False, "error": str(e)}, None
    return {"path": path, "ok": True}, cfg


def _check_audit(cfg: Any) -> dict[str, Any]:
    from ..audit._resolve import default_target, is_off, spool_dir_for, sqlite_path

    configured = cfg.audit.url if cfg is not None and cfg.audit is not None else None
    targets = [configured] if isinstance(configured, str) else list(configured or []) or [default_target()]
    results = [_check_target(t.strip(), sqlite_path, is_off) for t in targets]
    spool = _check_dir(spool_dir_for())
    return {"targets": results, "spool": spool, "ok": all(r["ok"] is not False for r in [*results, spool])}


def _check_dir(d: Path) -> dict[str, Any]:
    """Can *d* (the spool: where records wait when a sink cannot take them) be written or created?"""
    parent = next((p for p in (d, *d.parents) if p.exists()), Path("."))
    if not parent.is_dir():
        return {"path": str(d), "ok": False, "error": f"cannot create {d}: {parent} is not a directory"}
    if not os.access(parent, os.W_OK):
        return {"path": str(d), "ok": False, "error": f"{parent} is not writable"}
    return {"path": str(d), "ok": True}


def _check_target(target: str, sqlite_path: Any, is_off: Any) -> dict[str, Any]:
    if is_off(target):
        return {"target": target, "ok": True, "note": "audit is off: decisions are not recorded"}
    if not target:
        return {"target": target, "ok": False, "error": "empty audit target"}
    path = sqlite_path(target)
    if path is not None:
        p = Path(path)
        if p.exists():
            ok = os.access(p, os.W_OK) and os.access(p.parent, os.W_OK)
            return {"target": target, "ok": ok, **({} if ok else {"error": f"{p} is not writable"})}
        parent = next((d for d in (p.parent, *p.parent.parents) if d.exists()), Path("."))
        if not parent.is_dir():
            return {"target": target, "ok": False, "error": f"cannot create {p}: {parent} is not a directory"}
        ok = os.access(parent, os.W_OK)
        note = f"{p} will be created" if ok else None
        return {
            "target": target,
            "ok": ok,
            **({"note": note} if ok else {"error": f"cannot create {p}: {parent} is not writable"}),
        }
    if target.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg

            from ..audit._postgres import split_schema

            url, _schema = split_schema(target)
            with psycopg.connect(url, connect_timeout=int(_NET_TIMEOUT)) as conn:
                conn.execute("SELECT 1")
        except ImportError:
            return {
                "target": target,
                "ok": False,
                "error": f"needs the postgres extra: pip install '{DISTRIBUTION}[postgres]'",
            }
        except Exception as e:  # every driver error is a failed check, reported as such
            return {"target": _redact_url(target), "ok": False, "error": f"cannot connect: {e}".strip()}
        return {"target": _redact_url(target), "ok": True}
    return {"target": _redact_url(target), "ok": None, "note": "not checked (no offline check for this kind)"}


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def _check_judge(cfg: Any) -> dict[str, Any]:
    from ..judge import _infer_provider

    jc = cfg.judge if cfg is not None else None
    model = (jc.model if jc is not None else None) or os.environ.get("AGENTGATE_JUDGE_MODEL") or None
    base_url = (jc.base_url if jc is not None else None) or os.environ.get("AGENTGATE_JUDGE_BASE_URL") or None
    key_env = jc.api_key_env if jc is not None else None
    if model is None and base_url is None:
        return {"configured": False, "ok": True, "note": "no judge: escalations follow on_escalate"}
    provider = _infer_provider(model, base_url)
    default_env = "OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY"
    names = [n for n in (key_env, "AGENTGATE_JUDGE_API_KEY", default_env) if n]
    key_from = next((n for n in names if os.environ.get(n)), None)
    out: dict[str, Any] = {"configured": True, "model": model, "provider": provider, "key": key_from or "missing"}
    problems = []
    if key_from is None and base_url is None:
        problems.append(f"no API key: set one of {', '.join(names)}")
    endpoint = base_url or ("https://api.anthropic.com" if provider == "anthropic" else "https://api.openai.com/v1")
    out["endpoint"] = endpoint
    host, port = _host_port(endpoint)
    try:
        with socket.create_connection((host, port), timeout=_NET_TIMEOUT):
            out["reachable"] = True
    except OSError as e:
        out["reachable"] = False
        problems.append(f"endpoint {host}:{port} not reachable: {e}")
    sdk = "anthropic" if provider == "anthropic" else "openai"
    if importlib.util.find_spec(sdk) is None:
        problems.append(f"the {sdk} SDK is not installed: pip install '{DISTRIBUTION}[{sdk}]'")
    out["ok"] = not problems
    if problems:
        out["errors"] = problems
    return out


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def _check_frameworks() -> list[dict[str, Any]]:
    from ..integrations import INTEGRATIONS
    from ..integrations._versions import out_of_range

    rows = []
    for name in INTEGRATIONS:
        mod = importlib.import_module(f"agentgate.integrations.{name}")
        tested: dict[str, str] = getattr(mod, "TESTED_VERSIONS", {})
        installed: dict[str, str] = {}
        warnings = []
        for pkg in tested:
            try:
                installed[pkg] = md.version(pkg)
            except md.PackageNotFoundError:
                continue
            why = out_of_range(pkg, installed[pkg])
            if why:
                warnings.append(why)
        available = bool(mod.available())
        patched = bool(mod.installed())
        rows.append(
            {
                "framework": mod.FRAMEWORK,
                "installed": installed,
                "available": available,
                "patched": patched,
                "protect_all_would_patch": available and not patched,
                "tested": tested,
                "warnings": warnings,
            }
        )
    return rows


def diagnose(config_path: str | None) -> dict[str, Any]:
    """Every check as one JSON-able report (``ok`` is False when any check failed)."""
    config, cfg = _check_config(config_path)
    report: dict[str, Any] = {
        "agentgate": {"version": agentgate_version, "distribution": DISTRIBUTION, "python": sys.version.split()[0]},
        "config": config,
        "audit": _check_audit(cfg),
        "judge": _check_judge(cfg),
        "frameworks": _check_frameworks(),
    }
    report["ok"] = all(report[k]["ok"] is not False for k in ("config", "audit", "judge"))
    return report


@click.command("doctor")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON document.")
def command(config_path: str | None, as_json: bool) -> None:
    """Check the policy, audit target, judge and framework integrations; show what would be patched.

    Exit status: 0 when every check passed, 1 when one failed.
    """
    report = diagnose(config_path)
    if as_json:
        click.echo(dump_json(report))
        sys.exit(EXIT_OK if report["ok"] else EXIT_BLOCK)
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    con = Console()
    con.print(f"agentgate {agentgate_version} (distribution {DISTRIBUTION}), Python {report['agentgate']['python']}")

    def line(label: str, item: dict[str, Any], text: str) -> None:
        mark = {True: "[green]ok[/]", False: "[red]FAIL[/]", None: "[yellow]?[/]"}[item.get("ok")]
        con.print(f"{mark:>14} {label:<7} {escape(text)}")
        for err in item.get("errors", [item["error"]] if "error" in item else []):
            con.print(f"{'':>7} [red]{escape(str(err))}[/]")

    cfg = report["config"]
    line("config", cfg, cfg["path"] or cfg.get("note", ""))
    for t in report["audit"]["targets"]:
        line("audit", t, t["target"] + (f"  ({t['note']})" if t.get("note") else ""))
    line("spool", report["audit"]["spool"], report["audit"]["spool"]["path"])
    j = report["judge"]
    if j["configured"]:
        line("judge", j, f"{j['model'] or '(default model)'} via {j['endpoint']}, key: {j['key']}")
    else:
        line("judge", j, j["note"])
    t = Table("framework", "installed", "patched", "protect_all() would patch", "tested against")
    warnings: list[str] = []
    for fw in report["frameworks"]:
        installed = ", ".join(f"{k} {v}" for k, v in fw["installed"].items())
        t.add_row(
            fw["framework"],
            installed or ("yes" if fw["available"] else "no"),
            "yes" if fw["patched"] else "no",
            "yes" if fw["protect_all_would_patch"] else "no",
            ", ".join(f"{k} {v}" for k, v in fw["tested"].items()),
        )
        warnings.extend(fw["warnings"])
    con.print(t)
    for why in warnings:
        con.print(f"[yellow]warning: {escape(why)}[/]")
    if not any(fw["patched"] for fw in report["frameworks"]):
        con.print("[dim]nothing patched in this process: call agentgate.protect_all() in your agent[/]")
    sys.exit(EXIT_OK if report["ok"] else EXIT_BLOCK)
