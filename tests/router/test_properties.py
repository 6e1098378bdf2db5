"""Property tests of the call path (hypothesis): whatever the arguments, whatever a provider
answers (JSON bodies and stream chunks from a real local server), only the library's own errors
escape, no call outlives its deadline by more than a second, and every call that returned or
raised a ``RoutingError`` left exactly one record. (A call rejected with ``InvalidRequestError``
was never routed: it sent nothing and leaves no record.)"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router import AnthropicProvider, AttuneError, Deployment, GeminiProvider, InvalidRequestError, MemoryProvider, OpenAIProvider, Router, RouterSettings, RoutingError, Tier
from telemetry import MemorySink
from tests.router.hostile import Answer, HostileServer, sse

MSGS = [{"role": "user", "content": "hi"}]
A, B = "m/a", "m/b"
DEADLINE = 1.5

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False), st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=8)
anything = st.one_of(
    json_values,
    st.floats(),  # NaN and infinities
    st.binary(max_size=8),
    st.builds(object),
    st.sets(st.integers(), max_size=2),
    st.dictionaries(st.integers(), st.text(max_size=3), max_size=2),
)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()


# -- call arguments --------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content=st.one_of(st.text(max_size=20), anything),
    role=st.one_of(st.just("user"), anything),
    params=st.dictionaries(st.sampled_from(["temperature", "max_tokens", "stop", "metadata", "tools", "user"]), anything, max_size=3),
    tags=st.one_of(st.none(), anything, st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2)),
    task_type=st.one_of(st.just("default"), anything),
    deadline_s=st.one_of(st.none(), st.floats(), st.integers(min_value=-5, max_value=5), st.booleans(), st.text(max_size=3)),
)
def test_any_call_arguments_give_an_answer_or_our_error_and_never_touch_a_breaker(
    loop: asyncio.AbstractEventLoop, content: Any, role: Any, params: dict[str, Any], tags: Any, task_type: Any, deadline_s: Any
) -> None:
    sink = MemorySink()
    providers = {k: MemoryProvider() for k in (A, B)}
    router = Router(deployments=[Deployment(k, p, "m") for k, p in providers.items()], tiers=[Tier("t", [A, B], policy="static")], telemetry=sink)
    messages = [{"role": role, "content": content}]
    try:
        resp = loop.run_until_complete(router.acompletion("t", messages, tags=tags, task_type=task_type, deadline_s=deadline_s, **params))
    except InvalidRequestError as exc:
        assert exc.argument and sink.records == [] and sum(p.calls for p in providers.values()) == 0
    else:
        assert resp.choices[0].message.content == "ok" and len(sink.records) == 1
        json.dumps(messages), json.dumps(params, allow_nan=False)  # what was sent could be encoded
    assert all(router.breaker(k).consecutive_failures == 0 and router.breaker(k).state == "closed" for k in (A, B))


# -- provider answers over HTTP ------------------------------------------------------------------

OK = {
    "openai": {"id": "c", "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
    "anthropic": {"id": "c", "type": "message", "role": "assistant", "model": "m", "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 1}},
    "gemini": {"responseId": "c", "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}},
}
APIS = list(OK)


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as srv:
        yield srv


def _adapter(api: str, base: str) -> Any:
    if api == "openai":
        adapter: Any = OpenAIProvider(base_url=base + "/v1", api_key="sk-prop-0123456789abcdef")
    elif api == "anthropic":
        adapter = AnthropicProvider(base_url=base, api_key="sk-prop-0123456789abcdef")
    else:
        adapter = GeminiProvider(base_url=base, api_key="AIzaprop0123456789abcdef0123456789")
    return adapter


def _router(api: str, adapter: Any, sink: MemorySink) -> Router:
    s = RouterSettings(backoff_initial_s=0.001, backoff_max_s=0.002, attempt_timeout_s=0.5, deadline_s=DEADLINE, max_attempts_per_deployment=2)
    return Router(deployments=[Deployment(A, adapter, "gemini-2.5-pro" if api == "gemini" else "m", provider=api)], telemetry=sink, settings=s)


def _mutated(draw: st.DrawFn, body: Any, depth: int = 0) -> Any:
    """``body`` with some of its values replaced by arbitrary JSON (the shape a provider almost sends)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    if isinstance(body, dict):
        return {k: _mutated(draw, v, depth + 1) for k, v in body.items() if draw(st.integers(0, 11))}
    if isinstance(body, list):
        return [_mutated(draw, v, depth + 1) for v in body]
    return body


