"""Issue 12, call path: a caller's bad argument, a hostile provider's answer and a stalled stream
each end in one of our errors, within the call's deadline, leaving the breakers alone."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from router import Deployment, InvalidRequestError, MemoryProvider, OpenAIProvider, Router, RouterSettings, RoutingError, Tier
from router.providers.base import ProviderRequest, ProviderResponse
from telemetry import MemorySink
from tests.router.hostile import Answer, HostileServer, sse

MSGS = [{"role": "user", "content": "hi"}]
A, B = "openai/a", "openai/b"
OK_BODY = {"id": "chatcmpl-1", "model": "gpt-4o", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as srv:
        yield srv


def http_router(base: str, sink: MemorySink, **settings: Any) -> Router:
    fast = {"backoff_initial_s": 0.001, "backoff_max_s": 0.002, "attempt_timeout_s": 2.0, "deadline_s": 5.0, **settings}
    deps = [Deployment(k, OpenAIProvider(base_url=base + "/v1", api_key="sk-test-0123456789abcdef"), "gpt-4o") for k in (A, B)]
    return Router(deployments=deps, tiers=[Tier("capable", [A, B], policy="static")], telemetry=sink, settings=RouterSettings(**fast))


# -- finding 3: a caller's bad argument -------------------------------------------------------

BAD_ARGUMENTS: list[tuple[dict[str, Any], str]] = [
    ({"temperature": object()}, "temperature"),
    ({"temperature": float("nan")}, "temperature"),
    ({"messages": [{"role": "user", "content": b"bytes"}]}, "messages[0].content"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": {1, 2}}]}]}, "messages[0].content[0].text"),
    ({"messages": [{"role": "user", "content": "x", 7: "y"}]}, "messages[0]"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {1: "a"}}}]}, "tools[0].function.parameters"),
    ({"tags": [1, 2]}, "tags"),
    ({"tags": "abc"}, "tags"),
    ({"tags": {1: "a"}}, "tags[1]"),
    ({"tags": {"a": 1}}, "tags['a']"),
    ({"task_type": None}, "task_type"),
    ({"task_type": 123}, "task_type"),
    ({"task_type": ""}, "task_type"),
    ({"deadline_s": float("nan")}, "deadline_s"),
    ({"deadline_s": float("inf")}, "deadline_s"),
    ({"deadline_s": True}, "deadline_s"),
    ({"deadline_s": -1}, "deadline_s"),
    ({"deadline_s": 0}, "deadline_s"),
    ({"deadline_s": "2"}, "deadline_s"),
]


@pytest.mark.parametrize(("kwargs", "argument"), BAD_ARGUMENTS, ids=[a for _, a in BAD_ARGUMENTS])
async def test_a_bad_argument_is_an_invalid_request_naming_it_before_anything_is_sent(kwargs: dict[str, Any], argument: str) -> None:
    sink = MemorySink()
    providers = {k: MemoryProvider() for k in (A, B)}
    router = Router(deployments=[Deployment(k, p, "m") for k, p in providers.items()], tiers=[Tier("capable", [A, B], policy="static")], telemetry=sink)
    call = {"messages": MSGS, **kwargs}
    for _ in range(12):  # 12 such calls once opened every breaker
        with pytest.raises(InvalidRequestError) as info:
            await router.acompletion("capable", **call)
        assert info.value.argument == argument and argument.split("[")[0].split(".")[0] in str(info.value)
    assert sum(p.calls for p in providers.values()) == 0 and sink.records == []
    assert all(router.breaker(k).state == "closed" and router.breaker(k).consecutive_failures == 0 for k in (A, B))


async def test_json_bodies_the_caller_can_send_still_pass() -> None:
    router = Router(deployments=[Deployment(A, MemoryProvider(), "m")])
    parts = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}, {"role": "assistant", "content": None, "tool_calls": []}]
    resp = await router.acompletion(A, parts, temperature=0.5, stop=("a", "b"), metadata={"k": [1, 2.5, None, True]}, tags={"team": "x"})
    assert resp.choices[0].message.content == "ok"


class EncodingBug(MemoryProvider):
    """An adapter whose own encoding step raises TypeError (e.g. json.dumps on a value we let through)."""

    async def send(self, request: ProviderRequest, *, timeout: float) -> ProviderResponse:
        self.calls += 1
        json.dumps(object())
        raise AssertionError("unreachable")


async def test_an_adapter_raising_while_encoding_counts_nothing_against_the_breaker() -> None:
    sink = MemorySink()
    bad, good = EncodingBug(), MemoryProvider()
    router = Router(deployments=[Deployment(A, bad, "m"), Deployment(B, good, "m")], tiers=[Tier("capable", [A, B], policy="static")], telemetry=sink)
    for _ in range(12):
        resp = await router.acompletion("capable", MSGS)
        assert resp.deployment == B  # fell back, once per call: no retry of the same failing code
    assert bad.calls == 12 and router.breaker(A).state == "closed" and router.breaker(A).consecutive_failures == 0
    assert router.budget(A).tokens == router.budget(A).max_tokens
    assert all(r.attempts[0].error_type == "invalid_response" for r in sink.records)


# -- finding 4: no call hangs ------------------------------------------------------------------


async def test_a_silent_provider_cannot_hold_a_call_past_its_deadline(hostile: HostileServer) -> None:
    hostile.answer = Answer(silent=True)
    sink = MemorySink()
    router = http_router(hostile.base, sink, attempt_timeout_s=0.3, deadline_s=0.8)
    t0 = time.perf_counter()
    with pytest.raises(RoutingError) as info:
        await router.acompletion("capable", MSGS)
    assert time.perf_counter() - t0 < 0.8 + 1.0 and info.value.error_type == "timeout"
    assert len(sink.records) == 1
    await router.aclose()


# -- finding 5: streams are bounded after their first chunk -------------------------------------

FIRST = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "he"}, "finish_reason": None}]}


async def test_keep_alive_comments_do_not_keep_a_stream_past_its_deadline(hostile: HostileServer) -> None:
    hostile.answer = Answer(pieces=[(0, sse(FIRST)), (0.1, b": keep-alive\n\n")], forever=True)
    sink = MemorySink()
    router = http_router(hostile.base, sink, attempt_timeout_s=5.0, deadline_s=2.0)
    t0 = time.perf_counter()
    stream = await router.acompletion("capable", MSGS, stream=True)
    with pytest.raises(RoutingError) as info:
        async for _ in stream:
            pass
    took = time.perf_counter() - t0
    assert took < 2.0 + 1.0 and info.value.error_type == "timeout", took
    (rec,) = sink.records
    assert rec.error_type == "timeout" and not rec.success
    await router.aclose()


async def test_a_stream_waits_at_most_the_idle_timeout_between_chunks(hostile: HostileServer) -> None:
    hostile.answer = Answer(pieces=[(0, sse(FIRST)), (0.1, b": keep-alive\n\n")], forever=True)
    sink = MemorySink()
    router = http_router(hostile.base, sink, attempt_timeout_s=0.4, deadline_s=30.0)
    stream = await router.acompletion("capable", MSGS, stream=True)
    t0 = time.perf_counter()
    with pytest.raises(RoutingError, match="no stream chunk within"):
        async for _ in stream:
            pass
    assert time.perf_counter() - t0 < 0.4 + 1.0
    await router.aclose()


# -- finding 10: malformed answers are invalid_response, cancellation is cancelled ---------------


def _body(**changes: Any) -> bytes:
    body = json.loads(json.dumps(OK_BODY))
    body.update(changes)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    "usage",
    [{"prompt_tokens": 1e30, "completion_tokens": 1}, {"prompt_tokens": 3, "completion_tokens": 2**40}, {"prompt_tokens": "abc"}, {"prompt_tokens": -5}],
    ids=["1e30", "2**40", "string", "negative"],
)
async def test_an_unusable_usage_is_invalid_response(hostile: HostileServer, usage: dict[str, Any]) -> None:
    hostile.answer = Answer(body=_body(usage=usage))
    sink = MemorySink()
    router = http_router(hostile.base, sink)
    with pytest.raises(RoutingError) as info:
        await router.acompletion("capable", MSGS)
    assert info.value.error_type == "invalid_response" and len(sink.records) == 1
    await router.aclose()


BAD_CHUNKS = {
    "delta-str": {**FIRST, "choices": [{"index": 0, "delta": "str"}]},
    "usage-str": {**FIRST, "usage": "lots"},
    "usage-tokens-str": {**FIRST, "usage": {"prompt_tokens": "x", "completion_tokens": 1}},
    "choices-dict": {**FIRST, "choices": {"0": {}}},
    "content-int": {**FIRST, "choices": [{"index": 0, "delta": {"content": 5}}]},
}


@pytest.mark.parametrize("name", list(BAD_CHUNKS))
async def test_a_malformed_chunk_mid_stream_is_invalid_response(hostile: HostileServer, name: str) -> None:
    hostile.answer = Answer(pieces=[(0, sse(FIRST, BAD_CHUNKS[name], "[DONE]"))])
    sink = MemorySink()
    router = http_router(hostile.base, sink)
    stream = await router.acompletion("capable", MSGS, stream=True)
    with pytest.raises(RoutingError) as info:
        async for _ in stream:
            pass
    assert info.value.error_type == "invalid_response"
    assert [r.error_type for r in sink.records] == ["invalid_response"]
    await router.aclose()


@pytest.mark.parametrize("name", list(BAD_CHUNKS))
async def test_a_malformed_first_chunk_is_a_failed_attempt(hostile: HostileServer, name: str) -> None:
    hostile.answer = Answer(pieces=[(0, sse(BAD_CHUNKS[name], "[DONE]"))])
    sink = MemorySink()
    router = http_router(hostile.base, sink)
    with pytest.raises(RoutingError) as info:
        await router.acompletion("capable", MSGS, stream=True)
    assert info.value.error_type == "invalid_response"
    (rec,) = sink.records
    assert {a.deployment for a in rec.attempts} == {A, B} and all(a.error_type == "invalid_response" for a in rec.attempts)
    await router.aclose()


async def test_a_caller_cancelling_a_stream_is_recorded_cancelled_and_counts_nothing(hostile: HostileServer) -> None:
    hostile.answer = Answer(pieces=[(0, sse(FIRST)), (0.05, b": keep-alive\n\n")], forever=True)
    sink = MemorySink()
    router = http_router(hostile.base, sink, attempt_timeout_s=10.0, deadline_s=30.0)
    stream = await router.acompletion("capable", MSGS, stream=True)

    async def read() -> None:
        async for _ in stream:
            pass

    task = asyncio.create_task(read())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (rec,) = sink.records
    assert rec.error_type == "cancelled" and not rec.success
    assert router.breaker(A).consecutive_failures == 0 and router.stats.get(A).snapshot(time.time())["errors"] == {}
    await router.aclose()


async def test_a_deadline_shorter_than_the_guard_still_gets_an_attempt() -> None:
    """Found by hypothesis: with ``deadline_s`` under the 10 ms guard, no deployment was tried
    and the call failed as circuit_open with "last error: None". The guard is at most a tenth
    of the deadline, and running out of time before any attempt is a timeout."""

    deps = [Deployment("openai/a", MemoryProvider("openai"), "a"), Deployment("openai/b", MemoryProvider("openai"), "b")]
    r = Router(deployments=deps, tiers=[Tier("t", ["openai/a", "openai/b"])])
    resp = await r.acompletion("t", [{"role": "user", "content": ""}], deadline_s=0.0078125)
    assert resp.deployment == "openai/a"
    slow = [Deployment("openai/s", MemoryProvider("openai", latency_s=1.0), "s")]
    r2 = Router(deployments=slow, tiers=[Tier("t", ["openai/s"])])
    with pytest.raises(RoutingError) as info:
        await r2.acompletion("t", [{"role": "user", "content": "hi"}], deadline_s=0.005)
    assert info.value.error_type == "timeout" and "None" not in str(info.value)
