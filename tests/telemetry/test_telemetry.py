"""Telemetry: decision spans under the caller's span, metrics, the Prometheus text, decision logs.

Spans and metrics go through the real OpenTelemetry SDK (in-memory span exporter and
metric reader); each test builds its own providers and its own `Metrics` registry, so
nothing depends on the global providers or on other tests' counts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import agentgate
from agentgate import Firewall, FirewallBlockedError, ToolCall, scope
from agentgate.audit import MemorySink
from agentgate.policy._config import load_config
from agentgate.telemetry import REGISTRY, Metrics, Telemetry, TelemetrySettings, build_telemetry
from agentgate.telemetry import _log_decision as real_log_decision
from agentgate.telemetry.prometheus import CONTENT_TYPE, metrics_route, render
from agentgate.testing import StaticJudge

from .promtext import parse

DELETE = ToolCall("delete_records", {"table": "users"}, framework="langchain", call_id="call-7")
READ = ToolCall("read_records", {"table": "users"})
UNKNOWN = ToolCall("frobnicate_widget", {"widget": "w1"})  # no operation can be read from it: escalates
READ_ONLY = {"allowed_operations": ["read"]}


class Otel:
    """A tracer provider with an in-memory exporter and a meter provider with an in-memory reader."""

    def __init__(self, processor: SpanProcessor | None = None) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(processor or SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.registry = Metrics()
        self.telemetry = Telemetry(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider, registry=self.registry
        )

    def metrics(self) -> dict[str, list[Any]]:
        """Data points by instrument name."""
        data = self.reader.get_metrics_data()
        out: dict[str, list[Any]] = {}
        assert data is not None
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out[m.name] = list(m.data.data_points)
        return out

    def close(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


@pytest.fixture(autouse=True)
def _sdk_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's providers are no-ops under OTEL_SDK_DISABLED (which a CrewAI environment sets)."""
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)


@pytest.fixture
def otel() -> Iterator[Otel]:
    o = Otel()
    yield o
    o.close()


def _decision_spans(o: Otel) -> list[ReadableSpan]:
    return [s for s in o.spans.get_finished_spans() if s.name.startswith("agentgate.decide ")]


# ------------------------------------------------------------------ spans


def test_decision_span_is_a_child_of_the_tool_span_with_its_attributes(otel: Otel) -> None:
    """The decision span's parent is the span current when the call was decided; attributes name the decision."""
    fw = Firewall(audit=None, telemetry=otel.telemetry)
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("execute_tool delete_records") as tool_span, scope(**READ_ONLY):
        v = fw.evaluate(DELETE)
    assert v.blocked
    (span,) = _decision_spans(otel)
    assert span.name == "agentgate.decide delete_records"
    assert span.parent is not None
    assert span.parent.span_id == tool_span.get_span_context().span_id
    assert span.context.trace_id == tool_span.get_span_context().trace_id
    attrs = dict(span.attributes or {})
    assert attrs["gen_ai.tool.name"] == "delete_records"
    assert attrs["gen_ai.tool.call.id"] == "call-7"
    assert attrs["agentgate.verdict"] == "block"
    assert attrs["agentgate.rule"] == v.policy_name == "scope.operation"
    assert attrs["agentgate.tier"] == 1
    assert attrs["agentgate.policy.revision"] == fw.policy_revision
    assert attrs["agentgate.decision.id"] == v.decision_id
    assert attrs["agentgate.decision.latency_ms"] == pytest.approx(v.latency_us / 1000)
    assert attrs["agentgate.framework"] == "langchain"
    assert "users" not in {str(v) for v in attrs.values()}  # argument values are not copied onto spans
    assert span.end_time is not None and span.start_time is not None
    assert span.end_time - span.start_time == pytest.approx(v.latency_us * 1000, abs=1)


def test_span_carries_agent_and_judge(otel: Otel) -> None:
    """A tier-2 decision names the agent, the judge model and the judge's latency."""
    fw = Firewall(audit=None, telemetry=otel.telemetry, judge=StaticJudge(consistent=True, model="judge-1"))
    with agentgate.agent_context(agent_id="billing"), scope(**READ_ONLY):
        v = fw.evaluate(UNKNOWN)
    assert v.allowed and v.tier_used == 2
    attrs = dict(_decision_spans(otel)[0].attributes or {})
    assert attrs["gen_ai.agent.name"] == "billing"
    assert attrs["agentgate.tier"] == 2
    assert attrs["agentgate.judge.model"] == "judge-1"
    assert "agentgate.judge.latency_ms" in attrs


