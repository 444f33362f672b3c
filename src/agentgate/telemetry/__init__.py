"""Telemetry: every final decision as an OpenTelemetry span, metrics, and a log line.

Design:

* **One hook, off by default.** `Firewall._finish` (where a verdict is final, after the
  audit record is queued) calls ``self._telemetry.decided(call, verdict, agent)`` behind a
  single ``if self._telemetry is not None``. Without a ``telemetry:`` section or
  ``protect_all(telemetry=...)`` that attribute is None and the decision path pays one
  attribute check. Tier-1-only previews (`Firewall.evaluate_tier1`) are not decisions and
  are not reported.
* **Never changes a verdict.** `Telemetry.decided` runs after the verdict exists and
  swallows every exception of an exporter, a span processor or a log handler (counted in
  ``agentgate_telemetry_errors_total`` and logged once), so telemetry can neither fail a
  decision nor open one.
* **Three outputs, each optional** (`TelemetrySettings`, the ``telemetry:`` section):

  - ``otel``: a span per decision, a child of the current span (the framework's or the
    application's tool span when there is one), named ``agentgate.decide {tool}``, with
    the GenAI semantic-convention names where they exist (``gen_ai.tool.name``,
    ``gen_ai.tool.call.id``, ``gen_ai.agent.name``) and ``agentgate.*`` for the rest; and
    the metrics through the OTel metrics API. Needs the ``otel`` extra; spans and metrics
    go to the global providers unless `Telemetry` is given its own.
  - ``metrics``: the process registry (`REGISTRY`) that ``agentgate serve`` exposes at
    ``/metrics`` in the Prometheus text format (`agentgate.telemetry.prometheus`).
  - ``log_decisions``: one record per decision on the ``agentgate.decisions`` logger
    (block and monitor-mode would-block at WARNING, an allow a judge or approver gave at
    INFO, other allows at DEBUG) with structured ``extra=`` fields; skipped in one
    ``isEnabledFor`` check when that level is off.

* **Gauges cost nothing per decision.** Audit queue depth, spooled, held, dropped and
  write errors (`AuditWriter.stats`) and the policy revision are read from the firewall
  when metrics are collected (a scrape, an OTel collection cycle).
* **Bounded cardinality.** Decision counters are labelled by verdict, rule and agent; past
  `MAX_SERIES` label sets new ones are counted under ``other``. Tool names and argument
  values never become metric labels (they are in spans and the audit trail).

See docs/telemetry.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._decision import VerdictType
from ._metrics import LATENCY_BUCKETS, MAX_SERIES, REGISTRY, Metrics

__all__ = [
    "DECISION_LOGGER",
    "JUDGE_FAILURE_RULES",
    "LATENCY_BUCKETS",
    "MAX_SERIES",
    "REGISTRY",
    "Metrics",
    "Telemetry",
    "TelemetrySettings",
    "build_telemetry",
]

#: The logger decisions are written to.
DECISION_LOGGER = "agentgate.decisions"

#: Rules naming a verdict reached because the judge (or the escalation) failed.
JUDGE_FAILURE_RULES = frozenset({"judge.error", "judge.error_allowed", "escalation.error"})

_decision_log = logging.getLogger(DECISION_LOGGER)
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    """What to emit (the ``telemetry:`` section of agentgate.yaml).

    Attributes:
        otel: Spans and metrics through OpenTelemetry (needs ``agentgate[otel]``).
        metrics: Count decisions in the process registry served at ``/metrics``.
        log_decisions: Log each decision on the ``agentgate.decisions`` logger.
    """

    otel: bool = False
    metrics: bool = True
    log_decisions: bool = True


class Telemetry:
    """Reports final decisions; attach one to a firewall (``Firewall(telemetry=...)``).

    Args:
        settings: What to emit (default: metrics and logs, no OpenTelemetry).
        tracer_provider: An OTel ``TracerProvider`` (default: the global one). Giving one
            turns ``otel`` on.
        meter_provider: An OTel ``MeterProvider`` (default: the global one). Giving one
            turns ``otel`` on.
        registry: Where ``metrics`` are counted (default: the process `REGISTRY`).
    """

    def __init__(
        self,
        settings: TelemetrySettings | None = None,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        registry: Metrics | None = None,
    ) -> None:
        s = settings or TelemetrySettings()
        if (tracer_provider is not None or meter_provider is not None) and not s.otel:
            s = TelemetrySettings(otel=True, metrics=s.metrics, log_decisions=s.log_decisions)
        self.settings = s
        self.registry: Metrics = registry if registry is not None else REGISTRY
        self._metrics = self.registry if s.metrics else None
        self._log = s.log_decisions
        self._otel: Any = None
        if s.otel:
            from ._otel import OTel

            self._otel = OTel(self.registry, tracer_provider, meter_provider)
        self._warned = False

    def attach(self, firewall: Any) -> None:
        """Report *firewall*'s audit trail and policy revision as gauges."""
        self.registry.watch(firewall)

    def decided(self, call: Any, verdict: Any, agent: Any) -> None:
        """Report one final decision. Never raises: the verdict is already decided."""
        try:
            action = verdict.action
            label = "would_block" if verdict.would_block else action.value
            rule = verdict.policy_name or "none"
            agent_id = agent.agent_id if agent is not None else ""
            seconds = verdict.latency_us / 1e6
            jl = verdict.judge_latency_ms
            judge_seconds = jl / 1000.0 if jl is not None else None
            failed = verdict.policy_name if verdict.policy_name in JUDGE_FAILURE_RULES else ""
            if self._metrics is not None:
                self._metrics.observe(
                    label, rule, agent_id or "default", verdict.tier_used, seconds, judge_seconds, failed
                )
            if self._otel is not None:
                self._otel.decided(call, verdict, agent, label, rule, agent_id, seconds, judge_seconds, failed)
            if self._log:
                if action is VerdictType.BLOCK or verdict.would_block:
                    level = logging.WARNING
                elif verdict.tier_used == 2:
                    level = logging.INFO
                else:
                    level = logging.DEBUG
                if _decision_log.isEnabledFor(level):
                    _log_decision(level, call, verdict, agent, label, rule, agent_id)
        except Exception:
            self.registry.error()
            if not self._warned:  # once: a broken exporter would otherwise log every decision
                self._warned = True
                _log.exception("agentgate telemetry failed; decisions are unaffected (counted in telemetry_errors)")


