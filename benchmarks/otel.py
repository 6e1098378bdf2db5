"""What the observability hooks cost on the caller's path, per call.

    .venv/bin/python benchmarks/otel.py [--calls 20000]

Record hooks run synchronously when a call finishes, so their cost is part of the call. For a
typical record (two attempts: a failure, then the fallback's success), measures in µs per call:
  * ``log_call_off_us``: ``router.logs.log_call`` with its logger quiet (the default);
  * ``otel_us``: ``OTelObserver`` building the call span, two attempt spans and the metrics on
    the OpenTelemetry SDK (``BatchSpanProcessor`` with an exporter that drops everything, a
    ``MeterProvider`` with an in-memory reader), the usual production set-up;
  * ``otel_noop_us``: the same observer on the API's no-op providers (the extra installed, no
    SDK configured).
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

from router.logs import log_call  # noqa: E402
from router.otel import OTelObserver  # noqa: E402
from telemetry import AttemptRecord, LLMCallRecord  # noqa: E402


def record(i: int) -> LLMCallRecord:
    t = datetime.now(timezone.utc)
    a = [AttemptRecord(f"c{i}", 0, 0, "openai/gpt-4o", "openai", "gpt-4o", "error", "overloaded", 529, 120.0, t),
         AttemptRecord(f"c{i}", 1, 0, "anthropic/claude", "anthropic", "claude", "success", None, 200, 900.0, t)]  # fmt: skip
    return LLMCallRecord(call_id=f"c{i}", timestamp=t, provider="anthropic", model="claude", tier="capable", task_type="chat",
                         input_tokens=1500, output_tokens=600, latency_ms=1030, fallback_used=True,
                         fallback_chain=["openai/gpt-4o", "anthropic/claude"], retry_count=0, circuit_breaker_state="closed",
                         deployment="anthropic/claude", policy="adaptive", attempts=a)  # fmt: skip


def per_call_us(hook: Any, recs: list[LLMCallRecord], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for r in recs:
            hook(r)
        times.append((time.perf_counter() - t) / len(recs) * 1e6)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=20_000)
    args = ap.parse_args()
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    recs = [record(i) for i in range(args.calls)]
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=args.calls * 4))
    mp = MeterProvider(metric_readers=[InMemoryMetricReader()])
    out = {
        "calls": args.calls,
        "log_call_off_us": per_call_us(log_call, recs),
        "otel_hook_us": per_call_us(hooked := OTelObserver(tracer_provider=tp, meter_provider=mp), recs, repeat=1),
        "otel_emit_us": per_call_us(OTelObserver(tracer_provider=tp, meter_provider=mp, background=False), recs),
        "otel_noop_us": per_call_us(OTelObserver(background=False), recs),
        "record_build_us": per_call_us(lambda r: record(0), recs),
        "load_avg_1m": os.getloadavg()[0],
    }
    hooked.flush(None)
    tp.shutdown()
    for k, v in out.items():
        print(f"{k:>16}: {v:.2f}" if isinstance(v, float) else f"{k:>16}: {v}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
