"""Streaming responses in the OpenAI SDK's shape: ``stream=True`` returns a stream of
``router.types.ChatCompletionChunk`` objects (``chunk.choices[0].delta.content``,
``delta.tool_calls[i].function.arguments``), every choice of an ``n>1`` stream included.

The router always asks the provider for usage (the record needs the tokens), but the caller
sees usage only when it asked (``stream_options={"include_usage": True}``), as from the SDK:
then the last chunk carries ``usage`` and no choices; otherwise no chunk carries usage.

The router routes a streaming call like any other until the first chunk arrives: failures
before it are retried and fall back as usual, and the first chunk's arrival is the time to
first token. After it the call is committed to that deployment; an error mid-stream is raised
to the caller as a ``RoutingError``. The telemetry record is written when the stream ends
(or is closed, or dropped), with the usage the provider reported (or an estimate).

Every wait for a chunk after the first is bounded (``StreamLimits``): at most the attempt
timeout between chunks (comments and keep-alives are not chunks) and never past the call's
deadline; either ends the stream with a ``timeout``. A chunk of the wrong shape (``delta:
"str"``, usage that is not a token count) ends it with ``invalid_response``; a caller that
cancels the task reading it leaves a record with ``error_type="cancelled"`` that counts
against nothing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from router.errors import InvalidResponseError, ProviderError, ProviderTimeoutError
from router.providers.base import ProviderRequest, ProviderResponse
from router.facts import RoutingFacts
from router.sdk_errors import routing_error

if TYPE_CHECKING:
    from router.resilience.timeouts import AttemptTimeouts
    from router.types.chat_chunk import ChatCompletionChunk
    from telemetry.records import LLMCallRecord

__all__ = [
    "AsyncChatCompletionStream",
    "ChatCompletionChunk",
    "ChatCompletionStream",
    "ProviderStream",
    "StreamLimits",
    "check_chunk",
    "one_shot_stream",
    "token_count",
]


_CHUNK: list[Any] = []  # router.types.chat_chunk.ChatCompletionChunk once loaded (pydantic: kept off ``import router``)


def _chunk_type() -> type[ChatCompletionChunk]:
    if not _CHUNK:
        from router.types.chat_chunk import ChatCompletionChunk

        _CHUNK.append(ChatCompletionChunk)
    return _CHUNK[0]  # type: ignore[no-any-return]


def __getattr__(name: str) -> Any:
    if name == "ChatCompletionChunk":
        return _chunk_type()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_MAX_TOKENS = 2**31 - 1


def token_count(value: Any, name: str) -> int:
    """A token count a provider reported: an integer (or an integral float) in 0..2**31-1;
    missing counts 0. Anything else (``1e30``, ``"12"``, ``True``) is ``ValueError``."""
    if value is None:
        return 0
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int or not 0 <= value <= _MAX_TOKENS:
        raise ValueError(f"{name} must be a token count, got {value!r:.40}")
    return value


def _typed(value: Any, kind: type, name: str) -> None:
    if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise ValueError(f"{name} is a {type(value).__name__}, not a {kind.__name__}")


def check_chunk(data: Any) -> tuple[int, int] | None:
    """Check a ``chat.completion.chunk`` dict for what the caller's chunk object requires
    (``choices`` a list of objects each with a ``delta`` object and an integer ``index``; the
    delta's ``content``/``role``/``tool_calls``, ``finish_reason``, ``usage`` of the right types)
    and fill a missing ``id``/``model``/``created``; returns its ``(prompt, completion)`` usage,
    if any. ``InvalidResponseError`` when the shape is wrong."""
    try:
        if type(data) is not dict:
            raise ValueError(f"chunk is a {type(data).__name__}, not an object")
        choices = data.get("choices")
        if type(choices) is not list:
            raise ValueError("choices is not a list")
        for c in choices:
            if type(c) is not dict:
                raise ValueError(f"a choice is a {type(c).__name__}, not an object")
            d = c.get("delta")
            if type(d) is not dict:
                raise ValueError("a choice's delta is not an object")
            _typed(d.get("content"), str, "delta.content")
            _typed(d.get("role"), str, "delta.role")
            _typed(d.get("tool_calls"), list, "delta.tool_calls")
            _typed(c.get("finish_reason"), str, "finish_reason")
            if type(c.get("index")) is not int:
                raise ValueError("a choice's index is not an integer")
        for name, kind, default in (("id", str, ""), ("model", str, ""), ("created", int, 0)):
            v = data.get(name)
            if v is None:
                data[name] = default
            else:
                _typed(v, kind, name)
        u = data.get("usage")
        if u is None:
            return None
        _typed(u, dict, "usage")
        return token_count(u.get("prompt_tokens"), "usage.prompt_tokens"), token_count(u.get("completion_tokens"), "usage.completion_tokens")
    except ValueError as exc:
        raise InvalidResponseError(f"malformed stream chunk ({exc})", status=200) from None


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """How long a stream may wait for its next chunk: ``idle_s`` at most, and never past the
    call's ``deadline`` (read on ``monotonic``). ``timers`` gives the router's attempt timers
    (one heap entry per wait); without it each wait is an ``asyncio.timeout``."""

    idle_s: float
    deadline: float
    monotonic: Callable[[], float]
    timers: Callable[[], AttemptTimeouts] | None = None

    def wait_s(self) -> float:
        left = self.deadline - self.monotonic()
        return self.idle_s if self.idle_s < left else left


class ProviderStream(Protocol):
    """What an adapter's ``open_stream`` returns once the first chunk has arrived."""

    first: dict[str, Any]
    http_status: int | None

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]: ...

    async def aclose(self) -> None: ...


