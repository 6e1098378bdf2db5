"""stream=True end to end on the fake provider's server-sent events."""

from __future__ import annotations

from pathlib import Path

import pytest

from router import AsyncClient, Client, Deployment, MemoryProvider, OpenAIProvider, Router, RouterSettings, RoutingError, Tier
from router.streaming import AsyncChatCompletionStream
from router.testing import FakeProviderServer, Fault, fast_settings
from telemetry import MemorySink, TelemetryBackend

MSGS = [{"role": "user", "content": "Stream me a haiku about retries."}]
A, B = "openai/gpt-4o", "anthropic/claude-sonnet-4"


def build(server: FakeProviderServer, telemetry: object) -> Router:
    deps = [
        Deployment(A, OpenAIProvider(base_url=server.url_for("a"), name="openai"), "gpt-4o"),
        Deployment(B, OpenAIProvider(base_url=server.url_for("b"), name="anthropic"), "claude-sonnet-4"),
    ]
    settings = fast_settings(backoff_max_s=0.002, deadline_s=5.0)
    return Router(deployments=deps, tiers=[Tier("capable", [A, B], policy="static")], telemetry=telemetry, settings=settings)  # type: ignore[arg-type]


async def test_stream_yields_chunks_and_records_the_call_when_it_ends(server: FakeProviderServer) -> None:
    sink = MemorySink()
    client = AsyncClient(build(server, sink))
    stream = await client.chat.completions.create(model="capable", messages=MSGS, stream=True, max_tokens=9, stream_options={"include_usage": True})
    assert isinstance(stream, AsyncChatCompletionStream) and sink.records == []  # not finished yet
    text = ""
    usage = None
    async for chunk in stream:
        assert chunk.object == "chat.completion.chunk" and chunk.deployment == A
        for c in chunk.choices:
            text += c.delta.content or ""
        usage = chunk.usage or usage
    assert text.startswith("ok") and usage is not None and usage.completion_tokens == 9
    (rec,) = sink.records
    assert rec.success and rec.deployment == A and rec.output_tokens == 9 and rec.input_tokens == usage.prompt_tokens
    assert rec.ttft_ms is not None and rec.ttft_ms <= rec.latency_ms and rec.cost > 0
    await client.aclose()


async def test_failures_before_the_first_chunk_retry_and_fall_back(server: FakeProviderServer) -> None:
    sink = MemorySink()
    router = build(server, sink)
    server.script("a", [Fault.status(503)])
    stream = await router.acompletion("capable", MSGS, stream=True)
    assert [c async for c in stream]
    assert sink.records[-1].retry_count == 1 and sink.records[-1].deployment == A
    server.set_default("a", Fault.status(500))
    stream = await router.acompletion("capable", MSGS, stream=True)
    chunks = [c async for c in stream]
    assert chunks[0].deployment == B and sink.records[-1].fallback_used
    server.set_default("b", Fault.status(400))
    with pytest.raises(RoutingError):
        await router.acompletion("capable", MSGS, stream=True)
    assert not sink.records[-1].success
    await router.aclose()


async def test_a_stream_cut_short_is_an_error_to_the_caller_and_a_failed_record(server: FakeProviderServer) -> None:
    sink = MemorySink()
    router = build(server, sink)
    server.set_default("a", Fault.truncate())
    server.set_default("b", Fault.truncate())
    with pytest.raises(RoutingError) as info:
        stream = await router.acompletion("capable", MSGS, stream=True)
        async for _ in stream:
            pass
    assert info.value.error_type == "invalid_response"
    assert len(sink.records) == 1 and not sink.records[0].success
    await router.aclose()


async def test_closing_early_still_writes_one_record(server: FakeProviderServer) -> None:
    sink = MemorySink()
    router = build(server, sink)
    async with await router.acompletion("capable", MSGS, stream=True) as stream:
        await stream.__anext__()
    assert len(sink.records) == 1 and sink.records[0].success
    await router.aclose()


async def test_an_adapter_without_streaming_answers_in_one_chunk() -> None:
    sink = MemorySink()
    router = Router(deployments=[Deployment("memory/m", MemoryProvider(content="whole answer"), "m")], telemetry=sink)
    chunks = [c async for c in await router.acompletion("memory/m", MSGS, stream=True)]
    assert len(chunks) == 1 and chunks[0].choices[0].delta.content == "whole answer"
    assert sink.records[0].output_tokens == 5


def test_sync_client_streams(server: FakeProviderServer, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with Client(build(server, TelemetryBackend(url))) as client:
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(model="capable", messages=MSGS, stream=True) if c.choices)
        assert text.startswith("ok")
    store = TelemetryBackend(url)
    (rec,) = store.query_sync()
    assert rec.success and rec.ttft_ms is not None
    store.close()