def test_without_a_current_span_the_decision_span_is_a_root(otel: Otel) -> None:
    """No framework span: the decision span starts its own trace (it is still emitted)."""
    Firewall(audit=None, telemetry=otel.telemetry).evaluate(READ)
    (span,) = _decision_spans(otel)
    assert span.parent is None
    assert dict(span.attributes or {})["agentgate.verdict"] == "allow"


# ---------------------------------------------------------------- metrics


def test_otel_metrics_after_n_decisions(otel: Otel) -> None:
    """Counters by verdict/rule/agent, the latency histogram and the audit gauges through the OTel SDK."""
    sink = MemorySink()
    fw = Firewall(audit=sink, telemetry=otel.telemetry)
    with agentgate.agent_context(agent_id="reporter"), scope(**READ_ONLY):
        for _ in range(3):
            fw.evaluate(READ)
        for _ in range(2):
            fw.evaluate(DELETE)
    assert fw.flush(5.0)
    pts = otel.metrics()
    counts = {
        (p.attributes["agentgate.verdict"], p.attributes["agentgate.rule"], p.attributes["gen_ai.agent.name"]): p.value
        for p in pts["agentgate.decisions"]
    }
    assert counts == {("allow", "none", "reporter"): 3, ("block", "scope.operation", "reporter"): 2}
    (hist,) = pts["agentgate.decision.duration"]
    assert hist.count == 5 and hist.attributes == {"agentgate.tier": 1}
    assert pts["agentgate.audit.queue_depth"][0].value == 0
    assert pts["agentgate.audit.dropped"][0].value == 0
    assert pts["agentgate.audit.write_errors"][0].value == 0
    (rev,) = pts["agentgate.policy.revision"]
    assert rev.attributes == {"agentgate.policy.revision": fw.policy_revision}
    assert len(sink.records) == 5


def test_judge_latency_and_failures_are_counted(otel: Otel) -> None:
    """A judge that answers feeds the judge histogram; one that fails counts a failure (and blocks)."""
    ok = Firewall(audit=None, telemetry=otel.telemetry, judge=StaticJudge(consistent=True))
    broken = Firewall(audit=None, telemetry=otel.telemetry, judge=StaticJudge(error="judge down"))
    with scope(**READ_ONLY):
        assert ok.evaluate(UNKNOWN).allowed
        failed = broken.evaluate(UNKNOWN)
    assert failed.blocked and failed.policy_name == "judge.error"
    pts = otel.metrics()
    assert pts["agentgate.judge.duration"][0].count == 2
    assert [(p.attributes, p.value) for p in pts["agentgate.judge.failures"]] == [
        ({"agentgate.rule": "judge.error"}, 1)
    ]
    snap = otel.registry.snapshot()
    assert snap["judge_failures"] == {"judge.error": 1}
    assert snap["latency"]["2"].n == 2


def test_labels_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_SERIES label sets, new agents are counted under 'other' instead of growing the registry."""
    from agentgate.telemetry import _metrics

    monkeypatch.setattr(_metrics, "MAX_SERIES", 3)
    m = Metrics()
    for i in range(6):
        m.observe("allow", "none", f"agent-{i}", 1, 0.00001, None, "")
    decisions = m.snapshot()["decisions"]
    assert len(decisions) == 4
    assert decisions[("allow", "other", "other")] == 3


# ------------------------------------------------------------- prometheus


def test_prometheus_text_parses_and_counts(otel: Otel) -> None:
    """The exposition parses strictly and holds the decisions, the latency histogram and the audit gauges."""
    fw = Firewall(audit=MemorySink(), telemetry=otel.telemetry)
    with scope(**READ_ONLY):
        for _ in range(4):
            fw.evaluate(READ)
        fw.evaluate(DELETE)
    assert fw.flush(5.0)
    families = parse(render(otel.registry))
    dec = families["agentgate_decisions_total"]
    assert dec.type == "counter"
    assert dec.value(verdict="allow", rule="none", agent="default") == 4
    assert dec.value(verdict="block", rule="scope.operation", agent="default") == 1
    lat = families["agentgate_decision_duration_seconds"]
    assert lat.type == "histogram"
    assert lat.value("_count", tier="1") == 5
    assert lat.value("_bucket", tier="1", le="+Inf") == 5
    assert families["agentgate_audit_queue_depth"].value() == 0
    assert families["agentgate_audit_dropped_total"].value() == 0
    assert families["agentgate_audit_write_errors_total"].value() == 0
    assert families["agentgate_policy_info"].value(revision=fw.policy_revision) == 1
    assert families["agentgate_telemetry_errors_total"].value() == 0


def test_prometheus_escapes_label_values() -> None:
    """An agent id with quotes, backslashes and newlines cannot break the exposition."""
    m = Metrics()
    m.observe("block", "sql.drop", 'evil"} 1\nagentgate_fake 9\\', 1, 0.001, None, "")
    text = render(m)
    families = parse(text)
    assert "agentgate_fake" not in families
    assert (
        families["agentgate_decisions_total"].value(
            verdict="block", rule="sql.drop", agent='evil"} 1\nagentgate_fake 9\\'
        )
        == 1
    )


def test_metrics_route_serves_the_exposition(otel: Otel) -> None:
    """GET /metrics answers with the 0.0.4 content type and the registry's text."""
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    Firewall(audit=None, telemetry=otel.telemetry).evaluate(READ)
    with TestClient(Starlette(routes=[metrics_route(registry=otel.registry)])) as client:
        r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"] == CONTENT_TYPE
    assert parse(r.text)["agentgate_decisions_total"].value(verdict="allow", rule="none", agent="default") == 1


