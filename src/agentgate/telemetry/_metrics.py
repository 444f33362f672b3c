"""The process's decision metrics: plain counters and fixed-bucket histograms under one lock.

Recorded once per decision by `Telemetry.decided` (a dict update under an uncontended
lock); read by the Prometheus exposition and by the OpenTelemetry observable
instruments. Gauges of the audit trail and the policy are not recorded here: they are
read from the firewall when metrics are collected, so they cost nothing per decision.

Label sets are bounded: past `MAX_SERIES` distinct (verdict, rule, agent) triples, new
agents and rules are counted under ``"other"``, so an agent id built from user input
cannot grow the registry without limit.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LATENCY_BUCKETS", "MAX_SERIES", "REGISTRY", "Histogram", "Metrics"]

#: Upper bounds (seconds) of the decision-latency buckets: tier 1 is micro- to milliseconds,
#: a judge is hundreds of milliseconds to seconds.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip

#: Distinct label sets kept per metric before new ones fold into ``"other"``.
MAX_SERIES = 2000

OTHER = "other"


@dataclass(slots=True)
class Histogram:
    """Counts per bucket (cumulative on export), the sum and the count of observations."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.n += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations <= bound) per bucket, ``+Inf`` last."""
        out: list[tuple[float, int]] = []
        acc = 0
        for bound, c in zip((*self.bounds, float("inf")), self.counts, strict=True):
            acc += c
            out.append((bound, acc))
        return out


class Metrics:
    """Decision counters and latency histograms of one process (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.decisions: dict[tuple[str, str, str], int] = {}
        self.latency: dict[str, Histogram] = {}  # by tier ("1", "2")
        self.judge_latency = Histogram(LATENCY_BUCKETS)
        self.judge_failures: dict[str, int] = {}  # by rule (judge.error, escalation.error, ...)
        self.telemetry_errors = 0
        self._firewalls: list[weakref.ref[Any]] = []

    def observe(
        self, verdict: str, rule: str, agent: str, tier: int, seconds: float, judge_seconds: float | None, failed: str
    ) -> None:
        """Count one decision (called by `Telemetry.decided`)."""
        key = (verdict, rule, agent)
        with self._lock:
            n = self.decisions.get(key)
            if n is None and len(self.decisions) >= MAX_SERIES:
                key = (verdict, OTHER, OTHER)
                n = self.decisions.get(key)
            self.decisions[key] = (n or 0) + 1
            t = "2" if tier == 2 else "1"
            h = self.latency.get(t)
            if h is None:
                h = self.latency[t] = Histogram(LATENCY_BUCKETS)
            h.observe(seconds)
            if judge_seconds is not None:
                self.judge_latency.observe(judge_seconds)
            if failed:
                self.judge_failures[failed] = self.judge_failures.get(failed, 0) + 1

    def error(self) -> None:
        """Count a telemetry failure (an exporter or handler that raised)."""
        with self._lock:
            self.telemetry_errors += 1

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of every counter and histogram."""
        with self._lock:
            return {
                "decisions": dict(self.decisions),
                "latency": {t: Histogram(h.bounds, list(h.counts), h.total, h.n) for t, h in self.latency.items()},
                "judge_latency": Histogram(
                    self.judge_latency.bounds,
                    list(self.judge_latency.counts),
                    self.judge_latency.total,
                    self.judge_latency.n,
                ),
                "judge_failures": dict(self.judge_failures),
                "telemetry_errors": self.telemetry_errors,
            }

    # ------------------------------------------------------------- gauges

    def watch(self, firewall: Any) -> None:
        """Read this firewall's audit trail and policy revision when metrics are collected."""
        with self._lock:
            self._firewalls = [r for r in self._firewalls if r() is not None and r() is not firewall]
            self._firewalls.append(weakref.ref(firewall))

    def firewall(self) -> Any:
        """The firewall whose gauges are reported: the default one when it reports here, else the last watched."""
        from .._firewall import _default

        tel = getattr(_default, "_telemetry", None)
        if tel is not None and getattr(tel, "registry", None) is self:
            return _default
        with self._lock:
            live = [f for f in (r() for r in self._firewalls) if f is not None]
        return live[-1] if live else None

    def reset(self) -> None:
        """Forget every count (tests)."""
        with self._lock:
            self.decisions.clear()
            self.latency.clear()
            self.judge_latency = Histogram(LATENCY_BUCKETS)
            self.judge_failures.clear()
            self.telemetry_errors = 0
            self._firewalls.clear()


#: The process-wide registry that ``/metrics`` serves.
REGISTRY = Metrics()


def gauges(firewall: Any) -> dict[str, Any]:
    """Audit-trail, policy and policy-store gauges read now (audit and revision need a firewall)."""
    out: dict[str, Any] = {}
    try:
        from ..policy.store import status

        st = status()  # None when the process follows no policy store
    except Exception:  # a store that cannot report must not break the scrape
        st = None
    if isinstance(st, dict):
        out["store_degraded"] = 0 if st.get("state") == "ok" else 1
        for key in ("reloads", "rejected", "outages"):
            if isinstance(st.get(key), int):
                out[f"store_{key}"] = st[key]
    if firewall is None:
        return out
    out["policy_revision"] = getattr(firewall, "policy_revision", "")
    auditor = getattr(firewall, "auditor", None)
    stats = getattr(auditor, "stats", None)
    if callable(stats):
        try:
            s = stats()
        except Exception:  # a sink that cannot report must not break the scrape
            s = None
        if isinstance(s, dict):
            for key in ("pending", "spooled", "held", "dropped", "errors", "spilled", "written"):
                v = s.get(key)
                if isinstance(v, int):
                    out[f"audit_{key}"] = v
    return out