def _log_decision(level: int, call: Any, v: Any, agent: Any, label: str, rule: str, agent_id: str) -> None:
    extra = {
        "decision_id": v.decision_id,
        "tool": call.tool_name,
        "agent_id": agent_id,
        "task_id": getattr(agent, "task_id", "") or "",
        "verdict": label,
        "rule": rule,
        "tier": v.tier_used,
        "severity": str(v.severity),
        "latency_ms": round(v.latency_us / 1000.0, 3),
        "policy_revision": v.policy_revision,
        "mode": v.mode,
        "framework": call.framework or "",
    }
    _decision_log.log(
        level,
        "%s %s (%s) agent=%s decision=%s: %s",
        label.upper(),
        call.tool_name,
        rule,
        agent_id or "-",
        v.decision_id,
        v.reasoning,
        extra=extra,
    )


_shared: dict[TelemetrySettings, Telemetry] = {}
_shared_lock = threading.Lock()


def build_telemetry(value: Any) -> Telemetry | None:
    """A `Telemetry` from what the config or ``protect_all(telemetry=...)`` holds.

    Accepts None/False (none), True (the defaults), a mapping or model with the keys of
    `TelemetrySettings`, `TelemetrySettings`, or a `Telemetry` (returned as is). Equal
    settings share one instance, so a reconfigured firewall keeps the same OTel instruments.
    """
    if value is None or value is False:
        return None
    if isinstance(value, Telemetry):
        return value
    if value is True:
        settings = TelemetrySettings()
    elif isinstance(value, TelemetrySettings):
        settings = value
    else:
        data = value if isinstance(value, Mapping) else getattr(value, "model_dump", lambda: None)()
        if not isinstance(data, Mapping):
            from .._errors import ConfigError

            raise ConfigError(f"telemetry must be true, a mapping or a Telemetry, not {type(value).__name__}")
        unknown = set(data) - {"otel", "metrics", "log_decisions"}
        if unknown:
            from .._errors import ConfigError

            raise ConfigError(f"unknown telemetry settings: {', '.join(sorted(unknown))}")
        settings = TelemetrySettings(**{k: bool(v) for k, v in data.items()})
    if not (settings.otel or settings.metrics or settings.log_decisions):
        return None
    with _shared_lock:
        tel = _shared.get(settings)
        if tel is None:
            tel = _shared[settings] = Telemetry(settings)
        return tel
