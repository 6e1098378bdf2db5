"""Responses and chunks in the OpenAI SDK's shape, checked against the SDK's own types."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion as SDKChatCompletion
from openai.types.chat import ChatCompletionChunk as SDKChunk

from router.testing import FakeProviderServer
from router.types import ChatCompletion, ChatCompletionChunk
from tests.client.conftest import Canned, canned_client, fake_client

MSGS = [{"role": "user", "content": "What is the weather in Paris?"}]

FULL_BODY: dict[str, Any] = {
    "id": "chatcmpl-abc",
    "object": "chat.completion",
    "created": 1_700_000_123,
    "model": "gpt-4o-2024-08-06",
    "system_fingerprint": "fp_44709d6fcb",
    "service_tier": "default",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "annotations": [],
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}],
            },
            "logprobs": {"content": [{"token": "ok", "logprob": -0.1, "bytes": [111, 107], "top_logprobs": []}], "refusal": None},
            "finish_reason": "tool_calls",
        },
        {"index": 1, "message": {"role": "assistant", "content": "I cannot.", "refusal": "no"}, "logprobs": None, "finish_reason": "stop"},
    ],
    "usage": {
        "prompt_tokens": 20,
        "completion_tokens": 7,
        "total_tokens": 27,
        "prompt_tokens_details": {"cached_tokens": 12, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 3, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    },
    "a_future_field": {"nested": [1, 2]},
}


def answer(body: dict[str, Any], headers: dict[str, str] | None = None) -> Canned:
    return Canned(lambda req: (200, {"x-request-id": "req_123", **(headers or {})}, body))


async def test_every_field_is_kept_and_validates_as_the_sdks_own_object() -> None:
    client = canned_client(answer(FULL_BODY))
    resp = await client.chat.completions.create(model="capable", messages=MSGS, n=2)
    assert isinstance(resp, ChatCompletion)
    sdk = SDKChatCompletion.model_validate(FULL_BODY)
    assert SDKChatCompletion.model_validate(resp.model_dump()) == sdk
    assert resp.to_dict() == FULL_BODY  # every field as sent, unknown ones included
    assert json.loads(resp.to_json()) == FULL_BODY and json.loads(resp.model_dump_json()) == json.loads(sdk.model_dump_json())
    assert resp.model_dump(exclude_none=True) == sdk.model_dump(exclude_none=True)
    assert resp.created == 1_700_000_123 and resp.system_fingerprint == "fp_44709d6fcb" and resp.service_tier == "default"
    assert resp.a_future_field == {"nested": [1, 2]}
    assert len(resp.choices) == 2 and resp.choices[1].message.refusal == "no"
    tc = resp.choices[0].message.tool_calls[0]
    assert (tc.id, tc.type, tc.function.name, json.loads(tc.function.arguments)) == ("call_1", "function", "get_weather", {"city": "Paris"})
    assert resp.choices[0].logprobs.content[0].logprob == -0.1
    assert resp.usage.prompt_tokens_details.cached_tokens == 12 and resp.usage.completion_tokens_details.reasoning_tokens == 3
    assert resp._request_id == "req_123"
    # routing facts are attributes, out of every dump
    assert (resp.deployment, resp.provider, resp.fallback_used, resp.retry_count) == ("d0", "openai", False, 0)
    assert resp.call_id and "deployment" not in resp.model_dump() and "call_id" not in resp.to_json()
    await client.aclose()


async def test_the_assistant_message_is_appended_to_messages_as_is() -> None:
    canned = answer(FULL_BODY)
    client = canned_client(canned)
    resp = await client.chat.completions.create(model="capable", messages=MSGS)
    msg = resp.choices[0].message
    follow = [*MSGS, msg, {"role": "tool", "tool_call_id": msg.tool_calls[0].id, "content": "18C"}]
    await client.chat.completions.create(model="capable", messages=follow)
    sent = canned.body()["messages"]
    assert sent[1] == FULL_BODY["choices"][0]["message"]  # as the SDK sends it: the fields the API set
    # the SDK's own message object is accepted too
    sdk_msg = SDKChatCompletion.model_validate(FULL_BODY).choices[0].message
    await client.chat.completions.create(model="capable", messages=[*MSGS, sdk_msg, follow[2]])
    assert canned.body()["messages"][1] == sent[1]
    await client.aclose()


async def test_created_is_what_the_provider_sent_and_a_wrong_body_is_kept_as_sent() -> None:
    body = {**FULL_BODY, "created": 42, "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}]}
    client = canned_client(answer(body))
    resp = await client.chat.completions.create(model="capable", messages=MSGS)
    assert resp.created == 42
    odd = {**body, "system_fingerprint": ["not", "a", "string"]}  # not the API's shape: kept, not raised
    client2 = canned_client(answer(odd))
    resp2 = await client2.chat.completions.create(model="capable", messages=MSGS)
    assert resp2.system_fingerprint == ["not", "a", "string"] and resp2.id == "chatcmpl-abc"
    await client.aclose()
    await client2.aclose()


async def test_fake_provider_response_matches_the_sdk_parse(server: FakeProviderServer) -> None:
    client = fake_client(server, "a")
    resp = await client.chat.completions.create(model="capable", messages=MSGS, max_tokens=5)
    sdk = SDKChatCompletion.model_validate(resp.to_dict())
    assert SDKChatCompletion.model_validate(resp.model_dump()) == sdk and sdk.choices[0].message.content == resp.choices[0].message.content
    await client.aclose()


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


STREAM = [
    {"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}, {"index": 1, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}], "usage": None},
    {"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}, "finish_reason": None}], "usage": None},
    {"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}, "finish_reason": "tool_calls"}], "usage": None},
    {"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m", "choices": [{"index": 1, "delta": {"content": "hi"}, "finish_reason": "stop"}], "usage": None},
    {"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}},
]


def streaming() -> Canned:
    return Canned(lambda req: (200, {"content-type": "text/event-stream"}, sse(*STREAM)))


@pytest.mark.parametrize("include_usage", [False, True])
async def test_stream_chunks_like_the_sdk(include_usage: bool) -> None:
    canned = streaming()
    client = canned_client(canned)
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    stream = await client.chat.completions.create(model="capable", messages=MSGS, stream=True, n=2, **extra)
    chunks = [c async for c in stream]
    assert canned.body()["stream_options"] == {"include_usage": True}  # asked for the record's tokens either way
    expected = STREAM if include_usage else [{k: v for k, v in e.items() if k != "usage"} for e in STREAM[:-1]]
    assert [c.to_dict() for c in chunks] == expected
    for ours, wire in zip(chunks, expected, strict=True):
        assert isinstance(ours, ChatCompletionChunk) and SDKChunk.model_validate(ours.model_dump()) == SDKChunk.model_validate(wire)
    # the README's loop: no IndexError without include_usage
    if not include_usage:
        assert all(c.choices for c in chunks)
    call = chunks[1].choices[0].delta.tool_calls[0]
    assert (call.index, call.id, call.function.name) == (0, "call_1", "f")
    assert {c.index for ch in chunks for c in ch.choices} == {0, 1}  # n=2: both choices
    assert chunks[0].deployment == "d0" and chunks[0].created == 7
    assert stream.record is not None and stream.record.output_tokens == 4  # tokens recorded either way
    await client.aclose()


async def test_sdk_validates_our_objects_without_the_openai_package_installed() -> None:
    assert openai.__version__  # the oracle is installed here; the types themselves never import it
    import router.types.chat as chat

    assert "openai" not in chat.__dict__


def _odd(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with leaves of the wrong type, as a careless provider sends them."""
    odd = json.loads(json.dumps(body))
    odd["system_fingerprint"] = 44709  # an int for a string
    choice = odd["choices"][0]
    choice["message"]["tool_calls"][0]["function"]["arguments"] = {"city": "Paris"}  # an object for a string
    choice["message"]["tool_calls"].append({"id": "c2", "type": "custom", "custom": {"name": "grep", "input": 7}})
    choice["logprobs"]["content"][0]["logprob"] = 0  # an int for a float
    odd["usage"]["prompt_tokens_details"]["cached_tokens"] = "12"  # a numeric string for an int
    odd["choices"][1]["finish_reason"] = None
    del odd["usage"]["total_tokens"]  # a required field missing: None, as with the SDK
    return odd


