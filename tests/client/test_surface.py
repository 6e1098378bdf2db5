"""parse(), the stream() helper, embeddings.create and models.list."""

from __future__ import annotations

import json
from typing import Any

import openai
import pydantic
import pytest
from openai.types import CreateEmbeddingResponse as SDKEmbeddings
from openai.types.chat import ParsedChatCompletion as SDKParsed

from router import AsyncClient, Client, Deployment, MemoryProvider, Router, RouterSettings, Tier
from router.errors import ServerError
from router.parsing import response_format_param
from telemetry import MemorySink
from tests.client.conftest import Canned, canned_client

MSGS = [{"role": "user", "content": "Extract the event."}]


class Event(pydantic.BaseModel):
    name: str
    attendees: list[str]
    day: str | None = None


def answering(content: str | None, refusal: str | None = None, finish: str = "stop") -> Canned:
    body = {"id": "c", "object": "chat.completion", "created": 3, "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": refusal}, "finish_reason": finish}], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    return Canned(lambda req: (200, {}, body))


async def test_parse_sends_the_sdks_strict_schema_and_returns_parsed() -> None:
    from openai.lib._parsing._completions import type_to_response_format_param

    canned = answering('{"name": "launch", "attendees": ["ana", "bo"], "day": null}')
    client = canned_client(canned)
    resp = await client.chat.completions.parse(model="capable", messages=MSGS, response_format=Event)
    assert canned.body()["response_format"] == type_to_response_format_param(Event)  # what the SDK sends
    assert resp.choices[0].message.parsed == Event(name="launch", attendees=["ana", "bo"])
    sdk = SDKParsed[Event].model_validate(resp.model_dump())
    assert sdk.choices[0].message.parsed == Event(name="launch", attendees=["ana", "bo"])
    # the parsed message goes back into messages without its ``parsed`` field
    await client.chat.completions.create(model="capable", messages=[*MSGS, resp.choices[0].message])
    assert "parsed" not in canned.body()["messages"][1]
    await client.aclose()


async def test_parse_refusal_and_length() -> None:
    client = canned_client(answering(None, refusal="I can't help with that."))
    resp = await client.chat.completions.parse(model="capable", messages=MSGS, response_format=Event)
    assert resp.choices[0].message.parsed is None and resp.choices[0].message.refusal == "I can't help with that."
    await client.aclose()
    from router.parsing import LengthFinishReasonError

    client = canned_client(answering('{"name": "la', finish="length"))
    with pytest.raises(openai.LengthFinishReasonError) as info:  # the SDK's except clause catches ours
        await client.chat.completions.parse(model="capable", messages=MSGS, response_format=Event)
    assert isinstance(info.value, LengthFinishReasonError) and info.value.completion.choices[0].finish_reason == "length"
    await client.aclose()


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "s", "object": "chat.completion.chunk", "created": 5, "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


async def test_stream_helper_events_and_final_completion() -> None:
    events = [chunk({"role": "assistant", "content": ""}), chunk({"content": '{"name": "x", '}), chunk({"content": '"attendees": []}'}, "stop")]
    client = canned_client(Canned(lambda req: (200, {"content-type": "text/event-stream"}, sse(*events))))
    async with client.chat.completions.stream(model="capable", messages=MSGS, response_format=Event) as stream:
        seen = [e async for e in stream]
        final = await stream.get_final_completion()
    kinds = [e.type for e in seen]
    assert kinds.count("chunk") == 3 and kinds.count("content.delta") == 2 and kinds[-1] == "content.done"
    assert seen[-1].parsed == Event(name="x", attendees=[]) and final.choices[0].message.parsed == Event(name="x", attendees=[])
    assert final.choices[0].message.content == '{"name": "x", "attendees": []}' and final.created == 5
    await client.aclose()


async def test_stream_helper_tool_call_arguments() -> None:
    events = [
        chunk({"role": "assistant", "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a"'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}, "tool_calls"),
    ]
    client = canned_client(Canned(lambda req: (200, {"content-type": "text/event-stream"}, sse(*events))))
    async with client.chat.completions.stream(model="capable", messages=MSGS) as stream:
        done = [e async for e in stream if e.type == "tool_calls.function.arguments.done"]
        final = await stream.get_final_completion()
    assert done[0].name == "f" and done[0].parsed_arguments == {"a": 1}
    assert final.choices[0].message.tool_calls[0].function.arguments == '{"a": 1}'
    await client.aclose()


EMB = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2]}, {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]}], "model": "text-embedding-3-small", "usage": {"prompt_tokens": 4, "total_tokens": 4}}


