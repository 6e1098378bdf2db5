"""The same user code through ``openai.AsyncOpenAI`` and through ``router.AsyncClient``: the
upstream requests, the returned objects and the exceptions must be the same (the harness and
what "the same" means: ``conformance_kit``; documented differences: docs/conformance.md).

Patterns come from the SDK's README and API reference. Those that wait for unlanded work are
strict xfails naming it: when that work lands they pass, strict xfail fails, and the mark goes.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pydantic
import pytest
from conformance_kit import CHAT_MODEL, EMBED_MODEL, KEY, Pattern, run_pattern

from router import AsyncClient
from router.testing import FakeProviderServer, Fault

M = CHAT_MODEL
HI = [{"role": "user", "content": "Say this is a test"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False},
        "strict": True,
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
SCHEMA = {"type": "object", "properties": {"name": {"type": "string"}, "date": {"type": "string"}, "participants": {"type": "array", "items": {"type": "string"}}},
          "required": ["name", "date", "participants"], "additionalProperties": False}

# what the xfails wait for (dropin's items of issue 10, not on main yet)


def chat(**kw: Any) -> Any:
    async def call(c: Any) -> Any:
        return await c.chat.completions.create(**{"model": M, "messages": HI, **kw})

    return call


def streamed(**kw: Any) -> Any:
    async def call(c: Any) -> Any:
        stream = await c.chat.completions.create(**{"model": M, "messages": HI, "stream": True, **kw})
        return [chunk async for chunk in stream]

    return call


async def readme_stream_loop(c: Any) -> Any:
    """The README's loop: print each delta's content."""
    stream = await c.chat.completions.create(model=M, messages=HI, stream=True)
    out = []
    async for chunk in stream:
        out.append(chunk.choices[0].delta.content or "")
    return "".join(out)


async def stream_close_early(c: Any) -> Any:
    stream = await c.chat.completions.create(model=M, messages=HI, stream=True)
    first = None
    async for chunk in stream:
        first = chunk
        break
    await stream.close()
    return first


async def stream_tool_call_arguments(c: Any) -> Any:
    stream = await c.chat.completions.create(model=M, messages=HI, tools=[WEATHER, TIME], tool_choice="required", stream=True)
    calls: dict[int, list[str]] = {}
    async for chunk in stream:
        for tc in chunk.choices[0].delta.tool_calls or () if chunk.choices else ():
            entry = calls.setdefault(tc.index, ["", ""])
            entry[0] += tc.function.name or ""
            entry[1] += tc.function.arguments or ""
    return calls


async def tool_round_trip(c: Any) -> Any:
    messages: list[Any] = [{"role": "user", "content": "What's the weather in Paris?"}]
    resp = await c.chat.completions.create(model=M, messages=messages, tools=[WEATHER], tool_choice="required")
    messages.append(resp.choices[0].message)
    for call in resp.choices[0].message.tool_calls:
        args = json.loads(call.function.arguments)
        messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps({"city": args.get("city"), "temp_c": 21})})
    final = await c.chat.completions.create(model=M, messages=messages, tools=[WEATHER])
    return resp, final, final.choices[0].message.content


async def parallel_tool_calls(c: Any) -> Any:
    resp = await c.chat.completions.create(model=M, messages=HI, tools=[WEATHER, TIME], tool_choice="required")
    return resp, [(tc.id, tc.function.name, tc.function.arguments) for tc in resp.choices[0].message.tool_calls]


class CalendarEvent(pydantic.BaseModel):
    name: str
    date: str
    participants: list[str]


async def parse_pydantic(c: Any) -> Any:
    resp = await c.chat.completions.parse(model=M, messages=HI, response_format=CalendarEvent)
    return resp, resp.choices[0].message.parsed, resp.choices[0].message.refusal


async def json_schema_loads(c: Any) -> Any:
    fmt = {"type": "json_schema", "json_schema": {"name": "event", "schema": SCHEMA, "strict": True}}
    resp = await c.chat.completions.create(model=M, messages=HI, response_format=fmt)
    return resp, json.loads(resp.choices[0].message.content)


def caught(exc_class: type[BaseException], **kw: Any) -> Any:
    """User code that catches ``exc_class`` and reads what the SDK's docs show."""

    async def call(c: Any) -> Any:
        try:
            await c.chat.completions.create(**{"model": M, "messages": HI, **kw})
        except exc_class as e:  # noqa: BLE001 - the pattern under test
            out: dict[str, Any] = {"class": type(e).__mro__[[k.__module__.startswith("openai") for k in type(e).__mro__].index(True)].__name__}
            for name in ("status_code", "message", "body", "code", "type", "param"):
                if hasattr(e, name):
                    out[name] = getattr(e, name)
            if hasattr(e, "response"):
                out["response.status_code"] = e.response.status_code
            return out
        return "no exception"

    return call


