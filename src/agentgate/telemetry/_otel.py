"""Spans and metrics through the OpenTelemetry API (the ``otel`` extra).

Span: ``agentgate.decide {tool}``, a child of the current span, started at the moment
the decision began (end time minus its latency) and ended when it was final. Attribute
names follow the GenAI semantic conventions where one exists (``gen_ai.tool.name``,
``gen_ai.tool.call.id``, ``gen_ai.agent.name``); there is no convention yet for a
guardrail's decision, so the rest are ``agentgate.*``. The reason text and the
arguments are not put on the span: they can hold the values the audit trail redacts;
``agentgate.decision.id`` joins the span to its audit record.

Metrics (names in OTel style; the Prometheus exposition uses ``agentgate_*`` names):
``agentgate.decisions`` (counter), ``agentgate.decision.duration`` (histogram, s),
``agentgate.judge.duration`` (histogram, s), ``agentgate.judge.failures`` (counter), and
observable ``agentgate.audit.queue_depth``, ``agentgate.audit.spooled``,
``agentgate.audit.dropped``, ``agentgate.audit.write_errors``, ``agentgate.policy.revision``
(value 1, the revision as an attribute), ``agentgate.policy.store.degraded``, read from the
watched firewall and the policy store at collection.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from .._errors import MissingDependencyError
from ._metrics import LATENCY_BUCKETS, Metrics, gauges

__all__ = ["OTel"]


class OTel:
    """The tracer and instruments of one `Telemetry`."""

    def __init__(self, registry: Metrics, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        try:
            from opentelemetry import metrics, trace
        except ImportError:
            raise MissingDependencyError("opentelemetry-api", "otel") from None
        from .. import __version__

        tp = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        mp = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        self._registry = registry
        self.tracer = tp.get_tracer("agentgate", __version__)
        meter = mp.get_meter("agentgate", __version__)
        self.decisions = meter.create_counter(
            "agentgate.decisions", unit="{decision}", description="Final decisions by verdict, rule and agent."
        )
        self.latency = meter.create_histogram(
            "agentgate.decision.duration",
            unit="s",
            description="Time to decide a tool call (tier 1, plus the judge or approver when asked).",
            explicit_bucket_boundaries_advisory=list(LATENCY_BUCKETS),
        )
        self.judge_latency = meter.create_histogram(
            "agentgate.judge.duration",
            unit="s",
            description="Time the tier-2 judge took.",
            explicit_bucket_boundaries_advisory=list(LATENCY_BUCKETS),
        )
        self.judge_failures = meter.create_counter(
            "agentgate.judge.failures", unit="{failure}", description="Escalations the judge could not answer."
        )
        obs = metrics.Observation

        def gauge(key: str) -> Any:
            def read(options: Any) -> Iterable[Any]:
                v = gauges(self._registry.firewall()).get(key)
                return [obs(v)] if isinstance(v, int) else []

            return read

        def revision(options: Any) -> Iterable[Any]:
            rev = gauges(self._registry.firewall()).get("policy_revision")
            return [obs(1, {"agentgate.policy.revision": rev})] if rev else []

        meter.create_observable_gauge(
            "agentgate.audit.queue_depth",
            [gauge("audit_pending")],
            unit="{record}",
            description="Audit records queued, not yet written.",
        )
        meter.create_observable_gauge(
            "agentgate.audit.spooled",
            [gauge("audit_spooled")],
            unit="{record}",
            description="Audit records in the local spool, waiting for a sink to come back.",
        )
        meter.create_observable_counter(
            "agentgate.audit.dropped",
            [gauge("audit_dropped")],
            unit="{record}",
            description="Audit records lost (neither a sink nor the spool could store them).",
        )
        meter.create_observable_counter(
            "agentgate.audit.write_errors",
            [gauge("audit_errors")],
            unit="{error}",
            description="Failed writes to an audit sink.",
        )
        meter.create_observable_gauge(
            "agentgate.policy.store.degraded",
            [gauge("store_degraded")],
            description="1 while the policy store cannot be followed (the last good policy stays in force).",
        )
        meter.create_observable_gauge(
            "agentgate.policy.revision",
            [revision],
            description="1, with the policy revision in force as the agentgate.policy.revision attribute.",
        )

    def decided(
        self,
        call: Any,
        v: Any,
        agent: Any,
        label: str,
        rule: str,
        agent_id: str,
        seconds: float,
        judge_seconds: float | None,
        failed: str,
    ) -> None:
        """One span and the metric updates for a final decision."""
        end = time.time_ns()
        attrs: dict[str, Any] = {
            "gen_ai.tool.name": call.tool_name,
            "agentgate.verdict": label,
            "agentgate.rule": rule,
            "agentgate.tier": v.tier_used,
            "agentgate.severity": str(v.severity),
            "agentgate.policy.revision": v.policy_revision,
            "agentgate.decision.id": v.decision_id,
            "agentgate.decision.latency_ms": v.latency_us / 1000.0,
            "agentgate.mode": v.mode,
        }
        if call.call_id:
            attrs["gen_ai.tool.call.id"] = call.call_id
        if agent_id:
            attrs["gen_ai.agent.name"] = agent_id
        if call.framework:
            attrs["agentgate.framework"] = call.framework
        task = getattr(agent, "task_id", "")
        if task:
            attrs["agentgate.task.id"] = task
        if v.judge_model:
            attrs["agentgate.judge.model"] = v.judge_model
        if judge_seconds is not None:
            attrs["agentgate.judge.latency_ms"] = judge_seconds * 1000.0
        span = self.tracer.start_span(
            f"agentgate.decide {call.tool_name}", start_time=end - int(v.latency_us * 1000), attributes=attrs
        )
        span.end(end_time=end)
        labels = {"agentgate.verdict": label, "agentgate.rule": rule, "gen_ai.agent.name": agent_id or "default"}
        self.decisions.add(1, labels)
        self.latency.record(seconds, {"agentgate.tier": v.tier_used})
        if judge_seconds is not None:
            self.judge_latency.record(judge_seconds)
        if failed:
            self.judge_failures.add(1, {"agentgate.rule": failed})
