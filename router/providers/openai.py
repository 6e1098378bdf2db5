"""OpenAI chat completions over httpx, for any OpenAI-compatible base URL.

This module is the one boundary where HTTP outcomes become the router's error classes::

    httpx.TimeoutException                  -> ProviderTimeoutError   "timeout"
    httpx.ConnectError / reset / refused    -> ConnectionFailedError  "connection"
    body cut short / unparsable             -> InvalidResponseError   "invalid_response"
    429 (insufficient_quota: spend limit)   -> RateLimitedError       "rate_limited"
    503, 529                                -> OverloadedError        "overloaded"
    other 5xx                               -> ServerError            "server_error"
    401, 403                                -> AuthError              "auth"
    400 context_length_exceeded             -> ContextLengthError     "context_length"
    other 4xx                               -> BadRequestError        "bad_request" (408: timeout)

Error messages carry the status and the provider's error code and message (API key scrubbed),
never the request. Pass ``transport=`` (e.g. ``httpx.MockTransport``) to plug in a test double.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from router.errors import (
    AuthError,
    BadRequestError,
    ConnectionFailedError,
    ContextLengthError,
    InvalidResponseError,
    OverloadedError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    ServerError,
)
from router.providers.base import ProviderRequest, ProviderResponse
from router.resilience.retry_after import parse_retry_after

__all__ = ["OpenAIProvider", "error_from_status"]

_CONTEXT_HINTS = ("context_length_exceeded", "maximum context length", "context window", "too many tokens")


def _scrub(text: str, secret: str | None) -> str:
    if secret and secret in text:
        text = text.replace(secret, "***")
    return text[:300]


def error_from_status(
    status: int, body: bytes, headers: httpx.Headers | dict[str, str], *, now: float, secret: str | None = None
) -> ProviderError:
    """Map a non-2xx response to the router's error class (shared by OpenAI-style adapters)."""
    code = ""
    message = ""
    try:
        payload = json.loads(body) if body else {}
        err = payload.get("error", payload) if isinstance(payload, dict) else {}
        if isinstance(err, dict):
            code = str(err.get("code") or err.get("type") or "")
            message = str(err.get("message") or "")
        elif isinstance(err, str):
            message = err
    except (ValueError, UnicodeDecodeError):
        message = ""
    detail = _scrub(f"{code}: {message}" if code else message, secret)
    retry_after = parse_retry_after({k.lower(): v for k, v in headers.items()}, now)
    low = f"{code} {message}".lower()
    if status == 429:
        spend = "insufficient_quota" in low or "billing" in low
        return RateLimitedError(detail, status=status, retry_after=retry_after, spend_limit=spend)
    if status in (503, 529):
        return OverloadedError(detail, status=status, retry_after=retry_after)
    if status >= 500:
        return ServerError(detail, status=status, retry_after=retry_after)
    if status in (401, 403):
        return AuthError(detail, status=status)
    if status == 408:
        return ProviderTimeoutError(detail or "request timeout", status=status)
    if status in (400, 413) and any(h in low for h in _CONTEXT_HINTS):
        return ContextLengthError(detail, status=status)
    return BadRequestError(detail, status=status)