def _read(resp: Any) -> list[Any]:
    """What user code reads, attribute by attribute, with the class of each object on the way."""
    msg = resp.choices[0].message
    calls = msg.tool_calls
    return [
        resp.id, resp.system_fingerprint, resp.created, type(resp.usage).__name__, resp.usage.total_tokens,
        type(resp.usage.prompt_tokens_details).__name__, resp.usage.prompt_tokens_details.cached_tokens,
        resp.usage.completion_tokens_details.reasoning_tokens,
        [type(c).__name__ for c in calls], calls[0].function.name, calls[0].function.arguments, calls[1].custom.input,
        resp.choices[0].logprobs.content[0].logprob, type(resp.choices[0].logprobs.content[0].logprob).__name__,
        resp.choices[1].message.content, resp.choices[1].finish_reason, resp.a_future_field,
    ]


async def test_a_body_with_wrong_typed_leaves_reads_as_the_sdk_reads_it() -> None:
    """The SDK builds responses without validation (``construct_type``); ours keeps every other
    field an object too, so attribute access works where it works with the SDK."""
    import httpx2

    body = _odd(FULL_BODY)
    sdk = openai.AsyncOpenAI(api_key="sk-test", base_url="http://canned.test/v1", max_retries=0,
                             http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(lambda r: httpx2.Response(200, json=body))))
    expected = _read(await sdk.chat.completions.create(model="m", messages=MSGS))
    client = canned_client(answer(body))
    got = _read(await client.chat.completions.create(model="capable", messages=MSGS))
    assert got == expected
    assert expected[3:6] == ["CompletionUsage", None, "PromptTokensDetails"] and expected[10] == {"city": "Paris"}  # the oracle kept them
    assert [type(c).__name__ for c in (await client.chat.completions.create(model="capable", messages=MSGS)).choices[0].message.tool_calls] == [
        "ChatCompletionMessageFunctionToolCall", "ChatCompletionMessageCustomToolCall"]
    await sdk.close()
    await client.aclose()
