"""The router's OpenTelemetry metrics in Prometheus' text format (the ``otel`` extra), for the
gateway's ``GET /metrics`` and for library users.

::

    from router.prometheus import PrometheusMetrics
    from router.otel import instrument

    prom = PrometheusMetrics()              # a MeterProvider read by the OTel Prometheus exporter
    instrument(router, meter_provider=prom.meter_provider)
    body, content_type = prom.render()      # serve these at /metrics

Metric names as Prometheus shows them (OTel's conversion: dots become underscores, the unit
becomes a suffix, counters end in ``_total``):

======================================================  =========  ==================================
``gen_ai_client_operation_duration_seconds``            histogram  call duration, seconds
``gen_ai_client_token_usage``                           histogram  tokens per call, by ``gen_ai_token_type``
``attune_fallbacks_total``                              counter    calls past the plan's first deployment
``attune_circuit_breaker_transitions_total``            counter    breaker state changes per deployment
======================================================  =========  ==================================

Labels are the OTel attributes with dots as underscores (``gen_ai_provider_name``,
``gen_ai_request_model``, ``attune_deployment``, ``error_type``, ...).
"""

from __future__ import annotations

from typing import Any

__all__ = ["PrometheusMetrics"]


class PrometheusMetrics:
    """A ``MeterProvider`` with its own Prometheus registry; ``render()`` is the text a
    ``/metrics`` endpoint returns. Pass ``meter_provider`` to ``instrument``, or make it the
    global one with ``opentelemetry.metrics.set_meter_provider(prom.meter_provider)``."""

    def __init__(self) -> None:
        try:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from opentelemetry.sdk.metrics import MeterProvider
            from prometheus_client import CollectorRegistry
        except ImportError as exc:
            raise ImportError("Prometheus metrics need the 'otel' extra: pip install 'attune-router[otel]'") from exc
        self.registry = CollectorRegistry()
        self.reader = PrometheusMetricReader(registry=self.registry)
        self.meter_provider: Any = MeterProvider(metric_readers=[self.reader])

    def render(self) -> tuple[bytes, str]:
        """``(body, content type)`` of the current metrics in the Prometheus text format."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def text(self) -> str:
        """The current metrics as Prometheus text."""
        return self.render()[0].decode()

    def shutdown(self) -> None:
        self.meter_provider.shutdown()
