"""The Gemini adapter: over real HTTP to the fake server through the router (with a fallback
across all three wire formats), and its converters on ``httpx.MockTransport``."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from router import AsyncClient, Deployment, OpenAIProvider, Router, RouterSettings, RoutingError, Tier
from router.errors import ProviderError
from router.providers.anthropic import AnthropicProvider
from router.providers.base import ProviderRequest
from router.providers.gemini import GeminiProvider, from_gemini, gemini_error, to_gemini
from router.testing import FakeClock, FakeProviderServer, Fault, fast_settings
from telemetry import MemorySink

CANARY = "AIza-canary-5e8f0b21"
G, O = "gemini/gemini-2.5-pro", "openai/gpt-4o"
MSGS = [{"role": "system", "content": "You summarize."}, {"role": "user", "content": "Summarize the incident."}]


def build(server: FakeProviderServer, sink: MemorySink, clock: FakeClock | None = None, **settings: Any) -> Router:
    deps = [
        Deployment(G, GeminiProvider(base_url=server.base_for("g"), api_key=CANARY), "gemini-2.5-pro"),
        Deployment(O, OpenAIProvider(base_url=server.url_for("o"), api_key=CANARY), "gpt-4o"),
    ]
    return Router(deployments=deps, tiers=[Tier("capable", [G, O], policy="static")], telemetry=sink, clock=clock, settings=fast_settings(**settings))


async def test_success_fields_and_the_request_as_sent(server: FakeProviderServer) -> None:
    sink = MemorySink()
    client = AsyncClient(build(server, sink))
    convo = [*MSGS, {"role": "assistant", "content": "Which one?"}, {"role": "user", "content": "The outage."}]
    resp = await client.chat.completions.create(model="capable", messages=convo, max_tokens=7, temperature=0.3, top_p=0.9, stop=["END"])
    assert resp.choices[0].message.content == "ok: 1" and resp.choices[0].finish_reason == "stop"
    assert resp.usage.completion_tokens == 7 and resp.usage.prompt_tokens > 0
    assert resp.deployment == G and resp.provider == "gemini" and resp.id
    (rec,) = sink.records
    assert rec.success and rec.provider == "gemini" and rec.output_tokens == 7 and rec.request_id == resp.id
    assert server.last_body("g") == {
        "contents": [
            {"role": "user", "parts": [{"text": "Summarize the incident."}]},
            {"role": "model", "parts": [{"text": "Which one?"}]},
            {"role": "user", "parts": [{"text": "The outage."}]},
        ],
        "systemInstruction": {"parts": [{"text": "You summarize."}]},
        "generationConfig": {"maxOutputTokens": 7, "temperature": 0.3, "topP": 0.9, "stopSequences": ["END"]},
    }
    headers = server.last_headers("g")
    assert headers is not None and headers["x-goog-api-key"] == CANARY and "authorization" not in headers
    await client.aclose()


@pytest.mark.parametrize(
    ("fault", "error_type", "status"),
    [
        (Fault.status(429, retry_after="1"), "rate_limited", 429),
        (Fault.status(503), "overloaded", 503),
        (Fault.status(500), "server_error", 500),
        (Fault.status(504), "timeout", 504),
        (Fault.status(401), "auth", 401),
        (Fault.status(403), "auth", 403),
        (Fault.status(400, message="API key not valid. Please pass a valid API key."), "auth", 400),
        (Fault.context_length(), "context_length", 400),
        (Fault.status(400), "bad_request", 400),
        (Fault.status(404), "bad_request", 404),
        (Fault.invalid_json(), "invalid_response", 200),
        (Fault.reset(), "connection", None),
    ],
)
async def test_every_error_class_lands_in_the_record(server: FakeProviderServer, fault: Fault, error_type: str, status: int | None) -> None:
    sink = MemorySink()
    router = build(server, sink, max_attempts_per_deployment=1)
    server.script("g", [fault])
    try:
        await router.acompletion("capable", MSGS)
    except RoutingError as exc:
        assert exc.attempts[0].error_type == error_type
    first = sink.records[-1].attempts[0]
    assert (first.deployment, first.outcome, first.error_type, first.http_status) == (G, "error", error_type, status)
    await router.aclose()


@pytest.mark.parametrize(
    ("fault", "retry_after"),
    [
        (Fault.status(429, retry_after="17"), 17.0),  # google.rpc.RetryInfo in the body
        (Fault.status(429, retry_after="0.25"), 0.25),
        (Fault.status(429, headers={"retry-after": "4"}), 4.0),  # a Retry-After header, no RetryInfo
        (Fault.status(429), None),
    ],
)
async def test_429_retry_after_from_retry_info_or_header(server: FakeProviderServer, fault: Fault, retry_after: float | None) -> None:
    adapter = GeminiProvider(base_url=server.base_for("g"), api_key=CANARY)
    server.script("g", [fault])
    with pytest.raises(ProviderError) as info:
        await adapter.send(ProviderRequest("gemini-2.5-pro", MSGS), timeout=2.0)
    assert info.value.error_type == "rate_limited" and info.value.retry_after == retry_after and not info.value.spend_limit
    await adapter.aclose()


async def test_the_router_waits_out_retry_info(server: FakeProviderServer) -> None:
    sink, clock = MemorySink(), FakeClock()
    router = build(server, sink, clock)
    server.script("g", [Fault.status(429, retry_after="0.05")])
    resp = await router.acompletion(G, MSGS)  # the deployment alone: nowhere to fall back to
    first, second = sink.records[-1].attempts
    assert resp.deployment == G and [first.error_type, second.error_type] == ["rate_limited", None]
    assert clock.slept == [pytest.approx(0.05)]  # the RetryInfo delay, not a backoff of a few ms
    await router.aclose()


async def test_a_wrong_or_missing_key_is_auth(server: FakeProviderServer) -> None:
    server.require_api_key("AIza-the-real-one")
    for key, status in ((CANARY, 400), (None, 403)):
        adapter = GeminiProvider(base_url=server.base_for("g"), api_key=key)
        with pytest.raises(ProviderError) as info:
            await adapter.send(ProviderRequest("gemini-2.5-pro", MSGS), timeout=2.0)
        assert (info.value.error_type, info.value.status) == ("auth", status)
        await adapter.aclose()


async def test_stream_success(server: FakeProviderServer) -> None:
    sink = MemorySink()
    client = AsyncClient(build(server, sink))
    stream = await client.chat.completions.create(model="capable", messages=MSGS, stream=True, max_tokens=9, stream_options={"include_usage": True})
    text, usage, finish = "", None, None
    async for chunk in stream:
        assert chunk.deployment == G and chunk.model == "gemini-2.5-pro"
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
        usage = chunk.usage or usage
    assert text == "ok: 1" and finish == "stop" and usage is not None and usage.completion_tokens == 9
    (rec,) = sink.records
    assert rec.success and rec.output_tokens == 9 and rec.input_tokens == usage.prompt_tokens and rec.ttft_ms is not None
    assert server.request_log[-1].model == "gemini-2.5-pro"
    await client.aclose()


async def test_stream_error_mid_stream_and_a_stream_cut_short(server: FakeProviderServer) -> None:
    sink = MemorySink()
    router = build(server, sink)
    for fault, error_type in ((Fault.stream_error(503), "overloaded"), (Fault.stream_error(500), "server_error")):
        server.script("g", [fault])
        stream = await router.acompletion("capable", MSGS, stream=True)
        with pytest.raises(RoutingError) as info:
            async for _ in stream:
                pass
        assert info.value.error_type == error_type and sink.records[-1].error_type == error_type
    server.set_default("g", Fault.truncate())
    server.set_default("o", Fault.truncate())
    with pytest.raises(RoutingError) as info2:
        async for _ in await router.acompletion("capable", MSGS, stream=True):
            pass
    assert info2.value.error_type == "invalid_response"
    await router.aclose()


async def test_fallback_across_all_three_wire_formats(server: FakeProviderServer) -> None:
    sink = MemorySink()
    o, a, g = "openai/gpt-4o", "anthropic/claude-sonnet-4", "gemini/gemini-2.5-pro"
    deps = [
        Deployment(o, OpenAIProvider(base_url=server.url_for("o"), api_key=CANARY), "gpt-4o"),
        Deployment(a, AnthropicProvider(base_url=server.base_for("a"), api_key=CANARY), "claude-sonnet-4"),
        Deployment(g, GeminiProvider(base_url=server.base_for("g"), api_key=CANARY), "gemini-2.5-pro"),
    ]
    settings = RouterSettings(backoff_initial_s=0.001, backoff_max_s=0.002, max_attempts_per_deployment=2)
    router = Router(deployments=deps, tiers=[Tier("capable", [o, a, g], policy="static")], telemetry=sink, settings=settings)
    server.set_default("o", Fault.status(500))
    server.set_default("a", Fault.status(529))
    resp = await router.acompletion("capable", MSGS, max_tokens=4)
    assert resp.deployment == g and resp.choices[0].message.content == "ok: 1" and resp.usage.completion_tokens == 4
    rec = sink.records[-1]
    assert rec.fallback_used and rec.fallback_chain == [o, a, g] and (rec.original_provider, rec.provider) == ("openai", "gemini")
    assert [(x.deployment, x.error_type, x.http_status) for x in rec.attempts] == [
        (o, "server_error", 500), (o, "server_error", 500), (a, "overloaded", 529), (a, "overloaded", 529), (g, None, 200)]
    assert server.last_body("a")["system"] == "You summarize." and server.last_body("g")["generationConfig"] == {"maxOutputTokens": 4}
    await router.aclose()


async def test_api_key_never_leaks(server: FakeProviderServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sink = MemorySink()
    router = build(server, sink)
    server.require_api_key("AIza-some-other-key")
    with pytest.raises(RoutingError) as info:
        await router.acompletion("capable", MSGS)
    assert info.value.error_type == "auth" and router.stats.get(G).misconfigured
    server.require_api_key(None)
    for route in "go":
        server.set_default(route, Fault.status(500, message=f"upstream echoed {CANARY}"))
    with pytest.raises(RoutingError) as info2:
        await router.acompletion("capable", MSGS)
    with pytest.raises(ProviderError) as info3:
        await router.deployments[G].adapter.send(ProviderRequest("gemini-2.5-pro", MSGS), timeout=2.0)
    assert "upstream echoed ***" in str(info2.value) and "upstream echoed ***" in str(info3.value)
    texts = [str(info.value), str(info2.value), str(info3.value), repr(info.value.attempts), repr(router.deployments[G].adapter), caplog.text]
    texts += [repr(r.to_dict()) for r in sink.records]
    assert all(CANARY not in t for t in texts)  # the httpx log lines name URLs: the key is never in one
    assert server.last_headers("g")["x-goog-api-key"] == CANARY
    await router.aclose()


# -- converters, on httpx.MockTransport ---------------------------------------------------


def mock_adapter(answer: dict[str, Any], seen: list[httpx.Request], **kw: Any) -> GeminiProvider:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    return GeminiProvider(api_key="AIza-k", transport=httpx.MockTransport(handler), **kw)


def answer(parts: list[dict[str, Any]], finish: str = "STOP", **usage: int) -> dict[str, Any]:
    meta = {"promptTokenCount": 11, "candidatesTokenCount": 4, **usage}
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}],
            "usageMetadata": meta, "modelVersion": "gemini-2.5-pro-002", "responseId": "resp-1"}


async def test_url_key_header_and_api_version() -> None:
    seen: list[httpx.Request] = []
    cases = [({}, "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent"),
             ({"base_url": "https://generativelanguage.googleapis.com/v1"}, "https://generativelanguage.googleapis.com/v1/models/gemini-2.5-pro:generateContent"),
             ({"api_version": "v1alpha"}, "https://generativelanguage.googleapis.com/v1alpha/models/gemini-2.5-pro:generateContent")]
    for kw, url in cases:
        adapter = mock_adapter(answer([{"text": "hi"}]), seen, **kw)
        resp = await adapter.send(ProviderRequest("models/gemini-2.5-pro", [{"role": "user", "content": "q"}]), timeout=1.0)
        assert (resp.content, resp.model, resp.response_id, resp.input_tokens, resp.output_tokens) == ("hi", "gemini-2.5-pro-002", "resp-1", 11, 4)
        assert str(seen[-1].url) == url
        await adapter.aclose()
    assert all("key=" not in str(r.url) and r.headers["x-goog-api-key"] == "AIza-k" for r in seen)
    with pytest.raises(ValueError, match="api_version"):
        GeminiProvider(base_url="https://generativelanguage.googleapis.com/v1", api_version="v1beta")


@pytest.mark.parametrize(
    ("finish", "expected"),
    [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
     ("PROHIBITED_CONTENT", "content_filter"), ("OTHER", "other")],
)
def test_finish_reasons(finish: str, expected: str) -> None:
    assert from_gemini(answer([{"text": "x"}], finish)).finish_reason == expected


def test_thought_parts_and_tokens() -> None:
    resp = from_gemini(answer([{"text": "thinking...", "thought": True}, {"text": "a"}, {"text": "b"}], thoughtsTokenCount=30))
    assert resp.content == "ab" and resp.output_tokens == 34 and resp.input_tokens == 11


async def test_a_blocked_prompt_is_a_successful_content_filter_response() -> None:
    blocked = {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []}, "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
               "modelVersion": "gemini-2.5-pro", "responseId": "r-b"}
    sink = MemorySink()
    dep = Deployment(G, mock_adapter(blocked, []), "gemini-2.5-pro")
    router = Router(deployments=[dep], telemetry=sink)
    resp = await router.acompletion(G, [{"role": "user", "content": "something unsafe"}])
    assert resp.choices[0].message.content == "" and resp.choices[0].finish_reason == "content_filter"
    assert resp.usage.prompt_tokens == 9 and resp.usage.completion_tokens == 0 and sink.records[-1].success
    await router.aclose()


def test_request_conversion_edges() -> None:
    req = ProviderRequest("m", [{"role": "developer", "content": [{"type": "text", "text": "a"}]}, {"role": "user", "content": "q"},
                                {"role": "user", "content": "r"}], {"max_completion_tokens": 3, "seed": 1, "response_format": {"type": "json_object"}})
    body = to_gemini(req)
    assert body["systemInstruction"] == {"parts": [{"text": "a"}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "q"}, {"text": "r"}]}]
    assert body["generationConfig"] == {"maxOutputTokens": 3, "seed": 1, "responseMimeType": "application/json"}
    assert "generationConfig" not in to_gemini(ProviderRequest("m", [{"role": "user", "content": "q"}]))
    for params, fragment in [({"logprobs": True}, "'logprobs'"), ({"n": 3}, "'n' must be 1"), ({"response_format": {"type": "json_schema"}}, "json_schema"),
                             ({"logit_bias": {}}, "'logit_bias'"), ({"parallel_tool_calls": False}, "parallel_tool_calls"),
                             ({"tool_choice": "sometimes"}, "tool_choice"), ({"response_format": {"type": "xml"}}, "'xml'")]:
        with pytest.raises(ProviderError, match=fragment) as info:
            to_gemini(ProviderRequest("m", [{"role": "user", "content": "q"}], params))
        assert info.value.error_type == "bad_request"
    with pytest.raises(ProviderError, match=r"messages\[0\] \(role 'tool'\) needs the tool_call_id of an earlier assistant tool call"):
        to_gemini(ProviderRequest("m", [{"role": "tool", "content": "q", "tool_call_id": "x"}]))


@pytest.mark.parametrize(
    ("status", "payload", "error_type", "retry_after", "spend"),
    [
        (429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota", "details": [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "45.837906927s"}]}}, "rate_limited", 45.837906927, True),
        (400, {"error": {"code": 400, "status": "FAILED_PRECONDITION", "message": "User location is not supported for the API use."}}, "auth", None, False),
        (400, {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "x", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}, "auth", None, False),
        (400, {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576)."}}, "context_length", None, False),
        (502, {}, "server_error", None, False),
        (504, {}, "timeout", None, False),
        (200, {"error": {"code": 499, "status": "CANCELLED", "message": "?"}}, "server_error", None, False),
    ],
)
def test_error_table(status: int, payload: dict[str, Any], error_type: str, retry_after: float | None, spend: bool) -> None:
    err = gemini_error(status, payload)
    assert (err.error_type, err.retry_after, err.spend_limit) == (error_type, retry_after, spend)


async def test_a_body_of_the_wrong_shape_is_invalid_response() -> None:
    adapter = mock_adapter({"candidates": "nope"}, [])
    with pytest.raises(ProviderError) as info:
        await adapter.send(ProviderRequest("m", [{"role": "user", "content": "q"}]), timeout=1.0)
    assert info.value.error_type == "invalid_response"
    await adapter.aclose()


def test_stream_request_json_is_the_same_body() -> None:
    req = ProviderRequest("m", [{"role": "user", "content": "q"}], {"stream_options": {"include_usage": True}})
    assert json.dumps(to_gemini(req)) == '{"contents": [{"role": "user", "parts": [{"text": "q"}]}]}'
