"""OpenTelemetry spans and metrics for routed calls (the ``otel`` extra, imported only here).

``instrument(router)`` (or ``otel: true`` at the top of the config) adds an ``OTelObserver``
to the router's record hooks and a listener to every breaker. For each finished call it
emits, on the global tracer and meter providers (or the ones given):

- a CLIENT span ``chat {requested model}`` from the call's start to its end (a streaming call
  ends when its stream does), with one CLIENT child span per attempt sent, each with its own
  start time and latency -- built from the record's times in the observer's thread, off the
  caller's path;
- ``gen_ai.client.operation.duration`` (s) and ``gen_ai.client.token.usage`` ({token}),
  ``attune.fallbacks`` (calls that went past the plan's first deployment) and ``attune.circuit_breaker.transitions``.

Attributes follow the GenAI semantic conventions as of semantic-conventions v1.37.0 (the
release that introduced ``gen_ai.provider.name``; the conventions have since moved to
open-telemetry/semantic-conventions-genai and are still experimental). By default the
deprecated ``gen_ai.system`` is emitted beside ``gen_ai.provider.name`` for backends still on
v1.36; ``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` emits only the latest
names. No prompt or completion text is ever recorded: the records carry none.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from telemetry.records import LLMCallRecord

__all__ = ["SEMCONV_VERSION", "OTelObserver", "instrument"]

SEMCONV_VERSION = "1.37.0"
_SCOPE = "attune-router"
# gen_ai.provider.name well-known values for the provider labels attune uses
_PROVIDERS = {"gemini": "gcp.gemini", "google": "gcp.gemini", "vertex": "gcp.vertex_ai", "azure": "azure.ai.openai",
              "bedrock": "aws.bedrock", "mistral": "mistral_ai", "xai": "x_ai"}  # fmt: skip
# the conventions' advisory bucket boundaries
_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]


def _latest_only() -> bool:
    opt_in = os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "")
    return "gen_ai_latest_experimental" in {v.strip() for v in opt_in.split(",")}


def provider_name(label: str) -> str:
    """The ``gen_ai.provider.name`` of one of attune's provider labels."""
    return _PROVIDERS.get(label, label)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("attune-router")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def _ns(ts: float) -> int:
    return int(ts * 1e9)


log = logging.getLogger("attune.otel")


