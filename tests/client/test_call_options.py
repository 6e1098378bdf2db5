"""The SDK's request options: applied upstream as the SDK applies them, never sent as body keys."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import openai
import pytest

from router import InvalidRequestError, RouterSettings
from router.testing import FakeProviderServer, Fault
from tests.client.conftest import Canned, canned_client, fake_client

MSGS = [{"role": "user", "content": "hi"}]
OK = {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def ok(headers: dict[str, str] | None = None) -> Canned:
    return Canned(lambda req: (200, {"x-request-id": "req_1", "x-ratelimit-remaining-requests": "99", **(headers or {})}, OK))


async def sdk_request(**options: object) -> httpx.Request:
    """The request the official SDK sends for the same call (the oracle)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK)

    import httpx2  # the SDK's own httpx

    def handler2(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)  # type: ignore[arg-type]
        return httpx2.Response(200, json=OK)

    sdk = openai.AsyncOpenAI(api_key="sk-test", base_url="http://canned.test/v1", http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler2)))
    await sdk.chat.completions.create(model="m0", messages=MSGS, **options)  # type: ignore[arg-type]
    await sdk.close()
    return seen[-1]


async def test_extra_headers_query_and_body_reach_the_upstream_request_as_the_sdk_sends_them() -> None:
    canned = ok()
    client = canned_client(canned)
    opts = {"extra_headers": {"X-Trace": "t-1"}, "extra_query": {"api-version": "2024-10-21"}, "extra_body": {"seed": 7, "metadata": {"k": "v"}}}
    await client.chat.completions.create(model="capable", messages=MSGS, temperature=0.2, timeout=5.0, max_retries=1, **opts)
    ours, theirs = canned.requests[-1], await sdk_request(temperature=0.2, timeout=5.0, **opts)  # max_retries per call: ours only
    assert json.loads(ours.content) == json.loads(theirs.content)  # no option key in the body; extra_body merged
    assert str(ours.url.query) == str(theirs.url.query) and dict(ours.url.params) == {"api-version": "2024-10-21"}
    assert ours.headers["x-trace"] == theirs.headers["x-trace"] == "t-1"
    await client.aclose()


async def test_options_reach_the_fake_provider_over_http(server: FakeProviderServer) -> None:
    client = fake_client(server, "a")
    resp = await client.chat.completions.create(model="capable", messages=MSGS, extra_headers={"x-trace": "t-2"}, extra_body={"user": "u-1"}, timeout=3)
    assert resp.choices[0].message.content
    assert server.last_headers("a")["x-trace"] == "t-2" and server.last_body("a")["user"] == "u-1"
    assert not {"timeout", "extra_headers", "extra_body", "max_retries"} & set(server.last_body("a"))
    await client.aclose()


async def test_timeout_bounds_the_whole_routed_call(server: FakeProviderServer) -> None:
    client = fake_client(server, "a", "b", settings=RouterSettings(attempt_timeout_s=10.0, deadline_s=30.0))
    server.set_default("a", Fault.hang())
    server.set_default("b", Fault.hang())
    t0 = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="capable", messages=MSGS, timeout=0.4)
    assert time.perf_counter() - t0 < 1.5
    t0 = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="capable", messages=MSGS, timeout=httpx.Timeout(0.4, connect=0.1))
    assert time.perf_counter() - t0 < 1.5
    with pytest.raises(openai.APITimeoutError):
        await client.with_options(timeout=0.3).chat.completions.create(model="capable", messages=MSGS)
    await client.aclose()


async def test_max_retries_maps_onto_retries_per_deployment(server: FakeProviderServer) -> None:
    client = fake_client(server, "a", settings=RouterSettings(backoff_initial_s=0.001, backoff_max_s=0.002, max_attempts_per_deployment=3))
    server.set_default("a", Fault.status(503))
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="capable", messages=MSGS, max_retries=0)
    assert server.requests("a") == 1
    with pytest.raises(openai.InternalServerError):
        await client.with_options(max_retries=1).chat.completions.create(model="capable", messages=MSGS)
    assert server.requests("a") == 3
    await client.aclose()


