"""A router over the fake provider with OpenTelemetry's in-memory exporters (test helpers)."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from router import Deployment, OpenAIProvider, Router, RouterSettings, Tier
from router.otel import instrument
from router.testing import FakeProviderServer
from telemetry import MemorySink

PROMPT = "the secret plan is under the third stone"
MSGS = [{"role": "user", "content": PROMPT}]
A, B = "openai/gpt-4o", "anthropic/claude-sonnet-4"


class _Flushed:
    """The in-memory span exporter, read after the observers' background thread is done."""

    def __init__(self, exporter: InMemorySpanExporter, otel: Otel) -> None:
        self.exporter = exporter
        self.otel = otel

    def get_finished_spans(self) -> Any:
        self.otel.flush()
        return self.exporter.get_finished_spans()


class Otel:
    def __init__(self) -> None:
        self.observers: list[Any] = []
        self.exporter = InMemorySpanExporter()
        self.spans = _Flushed(self.exporter, self)
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.metrics = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])

    def flush(self) -> None:
        for obs in self.observers:
            assert obs.flush(10.0), "the OpenTelemetry thread did not drain"

    def points(self, name: str) -> list[Any]:
        self.flush()
        data = self.metrics.get_metrics_data()
        out = []
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == name:
                        out.extend(m.data.data_points)
        return out


def build(server: FakeProviderServer, otel: Otel, **settings: Any) -> tuple[Router, MemorySink]:
    base = {"backoff_initial_s": 0.001, "backoff_max_s": 0.004, "attempt_timeout_s": 2.0, "deadline_s": 10.0, **settings}
    sink = MemorySink()
    router = Router(
        deployments=[
            Deployment(A, OpenAIProvider(base_url=server.url_for("a"), api_key="sk-test", name="openai"), "gpt-4o"),
            Deployment(B, OpenAIProvider(base_url=server.url_for("b"), api_key="sk-test", name="anthropic"), "claude-sonnet-4"),
        ],
        tiers=[Tier("capable", [A, B], policy="static")],
        telemetry=sink,
        settings=RouterSettings(**base),
    )
    otel.observers.append(instrument(router, tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider))
    return router, sink
