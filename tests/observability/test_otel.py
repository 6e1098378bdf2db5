"""OpenTelemetry spans and metrics of real calls through the fake provider, read back with
the SDK's in-memory exporters: attributes, parent/child links, timing, failures, fallbacks,
breaker transitions, and no prompt text anywhere."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the 'otel' extra (opentelemetry-sdk) is not installed")

from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402
from otelkit import MSGS, PROMPT, A, B, Otel, build  # noqa: E402

from router import RoutingError  # noqa: E402
from router.resilience.breaker import BreakerSettings  # noqa: E402
from router.testing import FakeProviderServer, Fault  # noqa: E402

@pytest.fixture
def otel() -> Otel:
    return Otel()


async def test_a_call_is_a_client_span_with_one_child_per_attempt(server: FakeProviderServer, otel: Otel) -> None:
    router, sink = build(server, otel)
    server.script("a", [Fault.status(503)])
    await router.acompletion("capable", MSGS, task_type="code_review", max_tokens=5)
    rec = sink.records[-1]
    spans = otel.spans.get_finished_spans()
    (call,) = [s for s in spans if s.parent is None]
    attempts = sorted((s for s in spans if s.parent is not None), key=lambda s: s.start_time)
    assert call.name == "chat capable" and call.kind is SpanKind.CLIENT
    a = call.attributes
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "capable" and a["gen_ai.response.model"] == "gpt-4o"
    assert a["gen_ai.usage.input_tokens"] == rec.input_tokens and a["gen_ai.usage.output_tokens"] == 5
    assert a["attune.deployment"] == A and a["attune.retry_count"] == 1 and a["attune.fallback_used"] is False
    assert list(a["attune.fallback_chain"]) == [A] and a["attune.circuit_breaker_state"] == "closed"
    assert a["attune.policy"] == "static" and list(a["attune.skipped"]) == []
    assert "error.type" not in a and call.status.status_code is not StatusCode.ERROR
    assert len(attempts) == 2 and all(s.parent.span_id == call.context.span_id for s in attempts)
    assert all(s.context.trace_id == call.context.trace_id for s in attempts)
    first, second = attempts
    assert first.name == "chat gpt-4o" and first.kind is SpanKind.CLIENT
    assert first.attributes["error.type"] == "overloaded" and first.attributes["http.response.status_code"] == 503
    assert first.status.status_code is StatusCode.ERROR and "error.type" not in second.attributes
    host, port = server.url_for("a").split("//")[1].split("/")[0].split(":")
    assert (second.attributes["server.address"], second.attributes["server.port"]) == (host, int(port))
    # real timing: the spans sit where the record says, attempts inside the call, in order
    t0 = rec.timestamp.timestamp() * 1e9
    assert call.start_time == pytest.approx(t0, abs=1e3)
    assert call.end_time - call.start_time == pytest.approx(rec.latency_ms * 1e6, abs=1e6)
    assert call.start_time <= first.start_time < first.end_time <= second.start_time < second.end_time <= call.end_time + 1e6
    assert second.end_time - second.start_time == pytest.approx(rec.attempts[1].latency_ms * 1e6, abs=1e3)  # ns, float epochs
    await router.aclose()


async def test_a_fallback_and_a_failure(server: FakeProviderServer, otel: Otel) -> None:
    router, sink = build(server, otel)
    server.set_default("a", Fault.status(500))
    await router.acompletion("capable", MSGS)
    server.set_default("b", Fault.status(500))
    with pytest.raises(RoutingError):
        await router.acompletion("capable", MSGS)
    calls = sorted((s for s in otel.spans.get_finished_spans() if s.parent is None), key=lambda s: s.start_time)
    ok, failed = calls
    assert ok.attributes["attune.fallback_used"] is True and list(ok.attributes["attune.fallback_chain"]) == [A, B]
    assert ok.attributes["gen_ai.provider.name"] == "anthropic" and ok.attributes["gen_ai.response.model"] == "claude-sonnet-4"
    assert failed.status.status_code is StatusCode.ERROR and failed.attributes["error.type"] == "server_error"
    assert "gen_ai.usage.input_tokens" not in failed.attributes
    children = [s for s in otel.spans.get_finished_spans() if s.parent is not None and s.parent.span_id == failed.context.span_id]
    sent = [x for x in sink.records[-1].attempts if x.outcome != "skipped"]
    assert len(children) == len(sent) >= 2 and {c.attributes["attune.deployment"] for c in children} == {A, B}
    # metrics: durations and tokens per call, the fallback counted once
    durations = otel.points("gen_ai.client.operation.duration")
    assert sum(p.count for p in durations) == 2
    assert {p.attributes.get("error.type") for p in durations} == {None, "server_error"}
    tokens = {p.attributes["gen_ai.token.type"]: p for p in otel.points("gen_ai.client.token.usage")}
    assert tokens["input"].sum == sink.records[0].input_tokens and tokens["output"].sum == sink.records[0].output_tokens
    fallbacks = {p.attributes.get("error.type"): p for p in otel.points("attune.fallbacks")}
    assert {k: p.value for k, p in fallbacks.items()} == {None: 1, "server_error": 1}  # served by B, and failed at B
    assert {p.attributes["attune.deployment"] for p in fallbacks.values()} == {B}
    await router.aclose()


async def test_breaker_transitions_are_counted(server: FakeProviderServer, otel: Otel) -> None:
    router, _ = build(server, otel, max_attempts_per_deployment=1, breaker=BreakerSettings(fail_max=2, reset_timeout_s=60))
    server.set_default("a", Fault.status(503))
    for _ in range(3):
        await router.acompletion("capable", MSGS)
    assert router.breaker(A).state == "open"
    points = otel.points("attune.circuit_breaker.transitions")
    assert [(p.attributes["attune.deployment"], p.attributes["attune.circuit_breaker_state"], p.value) for p in points] == [(A, "open", 1)]
    skipped = [s for s in otel.spans.get_finished_spans() if s.parent is None][-1]
    assert list(skipped.attributes["attune.skipped"]) == [f"{A}: circuit_open"]
    await router.aclose()


async def test_a_stream_span_ends_when_the_stream_ends(server: FakeProviderServer, otel: Otel) -> None:
    router, sink = build(server, otel)
    stream = await router.acompletion("capable", MSGS, stream=True)
    assert otel.spans.get_finished_spans() == ()  # nothing until the stream is read to its end
    async for _ in stream:
        pass
    (call,) = [s for s in otel.spans.get_finished_spans() if s.parent is None]
    rec = sink.records[-1]
    assert call.end_time - call.start_time == pytest.approx(rec.latency_ms * 1e6, abs=1e6)
    assert rec.latency_ms >= (rec.ttft_ms or 0) and call.attributes["gen_ai.usage.output_tokens"] == rec.output_tokens
    await router.aclose()


async def test_no_prompt_text_or_key_anywhere(server: FakeProviderServer, otel: Otel) -> None:
    router, _ = build(server, otel)
    server.script("a", [Fault.status(503)])
    await router.acompletion("capable", MSGS)
    dumped = json.dumps([json.loads(s.to_json()) for s in otel.spans.get_finished_spans()])
    otel.flush()
    dumped += otel.metrics.get_metrics_data().to_json()
    assert PROMPT not in dumped and "third stone" not in dumped and "sk-test" not in dumped
    await router.aclose()


def test_the_semconv_opt_in_drops_the_deprecated_system_attribute(monkeypatch: pytest.MonkeyPatch, otel: Otel) -> None:
    from router.otel import OTelObserver
    from telemetry import LLMCallRecord

    rec = LLMCallRecord(call_id="c1", provider="gemini", model="gemini-2.5-pro", tier="capable", deployment="gemini/g")
    monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
    otel.observers.append(OTelObserver(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider))
    otel.observers[-1](rec)
    otel.flush()
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "http, gen_ai_latest_experimental")
    OTelObserver(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider, background=False)(rec)
    default, latest = [s.attributes for s in otel.spans.get_finished_spans()]
    assert default["gen_ai.provider.name"] == default["gen_ai.system"] == "gcp.gemini"
    assert latest["gen_ai.provider.name"] == "gcp.gemini" and "gen_ai.system" not in latest


async def test_spans_are_built_off_the_callers_path(server: FakeProviderServer, otel: Otel) -> None:
    """The hook only queues the record: a slow span processor does not slow the call down."""
    import threading
    import time

    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult, SimpleSpanProcessor

    gate = threading.Event()

    class Slow(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            gate.wait(5.0)
            return SpanExportResult.SUCCESS

    otel.tracer_provider.add_span_processor(SimpleSpanProcessor(Slow()))
    router, _ = build(server, otel)
    t = time.perf_counter()
    await router.acompletion("capable", MSGS)
    assert time.perf_counter() - t < 2.0  # the exporter is blocked: only a queued record returned at once
    assert otel.exporter.get_finished_spans() == ()
    gate.set()
    assert [s.name for s in otel.spans.get_finished_spans()] == ["chat gpt-4o", "chat capable"]
    await router.aclose()