async def test_with_raw_response_gives_the_serving_attempts_headers() -> None:
    failing = Canned(lambda req: (503, {}, {"error": {"message": "down"}}))
    serving = ok({"x-served-by": "d1"})
    client = canned_client(failing, serving, settings=RouterSettings(backoff_initial_s=0.001, backoff_max_s=0.002, max_attempts_per_deployment=1))
    raw = await client.chat.completions.with_raw_response.create(model="capable", messages=MSGS)
    assert raw.status_code == 200 and raw.headers["x-served-by"] == "d1" and raw.headers["x-ratelimit-remaining-requests"] == "99"
    resp = raw.parse()
    assert resp.choices[0].message.content == "ok" and resp.deployment == "d1" and resp.fallback_used
    await client.aclose()


async def test_with_raw_response_of_a_stream(server: FakeProviderServer) -> None:
    client = fake_client(server, "a")
    raw = await client.chat.completions.with_raw_response.create(model="capable", messages=MSGS, stream=True)
    assert raw.status_code == 200 and "text/event-stream" in raw.headers["content-type"]
    stream = raw.parse()
    assert [c async for c in stream]
    await stream.close()
    await client.close()  # the SDK's name


async def test_bad_options_name_the_argument() -> None:
    client = canned_client(ok())
    for kwargs, arg in [({"timeout": "soon"}, "timeout"), ({"max_retries": -1}, "max_retries"), ({"extra_body": [1]}, "extra_body"), ({"timeout": 0}, "timeout")]:
        with pytest.raises(InvalidRequestError) as info:
            await client.chat.completions.create(model="capable", messages=MSGS, **kwargs)
        assert info.value.argument == arg and arg in str(info.value)
    await client.aclose()


def test_sync_client_options_and_close(server: FakeProviderServer) -> None:
    from router import Client

    aclient = fake_client(server, "a")
    with Client(aclient.router) as client:
        fast = client.with_options(max_retries=0, default_headers={"x-team": "core"})
        resp = fast.chat.completions.create(model="capable", messages=MSGS)
        assert resp.choices[0].message.content and server.last_headers("a")["x-team"] == "core"
        raw = client.chat.completions.with_raw_response.create(model="capable", messages=MSGS, stream=True)
        stream = raw.parse()
        assert [c.choices for c in stream]
        stream.close()
        fast.close()  # a copy: the original still works
        assert client.chat.completions.create(model="capable", messages=MSGS).id


async def test_concurrent_option_sets_do_not_leak_between_calls() -> None:
    canned = ok()
    client = canned_client(canned)
    await asyncio.gather(*(client.chat.completions.create(model="capable", messages=MSGS, extra_headers={"x-n": str(i)}) for i in range(10)))
    assert sorted(int(r.headers["x-n"]) for r in canned.requests) == list(range(10))
    await client.aclose()


def test_sync_raw_and_streaming_responses_of_every_resource(server: FakeProviderServer) -> None:
    """``with_raw_response`` / ``with_streaming_response`` on chat, embeddings and models of the
    sync client; leaving a streaming-response block closes the stream it parsed."""
    from router import Client

    with Client(fake_client(server, "a").router) as client:
        raw = client.embeddings.with_raw_response.create(model="capable", input="hi")
        assert raw.status_code == 200 and raw.headers["content-type"].startswith("application/json")
        assert all(isinstance(x, float) for x in raw.parse().data[0].embedding)  # decoded from base64, as the SDK's parse()
        with client.embeddings.with_streaming_response.create(model="capable", input=["a", "b"]) as r:
            assert r.status_code == 200 and len(r.parse().data) == 2
        assert client.models.with_raw_response.list().status_code == 200
        with client.models.with_streaming_response.list() as m:
            assert "capable" in [x.id for x in m.parse().data]
        with client.chat.completions.with_streaming_response.create(model="capable", messages=MSGS, stream=True) as s:
            stream = s.parse()
            assert next(stream).choices and stream.record is None  # still open: its record is written when it ends
        assert stream.record is not None and stream.record.success  # closed on leaving the block