class OTelObserver:
    """A record hook (``Router(hooks=[OTelObserver()])``) that turns each finished call into
    spans and metrics. ``servers`` maps a deployment key to ``(host, port)`` for the
    attempts' ``server.address``/``server.port`` (``instrument`` fills it from the router).

    Spans carry the record's own times, so they are built off the caller's path: the hook only
    queues the record (``background=True``, the default) and a daemon thread builds the spans
    and metrics; ``flush()`` waits for it (also run at interpreter exit)."""

    def __init__(
        self,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        servers: dict[str, tuple[str, int]] | None = None,
        background: bool = True,
    ) -> None:
        try:
            from opentelemetry import metrics, trace
        except ImportError as exc:
            raise ImportError("OpenTelemetry support needs the 'otel' extra: pip install 'attune-router[otel]'") from exc
        version = _version()
        self._trace = trace
        self._tracer = trace.get_tracer(_SCOPE, version, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, version, meter_provider=meter_provider)
        self.servers = dict(servers or {})
        self.providers = (tracer_provider, meter_provider)
        self.latest_only = _latest_only()
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )  # fmt: skip
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )  # fmt: skip
        self.background = background
        self._queue: deque[LLMCallRecord] = deque()
        self._pending = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._fallbacks = meter.create_counter("attune.fallbacks", unit="{call}", description="Calls that went past the plan's first deployment (error.type set when the call still failed).")
        self._transitions = meter.create_counter("attune.circuit_breaker.transitions", unit="{transition}", description="Circuit breaker state changes per deployment.")

    # -- attributes ----------------------------------------------------------------------
    def _provider(self, label: str) -> dict[str, str]:
        name = provider_name(label)
        return {"gen_ai.provider.name": name} if self.latest_only else {"gen_ai.provider.name": name, "gen_ai.system": name}

    def _call_attributes(self, r: LLMCallRecord) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            **self._provider(r.provider),
            "gen_ai.request.model": r.tier or r.model,
            "gen_ai.response.model": r.model,
            "attune.deployment": r.deployment,
            "attune.call_id": r.call_id,
            "attune.retry_count": r.retry_count,
            "attune.fallback_used": r.fallback_used,
            "attune.fallback_chain": list(r.fallback_chain),
            "attune.policy": r.policy or "",
            "attune.skipped": [f"{s.deployment}: {s.reason}" for s in r.skipped],
            "attune.task_type": r.task_type,
        }
        if r.success:
            attrs["gen_ai.usage.input_tokens"] = r.input_tokens
            attrs["gen_ai.usage.output_tokens"] = r.output_tokens
            if r.request_id:
                attrs["gen_ai.response.id"] = r.request_id
        else:
            attrs["error.type"] = r.error_type or "_OTHER"
        if r.circuit_breaker_state:
            attrs["attune.circuit_breaker_state"] = r.circuit_breaker_state
        return attrs

    def _attempt_attributes(self, a: Any) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            **self._provider(a.provider),
            "gen_ai.request.model": a.model,
            "attune.deployment": a.deployment,
            "attune.attempt.position": a.position,
            "attune.attempt.retry_number": a.retry_number,
            "attune.attempt.outcome": a.outcome,
        }
        server = self.servers.get(a.deployment)
        if server is not None:
            attrs["server.address"], attrs["server.port"] = server
        if a.outcome != "success":
            attrs["error.type"] = a.error_type or a.outcome
        if a.http_status is not None:
            attrs["http.response.status_code"] = a.http_status
        return attrs

    # -- the hook ------------------------------------------------------------------------
    def __call__(self, r: LLMCallRecord) -> None:
        """Queue the record (or, with ``background=False``, emit it now)."""
        if not self.background:
            self.emit(r)
            return
        with self._cond:
            self._queue.append(r)
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="attune-otel", daemon=True)
                self._thread.start()
                atexit.register(self.flush, 2.0)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                r = self._queue.popleft()
            try:
                self.emit(r)
            except Exception:  # noqa: BLE001 - a broken exporter must not stop the thread
                log.exception("OpenTelemetry export of call %s failed", r.call_id)
            with self._cond:
                self._pending -= 1
                self._cond.notify_all()

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every queued record is emitted; False if ``timeout`` ran out first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def emit(self, r: LLMCallRecord) -> None:
        """The call's spans and metrics, now."""
        trace = self._trace
        SpanKind, Status, StatusCode = trace.SpanKind, trace.Status, trace.StatusCode  # noqa: N806

        start = r.timestamp.timestamp()
        end = start + r.latency_ms / 1000.0
        attrs = self._call_attributes(r)
        span = self._tracer.start_span(f"chat {attrs['gen_ai.request.model']}", kind=SpanKind.CLIENT, attributes=attrs, start_time=_ns(start))
        ctx = trace.set_span_in_context(span)
        for a in r.attempts:
            if a.outcome == "skipped":
                continue  # never sent: listed in attune.skipped on the call
            a0 = a.started_at.timestamp()
            child = self._tracer.start_span(f"chat {a.model}", context=ctx, kind=SpanKind.CLIENT, attributes=self._attempt_attributes(a), start_time=_ns(a0))
            if a.outcome != "success":
                child.set_status(Status(StatusCode.ERROR))
            child.end(end_time=_ns(max(a0 + a.latency_ms / 1000.0, a0)))
        if not r.success:
            span.set_status(Status(StatusCode.ERROR, r.error_type or None))
        span.end(end_time=_ns(max(end, start)))
        self._record_metrics(r, attrs, end - start)

    def _record_metrics(self, r: LLMCallRecord, attrs: dict[str, Any], seconds: float) -> None:
        keys = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system", "gen_ai.request.model", "gen_ai.response.model", "error.type", "attune.deployment")
        base = {k: attrs[k] for k in keys if k in attrs}
        self._duration.record(max(seconds, 0.0), base)
        if r.success:
            self._tokens.record(r.input_tokens, {**base, "gen_ai.token.type": "input"})
            self._tokens.record(r.output_tokens, {**base, "gen_ai.token.type": "output"})
        if r.fallback_used:
            fb = {"gen_ai.request.model": base["gen_ai.request.model"], "attune.deployment": r.deployment}
            if "error.type" in base:
                fb["error.type"] = base["error.type"]
            self._fallbacks.add(1, fb)

    def breaker_listener(self) -> Any:
        """A pybreaker listener counting state changes into ``attune.circuit_breaker.transitions``."""
        from router.resilience._pybreaker import pybreaker

        counter = self._transitions

        class _Transitions(pybreaker.CircuitBreakerListener):  # type: ignore[misc]
            def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
                counter.add(1, {"attune.deployment": cb.name, "attune.circuit_breaker_state": new_state.name,
                                "attune.circuit_breaker_previous_state": old_state.name if old_state else "none"})  # fmt: skip

        return _Transitions()


def _server(adapter: Any) -> tuple[str, int] | None:
    base = getattr(adapter, "base_url", None)
    if not isinstance(base, str):
        return None
    u = urlsplit(base)
    if not u.hostname:
        return None
    return u.hostname, u.port or (443 if u.scheme == "https" else 80)


def instrument(router: Any, *, tracer_provider: Any = None, meter_provider: Any = None, background: bool = True) -> OTelObserver:
    """Spans and metrics for every call of ``router`` from now on; returns the observer."""
    for hook in router.hooks:  # once per pair of providers (the gateway adds a Prometheus one)
        if isinstance(hook, OTelObserver) and hook.providers == (tracer_provider, meter_provider):
            return hook
    servers = {key: s for key, d in router.deployments.items() if (s := _server(d.adapter)) is not None}
    obs = OTelObserver(tracer_provider=tracer_provider, meter_provider=meter_provider, servers=servers, background=background)
    router.hooks.append(obs)
    listener = obs.breaker_listener()
    for key in router.deployments:
        cb = getattr(router.breaker(key), "cb", None)
        if cb is not None:
            cb.add_listener(listener)
    return obs