class _OneShot:
    """A whole response as a stream (adapters without ``open_stream``): its content in one
    chunk, then the usage chunk (empty ``choices``), as OpenAI sends them."""

    def __init__(self, resp: ProviderResponse, model: str) -> None:
        self.http_status = resp.http_status
        self.headers = resp.headers
        id_, model = resp.response_id or "", resp.model or model
        created = int(time.time())
        delta: dict[str, Any] = {"role": "assistant", "content": resp.content}
        if resp.message is not None and resp.message.get("tool_calls"):
            delta["tool_calls"] = [{"index": i, **tc} for i, tc in enumerate(resp.message["tool_calls"])]
        head = {"id": id_, "object": "chat.completion.chunk", "created": created, "model": model}
        self.first: dict[str, Any] = {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": resp.finish_reason}]}
        usage = {"prompt_tokens": resp.input_tokens, "completion_tokens": resp.output_tokens, "total_tokens": resp.input_tokens + resp.output_tokens}
        self._rest = [{**head, "choices": [], "usage": usage}]

    async def _chunks(self) -> AsyncIterator[dict[str, Any]]:
        for c in self._rest:
            yield c

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._chunks()

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


Finish = Callable[..., "LLMCallRecord"]  # (input_tokens, output_tokens, error, *, cancelled=False)


class AsyncChatCompletionStream:
    """``async for chunk in stream``; ``async with stream`` or ``await stream.close()`` ends it
    early. ``headers`` are the serving answer's HTTP headers.

    ``finish`` completes and writes the call's record when the stream ends; ``limits`` bounds
    every wait for a chunk; ``redact`` scrubs a provider's mid-stream error before it is stored
    or raised."""

    def __init__(
        self,
        pstream: Any,
        finish: Finish,
        *,
        facts: RoutingFacts,
        est_input: int,
        include_usage: bool = False,
        limits: StreamLimits | None = None,
        redact: Callable[[BaseException], BaseException] | None = None,
    ) -> None:
        self._p = pstream
        self._finish = finish
        self._facts = facts
        self.call_id = facts.call_id
        self._est_input = est_input
        self._include_usage = include_usage  # the caller asked for the usage chunk
        self._limits = limits
        self._redact = redact
        self._usage: tuple[int, int] | None = None
        self._usage_chunk: dict[str, Any] | None = None  # to hand on after the chunk it came with
        self._chars = 0
        self._done = False
        self._it: AsyncIterator[dict[str, Any]] | None = None
        self._first: dict[str, Any] | None = pstream.first
        self.headers: Mapping[str, str] | None = getattr(pstream, "headers", None)
        self.record: LLMCallRecord | None = None

    @property
    def provider(self) -> str:
        return self._facts.provider

    @property
    def deployment(self) -> str:
        """The deployment serving the stream (committed to once its first chunk arrived)."""
        return self._facts.deployment

    @property
    def fallback_used(self) -> bool:
        return self._facts.fallback_used

    @property
    def retry_count(self) -> int:
        return self._facts.retry_count

    def __aiter__(self) -> AsyncChatCompletionStream:
        return self

    def _chunk(self, data: dict[str, Any]) -> ChatCompletionChunk | None:
        """The caller's chunk for ``data``; ``None`` for a usage-only chunk the caller did not ask for."""
        counted = check_chunk(data)
        usage = data.get("usage")
        if counted is not None:
            self._usage = counted
            if data.get("choices"):  # usage on a chunk with choices: OpenAI sends it on a chunk of its own
                if self._include_usage:
                    self._usage_chunk = {**data, "choices": []}
                data = {k: v for k, v in data.items() if k != "usage"}
            elif not self._include_usage:
                return None
        elif "usage" in data and not self._include_usage:  # "usage": null, there only because we asked
            data = {k: v for k, v in data.items() if k != "usage"}
        for c in data.get("choices") or ():
            delta = c.get("delta") if type(c) is dict else None
            text = delta.get("content") if type(delta) is dict else None
            if type(text) is str:
                self._chars += len(text)
        return _chunk_type().routed(data, self._facts)

    async def __anext__(self) -> ChatCompletionChunk:
        if self._first is not None:
            first, self._first = self._first, None
            chunk = self._chunk(first)
            if chunk is not None:
                return chunk
        while True:
            if self._usage_chunk is not None:
                data, self._usage_chunk = self._usage_chunk, None
                return _chunk_type().routed(data, self._facts)
            if self._done:
                raise StopAsyncIteration
            try:
                data = await self._next_data()
                chunk = self._chunk(data)
            except StopAsyncIteration:
                await self._end(None)
                raise
            except ProviderError as exc:
                if self._redact is not None:
                    self._redact(exc)
                await self._end(exc)
                rec = self.record
                raise routing_error(
                    f"the stream from {self._facts.deployment} broke: {exc}",
                    error_type=exc.error_type,
                    call_id=self.call_id,
                    attempts=rec.attempts if rec else [],
                    record=rec,
                    last_error=exc,
                ) from exc
            except asyncio.CancelledError:
                await self._end(None, cancelled=True)
                raise
            if chunk is not None:
                return chunk

    async def _next_data(self) -> dict[str, Any]:
        """The provider's next chunk, waiting no longer than ``limits`` allow."""
        if self._it is None:
            self._it = self._p.__aiter__()
        limits = self._limits
        if limits is None:
            return await self._it.__anext__()
        wait = limits.wait_s()
        if wait <= 0:
            raise ProviderTimeoutError("the call's deadline passed mid-stream", deployment=self._facts.deployment)
        try:
            if limits.timers is not None:
                return await limits.timers().run(self._it.__anext__(), wait)
            async with asyncio.timeout(wait):
                return await self._it.__anext__()
        except TimeoutError:
            raise ProviderTimeoutError(
                f"no stream chunk within {wait:.3f}s (the idle timeout or the call's deadline)", deployment=self._facts.deployment
            ) from None

    async def _end(self, error: ProviderError | None, *, cancelled: bool = False) -> None:
        if self._done:
            return
        self._done = True
        try:
            await self._p.aclose()
        finally:
            self._record(error, cancelled)

    def _record(self, error: ProviderError | None, cancelled: bool = False) -> None:
        inp, out = self._usage if self._usage is not None else (self._est_input, self._chars // 4)
        self.record = self._finish(inp, out, error, cancelled=cancelled)

    async def aclose(self) -> None:
        """Stop reading; the record is written with what arrived."""
        await self._end(None)

    async def close(self) -> None:
        """The SDK's name for ``aclose()``."""
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

    @property
    def headers(self) -> Mapping[str, str] | None:
        return self._inner.headers

    def __enter__(self) -> ChatCompletionStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
