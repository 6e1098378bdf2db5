"""``otel: true`` at the top of the config: spans on the global tracer provider."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the 'otel' extra (opentelemetry-sdk) is not installed")

from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from router.config import build_router  # noqa: E402
from router.errors import ConfigError  # noqa: E402
from router.otel import OTelObserver  # noqa: E402
from router.testing import FakeProviderServer  # noqa: E402

_EXPORTER = InMemorySpanExporter()


def _global_exporter() -> InMemorySpanExporter:
    """The in-memory exporter on the process's global tracer provider (set once)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    if not getattr(provider, "_attune_test_exporter", False):
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        provider._attune_test_exporter = True  # type: ignore[attr-defined]
    _EXPORTER.clear()
    return _EXPORTER


def _config(server: FakeProviderServer, **top: object) -> dict[str, object]:
    return {
        **top,
        "telemetry": False,
        "deployments": {"openai/gpt-4o": {"model": "gpt-4o", "base_url": server.url_for("a")}},
        "tiers": {"capable": {"chain": ["openai/gpt-4o"], "policy": "static"}},
    }


async def test_otel_true_traces_every_call_on_the_global_provider(server: FakeProviderServer) -> None:
    exporter = _global_exporter()
    router = build_router(_config(server, otel=True))
    assert sum(isinstance(h, OTelObserver) for h in router.hooks) == 1
    await router.acompletion("capable", [{"role": "user", "content": "hi"}])
    assert all(h.flush(10.0) for h in router.hooks if isinstance(h, OTelObserver))
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names == ["chat capable", "chat gpt-4o"]
    await router.aclose()


def test_otel_is_off_unless_asked(server: FakeProviderServer) -> None:
    router = build_router(_config(server))
    assert not any(isinstance(h, OTelObserver) for h in router.hooks)


def test_a_bad_otel_value_names_the_key(server: FakeProviderServer) -> None:
    with pytest.raises(ConfigError) as info:
        build_router(_config(server, otel="yes"))
    assert "otel" in str(info.value)


async def test_router_otel_true_is_the_same_switch(server: FakeProviderServer) -> None:
    from router import Deployment, OpenAIProvider, Router, Tier

    exporter = _global_exporter()
    dep = Deployment("openai/gpt-4o", OpenAIProvider(base_url=server.url_for("a"), name="openai"), "gpt-4o")
    router = Router(deployments=[dep], tiers=[Tier("capable", ["openai/gpt-4o"], policy="static")], otel=True)
    await router.acompletion("capable", [{"role": "user", "content": "hi"}])
    assert all(h.flush(10.0) for h in router.hooks if isinstance(h, OTelObserver))
    (call,) = [s for s in exporter.get_finished_spans() if s.parent is None]
    assert call.name == "chat capable" and call.attributes["attune.deployment"] == "openai/gpt-4o"
    assert [s.attributes["server.port"] for s in exporter.get_finished_spans() if s.parent is not None] == [int(server.url_for("a").split(":")[2].split("/")[0])]
    await router.aclose()