def fault(route_fault: Fault) -> Any:
    def setup(server: FakeProviderServer) -> None:
        server.set_default(M, route_fault)

    return setup


def wrong_key(server: FakeProviderServer) -> None:
    server.require_api_key("sk-someone-else")


async def with_timeout_ok(c: Any) -> Any:
    return await c.chat.completions.create(model=M, messages=HI, timeout=20.0)


async def with_httpx_timeout(c: Any) -> Any:
    return await c.chat.completions.create(model=M, messages=HI, timeout=httpx.Timeout(20.0, connect=5.0))


async def timeout_raises(c: Any) -> Any:
    try:
        await c.chat.completions.create(model=M, messages=HI, timeout=0.3)
    except openai.APITimeoutError as e:
        return {"class": "APITimeoutError", "message": e.message}
    return "no exception"


async def connection_error(c: Any) -> Any:
    try:
        await c.chat.completions.create(model=M, messages=HI)
    except openai.APIConnectionError as e:
        return {"class": type(e).__name__, "message": e.message}
    return "no exception"


async def options_client(c: Any) -> Any:
    return await c.with_options(timeout=15.0, max_retries=0).chat.completions.create(model=M, messages=HI)


async def raw_response(c: Any) -> Any:
    raw = await c.chat.completions.with_raw_response.create(model=M, messages=HI)
    return raw.status_code, raw.headers.get("content-type"), raw.parse()


async def streaming_response(c: Any) -> Any:
    async with c.chat.completions.with_streaming_response.create(model=M, messages=HI) as r:
        return r.status_code, r.headers.get("content-type"), await r.parse()


async def streaming_response_of_a_stream(c: Any) -> Any:
    async with c.chat.completions.with_streaming_response.create(model=M, messages=HI, stream=True) as r:
        stream = await r.parse()
        return r.status_code, [chunk async for chunk in stream]


async def embeddings_raw_response(c: Any) -> Any:
    raw = await c.embeddings.with_raw_response.create(model=EMBED_MODEL, input="The food was delicious")
    return raw.status_code, raw.headers.get("content-type"), raw.parse()


async def embeddings_streaming_response(c: Any) -> Any:
    async with c.embeddings.with_streaming_response.create(model=EMBED_MODEL, input=["a", "b"], encoding_format="float") as r:
        return r.status_code, await r.parse()


async def embeddings_one(c: Any) -> Any:
    resp = await c.embeddings.create(model=EMBED_MODEL, input="The food was delicious")
    return resp, len(resp.data[0].embedding)


async def embeddings_many(c: Any) -> Any:
    resp = await c.embeddings.create(model=EMBED_MODEL, input=["a", "bb", "ccc"], dimensions=4, encoding_format="float")
    return resp, [d.embedding for d in resp.data]


async def embeddings_base64(c: Any) -> Any:
    """A caller naming base64 gets the strings as sent (the SDK decodes only when it chose the
    format); compared as values: the SDK's own type does not validate a str embedding."""
    resp = await c.embeddings.create(model=EMBED_MODEL, input="abc", encoding_format="base64")
    return [d.embedding for d in resp.data], resp.usage.model_dump(), resp.model


async def dump_json(c: Any) -> Any:
    resp = await c.chat.completions.create(model=M, messages=HI)
    return json.loads(resp.model_dump_json()), resp.to_dict(), json.loads(resp.to_json()), resp.model_dump(exclude_none=True)


async def content_and_usage(c: Any) -> Any:
    resp = await c.chat.completions.create(model=M, messages=HI, max_completion_tokens=5)
    return resp.choices[0].message.content, resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens


PATTERNS = [
    Pattern("plain", chat()),
    Pattern("content and usage attributes", content_and_usage),
    Pattern("system prompt", chat(messages=[{"role": "system", "content": "You are terse."}, *HI])),
    Pattern("developer message", chat(messages=[{"role": "developer", "content": "Talk like a pirate."}, *HI])),
    Pattern("multi-turn", chat(messages=[*HI, {"role": "assistant", "content": "This is a test."}, {"role": "user", "content": "Again"}])),
    Pattern("content parts with an image", chat(messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}]}])),
    Pattern("temperature", chat(temperature=0.2)),
    Pattern("top_p", chat(top_p=0.9)),
    Pattern("stop string", chat(stop="\n")),
    Pattern("stop list", chat(stop=["END", "STOP"])),
    Pattern("seed", chat(seed=42)),
    Pattern("max_tokens", chat(max_tokens=16)),
    Pattern("max_completion_tokens", chat(max_completion_tokens=16)),
    Pattern("penalties", chat(presence_penalty=0.5, frequency_penalty=0.3)),
    Pattern("user, metadata, store", chat(user="user-1", metadata={"team": "a"}, store=True)),
    Pattern("reasoning_effort", chat(reasoning_effort="low")),
    Pattern("n=2", chat(n=2)),
    Pattern("logprobs", chat(logprobs=True, top_logprobs=1)),
    Pattern("tools auto", chat(tools=[WEATHER])),
    Pattern("tool_choice required", chat(tools=[WEATHER], tool_choice="required")),
    Pattern("tool_choice named function", chat(tools=[WEATHER, TIME], tool_choice={"type": "function", "function": {"name": "get_time"}})),
    Pattern("parallel tool calls", parallel_tool_calls),
    Pattern("parallel_tool_calls=False", chat(tools=[WEATHER, TIME], tool_choice="required", parallel_tool_calls=False)),
    Pattern("tool round trip with messages.append(message)", tool_round_trip),
    Pattern("json_object", chat(response_format={"type": "json_object"}, messages=[{"role": "user", "content": "Answer in JSON"}])),
    Pattern("json_schema and json.loads", json_schema_loads),
    Pattern("parse() with a pydantic model", parse_pydantic),
    Pattern("stream=False", chat(stream=False)),
    Pattern("model_dump_json, to_dict, to_json, exclude_none", dump_json),
    Pattern("streaming, the README loop", readme_stream_loop),
    Pattern("streaming chunks", streamed()),
    Pattern("streaming with include_usage", streamed(stream_options={"include_usage": True})),
    Pattern("streaming tool calls", streamed(tools=[WEATHER], tool_choice="required")),
    Pattern("streaming tool call arguments by index", stream_tool_call_arguments),
    Pattern("streaming n=2", streamed(n=2)),
    Pattern("stream.close() after the first chunk", stream_close_early),
    Pattern("timeout= float", with_timeout_ok),
    Pattern("timeout= httpx.Timeout", with_httpx_timeout),
    Pattern("timeout raises APITimeoutError", timeout_raises, setup=fault(Fault.delay(2.0))),
    Pattern("extra_headers", chat(extra_headers={"X-Trace-Id": "trace-1"})),
    Pattern("extra_query", chat(extra_query={"trace": "1"})),
    Pattern("extra_body", chat(extra_body={"service_tier": "flex"})),
    Pattern("with_options", options_client),
    Pattern("with_raw_response", raw_response),
    Pattern("with_streaming_response", streaming_response),
    Pattern("with_streaming_response of a stream", streaming_response_of_a_stream),
    Pattern("embeddings.with_raw_response", embeddings_raw_response),
    Pattern("embeddings.with_streaming_response", embeddings_streaming_response),
    Pattern("BadRequestError (a bad value the API rejects)", caught(openai.BadRequestError, temperature="hot")),
    Pattern("AuthenticationError", caught(openai.AuthenticationError), setup=wrong_key),
    Pattern("PermissionDeniedError", caught(openai.PermissionDeniedError), setup=fault(Fault.status(403))),
    Pattern("NotFoundError", caught(openai.NotFoundError), setup=fault(Fault.status(404))),
    Pattern("UnprocessableEntityError", caught(openai.UnprocessableEntityError), setup=fault(Fault.status(422))),
    Pattern("RateLimitError", caught(openai.RateLimitError), setup=fault(Fault.status(429, retry_after="1"))),
    Pattern("InternalServerError", caught(openai.InternalServerError), setup=fault(Fault.status(500))),
    Pattern("APIStatusError.status_code (503)", caught(openai.APIStatusError), setup=fault(Fault.status(503))),
    Pattern("APIError catches all (context length)", caught(openai.APIError), setup=fault(Fault.context_length())),
    Pattern("APIConnectionError", connection_error, setup=fault(Fault.reset())),
    Pattern("embeddings, one input", embeddings_one),
    Pattern("embeddings, a list with dimensions", embeddings_many),
    Pattern("embeddings, encoding_format=base64", embeddings_base64),
]


