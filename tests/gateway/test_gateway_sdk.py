"""The gateway with the official openai SDK as its client: the calls and errors it expects."""

from __future__ import annotations

import time

import openai
import pytest
from gatewaykit import GatewayThread

from router.testing import Fault, FakeProviderServer

MSG = [{"role": "user", "content": "hello"}]


def sdk(gw: GatewayThread, key: str, max_retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url, api_key=key, max_retries=max_retries)


def test_sync_chat_through_the_gateway(gateway: GatewayThread, key: str) -> None:
    with sdk(gateway, key) as client:
        raw = client.chat.completions.with_raw_response.create(model="capable", messages=MSG)
        resp = raw.parse()
    assert isinstance(resp, openai.types.chat.ChatCompletion)
    assert resp.choices[0].message.role == "assistant" and resp.choices[0].message.content
    assert resp.usage is not None and resp.usage.total_tokens > 0
    assert raw.headers["x-attune-deployment"] == "openai/gpt-4o"
    assert raw.headers["x-attune-fallback-used"] == "false"
    assert raw.headers["x-request-id"]


async def test_async_stream_through_the_gateway(gateway: GatewayThread, key: str) -> None:
    async with openai.AsyncOpenAI(base_url=gateway.url, api_key=key, max_retries=0) as client:
        stream = await client.chat.completions.create(model="capable", messages=MSG, stream=True)
        text = ""
        async for chunk in stream:
            assert isinstance(chunk, openai.types.chat.ChatCompletionChunk)
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
    assert text


def test_fallback_shows_in_the_headers(gateway: GatewayThread, key: str, fake: FakeProviderServer) -> None:
    fake.set_default("a", Fault.status(500))
    with sdk(gateway, key) as client:
        raw = client.chat.completions.with_raw_response.create(model="capable", messages=MSG)
    assert raw.headers["x-attune-deployment"] == "backup/gpt-4o-mini"
    assert raw.headers["x-attune-fallback-used"] == "true"


def test_models_list(gateway: GatewayThread, key: str) -> None:
    with sdk(gateway, key) as client:
        ids = [m.id for m in client.models.list()]
    assert ids[0] == "capable" and sorted(ids[1:]) == ["backup/gpt-4o-mini", "openai/gpt-4o"]


def test_a_bad_key_is_an_authentication_error(gateway: GatewayThread, key: str) -> None:
    with sdk(gateway, "sk-attune-wrong") as client, pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="capable", messages=MSG)
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"


def test_an_unknown_model_is_not_found(gateway: GatewayThread, key: str) -> None:
    with sdk(gateway, key) as client, pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-tier", messages=MSG)


def test_a_bad_argument_is_a_bad_request(gateway: GatewayThread, key: str) -> None:
    with sdk(gateway, key) as client, pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="capable", messages="not a list")  # type: ignore[arg-type]


def test_routing_failure_maps_to_the_sdk_class(gateway: GatewayThread, key: str, fake: FakeProviderServer) -> None:
    fake.set_default("a", Fault.status(500))
    fake.set_default("b", Fault.status(500))
    with sdk(gateway, key) as client, pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="capable", messages=MSG)
    assert info.value.status_code == 502
    assert info.value.response.headers["x-request-id"]


def test_rpm_limit_is_a_rate_limit_error_the_sdk_waits_out(gateway: GatewayThread, fake: FakeProviderServer) -> None:
    key = gateway.gateway.access.store.create("limited", rpm=1)[1]
    with sdk(gateway, key) as client:
        client.chat.completions.create(model="capable", messages=MSG)
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model="capable", messages=MSG)
    retry_after = float(info.value.response.headers["retry-after"])
    assert 1 <= retry_after <= 60


def test_the_sdk_honours_the_rate_limit_retry_after(gateway: GatewayThread) -> None:
    access = gateway.gateway.access
    key = access.store.create("paced", rpm=1)[1]
    # put the gateway's clock 1.2 s before the end of a one-minute window
    offset = (60 - time.time() % 60) - 1.2
    access.clock = lambda: time.time() + offset
    with sdk(gateway, key, max_retries=1) as client:
        client.chat.completions.create(model="capable", messages=MSG)
        t0 = time.monotonic()
        resp = client.chat.completions.create(model="capable", messages=MSG)  # 429, waits, then succeeds
        waited = time.monotonic() - t0
    assert resp.choices[0].message.content
    assert 0.5 <= waited < 5, waited


def test_a_stream_says_who_serves_it_before_the_first_chunk(gateway: GatewayThread, key: str, fake: FakeProviderServer) -> None:
    fake.set_default("a", Fault.status(503))
    with sdk(gateway, key) as client:
        with client.chat.completions.with_streaming_response.create(model="capable", messages=MSG, stream=True) as raw:
            assert raw.headers["content-type"].startswith("text/event-stream")
            assert raw.headers["x-attune-deployment"] == "backup/gpt-4o-mini"
            assert raw.headers["x-attune-fallback-used"] == "true"
            lines = [line for line in raw.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