async def test_embeddings_routed_with_fallback_and_their_own_record() -> None:
    sink = MemorySink()
    down = Canned(lambda req: (503, {}, {"error": {"message": "down"}}))
    up = Canned(lambda req: (200, {}, EMB))
    client = canned_client(down, up, telemetry=sink, settings=RouterSettings(backoff_initial_s=0.001, backoff_max_s=0.002, max_attempts_per_deployment=1))
    resp = await client.embeddings.create(model="capable", input=["a", "b"], dimensions=2, extra_headers={"x-t": "1"})
    assert str(up.requests[-1].url).endswith("/v1/embeddings") and up.requests[-1].headers["x-t"] == "1"
    assert up.body() == {"model": "m1", "input": ["a", "b"], "dimensions": 2, "encoding_format": "base64"}  # as the SDK asks
    assert SDKEmbeddings.model_validate(resp.model_dump()) == SDKEmbeddings.model_validate(EMB)
    assert resp.data[1].embedding == [0.3, 0.4] and resp.usage.prompt_tokens == 4 and resp.deployment == "d1" and resp.fallback_used
    (rec,) = sink.records
    assert rec.task_type == "embedding" and rec.success and rec.input_tokens == 4 and rec.fallback_used and rec.deployment == "d1"
    from router import InvalidRequestError

    with pytest.raises(InvalidRequestError) as bad:  # checked before sending (the API would answer 400)
        await client.embeddings.create(model="capable", input=[])
    assert bad.value.argument == "input"
    await client.aclose()


def test_embeddings_sync_and_models_list_on_memory_providers() -> None:
    emb = MemoryProvider("openai", fail_with=[ServerError("boom", status=500)])
    deps = [Deployment("openai/text-embedding-3-small", emb, "text-embedding-3-small"), Deployment("openai/gpt-4o", MemoryProvider("openai"), "gpt-4o")]
    router = Router(deployments=deps, tiers=[Tier("embed", ["openai/text-embedding-3-small"], policy="static"), Tier("capable", ["openai/gpt-4o"])], settings=RouterSettings(backoff_initial_s=0.001, backoff_max_s=0.002))
    with Client(router) as client:
        resp = client.embeddings.create(model="embed", input="hello", task_type="search")
        assert len(resp.data[0].embedding) == 8 and resp.retry_count == 1
        ids = [(m.id, m.owned_by) for m in client.models.list()]
        assert ids == [("embed", "attune"), ("capable", "attune"), ("openai/text-embedding-3-small", "openai"), ("openai/gpt-4o", "openai")]
        assert openai.types.Model.model_validate(client.models.list().data[0].model_dump()).id == "embed"


async def test_embeddings_on_a_chat_only_adapter_are_refused_before_sending() -> None:
    class ChatOnly:
        name = "chatonly"
        enforces_timeout = False

        async def send(self, request: Any, *, timeout: float) -> Any:  # pragma: no cover - never called
            raise AssertionError

        async def aclose(self) -> None:
            return None

    router = Router(deployments=[Deployment("x/y", ChatOnly(), "y")], tiers=[Tier("t", ["x/y"], policy="static")])  # type: ignore[arg-type]
    client = AsyncClient(router)
    with pytest.raises(openai.BadRequestError) as info:
        await client.embeddings.create(model="t", input="hi")
    assert "does not serve embeddings" in str(info.value)
    models = await client.models.list()
    assert [m.id for m in models] == ["t", "x/y"]
    await client.aclose()


def test_response_format_param_passes_dicts_and_rejects_others() -> None:
    assert response_format_param({"type": "json_object"}) == {"type": "json_object"}
    with pytest.raises(Exception, match="response_format"):
        response_format_param(42)


def test_sync_stream_helper_and_parse() -> None:
    events = [chunk({"role": "assistant", "content": '{"name": "y", "attendees": ["a"]}'}, "stop")]
    aclient = canned_client(Canned(lambda req: (200, {"content-type": "text/event-stream"}, sse(*events))), answering('{"name": "z", "attendees": []}'))
    with Client(aclient.router) as client:
        with client.chat.completions.stream(model="capable", messages=MSGS, response_format=Event) as stream:
            kinds = [e.type for e in stream]
            final = stream.get_final_completion()
        assert kinds == ["chunk", "content.delta", "content.done"] and final.choices[0].message.parsed.name == "y"
