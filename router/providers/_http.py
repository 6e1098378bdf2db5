"""What the HTTP adapters share: one connection pool per endpoint (``router.providers._wire``:
aiohttp by default, httpx when given ``transport=`` or ``http_client=``), queueing on a
semaphore, the per-attempt timeout, server-sent events, and the status-code fallback of the
error table.

Transport outcomes become the router's error classes, for every wire format and both transports::

    timeout (connect or read)               -> ProviderTimeoutError   "timeout"
    connect error / reset / refused         -> ConnectionFailedError  "connection"
    body cut short / unparsable             -> InvalidResponseError   "invalid_response"

A non-2xx status goes to the adapter's ``_error`` (its provider's error body), which falls back
on ``error_for_status`` when the body names nothing it knows.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from router._json import dumps, loads
from router.errors import (
    AuthError,
    BadRequestError,
    ContextLengthError,
    InvalidResponseError,
    OverloadedError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    ServerError,
    error_object,
)
from router.providers._sse import EventParser
from router.providers._wire import Reply, make_wire, reading
from router.providers.base import ProviderRequest
from router.resilience.retry_after import parse_retry_after

if TYPE_CHECKING:
    import httpx

__all__ = ["SSE", "ChunkStream", "HTTPAdapter", "chunk", "error_for_status", "json_object", "parse_guard", "provider_error", "reading", "retry_after_header", "scrub"]

_SHAPE_ERRORS = (ValueError, KeyError, IndexError, TypeError, AttributeError)
_S = TypeVar("_S", bound="ChunkStream")


def scrub(text: str, secret: str | None) -> str:
    """``text`` cut to 300 characters with the API key replaced by ``***``."""
    if secret and secret in text:
        text = text.replace(secret, "***")
    return text[:300]


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or ``{}`` when it is empty, not JSON or not an object."""
    try:
        payload = loads(body) if body else {}
    except (ValueError, UnicodeDecodeError):
        return {}
    return payload if isinstance(payload, dict) else {}


