"""The decision metrics in the Prometheus text exposition format (version 0.0.4).

`render` writes the process registry (`agentgate.telemetry.REGISTRY`) and the gauges
read from the watched firewall; `metrics_route` is the Starlette route ``agentgate serve``
mounts at ``/metrics``. No ``prometheus_client`` is needed.

>>> from agentgate.telemetry import Metrics
>>> m = Metrics()
>>> m.observe("block", "sql.drop", "default", 1, 0.00002, None, "")
>>> print([l for l in render(m).splitlines() if l.startswith("agentgate_decisions_total")][0])
agentgate_decisions_total{verdict="block",rule="sql.drop",agent="default"} 1
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ._metrics import REGISTRY, Histogram, Metrics, gauges

__all__ = ["CONTENT_TYPE", "metrics_route", "render"]

#: The Content-Type of the exposition.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    body = ",".join(f'{k}="{_label(v)}"' for k, v in pairs)
    return "{" + body + "}" if body else ""


def _num(v: float) -> str:
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if isinstance(v, int) or float(v).is_integer():
        return str(int(v))
    return repr(float(v))


def _head(out: list[str], name: str, kind: str, text: str) -> None:
    out.append(f"# HELP {name} {text}")
    out.append(f"# TYPE {name} {kind}")


def _histogram(out: list[str], name: str, h: Histogram, labels: tuple[tuple[str, str], ...] = ()) -> None:
    for bound, count in h.cumulative():
        out.append(f"{name}_bucket{_labels((*labels, ('le', _num(bound))))} {count}")
    out.append(f"{name}_sum{_labels(labels)} {_num(h.total)}")
    out.append(f"{name}_count{_labels(labels)} {h.n}")


def render(registry: Metrics | None = None) -> str:
    """The exposition text of *registry* (default: the process registry)."""
    reg = registry if registry is not None else REGISTRY
    snap = reg.snapshot()
    out: list[str] = []
    _head(
        out,
        "agentgate_decisions_total",
        "counter",
        "Final decisions by verdict (allow, block, would_block), rule and agent.",
    )
    for (verdict, rule, agent), n in sorted(snap["decisions"].items()):
        out.append(f"agentgate_decisions_total{_labels((('verdict', verdict), ('rule', rule), ('agent', agent)))} {n}")
    _head(
        out, "agentgate_decision_duration_seconds", "histogram", "Time to decide a tool call, by the tier that decided."
    )
    for tier, h in sorted(snap["latency"].items()):
        _histogram(out, "agentgate_decision_duration_seconds", h, (("tier", tier),))
    _head(out, "agentgate_judge_duration_seconds", "histogram", "Time the tier-2 judge took.")
    _histogram(out, "agentgate_judge_duration_seconds", snap["judge_latency"])
    _head(
        out,
        "agentgate_judge_failures_total",
        "counter",
        "Escalations the judge could not answer, by the rule that decided them.",
    )
    for rule, n in sorted(snap["judge_failures"].items()):
        out.append(f"agentgate_judge_failures_total{_labels((('rule', rule),))} {n}")
    _head(
        out,
        "agentgate_telemetry_errors_total",
        "counter",
        "Telemetry exports or log handlers that failed (decisions unaffected).",
    )
    out.append(f"agentgate_telemetry_errors_total {snap['telemetry_errors']}")
    g = gauges(reg.firewall())
    for key, name, kind, text in _GAUGES:
        if key in g:
            _head(out, name, kind, text)
            out.append(f"{name} {g[key]}")
    rev = g.get("policy_revision")
    if rev:
        _head(out, "agentgate_policy_info", "gauge", "1, labelled with the policy revision in force.")
        out.append(f"agentgate_policy_info{_labels((('revision', str(rev)),))} 1")
    return "\n".join(out) + "\n"


_GAUGES = (
    ("audit_pending", "agentgate_audit_queue_depth", "gauge", "Audit records queued, not yet written."),
    ("audit_spooled", "agentgate_audit_spooled", "gauge", "Audit records in the local spool, waiting for a sink."),
    (
        "audit_held",
        "agentgate_audit_held",
        "gauge",
        "Audit records neither a sink nor its spool could take, kept in memory.",
    ),
    (
        "audit_dropped",
        "agentgate_audit_dropped_total",
        "counter",
        "Audit records lost (neither a sink nor the spool stored them).",
    ),
    ("audit_errors", "agentgate_audit_write_errors_total", "counter", "Failed writes to an audit sink."),
    (
        "store_degraded",
        "agentgate_policy_store_degraded",
        "gauge",
        "1 while the policy store cannot be followed (last good policy in force).",
    ),
    (
        "store_reloads",
        "agentgate_policy_store_reloads_total",
        "counter",
        "New policy revisions applied from the store.",
    ),
    (
        "store_rejected",
        "agentgate_policy_store_rejected_total",
        "counter",
        "Store revisions refused (invalid); the policy in force stayed.",
    ),
    ("store_outages", "agentgate_policy_store_outages_total", "counter", "Times the policy store became unreachable."),
)


def metrics_route(path: str = "/metrics", registry: Metrics | None = None) -> Any:
    """A Starlette ``Route`` serving `render` at *path* (``GET``)."""
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def metrics(request: Request) -> Response:
        return Response(render(registry), media_type=CONTENT_TYPE)

    return Route(path, metrics, methods=["GET"])