@st.composite
def bodies(draw: st.DrawFn, api: str) -> tuple[int, bytes]:
    status = draw(st.sampled_from([200, 200, 200, 400, 401, 404, 429, 500, 503, 529]))
    kind = draw(st.sampled_from(["mutated", "mutated", "json", "bytes"]))
    if kind == "mutated":
        body = json.dumps(_mutated(draw, OK[api] if status == 200 else {"error": {"message": "x", "type": "api_error", "code": 1}})).encode()
    elif kind == "json":
        body = json.dumps(draw(json_values)).encode()
    else:
        body = draw(st.binary(max_size=40))
    return status, body


def _run_one(loop: asyncio.AbstractEventLoop, router: Router, sink: MemorySink, *, stream: bool) -> None:
    async def call() -> None:
        try:
            resp = await router.acompletion(A, MSGS, stream=stream)
            # what the call path guarantees a caller can read (the nested objects are the SDK
            # types' own business: a body that does not validate is kept as sent, as the SDK does)
            if stream:
                async for chunk in resp:
                    (chunk.id, chunk.model, chunk.choices)
            else:
                (resp.id, resp.model, resp.created, resp.choices)
        except AttuneError:
            pass

    lag = [0.0]

    async def measured() -> None:
        # the loop's own scheduling delay on a shared machine is allowed for, not the router's
        async def ticker() -> None:
            while True:
                t = time.perf_counter()
                await asyncio.sleep(0.02)
                lag[0] = max(lag[0], time.perf_counter() - t - 0.02)

        tick = asyncio.ensure_future(ticker())
        try:
            await call()
        finally:
            tick.cancel()

    t0 = time.perf_counter()
    loop.run_until_complete(measured())  # anything but our errors escapes here and fails the test
    took = time.perf_counter() - t0
    assert took < DEADLINE + 1.0 + 2 * lag[0], (took, lag)
    assert len(sink.records) == 1


@pytest.mark.parametrize("api", APIS)
def test_any_json_answer_gives_a_response_or_our_error_and_one_record(loop: asyncio.AbstractEventLoop, hostile: HostileServer, api: str) -> None:
    adapter = _adapter(api, hostile.base)  # one connection pool for every example

    @settings(max_examples=40, deadline=None)
    @given(answer=bodies(api))
    def check(answer: tuple[int, bytes]) -> None:
        status, body = answer
        hostile.answer = Answer(status=status, body=body, headers={"retry-after": "0"})
        sink = MemorySink()
        _run_one(loop, _router(api, adapter, sink), sink, stream=False)

    try:
        check()
    finally:
        loop.run_until_complete(adapter.aclose())


STREAM_OK = {
    "openai": [
        {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "he"}, "finish_reason": None}]},
        {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
        "[DONE]",
    ],
    "anthropic": [
        ("message_start", {"type": "message_start", "message": {"id": "c", "type": "message", "role": "assistant", "model": "m", "content": [], "usage": {"input_tokens": 3, "output_tokens": 0}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "he"}}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}}),
        ("message_stop", {"type": "message_stop"}),
    ],
    "gemini": [
        {"responseId": "c", "candidates": [{"content": {"role": "model", "parts": [{"text": "he"}]}}]},
        {"responseId": "c", "candidates": [{"content": {"parts": [{"text": "!"}]}, "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}},
    ],
}


@st.composite
def streams(draw: st.DrawFn, api: str) -> list[tuple[float, bytes]]:
    pieces: list[tuple[float, bytes]] = []
    for event in STREAM_OK[api]:
        name, data = event if isinstance(event, tuple) else (None, event)
        roll = draw(st.integers(0, 9))
        if roll == 0:
            break  # cut short
        if roll == 1:
            pieces.append((0, b": keep-alive\n\n"))
        if roll == 2:
            pieces.append((0, draw(st.binary(max_size=20)) + b"\n\n"))
        data = data if isinstance(data, str) else _mutated(draw, data)
        payload = sse(data, event=name) if not isinstance(data, str) or data == "[DONE]" else sse(data)
        pieces.append((draw(st.sampled_from([0, 0, 0, 0.01])), payload))
    return pieces


@pytest.mark.parametrize("api", APIS)
def test_any_stream_gives_chunks_or_our_error_within_the_deadline_and_one_record(loop: asyncio.AbstractEventLoop, hostile: HostileServer, api: str) -> None:
    adapter = _adapter(api, hostile.base)

    @settings(max_examples=40, deadline=None)
    @given(pieces=streams(api), stall=st.integers(0, 14))
    def check(pieces: list[tuple[float, bytes]], stall: int) -> None:
        # now and then the provider stalls, sending keep-alive comments only (the deadline must end it)
        hostile.answer = Answer(pieces=[*pieces, (0.05, b": keep-alive\n\n")] if stall == 0 else pieces, forever=stall == 0)
        sink = MemorySink()
        _run_one(loop, _router(api, adapter, sink), sink, stream=True)

    try:
        check()
    finally:
        loop.run_until_complete(adapter.aclose())
