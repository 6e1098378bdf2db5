"""OpenAI chat completions over httpx, for any OpenAI-compatible base URL.

Transport failures are mapped in ``router.providers._http``; a non-2xx answer by its status and
the body's ``error.code`` / ``error.type``::

    429 (insufficient_quota: spend limit)   -> RateLimitedError       "rate_limited"
    503, 529                                -> OverloadedError        "overloaded"
    other 5xx                               -> ServerError            "server_error"
    401, 403                                -> AuthError              "auth"
    400 context_length_exceeded             -> ContextLengthError     "context_length"
    other 4xx                               -> BadRequestError        "bad_request" (408: timeout)

Error messages carry the status and the provider's error code and message (API key scrubbed),
never the request. Requests go over aiohttp by default; pass ``transport=`` (e.g.
``httpx.MockTransport``) to plug in a test double, or ``http_client=`` to use your httpx client.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from router.errors import ProviderError, ServerError
from router.providers._http import SSE, ChunkStream, HTTPAdapter, json_object, parse_guard, provider_error, retry_after_header
from router.providers.base import DEFAULT_BASE_URLS, ProviderRequest, ProviderResponse

__all__ = ["OpenAIProvider", "error_from_status"]

_S = TypeVar("_S", bound=ChunkStream)
_CONTEXT_HINTS = ("context_length_exceeded", "maximum context length", "context window", "too many tokens")


def error_from_status(
    status: int, body: bytes, headers: httpx.Headers | dict[str, str], *, now: float, secret: str | None = None
) -> ProviderError:
    """Map a non-2xx response to the router's error class (shared by OpenAI-style adapters)."""
    payload = json_object(body)
    err = payload.get("error", payload)
    code = message = ""
    if isinstance(err, dict):
        code = str(err.get("code") or err.get("type") or "")
        message = str(err.get("message") or "")
    elif isinstance(err, str):
        message = err
    low = f"{code} {message}".lower()
    return provider_error(
        status, code, message, by_kind={}, context_hints=_CONTEXT_HINTS, retry_after=retry_after_header(headers, now),
        spend_limit=status == 429 and ("insufficient_quota" in low or "billing" in low), secret=secret,
    )  # fmt: skip


class OpenAIProvider(HTTPAdapter):
    """One OpenAI-compatible endpoint (``POST {base_url}/chat/completions``, bearer key)."""

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URLS["openai"],
        api_key: str | None = None,
        name: str = "openai",
        connect_timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        extra_headers: dict[str, str] | None = None,
        max_connections: int = 64,
        keepalive_s: float = 15.0,
    ) -> None:
        super().__init__(
            name=name,
            base_url=base_url,
            api_key=api_key,
            headers={"authorization": f"Bearer {api_key}"} if api_key else {},
            connect_timeout_s=connect_timeout_s,
            transport=transport,
            http_client=http_client,
            extra_headers=extra_headers,
            max_connections=max_connections,
            keepalive_s=keepalive_s,
        )
        self._url = self.base_url + "/chat/completions"
        self._embeddings_url = self.base_url + "/embeddings"

    def _error(self, status: int, body: bytes, headers: httpx.Headers) -> ProviderError:
        return error_from_status(status, body, headers, now=time.time(), secret=self._key)

    async def send(self, request: ProviderRequest, *, timeout: float) -> ProviderResponse:
        return await self._complete(self._url, request, timeout)

    async def _complete(self, url: str, request: ProviderRequest, timeout: float) -> ProviderResponse:
        body: dict[str, Any] = {"model": request.model, "messages": request.messages, **request.params}
        data, resp, elapsed = await self._post_json(url, body, timeout, "chat.completion body", request)
        with parse_guard("chat.completion body", resp.status_code):
            choice = data["choices"][0]
            message = choice["message"]
            usage = data.get("usage") or {}
            headers = resp.headers
            return ProviderResponse(
                content=message.get("content"),
                input_tokens=int(usage.get("prompt_tokens") or 0),
                output_tokens=int(usage.get("completion_tokens") or 0),
                finish_reason=choice.get("finish_reason"),
                response_id=data.get("id") or headers.get("x-request-id"),
                model=data.get("model"),
                ttft_s=elapsed,
                message=message if message.get("tool_calls") else None,
                http_status=resp.status_code,
                body=data,  # every field the provider sent reaches the caller
                headers=headers,
                request_id=headers.get("x-request-id"),
            )

    async def embed(self, request: ProviderRequest, *, timeout: float) -> ProviderResponse:
        """``POST {base_url}/embeddings``; ``request.params`` holds ``input`` and the rest."""
        body: dict[str, Any] = {"model": request.model, **request.params}
        data, resp, elapsed = await self._post_json(self._embeddings_url, body, timeout, "embeddings body", request)
        with parse_guard("embeddings body", resp.status_code):
            if not isinstance(data["data"], list):
                raise TypeError("data is not a list")
            usage = data.get("usage") or {}
            headers = resp.headers
            return ProviderResponse(
                content=None,
                input_tokens=int(usage.get("prompt_tokens") or 0),
                output_tokens=0,
                finish_reason=None,
                response_id=headers.get("x-request-id"),
                model=data.get("model"),
                ttft_s=elapsed,
                http_status=resp.status_code,
                body=data,
                headers=headers,
                request_id=headers.get("x-request-id"),
            )

    async def open_stream(self, request: ProviderRequest, *, timeout: float) -> _OpenAIStream:
        """Start a streamed completion; returns once the first chunk has arrived (errors before
        it are raised here, mapped like ``send``'s). Usage is always asked for (the record needs
        the tokens); the stream hands it on only to a caller who asked too."""
        return await self._start_stream(self._url, request, timeout, _OpenAIStream)

    async def _start_stream(self, url: str, request: ProviderRequest, timeout: float, make: Callable[[SSE], _S]) -> _S:
        body: dict[str, Any] = {"model": request.model, "messages": request.messages, **request.params, "stream": True}
        opts = body.get("stream_options")
        if not isinstance(opts, dict) or not opts.get("include_usage"):
            body["stream_options"] = {**(opts if isinstance(opts, dict) else {}), "include_usage": True}
        return await self._open_stream(url, body, timeout, make, request)


class _OpenAIStream(ChunkStream):
    """Server-sent ``chat.completion.chunk`` events of one response, passed through."""

    async def _next_chunk(self) -> dict[str, Any] | None:
        while True:
            item = await self._sse.next()
            if item is None:
                return None
            data = item[1].strip()
            if data == b"[DONE]":
                return None
            event = self._sse.json(data)
            if isinstance(event, dict) and "error" in event:
                err = event["error"] if isinstance(event["error"], dict) else {}
                raise ServerError(str(err.get("message") or "error event in the stream")[:300], status=self._sse.status)
            if isinstance(event, dict):
                return event
