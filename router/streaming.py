"""Streaming responses in the OpenAI SDK's shape: ``stream=True`` returns a stream of
``ChatCompletionChunk`` objects (``chunk.choices[0].delta.content``).

The router routes a streaming call like any other until the first chunk arrives: failures
before it are retried and fall back as usual, and the first chunk's arrival is the time to
first token. After it the call is committed to that deployment; an error mid-stream is raised
to the caller as a ``RoutingError``. The telemetry record is written when the stream ends
(or is closed, or dropped), with the usage the provider reported (or an estimate).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from router.errors import ConnectionFailedError, ProviderError, RoutingError
from router.providers.base import ProviderRequest, ProviderResponse

if TYPE_CHECKING:
    from telemetry.records import LLMCallRecord

__all__ = ["AsyncChatCompletionStream", "ChatCompletionChunk", "ChatCompletionStream", "ProviderStream", "one_shot_stream"]


@dataclass(slots=True)
class Delta:
    role: str | None = None
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class ChunkChoice:
    index: int
    delta: Delta
    finish_reason: str | None = None


@dataclass(slots=True)
class ChunkUsage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(slots=True)
class ChatCompletionChunk:
    """One ``chat.completion.chunk``, with the routing facts of its call."""

    id: str
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: ChunkUsage | None = None
    provider: str = ""
    deployment: str = ""
    call_id: str = ""
    object: str = "chat.completion.chunk"

    @classmethod
    def from_wire(cls, data: dict[str, Any], *, provider: str, deployment: str, call_id: str) -> ChatCompletionChunk:
        choices = []
        for c in data.get("choices") or ():
            d = c.get("delta") or {}
            choices.append(ChunkChoice(c.get("index", 0), Delta(d.get("role"), d.get("content"), d.get("tool_calls")), c.get("finish_reason")))
        u = data.get("usage")
        usage = None
        if isinstance(u, dict):
            usage = ChunkUsage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0), int(u.get("total_tokens") or 0))
        return cls(str(data.get("id") or ""), int(data.get("created") or 0), str(data.get("model") or ""), choices, usage, provider, deployment, call_id)


class ProviderStream(Protocol):
    """What an adapter's ``open_stream`` returns once the first chunk has arrived."""

    first: dict[str, Any]
    http_status: int | None

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]: ...

    async def aclose(self) -> None: ...


class _OneShot:
    """A whole response as a one-chunk stream (adapters without ``open_stream``)."""

    def __init__(self, resp: ProviderResponse, model: str) -> None:
        self.http_status = resp.http_status
        self.first: dict[str, Any] = {
            "id": resp.response_id or "",
            "model": resp.model or model,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": resp.content}, "finish_reason": resp.finish_reason}],
            "usage": {"prompt_tokens": resp.input_tokens, "completion_tokens": resp.output_tokens, "total_tokens": resp.input_tokens + resp.output_tokens},
        }

    async def _empty(self) -> AsyncIterator[dict[str, Any]]:
        return
        yield  # pragma: no cover

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._empty()

    async def aclose(self) -> None:
        return None


def one_shot_stream(adapter: Any) -> Callable[..., Awaitable[Any]]:
    """``adapter.open_stream``, or ``send`` wrapped to look like one."""
    opener = getattr(adapter, "open_stream", None)
    if opener is not None:
        return opener  # type: ignore[no-any-return]

    async def open_stream(request: ProviderRequest, *, timeout: float) -> _OneShot:
        return _OneShot(await adapter.send(request, timeout=timeout), request.model)

    return open_stream


class AsyncChatCompletionStream:
    """``async for chunk in stream``; ``async with stream`` closes it early."""

    def __init__(self, pstream: Any, finish: Callable[[int, int, ProviderError | None], LLMCallRecord], *, provider: str, deployment: str, call_id: str, est_input: int) -> None:
        self._p = pstream
        self._finish = finish
        self._provider = provider
        self._deployment = deployment
        self.call_id = call_id
        self._est_input = est_input
        self._usage: tuple[int, int] | None = None
        self._chars = 0
        self._done = False
        self._it: AsyncIterator[dict[str, Any]] | None = None
        self._first: dict[str, Any] | None = pstream.first
        self.record: LLMCallRecord | None = None

    def __aiter__(self) -> AsyncChatCompletionStream:
        return self

    def _chunk(self, data: dict[str, Any]) -> ChatCompletionChunk:
        chunk = ChatCompletionChunk.from_wire(data, provider=self._provider, deployment=self._deployment, call_id=self.call_id)
        if chunk.usage is not None:
            self._usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        for c in chunk.choices:
            if c.delta.content:
                self._chars += len(c.delta.content)
        return chunk

    async def __anext__(self) -> ChatCompletionChunk:
        if self._first is not None:
            first, self._first = self._first, None
            return self._chunk(first)
        if self._done:
            raise StopAsyncIteration
        if self._it is None:
            self._it = self._p.__aiter__()
        try:
            data = await self._it.__anext__()
        except StopAsyncIteration:
            await self._end(None)
            raise
        except ProviderError as exc:
            await self._end(exc)
            raise RoutingError(f"the stream from {self._deployment} broke: {exc}", error_type=exc.error_type, call_id=self.call_id, attempts=self.record.attempts if self.record else [], record=self.record, last_error=exc) from exc
        except asyncio.CancelledError:
            await self._end(ConnectionFailedError("the caller cancelled the stream"))
            raise
        return self._chunk(data)

    async def _end(self, error: ProviderError | None) -> None:
        if self._done:
            return
        self._done = True
        try:
            await self._p.aclose()
        finally:
            self._record(error)

    def _record(self, error: ProviderError | None) -> None:
        inp, out = self._usage if self._usage is not None else (self._est_input, self._chars // 4)
        self.record = self._finish(inp, out, error)

    async def aclose(self) -> None:
        """Stop reading; the record is written with what arrived."""
        await self._end(None)

    async def __aenter__(self) -> AsyncChatCompletionStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        if not self._done:  # dropped unread: still one record per call
            self._done = True
            self._record(None)


class ChatCompletionStream:
    """The synchronous client's stream: ``for chunk in stream``; each chunk is read on the
    client's private loop."""

    def __init__(self, inner: AsyncChatCompletionStream, run: Callable[[Any], Any]) -> None:
        self._inner = inner
        self._run = run
        self._lock = threading.Lock()
        self.call_id = inner.call_id

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        return self

    def __next__(self) -> ChatCompletionChunk:
        with self._lock:
            try:
                return self._run(self._inner.__anext__())  # type: ignore[no-any-return]
            except StopAsyncIteration:
                raise StopIteration from None

    def close(self) -> None:
        self._run(self._inner.aclose())

    @property
    def record(self) -> LLMCallRecord | None:
        return self._inner.record

    def __enter__(self) -> ChatCompletionStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