def test_policy_store_health_is_exposed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A degraded policy store shows as a gauge with its counters; a process following no store shows none."""
    from agentgate.policy import store

    m = Metrics()
    assert "agentgate_policy_store_degraded" not in parse(render(m))
    monkeypatch.setattr(
        store, "status", lambda: {"state": "degraded", "reloads": 3, "rejected": 1, "outages": 2, "revision": "ab12"}
    )
    fams = parse(render(m))
    assert fams["agentgate_policy_store_degraded"].value() == 1
    assert fams["agentgate_policy_store_outages_total"].value() == 2
    assert fams["agentgate_policy_store_reloads_total"].value() == 3
    monkeypatch.setattr(store, "status", lambda: {"state": "ok", "reloads": 3, "rejected": 1, "outages": 2})
    assert parse(render(m))["agentgate_policy_store_degraded"].value() == 0


def test_store_swap_keeps_telemetry() -> None:
    """A firewall rebuilt for a new store revision reports through the same telemetry."""
    from agentgate.policy._config import Config
    from agentgate.policy.store._reload import rebuild

    tel = Telemetry(registry=Metrics())
    cur = Firewall(audit=None, telemetry=tel)
    new = rebuild(cur, Config.model_validate({"mode": "monitor"}), {})
    assert new._telemetry is tel
    assert tel.registry.firewall() is new


def test_serve_app_mounts_metrics(tmp_path: Any) -> None:
    """``agentgate serve``'s app answers GET /metrics with a parsable exposition."""
    from starlette.testclient import TestClient

    from agentgate.server import create_app

    with TestClient(create_app(f"sqlite:///{tmp_path}/audit.db"), base_url="http://127.0.0.1:8765") as client:
        r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"] == CONTENT_TYPE
    assert parse(r.text)["agentgate_decisions_total"].type == "counter"


# ---------------------------------------------------------------- logging


def _decision_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "agentgate.decisions"]


def test_decisions_logged_with_levels_and_structured_extras(caplog: pytest.LogCaptureFixture) -> None:
    """Block at WARNING, a judge's allow at INFO, a tier-1 allow at DEBUG; each with the decision's fields."""
    fw = Firewall(audit=None, telemetry=Telemetry(registry=Metrics()), judge=StaticJudge(consistent=True))
    caplog.set_level(logging.DEBUG, logger="agentgate.decisions")
    with agentgate.agent_context(agent_id="ops", task_id="t-1"), scope(**READ_ONLY):
        blocked = fw.evaluate(DELETE)
        fw.evaluate(UNKNOWN)
        fw.evaluate(READ)
    recs = _decision_records(caplog)
    assert [(r.levelno, r.verdict, r.tool) for r in recs] == [  # type: ignore[attr-defined]
        (logging.WARNING, "block", "delete_records"),
        (logging.INFO, "allow", "frobnicate_widget"),
        (logging.DEBUG, "allow", "read_records"),
    ]
    r = recs[0]
    assert r.decision_id == blocked.decision_id  # type: ignore[attr-defined]
    assert (r.agent_id, r.task_id, r.rule, r.tier) == ("ops", "t-1", "scope.operation", 1)  # type: ignore[attr-defined]
    assert r.policy_revision == fw.policy_revision  # type: ignore[attr-defined]
    assert r.latency_ms == pytest.approx(blocked.latency_us / 1000, abs=0.001)  # type: ignore[attr-defined]
    assert blocked.reasoning in r.getMessage()


def test_monitor_mode_would_block_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """In monitor mode the call runs, and the log says what enforce mode would have done."""
    m = Metrics()
    fw = Firewall(audit=None, mode="monitor", telemetry=Telemetry(registry=m))
    caplog.set_level(logging.WARNING, logger="agentgate.decisions")
    with scope(**READ_ONLY):
        assert fw.evaluate(DELETE).allowed
    (r,) = _decision_records(caplog)
    assert r.verdict == "would_block"  # type: ignore[attr-defined]
    assert m.snapshot()["decisions"] == {("would_block", "scope.operation", "default"): 1}


