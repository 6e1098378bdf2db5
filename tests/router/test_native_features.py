"""What the Anthropic and Gemini adapters translate natively (item 7 of issue 10): structured
output, images, tool round trips, function calling, over real HTTP to the strict fake provider
(which answers 400 for any body the real API would refuse)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from router import Deployment, Router, RouterSettings, Tier
from router.providers.anthropic import AnthropicProvider
from router.providers.gemini import GeminiProvider
from router.testing import FakeProviderServer
from telemetry import MemorySink

PNG = "data:image/png;base64,iVBORw0KGgo="
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city", "days"],
          "additionalProperties": False}
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ASK = [{"role": "user", "content": "Weather in Paris?"}]


def build(server: FakeProviderServer, api: str) -> Router:
    adapter = AnthropicProvider(base_url=server.base_for("x")) if api == "anthropic" else GeminiProvider(base_url=server.base_for("x"))
    settings = RouterSettings(backoff_initial_s=0.001, backoff_max_s=0.002, attempt_timeout_s=2.0, deadline_s=5.0, max_attempts_per_deployment=1)
    return Router(deployments=[Deployment("d", adapter, "model-x")], tiers=[Tier("t", ["d"], policy="static")], telemetry=MemorySink(), settings=settings)


@pytest.mark.parametrize("api", ["anthropic", "gemini"])
async def test_json_schema_is_sent_natively_and_the_answer_parses(server: FakeProviderServer, api: str) -> None:
    router = build(server, api)
    fmt = {"type": "json_schema", "json_schema": {"name": "trip", "schema": SCHEMA, "strict": True}}
    resp = await router.acompletion("t", ASK, response_format=fmt)
    assert json.loads(resp.choices[0].message.content) == {"city": "ok", "days": 1}
    body = server.last_body("x")
    if api == "anthropic":
        assert body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    else:
        assert body["generationConfig"] == {"responseMimeType": "application/json", "responseJsonSchema": SCHEMA}
    await router.aclose()


async def test_anthropic_json_object_is_a_forced_tool_whose_input_is_the_content(server: FakeProviderServer) -> None:
    router = build(server, "anthropic")
    resp = await router.acompletion("t", ASK, response_format={"type": "json_object"})
    assert resp.choices[0].message.content == "{}" and resp.choices[0].finish_reason == "stop"
    assert resp.choices[0].message.tool_calls is None
    body = server.last_body("x")
    assert body["tool_choice"] == {"type": "tool", "name": "json_response"} and body["tools"][0]["input_schema"] == {"type": "object"}
    stream = await router.acompletion("t", ASK, response_format={"type": "json_object"}, stream=True)
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "{}"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    await router.aclose()


@pytest.mark.parametrize("api", ["anthropic", "gemini"])
async def test_images_base64_and_url(server: FakeProviderServer, api: str) -> None:
    router = build(server, api)
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PNG}},
               {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}}]
    await router.acompletion("t", [{"role": "user", "content": content}])
    body = server.last_body("x")
    if api == "anthropic":
        assert body["messages"][0]["content"] == [
            {"type": "text", "text": "What is this?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        ]
    else:
        assert body["contents"][0]["parts"] == [
            {"text": "What is this?"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}},
        ]
    await router.aclose()


@pytest.mark.parametrize("api", ["anthropic", "gemini"])
async def test_tool_round_trip(server: FakeProviderServer, api: str) -> None:
    router = build(server, api)
    forced = {"type": "function", "function": {"name": "get_weather"}}
    first = await router.acompletion("t", ASK, tools=[WEATHER], tool_choice=forced)
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    (call,) = message.tool_calls
    name, arguments, call_id = _get(_get(call, "function"), "name"), _get(_get(call, "function"), "arguments"), _get(call, "id")
    assert name == "get_weather" and json.loads(arguments) == {}
    convo: list[dict[str, Any]] = [*ASK, _as_dict(message), {"role": "tool", "tool_call_id": call_id, "content": '{"temp_c": 21}'}]
    second = await router.acompletion("t", convo, tools=[WEATHER])
    assert second.choices[0].message.content == "ok: 2"
    body = server.last_body("x")
    if api == "anthropic":
        assert body["messages"][1:] == [
            {"role": "assistant", "content": [{"type": "tool_use", "id": call_id, "name": "get_weather", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": '{"temp_c": 21}'}]},
        ]
    else:
        assert body["tools"] == [{"functionDeclarations": [{"name": "get_weather", "description": "Weather of a city",
                                                            "parametersJsonSchema": WEATHER["function"]["parameters"]}]}]
        assert body["contents"][1:] == [
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}}]},
        ]
    await router.aclose()


@pytest.mark.parametrize(("choice", "config"), [
    ("auto", {"mode": "AUTO"}), ("none", {"mode": "NONE"}), ("required", {"mode": "ANY"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
])
async def test_gemini_tool_choice(server: FakeProviderServer, choice: Any, config: dict[str, Any]) -> None:
    router = build(server, "gemini")
    await router.acompletion("t", ASK, tools=[WEATHER], tool_choice=choice)
    assert server.last_body("x")["toolConfig"] == {"functionCallingConfig": config}
    await router.aclose()


async def test_gemini_streams_function_calls_and_plain_text_tool_results(server: FakeProviderServer) -> None:
    router = build(server, "gemini")
    stream = await router.acompletion("t", ASK, tools=[WEATHER], tool_choice="required", stream=True)
    chunks = [c async for c in stream]
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or ())]
    assert [(_get(tc, "index"), _get(_get(tc, "function"), "name")) for tc in calls] == [(0, "get_weather")]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    convo = [*ASK, {"role": "assistant", "content": None, "tool_calls": [{"id": "call_0", "type": "function",
                                                                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
             {"role": "tool", "tool_call_id": "call_0", "content": "sunny"}]
    await router.acompletion("t", convo)
    assert server.last_body("x")["contents"][1:] == [
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}}]},
    ]
    await router.aclose()


def _get(obj: Any, name: str) -> Any:
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def _as_dict(message: Any) -> dict[str, Any]:
    """The assistant message as the caller appends it (an SDK-shaped object or today's dataclass)."""
    if hasattr(message, "model_dump"):
        return message.model_dump(exclude_none=True)
    from dataclasses import asdict

    return {k: v for k, v in asdict(message).items() if v is not None}


@pytest.mark.parametrize("api", ["anthropic", "gemini"])
async def test_an_explicit_stream_false_is_accepted_and_not_sent(server: FakeProviderServer, api: str) -> None:
    """``parse()`` sends ``"stream": false`` as the SDK does (the OpenAI wire keeps it); these
    adapters answer without a stream and leave the key out of their native bodies."""
    from router import AsyncClient
    from tests.client.test_surface import Event

    client = AsyncClient(build(server, api))
    resp = await client.chat.completions.parse(model="t", messages=ASK, response_format=Event)
    assert isinstance(resp.choices[0].message.parsed, Event)
    assert "stream" not in server.last_body("x")
    await client.aclose()