def retry_after_header(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait from ``Retry-After`` / ``retry-after-ms``, or None."""
    return parse_retry_after({k.lower(): v for k, v in headers.items()}, now)


def error_for_status(
    status: int, detail: str, *, retry_after: float | None = None, context_length: bool = False, spend_limit: bool = False
) -> ProviderError:
    """The error class by HTTP status alone (``context_length``: the body said the prompt is too
    long; it only counts on a 400 or 413)."""
    if status == 429:
        return RateLimitedError(detail, status=status, retry_after=retry_after, spend_limit=spend_limit)
    if status in (503, 529):
        return OverloadedError(detail, status=status, retry_after=retry_after)
    if status >= 500:
        return ServerError(detail, status=status, retry_after=retry_after)
    if status in (401, 403):
        return AuthError(detail, status=status)
    if status == 408:
        return ProviderTimeoutError(detail or "request timeout", status=status)
    if status in (400, 413) and context_length:
        return ContextLengthError(detail, status=status)
    return BadRequestError(detail, status=status)


def provider_error(
    status: int,
    kind: str,
    message: str,
    *,
    by_kind: Mapping[str, type[ProviderError]],
    rate_limit_kind: str | None = None,
    context_hints: tuple[str, ...] = (),
    retry_after: float | None = None,
    spend_limit: bool = False,
    auth: bool = False,
    timeout_statuses: tuple[int, ...] = (),
    secret: str | None = None,
) -> ProviderError:
    """The error for a provider's error object, the one table every adapter maps through:
    ``kind`` is what the body names (OpenAI's ``code``/``type``, Anthropic's ``error.type``,
    Google's ``error.status``), ``message`` its text. A 429 or ``rate_limit_kind`` is
    ``rate_limited``; then ``by_kind``; ``auth`` (the provider said the key is bad) is ``auth``;
    an error inside a 2xx stream of a kind not named is ``server_error``; a status in
    ``timeout_statuses`` is ``timeout``; else ``error_for_status`` (``context_hints`` found in the
    kind or message make a 400 ``context_length``). The detail kept is ``"kind: message"``,
    the key scrubbed."""
    detail = scrub(f"{kind}: {message}" if kind else message, secret)
    if status == 429 or (rate_limit_kind is not None and kind == rate_limit_kind):
        return RateLimitedError(detail, status=status, retry_after=retry_after, spend_limit=spend_limit)
    cls = by_kind.get(kind)
    if cls is not None:
        return cls(detail, status=status, retry_after=retry_after)
    if auth:
        return AuthError(detail, status=status)
    if status < 400:
        return ServerError(detail or "error event in the stream", status=status)
    if status in timeout_statuses:
        return ProviderTimeoutError(detail, status=status)
    low = f"{kind} {message}".lower()
    return error_for_status(status, detail, retry_after=retry_after, context_length=any(h in low for h in context_hints), spend_limit=spend_limit)


class parse_guard:  # noqa: N801 - used as a function: ``with parse_guard(what, status):``
    """Turn a body of the wrong shape (KeyError, TypeError, ...) into ``InvalidResponseError``.
    A class, not ``@contextmanager``: it runs on every answer, and a generator costs more."""

    __slots__ = ("what", "status")

    def __init__(self, what: str, status: int | None) -> None:
        self.what = what
        self.status = status

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if kind is not None and issubclass(kind, _SHAPE_ERRORS):
            raise InvalidResponseError(f"unparsable {self.what} ({kind.__name__})", status=self.status) from exc
        return False


class HTTPAdapter(abc.ABC):
    """Base of the HTTP adapters: owns the connection pool of one endpoint (share one instance
    between deployments of the same endpoint). ``max_connections`` bounds the pool (callers
    beyond it queue on a semaphore); ``keepalive_s`` is how long an idle connection is kept
    (0: a new connection per request). ``repr`` never shows the key."""

    enforces_timeout = False

    def __init__(
        self,
        *,
        name: str,
        base_url: str,
        api_key: str | None,
        headers: dict[str, str],
        connect_timeout_s: float,
        transport: httpx.AsyncBaseTransport | None,
        http_client: httpx.AsyncClient | None,
        extra_headers: dict[str, str] | None,
        max_connections: int,
        keepalive_s: float = 15.0,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self._headers = {"content-type": "application/json", "accept": "application/json", **headers, **(extra_headers or {})}
        self._wire = make_wire(
            headers=self._headers, connect_timeout_s=connect_timeout_s, max_connections=max_connections, keepalive_s=keepalive_s,
            transport=transport, http_client=http_client,
        )  # fmt: skip
        # httpcore's pool rescans every queued request on each state change (quadratic under a
        # burst); queueing on our own semaphore keeps the pool's queue empty, on both transports.
        self._slots = asyncio.Semaphore(max_connections)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, name={self.name!r})"

    def sent_secrets(self) -> tuple[str, ...]:
        """The API key and every header value this adapter sends (except the content type, accept,
        user agent and API version): what ``router.redact`` scrubs out of provider text."""
        plain = ("content-type", "accept", "anthropic-version", "user-agent")
        values = [v for k, v in self._headers.items() if k.lower() not in plain]
        return (self._key, *values) if self._key else tuple(values)

    @abc.abstractmethod
    def _error(self, status: int, body: bytes, headers: Mapping[str, str]) -> ProviderError:
        """Map a non-2xx response of this provider to the router's error class."""

    def _prepare(self, body: dict[str, Any], options: ProviderRequest | None) -> tuple[bytes, Mapping[str, str] | None, Mapping[str, Any] | None]:
        """The request body as JSON bytes, with the caller's extra_body / extra_headers /
        extra_query applied as the SDK applies them: ``(content, extra headers, query)``."""
        if options is None:
            return dumps(body), None, None
        if options.extra_body:
            body = {**body, **options.extra_body}
        return dumps(body), options.extra_headers or None, options.extra_query or None

    async def _post_json(
        self, url: str, body: dict[str, Any], timeout: float, what: str, options: ProviderRequest | None = None
    ) -> tuple[Any, Reply, float]:
        """POST ``body`` (with ``options``' extra headers, query and body) and read the whole
        answer: ``(parsed JSON, response, seconds until the body was read)``. Non-2xx answers
        raise the adapter's mapped error, carrying the response (``ProviderError.response``)."""
        content, headers, query = self._prepare(body, options)
        t0 = time.perf_counter()
        async with self._slots:
            resp = await self._wire.post(url, content, timeout, headers, query)
            try:
                raw = await resp.read()
            finally:
                await resp.aclose()
        elapsed = time.perf_counter() - t0
        if resp.status_code >= 400:
            raise self._answer_error(resp, raw)
        try:
            return loads(raw), resp, elapsed
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidResponseError(f"unparsable {what} ({type(exc).__name__})", status=resp.status_code) from exc

    def _answer_error(self, resp: Reply, raw: bytes) -> ProviderError:
        """The adapter's error for a non-2xx answer, carrying the answer as an ``httpx.Response``
        (status, headers and content readable, as the SDK's errors have it)."""
        err = self._error(resp.status_code, raw, resp.headers)
        err.response = resp.as_httpx(raw)
        err.api_body = error_object(raw)
        return err

    async def _open_stream(
        self, url: str, body: dict[str, Any], timeout: float, make: Callable[[SSE], _S], options: ProviderRequest | None = None
    ) -> _S:
        """POST ``body``, wrap its event stream with ``make`` and return once the first chunk has
        arrived; errors before it are raised here. The pool slot is held until the stream is
        closed (it holds the connection)."""
        content, headers, query = self._prepare(body, options)
        await self._slots.acquire()
        resp: Reply | None = None
        try:
            resp = await self._wire.post(url, content, timeout, headers, query, stream=True)
            if resp.status_code >= 400:
                raw = await resp.read()
                raise self._answer_error(resp, raw)
            stream = make(SSE(resp, self._slots))
        except BaseException:
            if resp is not None:
                await resp.aclose()
            self._slots.release()
            raise
        try:
            await stream.start()
        except BaseException:
            await stream.aclose()
            raise
        return stream

    async def aclose(self) -> None:
        await self._wire.aclose()


class SSE:
    """The server-sent events of one response, as ``(event name, data bytes)`` pairs."""

    def __init__(self, resp: Reply, slots: asyncio.Semaphore) -> None:
        self.resp = resp
        self.status = resp.status_code
        self._slots: asyncio.Semaphore | None = slots
        self._chunks = resp.chunks()
        self._parser = EventParser()
        self._last: deque[tuple[str, bytes]] | None = None  # the events ``close`` gave, at the end of the body

    async def next(self) -> tuple[str, bytes] | None:
        """The next event that carries data, or ``None`` at the end of the body. Events are
        parsed one at a time, as they are asked for (``EventParser.next``)."""
        parser = self._parser
        while self._last is None:
            event = parser.next()
            if event is not None:
                return event
            try:
                data = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._last = deque(parser.close())
                break
            parser.push(data)
        return self._last.popleft() if self._last else None

    def json(self, data: bytes | str) -> Any:
        """One event's data parsed, ``InvalidResponseError`` when it is not JSON."""
        try:
            return loads(data)
        except ValueError as exc:
            raise InvalidResponseError("unparsable stream event", status=self.status) from exc

    async def aclose(self) -> None:
        try:
            try:
                await self._chunks.aclose()  # type: ignore[attr-defined]
            finally:
                await self.resp.aclose()
        finally:
            if self._slots is not None:
                self._slots.release()
                self._slots = None


class ChunkStream(abc.ABC):
    """A provider's event stream as OpenAI ``chat.completion.chunk`` dicts (the ``ProviderStream``
    of ``router.streaming``): ``start()`` waits for the first chunk, iteration yields the rest."""

    def __init__(self, sse: SSE) -> None:
        self._sse = sse
        self.first: dict[str, Any] = {}
        self.http_status: int | None = sse.status
        self.headers: Mapping[str, str] = sse.resp.headers
        self._role_sent = False

    def _emit(self, id_: str, model: str, delta: dict[str, Any], finish: str | None = None, usage: tuple[int, int] | None = None) -> dict[str, Any]:
        """A chunk of this stream; the first one carries ``role: assistant``."""
        if not self._role_sent:
            delta = {"role": "assistant", **delta}
            self._role_sent = True
        return chunk(id_, model, delta, finish, usage)

    @abc.abstractmethod
    async def _next_chunk(self) -> dict[str, Any] | None:
        """The next chunk, or ``None`` at the end of the stream."""

    async def start(self) -> None:
        first = await self._next_chunk()
        if first is None:
            raise InvalidResponseError("stream ended before its first chunk", status=self.http_status)
        self.first = first

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._rest()

    async def _rest(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            chunk = await self._next_chunk()
            if chunk is None:
                return
            yield chunk

    async def aclose(self) -> None:
        await self._sse.aclose()


def chunk(id_: str, model: str, delta: dict[str, Any], finish_reason: str | None = None, usage: tuple[int, int] | None = None) -> dict[str, Any]:
    """One ``chat.completion.chunk`` dict (``usage`` as ``(prompt, completion)`` tokens)."""
    out: dict[str, Any] = {
        "id": id_,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    if usage is not None:
        out["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": usage[0] + usage[1]}
    return out
