"""``.with_raw_response`` and ``.with_streaming_response`` of every resource (chat completions,
embeddings, models), as the SDK has them.

- ``with_raw_response.create(...)`` returns a ``RawResponse`` at once: the serving attempt's
  HTTP ``status_code`` and ``headers``, ``request_id``, ``retries_taken``, and ``parse()``
  returning the object ``create`` would have (the SDK's ``LegacyAPIResponse`` shape);
- ``with_streaming_response.create(...)`` is a context manager (``async with`` for the async
  client) giving the same response, with ``parse()`` awaitable on the async side (the SDK's
  ``AsyncAPIResponse``); leaving the block closes a stream that ``parse()`` returned.

``models.list()`` answers from the router without a request: its raw response is a 200 with no
provider headers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = [
    "AsyncStreamedResponse",
    "AsyncWithRawResponse",
    "AsyncWithStreamingResponse",
    "RawResponse",
    "StreamedResponse",
    "WithRawResponse",
    "WithStreamingResponse",
    "raw_of",
]

_LOCAL = (200, {"content-type": "application/json"})  # an answer the router gave itself (models.list)


class RawResponse:
    """What ``with_raw_response.<method>(...)`` returns."""

    def __init__(self, parsed: Any, *, status_code: int | None, headers: Mapping[str, str] | None) -> None:
        self._parsed = parsed
        self.status_code = status_code
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.request_id: str | None = self.headers.get("x-request-id")
        self.retries_taken: int = getattr(parsed, "retry_count", 0) or 0
        # the routing facts of the serving attempt (also on the parsed object)
        self.deployment: str | None = getattr(parsed, "deployment", None)

    def parse(self) -> Any:
        """The object (or stream) the plain method returns."""
        return self._parsed

    def __repr__(self) -> str:
        return f"<{type(self).__name__} status_code={self.status_code} deployment={self.deployment!r}>"


def raw_of(result: Any, *, local: bool = False) -> RawResponse:
    """``result`` (a response object or a stream, async or sync) with its serving answer's status
    and headers; ``local``: an answer of the router's own."""
    if local:
        return RawResponse(result, status_code=_LOCAL[0], headers=_LOCAL[1])
    stream = getattr(result, "_inner", result)  # the sync stream wraps the async one
    pstream = getattr(stream, "_p", None)
    if pstream is not None:
        return RawResponse(result, status_code=getattr(pstream, "http_status", None), headers=stream.headers)
    status, headers = getattr(result, "_http", None) or (None, None)
    return RawResponse(result, status_code=status, headers=headers)


class AsyncStreamedResponse(RawResponse):
    """The response inside ``async with ....with_streaming_response.<method>(...)``."""

    async def parse(self) -> Any:  # type: ignore[override]
        return self._parsed

    async def close(self) -> None:
        close = getattr(self._parsed, "close", None)
        if close is not None and getattr(self._parsed, "_p", None) is not None:
            await close()


class StreamedResponse(RawResponse):
    """The response inside ``with ....with_streaming_response.<method>(...)`` (sync client)."""

    def close(self) -> None:
        if getattr(self._parsed, "_inner", None) is not None:
            self._parsed.close()


class _AsyncResponseManager:
    def __init__(self, call: Awaitable[Any], local: bool) -> None:
        self._call, self._local = call, local
        self._response: AsyncStreamedResponse | None = None

    async def __aenter__(self) -> AsyncStreamedResponse:
        raw = raw_of(await self._call, local=self._local)
        self._response = AsyncStreamedResponse(raw._parsed, status_code=raw.status_code, headers=raw.headers)
        return self._response

    async def __aexit__(self, *exc: object) -> None:
        if self._response is not None:
            await self._response.close()


class _ResponseManager:
    def __init__(self, call: Callable[[], Any], local: bool) -> None:
        self._call, self._local = call, local
        self._response: StreamedResponse | None = None

    def __enter__(self) -> StreamedResponse:
        raw = raw_of(self._call(), local=self._local)
        self._response = StreamedResponse(raw._parsed, status_code=raw.status_code, headers=raw.headers)
        return self._response

    def __exit__(self, *exc: object) -> None:
        if self._response is not None:
            self._response.close()


class _Wrapped:
    """The methods ``names`` of ``resource``, each wrapped by ``wrap``."""

    def __init__(self, resource: Any, names: tuple[str, ...], wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
        for name in names:
            setattr(self, name, wrap(getattr(resource, name)))


def _async_raw(local: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[RawResponse]]:
        async def raw(*args: Any, **kwargs: Any) -> RawResponse:
            return raw_of(await method(*args, **kwargs), local=local)

        return raw

    return wrap


def _async_streaming(local: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(method: Callable[..., Awaitable[Any]]) -> Callable[..., _AsyncResponseManager]:
        return lambda *args, **kwargs: _AsyncResponseManager(method(*args, **kwargs), local)

    return wrap


def _sync_raw(local: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(method: Callable[..., Any]) -> Callable[..., RawResponse]:
        return lambda *args, **kwargs: raw_of(method(*args, **kwargs), local=local)

    return wrap


def _sync_streaming(local: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(method: Callable[..., Any]) -> Callable[..., _ResponseManager]:
        return lambda *args, **kwargs: _ResponseManager(lambda: method(*args, **kwargs), local)

    return wrap


class AsyncWithRawResponse(_Wrapped):
    """``resource.with_raw_response`` of the async client (``local``: the router answers itself)."""

    def __init__(self, resource: Any, *names: str, local: bool = False) -> None:
        super().__init__(resource, names, _async_raw(local))


class AsyncWithStreamingResponse(_Wrapped):
    def __init__(self, resource: Any, *names: str, local: bool = False) -> None:
        super().__init__(resource, names, _async_streaming(local))


class WithRawResponse(_Wrapped):
    def __init__(self, resource: Any, *names: str, local: bool = False) -> None:
        super().__init__(resource, names, _sync_raw(local))


class WithStreamingResponse(_Wrapped):
    def __init__(self, resource: Any, *names: str, local: bool = False) -> None:
        super().__init__(resource, names, _sync_streaming(local))