def test_disabled_level_does_not_format(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """With the logger at WARNING an allow is not even built into a record (one isEnabledFor check)."""
    from agentgate import telemetry as tel_mod

    built: list[str] = []
    monkeypatch.setattr(tel_mod, "_log_decision", lambda *a: built.append(a[1].tool_name) or real_log_decision(*a))
    caplog.set_level(logging.WARNING, logger="agentgate.decisions")
    fw = Firewall(audit=None, telemetry=Telemetry(registry=Metrics()))
    with scope(**READ_ONLY):
        fw.evaluate(READ)
        fw.evaluate(DELETE)
    assert built == ["delete_records"]


# ------------------------------------------------------ off, and failures


def test_zero_config_emits_nothing(otel: Otel, caplog: pytest.LogCaptureFixture) -> None:
    """No telemetry configured: no hook object, no spans, no counts, no decision log records."""
    caplog.set_level(logging.DEBUG, logger="agentgate.decisions")
    before = REGISTRY.snapshot()["decisions"]
    fw = Firewall(audit=None)
    assert fw._telemetry is None
    with scope(**READ_ONLY):
        fw.evaluate(READ)
        fw.evaluate(DELETE)
    assert _decision_spans(otel) == []
    assert REGISTRY.snapshot()["decisions"] == before
    assert _decision_records(caplog) == []


class _Exploding(SpanProcessor):
    def on_end(self, span: ReadableSpan) -> None:
        raise RuntimeError("collector unreachable")


class _BadHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        raise RuntimeError("log pipeline down")

    def handleError(self, record: logging.LogRecord) -> None:
        raise RuntimeError("log pipeline down")


def _check_both(fw: Firewall) -> None:
    agentgate.set_firewall(fw)
    with scope(**READ_ONLY):
        assert agentgate.get_firewall().check(READ).allowed
        with pytest.raises(FirewallBlockedError):
            agentgate.get_firewall().check(DELETE)


def test_failing_span_exporter_never_changes_the_verdict(caplog: pytest.LogCaptureFixture) -> None:
    """A span processor that raises: the block still blocks, the allow still allows, the errors are counted."""
    o = Otel(processor=_Exploding())
    try:
        _check_both(Firewall(audit=None, telemetry=o.telemetry))
    finally:
        o.close()
    assert o.registry.snapshot()["telemetry_errors"] == 2
    assert "agentgate telemetry failed" in caplog.text


def test_failing_log_handler_never_changes_the_verdict() -> None:
    """A decision-log handler that raises: verdicts unchanged, the errors counted."""
    m = Metrics()
    bad = _BadHandler(level=logging.DEBUG)
    log = logging.getLogger("agentgate.decisions")
    log.addHandler(bad)
    old = log.level
    log.setLevel(logging.DEBUG)
    try:
        _check_both(Firewall(audit=None, telemetry=Telemetry(registry=m)))
    finally:
        log.removeHandler(bad)
        log.setLevel(old)
    assert m.snapshot()["telemetry_errors"] == 2


# ------------------------------------------------------------ configuration


def test_config_section_validated_and_outside_the_revision(tmp_path: Any) -> None:
    """``telemetry:`` is checked key by key; it does not change the policy revision."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("telemetry:\n  otel: false\n  prometheus: true\n")
    with pytest.raises(agentgate.ConfigError) as ei:
        load_config(bad)
    assert "telemetry" in str(ei.value) and "prometheus" in str(ei.value)
    plain, on = tmp_path / "plain.yaml", tmp_path / "on.yaml"
    plain.write_text("mode: enforce\n")
    on.write_text("mode: enforce\ntelemetry: true\n")
    cfg = load_config(on)
    assert cfg.telemetry is not None and (cfg.telemetry.metrics, cfg.telemetry.otel) == (True, False)
    assert cfg.revision() == load_config(plain).revision()
    fw = Firewall(cfg, audit=None)
    assert fw._telemetry is not None and fw._telemetry.settings == TelemetrySettings()


def test_protect_all_and_reconfigure_keep_one_telemetry() -> None:
    """``protect_all(telemetry=...)`` attaches it; a reconfigured firewall reports through the same one."""
    agentgate.protect_all(audit="none", frameworks=[], telemetry={"log_decisions": False})
    tel = agentgate.get_firewall()._telemetry
    assert tel is not None and tel.settings == TelemetrySettings(log_decisions=False)
    new = agentgate.reconfigure(mode="monitor")
    assert new._telemetry is tel
    assert build_telemetry({"log_decisions": False}) is tel
    assert build_telemetry(False) is None
    with pytest.raises(agentgate.ConfigError):
        build_telemetry({"otle": True})
