"""The Anthropic Messages adapter: over real HTTP to the fake server through the router, and its
converters on ``httpx.MockTransport``."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from router import AsyncClient, Deployment, OpenAIProvider, Router, RouterSettings, RoutingError, Tier
from router.errors import ProviderError
from router.providers.anthropic import AnthropicProvider, anthropic_error, from_anthropic, to_anthropic
from router.providers.base import ProviderRequest
from router.testing import FakeProviderServer, Fault, fast_settings
from telemetry import MemorySink

CANARY = "sk-ant-canary-3c9d1e77"
A, B = "anthropic/claude-sonnet-4", "openai/gpt-4o"
MSGS = [{"role": "system", "content": "You review code."}, {"role": "user", "content": "Review this diff, please."}]


def build(server: FakeProviderServer, sink: MemorySink, **settings: Any) -> Router:
    deps = [
        Deployment(A, AnthropicProvider(base_url=server.base_for("a"), api_key=CANARY), "claude-sonnet-4"),
        Deployment(B, OpenAIProvider(base_url=server.url_for("b"), api_key=CANARY), "gpt-4o"),
    ]
    return Router(deployments=deps, tiers=[Tier("capable", [A, B], policy="static")], telemetry=sink, settings=fast_settings(**settings))


async def test_success_fields_and_the_request_as_sent(server: FakeProviderServer) -> None:
    sink = MemorySink()
    client = AsyncClient(build(server, sink))
    resp = await client.chat.completions.create(model="capable", messages=MSGS, max_tokens=7, stop="END", metadata={"user_id": "u1"})
    assert resp.choices[0].message.content == "ok: 1" and resp.choices[0].finish_reason == "stop"
    assert resp.usage.completion_tokens == 7 and resp.usage.prompt_tokens > 0
    assert resp.id.startswith("msg_") and resp.deployment == A and resp.provider == "anthropic"
    (rec,) = sink.records
    assert rec.success and rec.provider == "anthropic" and rec.output_tokens == 7 and rec.input_tokens == resp.usage.prompt_tokens
    assert rec.request_id == resp.id and rec.attempts[0].http_status == 200
    assert server.last_body("a") == {
        "model": "claude-sonnet-4",
        "max_tokens": 7,
        "messages": [{"role": "user", "content": "Review this diff, please."}],
        "system": "You review code.",
        "metadata": {"user_id": "u1"},
        "stop_sequences": ["END"],
    }
    headers = server.last_headers("a")
    assert headers is not None and headers["authorization"] == f"Bearer {CANARY}" and headers["anthropic-version"] == "2026-10-21"
    assert "x-api-key" not in headers
    await client.aclose()


async def test_max_tokens_defaults_and_roles_merge(server: FakeProviderServer) -> None:
    sink = MemorySink()
    router = build(server, sink)
    msgs = [
        {"role": "developer", "content": "Be terse."},
        {"role": "user", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "two"}]},
        {"role": "assistant", "content": "three"},
        {"role": "user", "content": "four"},
    ]
    await router.acompletion("capable", msgs)
    body = server.last_body("a")
    assert body["max_tokens"] == 4096 and body["system"] == "Be terse."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": "three"},
        {"role": "user", "content": "four"},
    ]
    await router.aclose()


@pytest.mark.parametrize(
    ("fault", "error_type", "status"),
    [
        (Fault.status(429, retry_after="1"), "rate_limited", 429),
        (Fault.status(529), "overloaded", 529),
        (Fault.status(500), "server_error", 500),
        (Fault.status(401), "auth", 401),
        (Fault.status(403), "auth", 403),
        (Fault.context_length(), "context_length", 400),
        (Fault.status(400, message="messages.0.content: Input should be a valid list"), "bad_request", 400),
        (Fault.status(404), "bad_request", 404),
        (Fault.status(413), "bad_request", 413),
        (Fault.invalid_json(), "invalid_response", 200),
        (Fault.truncate(), "invalid_response", 200),
    ],
)
async def test_every_error_class_lands_in_the_record(server: FakeProviderServer, fault: Fault, error_type: str, status: int) -> None:
    sink = MemorySink()
    router = build(server, sink, max_attempts_per_deployment=1)
    server.script("a", [fault])
    try:
        await router.acompletion("capable", MSGS)
    except RoutingError as exc:
        assert exc.attempts[0].error_type == error_type
    first = sink.records[-1].attempts[0]
    assert (first.deployment, first.outcome, first.error_type, first.http_status) == (A, "error", error_type, status)
    await router.aclose()


@pytest.mark.parametrize(
    ("fault", "error_type", "retry_after", "spend_limit"),
    [
        (Fault.status(429, retry_after="3"), "rate_limited", 3.0, False),
        (Fault.status(429, message="spend limit", headers={"retry-after": "0"}), "rate_limited", 0.0, False),
        (Fault.status(529, retry_after="2"), "overloaded", 2.0, False),
        (Fault.status(402), "auth", None, False),
    ],
)
async def test_adapter_errors_carry_retry_after(server: FakeProviderServer, fault: Fault, error_type: str, retry_after: float | None, spend_limit: bool) -> None:
    adapter = AnthropicProvider(base_url=server.base_for("a"), api_key=CANARY)
    server.script("a", [fault])
    with pytest.raises(ProviderError) as info:
        await adapter.send(ProviderRequest("claude-sonnet-4", MSGS), timeout=2.0)
    assert (info.value.error_type, info.value.retry_after, info.value.spend_limit) == (error_type, retry_after, spend_limit)
    await adapter.aclose()


async def test_stream_success(server: FakeProviderServer) -> None:
    sink = MemorySink()
    client = AsyncClient(build(server, sink))
    stream = await client.chat.completions.create(model="capable", messages=MSGS, stream=True, max_tokens=9, stream_options={"include_usage": True})
    text, usage, finish = "", None, None
    async for chunk in stream:
        assert chunk.object == "chat.completion.chunk" and chunk.deployment == A and chunk.id.startswith("msg_")
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
        usage = chunk.usage or usage
    assert text == "ok: 1" and finish == "stop" and usage is not None and usage.completion_tokens == 9
    (rec,) = sink.records
    assert rec.success and rec.output_tokens == 9 and rec.input_tokens == usage.prompt_tokens and rec.ttft_ms is not None
    assert server.last_body("a")["stream"] is True
    await client.aclose()


async def test_stream_error_event_mid_stream_reaches_the_caller(server: FakeProviderServer) -> None:
    sink = MemorySink()
    router = build(server, sink)
    server.script("a", [Fault.stream_error(529)])
    stream = await router.acompletion("capable", MSGS, stream=True)
    with pytest.raises(RoutingError) as info:
        async for _ in stream:
            pass
    assert info.value.error_type == "overloaded"
    assert len(sink.records) == 1 and not sink.records[0].success and sink.records[0].error_type == "overloaded"
    await router.aclose()


async def test_stream_errors_before_the_first_chunk_fall_back(server: FakeProviderServer) -> None:
    sink = MemorySink()
    router = build(server, sink, max_attempts_per_deployment=1)
    server.script("a", [Fault.status(529)])
    chunks = [c async for c in await router.acompletion("capable", MSGS, stream=True)]
    assert chunks[0].deployment == B and sink.records[-1].attempts[0].error_type == "overloaded"
    await router.aclose()


async def test_tools_round_trip(server: FakeProviderServer) -> None:
    sink = MemorySink()
    router = build(server, sink)
    tools = [{"type": "function", "function": {"name": "get_diff", "description": "Fetch a diff", "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}}]
    resp = await router.acompletion("capable", MSGS, tools=tools, tool_choice="required", parallel_tool_calls=False)
    (call,) = resp.choices[0].message.tool_calls
    assert resp.choices[0].finish_reason == "tool_calls" and call.function.name == "get_diff" and json.loads(call.function.arguments) == {}
    sent = server.last_body("a")
    assert sent["tools"] == [{"name": "get_diff", "description": "Fetch a diff", "input_schema": tools[0]["function"]["parameters"]}]
    assert sent["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    # the SDK's round trip: the assistant message object appended as is
    follow = [*MSGS, resp.choices[0].message, {"role": "tool", "tool_call_id": call.id, "content": "diff --git"}]
    resp2 = await router.acompletion("capable", follow, tools=tools)
    assert resp2.choices[0].message.content == "ok: 2"
    assert server.last_body("a")["messages"][1:] == [
        {"role": "assistant", "content": [{"type": "tool_use", "id": call.id, "name": "get_diff", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "diff --git"}]},
    ]
    await router.aclose()


async def test_a_parameter_without_an_equivalent_is_a_clear_bad_request(server: FakeProviderServer) -> None:
    sink = MemorySink()
    router = build(server, sink)
    with pytest.raises(RoutingError) as info:
        await router.acompletion("capable", MSGS, seed=7)
    assert info.value.error_type == "bad_request" and "'seed'" in str(info.value) and "Anthropic" in str(info.value)
    assert server.requests("a") == 0 and server.requests("b") == 0
    with pytest.raises(RoutingError, match=r"messages\[1\]\.content\[0\] of type 'input_audio'"):
        await router.acompletion("capable", [MSGS[0], {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]}])
    with pytest.raises(RoutingError, match=r"image_url\.url must be a data: or http\(s\) URL"):
        await router.acompletion("capable", [MSGS[0], {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])
    with pytest.raises(RoutingError, match=r"image type 'image/tiff' is not one of"):
        await router.acompletion("capable", [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}]}])
    with pytest.raises(RoutingError, match=r"json_object cannot be combined with 'tools'"):
        tools = [{"type": "function", "function": {"name": "f"}}]
        await router.acompletion("capable", MSGS, response_format={"type": "json_object"}, tools=tools)
    assert server.requests("a") == 0 and server.requests("b") == 0
    await router.aclose()


async def test_api_key_never_leaks(server: FakeProviderServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sink = MemorySink()
    router = build(server, sink)
    server.require_api_key("sk-some-other-key")  # our canary is rejected: 401 on both wire formats
    with pytest.raises(RoutingError) as info:
        await router.acompletion("capable", MSGS)
    assert info.value.error_type == "auth" and router.stats.get(A).misconfigured
    server.require_api_key(None)
    server.set_default("a", Fault.status(500, message=f"upstream echoed {CANARY}"))
    server.set_default("b", Fault.stream_error(500, message=f"stream echoed {CANARY}"))
    with pytest.raises(RoutingError) as info2:
        await router.acompletion("capable", MSGS)
    assert "echoed ***" in str(info2.value)
    with pytest.raises(ProviderError) as info3:
        await router.deployments[A].adapter.send(ProviderRequest("claude-sonnet-4", MSGS), timeout=2.0)
    assert "upstream echoed ***" in str(info3.value)
    texts = [str(info.value), str(info2.value), str(info3.value), repr(info.value.attempts), repr(router.deployments[A].adapter), caplog.text]
    texts += [repr(r.to_dict()) for r in sink.records]
    assert all(CANARY not in t for t in texts)
    assert server.last_headers("a")["authorization"] == f"Bearer {CANARY}"  # it was sent, only to the provider
    await router.aclose()


# -- converters, on httpx.MockTransport ---------------------------------------------------


def mock_adapter(answer: dict[str, Any] | tuple[int, dict[str, Any]], seen: list[httpx.Request], **kw: Any) -> AnthropicProvider:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, body = answer if isinstance(answer, tuple) else (200, answer)
        return httpx.Response(status, json=body)

    return AnthropicProvider(api_key="k", transport=httpx.MockTransport(handler), **kw)


def message(content: list[dict[str, Any]], stop: str = "end_turn", **usage: int) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x", "content": content,
            "stop_reason": stop, "usage": {"input_tokens": 10, "output_tokens": 3, **usage}}


async def test_url_headers_and_base_url_forms() -> None:
    seen: list[httpx.Request] = []
    for base in ("https://api.anthropic.com", "https://gw.example/anthropic/v1/"):
        adapter = mock_adapter(message([{"type": "text", "text": "hi"}]), seen, base_url=base, anthropic_version="2024-01-01", default_max_tokens=99)
        resp = await adapter.send(ProviderRequest("claude-x", [{"role": "user", "content": "q"}]), timeout=1.0)
        assert (resp.content, resp.model, resp.response_id, resp.input_tokens, resp.output_tokens) == ("hi", "claude-x", "msg_1", 10, 3)
        await adapter.aclose()
    assert [str(r.url) for r in seen] == ["https://api.anthropic.com/v1/messages", "https://gw.example/anthropic/v1/messages"]
    assert seen[0].headers["authorization"] == "Bearer k" and seen[0].headers["anthropic-version"] == "2024-01-01"
    assert json.loads(seen[0].content)["max_tokens"] == 99
    with pytest.raises(ValueError, match="default_max_tokens"):
        AnthropicProvider(default_max_tokens=0)


@pytest.mark.parametrize(
    ("stop", "finish"),
    [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"), ("refusal", "content_filter"), ("pause_turn", "stop")],
)
def test_stop_reasons(stop: str, finish: str) -> None:
    assert from_anthropic(message([{"type": "text", "text": "x"}], stop)).finish_reason == finish


def test_response_blocks_and_cache_tokens() -> None:
    data = message(
        [{"type": "thinking", "thinking": "hmm", "signature": "s"}, {"type": "text", "text": "a"}, {"type": "text", "text": "b"},
         {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"x": 1}}],
        "tool_use", cache_creation_input_tokens=5, cache_read_input_tokens=7,
    )
    resp = from_anthropic(data)
    assert resp.content == "ab" and resp.input_tokens == 22 and resp.output_tokens == 3
    assert resp.message == {"role": "assistant", "content": "ab", "tool_calls": [
        {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}]}


def test_request_conversion_edges() -> None:
    req = ProviderRequest("m", [{"role": "system", "content": "a"}, {"role": "system", "content": "b"}, {"role": "user", "content": "q"}],
                          {"max_completion_tokens": 12, "user": "u-1", "tool_choice": {"type": "function", "function": {"name": "f"}}, "stream_options": {}})
    body = to_anthropic(req, default_max_tokens=5)
    assert body["system"] == "a\n\nb" and body["max_tokens"] == 12 and body["metadata"] == {"user_id": "u-1"}
    assert body["tool_choice"] == {"type": "tool", "name": "f"}
    for params, fragment in [({"n": 2}, "'n' must be 1"), ({"max_tokens": 0}, "positive integer"), ({"stop": 3}, "'stop'"),
                             ({"tools": [{"type": "retrieval"}]}, r"tools\[0\]"), ({"tool_choice": "sometimes"}, "tool_choice")]:
        with pytest.raises(ProviderError, match=fragment) as info:
            to_anthropic(ProviderRequest("m", [{"role": "user", "content": "q"}], params), default_max_tokens=5)
        assert info.value.error_type == "bad_request"
    with pytest.raises(ProviderError, match=r"messages\[0\]\.role 'function'"):
        to_anthropic(ProviderRequest("m", [{"role": "function", "content": "q"}]), default_max_tokens=5)
    with pytest.raises(ProviderError, match="arguments is not JSON"):
        bad_call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{"}}
        to_anthropic(ProviderRequest("m", [{"role": "assistant", "content": None, "tool_calls": [bad_call]}]), default_max_tokens=5)


@pytest.mark.parametrize(
    ("status", "payload", "error_type", "spend"),
    [
        (429, {"type": "error", "error": {"type": "rate_limit_error", "message": "m", "details": {"error_code": "enforced_spend_limit_reached"}}}, "rate_limited", True),
        (400, {"type": "error", "error": {"type": "invalid_request_error", "message": "input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000"}}, "context_length", False),
        (400, {"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long: 208656 tokens > 200000 maximum"}}, "context_length", False),
        (413, {"type": "error", "error": {"type": "request_too_large", "message": "Request exceeds the maximum allowed number of bytes."}}, "bad_request", False),
        (402, {"type": "error", "error": {"type": "billing_error", "message": "credit balance"}}, "auth", False),
        (502, {}, "server_error", False),
        (200, {"type": "error", "error": {"type": "some_new_error", "message": "?"}}, "server_error", False),
    ],
)
def test_error_table(status: int, payload: dict[str, Any], error_type: str, spend: bool) -> None:
    err = anthropic_error(status, payload)
    assert (err.error_type, err.spend_limit) == (error_type, spend)


async def test_a_body_of_the_wrong_shape_is_invalid_response() -> None:
    adapter = mock_adapter({"id": "x", "content": "not blocks"}, [])
    with pytest.raises(ProviderError) as info:
        await adapter.send(ProviderRequest("m", [{"role": "user", "content": "q"}]), timeout=1.0)
    assert info.value.error_type == "invalid_response"
    await adapter.aclose()


def one_model(server: FakeProviderServer, model: str) -> Router:
    dep = Deployment("claude", AnthropicProvider(base_url=server.base_for("a"), api_key=CANARY), model)
    return Router(deployments=[dep], tiers=[Tier("t", ["claude"], policy="static")], telemetry=MemorySink(), settings=fast_settings(max_attempts_per_deployment=1))


@pytest.mark.parametrize(
    ("model", "params", "refusal"),
    [
        ("claude-sonnet-4-20250514", {"temperature": 0.2, "top_p": 0.9, "top_k": 5}, None),  # older models: each and together
        ("claude-3-5-haiku-20241022", {"temperature": 0.0}, None),
        ("claude-sonnet-4-5", {"temperature": 0.2, "top_k": 5}, None),
        ("claude-sonnet-4-5", {"top_p": 0.9}, None),
        ("claude-opus-4-1", {"temperature": 0.2, "top_p": 0.9}, "`temperature` and `top_p` cannot both be specified for this model. Please use only one."),
        ("claude-opus-4-7", {"temperature": 1}, None),  # the newest: only the defaults
        ("claude-opus-4-7", {"top_p": 0.95}, None),
        ("claude-opus-4-7", {"temperature": 0.2}, "`temperature` is deprecated for this model."),
        ("claude-opus-4-8", {"top_p": 0.5}, "`top_p` is deprecated for this model."),
        ("claude-sonnet-5", {"top_k": 5}, "`top_k` is deprecated for this model."),
        ("claude-sonnet-4", {"temperature": 1.5}, "temperature: Input should be less than or equal to 1"),  # OpenAI's 0-2 is not Anthropic's 0-1
    ],
)
async def test_sampling_parameters_pass_through_and_the_api_decides_by_model(
    server: FakeProviderServer, model: str, params: dict[str, Any], refusal: str | None
) -> None:
    """temperature, top_p, top_k are sent as given; the fake refuses them as the API does, with its
    400 (bad_request, surfaced with the API's message)."""
    router = one_model(server, model)
    if refusal is None:
        resp = await router.acompletion("t", MSGS, **params)
        assert resp.choices[0].message.content
    else:
        with pytest.raises(RoutingError) as info:
            await router.acompletion("t", MSGS, **params)
        assert info.value.error_type == "bad_request" and str(info.value) == f"Error code: 400 - {refusal}"
    assert {k: server.last_body("a").get(k) for k in params} == params
    await router.aclose()
