"""The routed call path end to end: real HTTP to the fake provider server, real SQLite rows."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from router import AsyncClient, Client, Deployment, OpenAIProvider, Router, RouterSettings, RoutingError, Tier
from router.errors import InvalidRequestError, UnknownModelError
from router.prices import lookup_price
from router.resilience.breaker import BreakerSettings
from router.testing import FakeProviderServer, Fault, fast_settings
from telemetry import MemorySink, TelemetryBackend

MSGS = [{"role": "user", "content": "Review this diff, please."}]
CANARY = "sk-canary-7f3a9e1d5b"
A, B, C = "openai/gpt-4o", "anthropic/claude-sonnet-4", "gemini/gemini-2.5-pro"


def build(server: FakeProviderServer, telemetry: object = None, **settings: object) -> Router:
    deps = [
        Deployment(A, OpenAIProvider(base_url=server.url_for("a"), api_key=CANARY, name="openai"), "gpt-4o"),
        Deployment(B, OpenAIProvider(base_url=server.url_for("b"), api_key=CANARY, name="anthropic"), "claude-sonnet-4"),
        Deployment(C, OpenAIProvider(base_url=server.url_for("c"), api_key=CANARY, name="gemini"), "gemini-2.5-pro"),
    ]
    return Router(
        deployments=deps,
        tiers=[Tier("capable", [A, B, C], policy="static")],  # call-path mechanics in a fixed order
        telemetry=telemetry,  # type: ignore[arg-type]
        settings=fast_settings(**settings),
    )


@pytest.fixture
async def routed(server: FakeProviderServer) -> AsyncIterator[tuple[AsyncClient, MemorySink]]:
    sink = MemorySink()
    client = AsyncClient(build(server, sink))
    yield client, sink
    await client.aclose()


async def test_success(routed: tuple[AsyncClient, MemorySink], server: FakeProviderServer) -> None:
    client, sink = routed
    resp = await client.chat.completions.create(model="capable", messages=MSGS, task_type="code_review", max_tokens=7)
    assert resp.choices[0].message.content and resp.choices[0].message.role == "assistant"
    assert resp.usage.completion_tokens == 7 and resp.usage.prompt_tokens > 0
    assert (resp.provider, resp.deployment, resp.model) == ("openai", A, "gpt-4o")
    (rec,) = sink.records
    assert rec.success and rec.provider == "openai" and rec.model == "gpt-4o" and rec.tier == "capable"
    assert rec.task_type == "code_review" and rec.output_tokens == 7 and rec.input_tokens == resp.usage.prompt_tokens
    price = lookup_price("openai", "gpt-4o")  # genai-prices' figures (tests/router/test_prices.py)
    assert price is not None
    per_in, per_out = price
    assert rec.cost == pytest.approx((rec.input_tokens * per_in + 7 * per_out) / 1e6) and rec.cost > 0
    assert rec.fallback_chain == [A] and not rec.fallback_used and rec.retry_count == 0
    assert rec.circuit_breaker_state == "closed" and rec.error_type is None and rec.latency_ms >= 0
    assert [a.outcome for a in rec.attempts] == ["success"] and rec.attempts[0].http_status == 200
    assert rec.request_id == resp.id and server.requests("a") == 1


async def test_503_then_success_retries_the_same_deployment(routed: tuple[AsyncClient, MemorySink], server: FakeProviderServer) -> None:
    client, sink = routed
    server.script("a", [Fault.status(503)])
    resp = await client.chat.completions.create(model="capable", messages=MSGS)
    rec = sink.records[-1]
    assert resp.deployment == A and rec.retry_count == 1 and not rec.fallback_used and rec.fallback_chain == [A]
    assert [(a.retry_number, a.outcome, a.error_type, a.http_status) for a in rec.attempts] == [
        (0, "error", "overloaded", 503),
        (1, "success", None, 200),
    ]
    assert server.requests("a") == 2 and server.requests("b") == 0


async def test_a_deployment_that_keeps_failing_falls_back(routed: tuple[AsyncClient, MemorySink], server: FakeProviderServer) -> None:
    client, sink = routed
    server.set_default("a", Fault.status(500))
    resp = await client.chat.completions.create(model="capable", messages=MSGS)
    rec = sink.records[-1]
    assert resp.deployment == B and resp.fallback_used
    assert rec.success and rec.fallback_used and rec.fallback_chain == [A, B]
    assert (rec.provider, rec.model, rec.original_provider, rec.original_model) == ("anthropic", "claude-sonnet-4", "openai", "gpt-4o")
    assert rec.retry_count == 2  # three attempts at A (stop_after_attempt(3)), then B
    assert server.requests("a") == 3 and server.requests("b") == 1


async def test_open_breaker_is_skipped_without_a_request(server: FakeProviderServer) -> None:
    sink = MemorySink()
    router = build(server, sink, max_attempts_per_deployment=1, breaker=BreakerSettings(fail_max=3, reset_timeout_s=60))
    server.set_default("a", Fault.status(503))
    for _ in range(3):
        await router.acompletion("capable", MSGS)
    assert router.breaker(A).state == "open" and server.requests("a") == 3
    resp = await router.acompletion("capable", MSGS)
    assert resp.deployment == B and server.requests("a") == 3  # no request reached A
    rec = sink.records[-1]
    assert [(s.deployment, s.reason) for s in rec.skipped] == [(A, "circuit_open")]
    assert rec.attempts[0].outcome == "skipped" and rec.attempts[0].error_type == "circuit_open"
    assert rec.fallback_used and rec.original_provider == "openai" and rec.circuit_breaker_state == "closed"
    assert router.stats.get(A).breaker_state == "open"
    await router.aclose()


async def test_400_is_neither_retried_nor_sent_elsewhere(routed: tuple[AsyncClient, MemorySink], server: FakeProviderServer) -> None:
    client, sink = routed
    server.script("a", [Fault.status(400, message="unknown parameter 'temprature'")])
    with pytest.raises(RoutingError) as info:
        await client.chat.completions.create(model="capable", messages=MSGS)
    assert info.value.error_type == "bad_request" and len(info.value.attempts) == 1
    assert server.requests("a") == 1 and server.requests("b") == 0
    rec = sink.records[-1]
    assert not rec.success and rec.error_type == "bad_request" and "temprature" in (rec.error_message or "")


async def test_every_deployment_failing_gives_one_error_with_every_attempt(routed: tuple[AsyncClient, MemorySink], server: FakeProviderServer) -> None:
    client, sink = routed
    for route in "abc":
        server.set_default(route, Fault.status(502))
    with pytest.raises(RoutingError) as info:
        await client.chat.completions.create(model="capable", messages=MSGS)
    err = info.value
    assert err.error_type == "server_error"
    assert [(a.deployment, a.retry_number) for a in err.attempts] == [(d, n) for d in (A, B, C) for n in range(3)]
    assert len(sink.records) == 1
    rec = sink.records[0]
    assert not rec.success and rec.fallback_chain == [A, B, C] and rec.retry_count == 6 and rec.attempts == err.attempts
    assert err.record is rec and err.call_id == rec.call_id


async def test_context_length_falls_back_only_to_a_larger_window(server: FakeProviderServer) -> None:
    sink = MemorySink()
    router = build(server, sink)
    router.deployments[A].context_window = 8_000
    router.deployments[B].context_window = 8_000
    router.deployments[C].context_window = 1_000_000
    server.script("a", [Fault.context_length()])
    resp = await router.acompletion("capable", MSGS)
    assert resp.deployment == C and server.requests("b") == 0
    rec = sink.records[-1]
    assert (B, "context window too small") in [(s.deployment, s.reason) for s in rec.skipped]
    await router.aclose()


async def test_bad_input_is_a_clear_error(routed: tuple[AsyncClient, MemorySink], server: FakeProviderServer) -> None:
    client, sink = routed
    with pytest.raises(UnknownModelError, match="'fast'") as info:
        await client.chat.completions.create(model="fast", messages=MSGS)
    assert "capable" in str(info.value)
    with pytest.raises(InvalidRequestError, match="messages") as info2:
        await client.chat.completions.create(model="capable", messages=[])
    assert info2.value.argument == "messages"
    with pytest.raises(InvalidRequestError, match=r"messages\[1\]"):
        await client.chat.completions.create(model="capable", messages=[MSGS[0], {"content": "no role"}])
    with pytest.raises(InvalidRequestError, match="deadline_s"):
        await client.chat.completions.create(model="capable", messages=MSGS, deadline_s=-1)
    assert server.total_requests == 0 and sink.records == []


async def test_a_deployment_key_works_as_model(routed: tuple[AsyncClient, MemorySink]) -> None:
    client, sink = routed
    resp = await client.chat.completions.create(model=C, messages=MSGS)
    assert resp.deployment == C and sink.records[-1].tier == C


async def test_sqlite_rows_equal_calls_field_by_field(server: FakeProviderServer, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    backend = TelemetryBackend(url)
    mirror = MemorySink()
    router = build(server, backend)
    router.hooks.append(mirror.submit)
    server.script("a", [Fault.status(503), None, Fault.status(429, retry_after="0"), None, Fault.status(400)])
    client = AsyncClient(router)
    for i in range(12):
        try:
            await client.chat.completions.create(model="capable", messages=MSGS, task_type=f"t{i % 3}", tags={"n": str(i)})
        except RoutingError:
            pass
    await client.aclose()  # flushes
    store = TelemetryBackend(url)
    rows = await store.query(order="asc")
    await store.aclose()
    assert len(rows) == len(mirror.records) == 12
    by_id = {r.call_id: r for r in rows}
    for want in mirror.records:
        got = by_id[want.call_id]
        for field in ("provider", "model", "tier", "task_type", "input_tokens", "output_tokens", "latency_ms",
                      "fallback_used", "fallback_chain", "original_provider", "original_model", "retry_count",
                      "circuit_breaker_state", "success", "error_type", "error_message", "deployment", "policy",
                      "plan_order", "tags", "request_id"):
            assert getattr(got, field) == getattr(want, field), field
        assert got.cost == pytest.approx(want.cost)
        assert abs((got.timestamp - want.timestamp).total_seconds()) < 1e-3
        assert [(a.deployment, a.retry_number, a.outcome, a.error_type, a.http_status) for a in got.attempts] == [
            (a.deployment, a.retry_number, a.outcome, a.error_type, a.http_status) for a in want.attempts
        ]


def test_sync_client_same_shape(server: FakeProviderServer, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sync.db'}"
    with Client(build(server, TelemetryBackend(url))) as client:
        resp = client.chat.completions.create(model="capable", messages=MSGS, task_type="summarize")
        assert resp.choices[0].message.content and resp.deployment == A
        assert client.explain("capable")["order"] == [A, B, C]
    store = TelemetryBackend(url)
    assert len(store.query_sync()) == 1
    store.close()


async def test_api_key_never_leaks(server: FakeProviderServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sink = MemorySink()
    router = build(server, sink)
    server.require_api_key("sk-some-other-key")  # our canary key is rejected: 401 everywhere
    with pytest.raises(RoutingError) as info:
        await router.acompletion("capable", MSGS)
    assert info.value.error_type == "auth"
    assert router.stats.get(A).misconfigured
    server.require_api_key(None)
    for route in "abc":
        server.set_default(route, Fault.status(500, message=f"upstream echoed {CANARY}"))
    with pytest.raises(RoutingError) as info2:
        await router.acompletion("capable", MSGS)
    assert str(info2.value) == "Error code: 500 - upstream echoed ***"  # the SDK's wording, from the scrubbed body
    assert "upstream echoed ***" in info2.value.summary and info2.value.body["message"] == "upstream echoed ***"
    texts = [str(info.value), str(info2.value), info2.value.summary, repr(info2.value.body), repr(info.value.attempts), repr(router.deployments[A].adapter), caplog.text]
    texts += [repr(r.to_dict()) for r in sink.records]
    assert all(CANARY not in t for t in texts)
    assert server.last_headers("a")["authorization"] == f"Bearer {CANARY}"  # it was sent, only to the provider
    await router.aclose()


async def test_response_dumps_like_the_openai_sdk(routed: tuple[AsyncClient, MemorySink]) -> None:
    client, _ = routed
    resp = await client.chat.completions.create(model="capable", messages=MSGS, max_tokens=3)
    d = resp.to_dict()  # what the provider sent; routing facts are attributes, not fields
    assert d["object"] == "chat.completion" and d["choices"][0]["message"]["role"] == "assistant"
    assert d["usage"] == {"prompt_tokens": resp.usage.prompt_tokens, "completion_tokens": 3, "total_tokens": resp.usage.prompt_tokens + 3}
    assert "deployment" not in d and resp.deployment == A and resp.choices is resp.choices  # built once
