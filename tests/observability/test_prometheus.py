"""The router's metrics read as Prometheus text, parsed back with prometheus_client's parser."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.exporter.prometheus", reason="the 'otel' extra is not installed")

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from router import RoutingError  # noqa: E402
from router.otel import OTelObserver, instrument  # noqa: E402
from router.prometheus import PrometheusMetrics  # noqa: E402
from router.resilience.breaker import BreakerSettings  # noqa: E402
from router.testing import FakeProviderServer, Fault  # noqa: E402
from otelkit import MSGS, A, B, Otel, build  # noqa: E402


async def test_metrics_parse_as_prometheus_text(server: FakeProviderServer) -> None:
    prom = PrometheusMetrics()
    router, sink = build(server, Otel(), max_attempts_per_deployment=1, breaker=BreakerSettings(fail_max=2, reset_timeout_s=60))
    router.hooks[:] = [h for h in router.hooks if not isinstance(h, OTelObserver)]  # only the Prometheus provider
    obs = instrument(router, meter_provider=prom.meter_provider)
    await router.acompletion("capable", MSGS)
    server.set_default("a", Fault.status(500))
    for _ in range(2):
        await router.acompletion("capable", MSGS)  # served by B after A fails: fallbacks, then A's breaker opens
    server.set_default("b", Fault.status(500))
    with pytest.raises(RoutingError):
        await router.acompletion("capable", MSGS)
    assert obs.flush(10.0)
    body, ctype = prom.render()
    assert ctype.startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    dur = families["gen_ai_client_operation_duration_seconds"]
    assert dur.type == "histogram"
    counts: dict[str, float] = {}
    for s in dur.samples:
        if s.name.endswith("_count"):
            counts[s.labels.get("error_type", "")] = counts.get(s.labels.get("error_type", ""), 0) + s.value
    assert counts == {"": 3, "server_error": 1}  # a label the call did not have reads as ""
    assert {s.labels["gen_ai_request_model"] for s in dur.samples} == {"capable"}
    tokens = families["gen_ai_client_token_usage"]
    sums: dict[str, float] = {}
    for s in tokens.samples:
        if s.name.endswith("_sum"):
            sums[s.labels["gen_ai_token_type"]] = sums.get(s.labels["gen_ai_token_type"], 0) + s.value
    assert sums == {"input": sum(r.input_tokens for r in sink.records), "output": sum(r.output_tokens for r in sink.records)}
    fb = families["attune_fallbacks"]  # the parser strips _total from a counter's family name
    assert fb.type == "counter"
    assert {(s.labels["attune_deployment"], s.labels.get("error_type", "")): s.value for s in fb.samples if s.name.endswith("_total")} == {
        (B, ""): 2,  # the failed call ended at A, its panic attempt: no fallback by the record
    }
    tr = families["attune_circuit_breaker_transitions"]
    got = {(s.labels["attune_deployment"], s.labels["attune_circuit_breaker_previous_state"], s.labels["attune_circuit_breaker_state"], s.value)
           for s in tr.samples if s.name.endswith("_total")}  # fmt: skip
    # A tripped, then the failed call's last-resort attempt probed it (half-open) and it re-opened
    assert got == {(A, "closed", "open", 1), (A, "open", "half-open", 1), (A, "half-open", "open", 1)}
    await router.aclose()
    prom.shutdown()