def _param(p: Pattern) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=f"waits for {p.waits_for}")] if p.waits_for else []
    return pytest.param(p, id=p.name, marks=marks)


def test_there_are_at_least_40_patterns_and_names_are_unique() -> None:
    assert len(PATTERNS) >= 40 and len({p.name for p in PATTERNS}) == len(PATTERNS)


@pytest.mark.parametrize("pattern", [_param(p) for p in PATTERNS])
async def test_pattern(fake: FakeProviderServer, sdk: openai.AsyncOpenAI, ours: AsyncClient, pattern: Pattern) -> None:
    await run_pattern(fake, pattern, sdk, ours)


def test_the_harness_sees_a_difference(fake: FakeProviderServer) -> None:
    """The comparison is not vacuous: a changed body, header, field or exception is reported."""
    from conformance_kit import Differences, compare_errors, compare_requests, compare_values
    from router.testing.routes import RecordedRequest

    def rec(body: Any, **headers: str) -> RecordedRequest:
        return RecordedRequest("r", "POST", "/v1/chat/completions", "", {"authorization": f"Bearer {KEY}", **headers}, body, b"")

    out = Differences()
    compare_requests([rec({"a": 1}, **{"user-agent": "x", "x-stainless-os": "y"})], [rec({"a": 1})], out)
    assert out.items == []  # the ignored headers only
    compare_requests([rec({"a": 1})], [rec({"a": 2}, **{"x-extra": "1"})], out)
    assert [i.split(":")[0] for i in out.items] == ["requests[0].body", "requests[0].headers[x-extra]"]
    from openai.types.chat import ChatCompletion

    sdk_obj = ChatCompletion.model_validate({"id": "1", "object": "chat.completion", "created": 1, "model": "m", "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "x"}}]})
    out = Differences()
    compare_values(sdk_obj, sdk_obj.model_copy(update={"created": 2}), "r", out)
    compare_values(sdk_obj, {"id": "1"}, "s", out)
    assert out.items[0].startswith("r.created") and "without model_dump" in out.items[1]
    out = Differences()
    compare_errors(openai.APIConnectionError(request=httpx.Request("POST", "http://x")), RuntimeError("x"), out)
    assert "not an instance of the SDK's APIConnectionError" in out.items[0]


async def test_models_list_differs_by_design(fake: FakeProviderServer, sdk: openai.AsyncOpenAI, ours: AsyncClient) -> None:
    """``models.list()`` asks the provider for its models; ours lists the router's tiers and
    deployments without a request (issue 10 item 6; docs/conformance.md). Both are SDK ``Model``s."""
    fake.require_api_key(KEY)
    fake.reset()
    sdk_page = await sdk.models.list()
    assert [r.path for r in fake.recordings()] == ["/v1/models"]
    fake.reset()
    page = await ours.models.list()
    assert fake.recordings() == []
    models = [openai.types.Model.model_validate(m.model_dump()) for m in page.data]
    assert {m.id for m in models} == {CHAT_MODEL, EMBED_MODEL} and all(m.object == "model" for m in models)
    assert {m.id for m in sdk_page.data} == {"fake-model"}
    sdk_raw, raw = await sdk.models.with_raw_response.list(), await ours.models.with_raw_response.list()
    assert (raw.status_code, raw.headers["content-type"]) == (sdk_raw.status_code, "application/json") == (200, "application/json")
    assert [m.id for m in raw.parse().data] == [m.id for m in page.data] and [m.id for m in sdk_raw.parse().data] == ["fake-model"]
    async with sdk.models.with_streaming_response.list() as sdk_r, ours.models.with_streaming_response.list() as r:
        assert r.status_code == sdk_r.status_code == 200
        assert [m.id for m in (await r.parse()).data] == [m.id for m in page.data] and len((await sdk_r.parse()).data) == 1