class OpenAIProvider:
    """One OpenAI-compatible endpoint. Share one instance between deployments of the same
    endpoint: it owns the connection pool."""

    enforces_timeout = False

    def __init__(
        self,
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key: str | None = None,
        name: str = "openai",
        connect_timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        extra_headers: dict[str, str] | None = None,
        max_connections: int = 64,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._url = self.base_url + "/chat/completions"
        self._key = api_key
        self._connect_timeout = connect_timeout_s
        headers = {"content-type": "application/json", "accept": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        if extra_headers:
            headers.update(extra_headers)
        self._headers = headers
        # httpcore's pool rescans every queued request on each state change (quadratic under a
        # burst); queueing on our own semaphore keeps the pool's queue empty.
        self._slots = asyncio.Semaphore(max_connections)
        self._owns_client = http_client is None
        self._client = http_client or httpx.AsyncClient(
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIProvider(base_url={self.base_url!r}, name={self.name!r})"

    async def send(self, request: ProviderRequest, *, timeout: float) -> ProviderResponse:
        body: dict[str, Any] = {"model": request.model, "messages": request.messages}
        if request.params:
            body.update(request.params)
        content = json.dumps(body).encode()
        t = httpx.Timeout(timeout, connect=min(self._connect_timeout, timeout))
        t0 = time.perf_counter()
        req = self._client.build_request("POST", self._url, content=content, headers=self._headers, timeout=t)
        async with self._slots:
            return await self._exchange(req, timeout, t0)

    async def _exchange(self, req: httpx.Request, timeout: float, t0: float) -> ProviderResponse:
        try:
            resp = await self._client.send(req, stream=True)
        except httpx.TimeoutException as exc:
            raise ProviderTimeoutError(f"{type(exc).__name__} after {timeout:.2f}s") from exc
        except httpx.TransportError as exc:
            raise ConnectionFailedError(type(exc).__name__) from exc
        try:
            try:
                raw = await resp.aread()
            except httpx.TimeoutException as exc:
                raise ProviderTimeoutError(f"body read timed out ({type(exc).__name__})", status=resp.status_code) from exc
            except httpx.RemoteProtocolError as exc:
                raise InvalidResponseError("response body cut short", status=resp.status_code) from exc
            except httpx.TransportError as exc:
                raise ConnectionFailedError(f"{type(exc).__name__} while reading the body", status=resp.status_code) from exc
        finally:
            await resp.aclose()
        ttfb = time.perf_counter() - t0
        status = resp.status_code
        if status >= 400:
            raise error_from_status(status, raw, resp.headers, now=time.time(), secret=self._key)
        try:
            data = json.loads(raw)
            choice = data["choices"][0]
            message = choice["message"]
            usage = data.get("usage") or {}
            return ProviderResponse(
                content=message.get("content"),
                input_tokens=int(usage.get("prompt_tokens") or 0),
                output_tokens=int(usage.get("completion_tokens") or 0),
                finish_reason=choice.get("finish_reason"),
                response_id=data.get("id") or resp.headers.get("x-request-id"),
                model=data.get("model"),
                ttft_s=ttfb,
                message=message if message.get("tool_calls") else None,
                http_status=status,
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise InvalidResponseError(f"unparsable chat.completion body ({type(exc).__name__})", status=status) from exc

    async def open_stream(self, request: ProviderRequest, *, timeout: float) -> _OpenAIStream:
        """Start a streamed completion; returns once the first chunk has arrived (errors before
        it are raised here, mapped like ``send``'s)."""
        body: dict[str, Any] = {"model": request.model, "messages": request.messages}
        if request.params:
            body.update(request.params)
        body["stream"] = True
        body.setdefault("stream_options", {"include_usage": True})
        t = httpx.Timeout(timeout, connect=min(self._connect_timeout, timeout))
        req = self._client.build_request("POST", self._url, content=json.dumps(body).encode(), headers=self._headers, timeout=t)
        await self._slots.acquire()  # held until the stream closes: it holds the connection
        resp: httpx.Response | None = None
        try:
            try:
                resp = await self._client.send(req, stream=True)
            except httpx.TimeoutException as exc:
                raise ProviderTimeoutError(f"{type(exc).__name__} after {timeout:.2f}s") from exc
            except httpx.TransportError as exc:
                raise ConnectionFailedError(type(exc).__name__) from exc
            if resp.status_code >= 400:
                raw = await resp.aread()
                raise error_from_status(resp.status_code, raw, resp.headers, now=time.time(), secret=self._key)
            stream = _OpenAIStream(resp, self._slots)
            await stream.start()
            return stream
        except BaseException:
            if resp is not None:
                await resp.aclose()
            self._slots.release()
            raise

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


class _OpenAIStream:
    """Server-sent ``chat.completion.chunk`` events of one response."""

    def __init__(self, resp: httpx.Response, slots: asyncio.Semaphore) -> None:
        self._resp = resp
        self._slots: asyncio.Semaphore | None = slots
        self._lines = resp.aiter_lines()
        self.first: dict[str, Any] = {}
        self.http_status = resp.status_code

    async def _event(self) -> dict[str, Any] | None:
        """The next JSON event, or ``None`` at ``[DONE]`` / the end of the body."""
        status = self._resp.status_code
        try:
            async for line in self._lines:
                if not line.startswith("data:"):
                    continue  # blank separators, comments, event names
                data = line[5:].strip()
                if data == "[DONE]":
                    return None
                try:
                    event = json.loads(data)
                except ValueError as exc:
                    raise InvalidResponseError("unparsable stream event", status=status) from exc
                if isinstance(event, dict) and "error" in event:
                    err = event["error"] if isinstance(event["error"], dict) else {}
                    raise ServerError(str(err.get("message") or "error event in the stream")[:300], status=status)
                if isinstance(event, dict):
                    return event
        except httpx.TimeoutException as exc:
            raise ProviderTimeoutError(f"stream read timed out ({type(exc).__name__})", status=status) from exc
        except httpx.RemoteProtocolError as exc:
            raise InvalidResponseError("stream cut short", status=status) from exc
        except httpx.TransportError as exc:
            raise ConnectionFailedError(f"{type(exc).__name__} while streaming", status=status) from exc
        return None

    async def start(self) -> None:
        first = await self._event()
        if first is None:
            raise InvalidResponseError("stream ended before its first chunk", status=self._resp.status_code)
        self.first = first

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._rest()

    async def _rest(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            event = await self._event()
            if event is None:
                return
            yield event

    async def aclose(self) -> None:
        try:
            await self._resp.aclose()
        finally:
            if self._slots is not None:
                self._slots.release()
                self._slots = None
