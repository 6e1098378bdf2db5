"""The transports under the HTTP adapters, behind one small interface (``Wire.post`` -> ``Reply``).

``AiohttpWire`` is the default: aiohttp's connection pool does not contend under concurrency the
way httpcore's does (encode/httpx#3215), and at 64 callers it carries several times httpx's
calls per second at a fraction of its CPU per call (``benchmarks/throughput.py``; the figures and
the choice are in docs/providers.md). ``HttpxWire`` is used when the adapter is given
``transport=`` (the test seam: ``httpx.MockTransport`` works) or ``http_client=``, when aiohttp
is not installed, or when ``ATTUNE_HTTP_TRANSPORT=httpx`` is set.

Both map transport failures the same way::

    timeout (connect, read)                 -> ProviderTimeoutError   "timeout"
    refused / reset / protocol error        -> ConnectionFailedError  "connection"
    body cut short (before its length/end)  -> InvalidResponseError   "invalid_response"

aiohttp is imported when the first adapter on it is built, so ``import router`` stays light.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from router.errors import ConnectionFailedError, InvalidResponseError, ProviderTimeoutError

if TYPE_CHECKING:
    import httpx

__all__ = ["TRANSPORT_ENV", "AiohttpWire", "HttpxWire", "Reply", "Wire", "make_wire", "reading"]

TRANSPORT_ENV = "ATTUNE_HTTP_TRANSPORT"
TRANSPORTS = ("aiohttp", "httpx")


class Reply(Protocol):
    """One response whose headers have arrived; the body is read once, whole or in chunks."""

    status_code: int
    headers: Mapping[str, str]

    async def read(self) -> bytes: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...

    def as_httpx(self, content: bytes) -> httpx.Response:
        """This answer (read: ``content``) as an ``httpx.Response``, for the SDK-shaped errors."""
        ...


Query = Mapping[str, Any]


class Wire(Protocol):
    """POSTs to one endpoint's connection pool; raises the router's errors for transport failures.
    ``headers`` are added to the adapter's own for this request, ``query`` to the URL's query;
    ``stream`` says the body is an event stream (read for longer than ``timeout``, a chunk at a time)."""

    async def post(
        self, url: str, content: bytes, timeout: float, headers: Mapping[str, str] | None = None, query: Query | None = None, *, stream: bool = False
    ) -> Reply: ...

    async def aclose(self) -> None: ...


def transport_choice(transport: Any, http_client: Any) -> str:
    """``"httpx"`` when an httpx transport or client is given (or asked for by the environment), else
    ``"aiohttp"`` when it is installed."""
    if transport is not None or http_client is not None:
        return "httpx"
    wanted = os.environ.get(TRANSPORT_ENV, "").strip().lower()
    if wanted and wanted not in TRANSPORTS:
        raise ValueError(f"environment variable {TRANSPORT_ENV}={wanted!r}: expected one of {list(TRANSPORTS)}")
    if wanted == "httpx":
        return "httpx"
    try:
        import importlib.util

        found = importlib.util.find_spec("aiohttp") is not None
    except ValueError:
        found = False
    if not found and wanted == "aiohttp":
        raise ValueError(f"environment variable {TRANSPORT_ENV}=aiohttp but aiohttp is not installed")
    return "aiohttp" if found else "httpx"


def make_wire(
    *,
    headers: dict[str, str],
    connect_timeout_s: float,
    max_connections: int,
    keepalive_s: float,
    transport: httpx.AsyncBaseTransport | None,
    http_client: httpx.AsyncClient | None,
) -> Wire:
    """The wire for one adapter: aiohttp unless an httpx transport or client is given."""
    if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
        raise ValueError(f"max_connections must be a positive integer, got {max_connections!r}")
    if isinstance(keepalive_s, bool) or not isinstance(keepalive_s, (int, float)) or keepalive_s < 0:
        raise ValueError(f"keepalive_s must be a number >= 0 (0: no keep-alive), got {keepalive_s!r}")
    if transport_choice(transport, http_client) == "aiohttp":
        return AiohttpWire(headers=headers, connect_timeout_s=connect_timeout_s, max_connections=max_connections, keepalive_s=keepalive_s)
    return HttpxWire(
        headers=headers, connect_timeout_s=connect_timeout_s, max_connections=max_connections, keepalive_s=keepalive_s,
        transport=transport, http_client=http_client,
    )  # fmt: skip


# -- httpx ---------------------------------------------------------------------------------


@contextmanager
def reading(what: str, status: int) -> Iterator[None]:
    """Map httpx failures while reading a response's ``what`` (the headers have arrived)."""
    import httpx

    try:
        yield
    except httpx.TimeoutException as exc:
        raise ProviderTimeoutError(f"{what} read timed out ({type(exc).__name__})", status=status) from exc
    except httpx.RemoteProtocolError as exc:
        raise InvalidResponseError(f"{what} cut short", status=status) from exc
    except httpx.TransportError as exc:
        raise ConnectionFailedError(f"{type(exc).__name__} while reading the {what}", status=status) from exc


class _HttpxReply:
    __slots__ = ("_resp", "status_code", "headers")

    def __init__(self, resp: httpx.Response) -> None:
        self._resp = resp
        self.status_code = resp.status_code
        self.headers = resp.headers

    async def read(self) -> bytes:
        with reading("response body", self.status_code):
            return await self._resp.aread()

    async def chunks(self) -> AsyncIterator[bytes]:
        with reading("stream", self.status_code):
            async for data in self._resp.aiter_bytes():
                yield data

    async def aclose(self) -> None:
        await self._resp.aclose()

    def as_httpx(self, content: bytes) -> httpx.Response:
        return self._resp  # already read: its content stays readable


class HttpxWire:
    """The wire on an ``httpx.AsyncClient`` (its own, or the one given)."""

    def __init__(
        self,
        *,
        headers: dict[str, str],
        connect_timeout_s: float,
        max_connections: int,
        keepalive_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        import httpx

        self._httpx = httpx
        self.max_connections = max_connections
        self.keepalive_s = keepalive_s
        self._headers = headers
        self._connect = connect_timeout_s
        self._owns_client = http_client is None
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections if keepalive_s else 0,
                              keepalive_expiry=keepalive_s or None)  # fmt: skip
        self._client = http_client or httpx.AsyncClient(transport=transport, limits=limits)

    async def post(
        self, url: str, content: bytes, timeout: float, headers: Mapping[str, str] | None = None, query: Query | None = None, *, stream: bool = False
    ) -> Reply:
        httpx = self._httpx  # httpx's read timeout is per read: the same for a stream
        t = httpx.Timeout(timeout, connect=min(self._connect, timeout))
        merged = self._headers if headers is None else {**self._headers, **headers}
        req = self._client.build_request("POST", url, content=content, headers=merged, params=query, timeout=t)
        try:
            return _HttpxReply(await self._client.send(req, stream=True))
        except httpx.TimeoutException as exc:
            raise ProviderTimeoutError(f"{type(exc).__name__} after {timeout:.2f}s") from exc
        except httpx.TransportError as exc:
            raise ConnectionFailedError(type(exc).__name__) from exc

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


# -- aiohttp -------------------------------------------------------------------------------


def _cut_short(exc: BaseException) -> bool:
    """A payload error from the peer closing early (not from a reset connection)."""
    cause = exc.__cause__ or exc.__context__
    return not isinstance(cause, ConnectionResetError) and "reset" not in str(exc).lower()


class _AiohttpReply:
    __slots__ = ("_resp", "_aiohttp", "status_code", "headers")

    def __init__(self, resp: Any, aiohttp: Any) -> None:
        self._resp = resp
        self._aiohttp = aiohttp
        self.status_code: int = resp.status
        self.headers: Mapping[str, str] = resp.headers

    def _read_error(self, what: str, exc: Exception) -> Exception:
        """The router's error for ``exc``, raised while reading the ``what`` (``exc`` itself when
        it is not a transport failure). A function, not a context manager: it runs only on failure."""
        aiohttp, status = self._aiohttp, self.status_code
        if isinstance(exc, TimeoutError):
            return ProviderTimeoutError(f"{what} read timed out ({type(exc).__name__})", status=status)
        if isinstance(exc, aiohttp.ClientPayloadError):
            if _cut_short(exc):
                return InvalidResponseError(f"{what} cut short", status=status)
            return ConnectionFailedError(f"connection reset while reading the {what}", status=status)
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return InvalidResponseError(f"{what} cut short", status=status)
        if isinstance(exc, (aiohttp.ClientError, OSError)):
            return ConnectionFailedError(f"{type(exc).__name__} while reading the {what}", status=status)
        return exc

    async def read(self) -> bytes:
        try:
            return await self._resp.read()  # type: ignore[no-any-return]
        except Exception as exc:
            mapped = self._read_error("response body", exc)
            if mapped is exc:
                raise
            raise mapped from exc

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for data in self._resp.content.iter_any():
                yield data
        except Exception as exc:
            mapped = self._read_error("stream", exc)
            if mapped is exc:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        self._resp.release()  # back to the pool when read to the end, else the connection is closed

    def as_httpx(self, content: bytes) -> httpx.Response:
        import httpx

        request = httpx.Request("POST", str(self._resp.url))
        return httpx.Response(self.status_code, headers=list(self.headers.items()), content=content, request=request)


class AiohttpWire:
    """The wire on one ``aiohttp.ClientSession``, opened on first use in the running loop (and
    again if the adapter is later used from another loop)."""

    def __init__(self, *, headers: dict[str, str], connect_timeout_s: float, max_connections: int, keepalive_s: float) -> None:
        import aiohttp  # here, not on the first request: its import time must not count against an attempt

        self._aiohttp = aiohttp
        self._headers = headers
        self._connect = connect_timeout_s
        self.max_connections = max_connections
        self.keepalive_s = keepalive_s
        self._session: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: dict[tuple[int, bool], Any] = {}  # (whole seconds, stream) -> ClientTimeout, built once each

    def _open(self, loop: asyncio.AbstractEventLoop) -> Any:
        aiohttp = self._aiohttp
        reuse: dict[str, Any] = {"keepalive_timeout": self.keepalive_s} if self.keepalive_s else {"force_close": True}
        connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=0, **reuse)
        # No cookie jar: provider APIs are stateless, and cookie handling is per-request work.
        self._session = aiohttp.ClientSession(connector=connector, headers=self._headers, cookie_jar=aiohttp.DummyCookieJar(),
                                              timeout=aiohttp.ClientTimeout(total=None))  # fmt: skip
        self._loop = loop
        return self._session

    def _timeout(self, timeout: float, stream: bool) -> Any:
        """A backstop rounded up to a whole second (the router times each attempt exactly,
        ``enforces_timeout`` being False, and a stream's every wait for a chunk), so there are
        few to build: for a whole answer a total timeout (one loop timer per request), for a
        stream a read timeout (aiohttp re-arms it on every read, which a stream needs)."""
        seconds = max(1, math.ceil(timeout))
        t = self._timeouts.get((seconds, stream))
        if t is None:
            if len(self._timeouts) >= 64:
                self._timeouts.clear()
            connect = min(self._connect, seconds)
            ClientTimeout = self._aiohttp.ClientTimeout  # noqa: N806
            t = ClientTimeout(total=None, sock_connect=connect, sock_read=seconds) if stream else ClientTimeout(total=seconds, sock_connect=connect)
            self._timeouts[(seconds, stream)] = t
        return t

    async def post(
        self, url: str, content: bytes, timeout: float, headers: Mapping[str, str] | None = None, query: Query | None = None, *, stream: bool = False
    ) -> Reply:
        loop = asyncio.get_running_loop()
        session = self._session if self._loop is loop else self._open(loop)
        aiohttp = self._aiohttp
        try:
            resp = await session.post(url, data=content, headers=headers, params=query, timeout=self._timeout(timeout, stream))
        except TimeoutError as exc:
            raise ProviderTimeoutError(f"{type(exc).__name__} after {timeout:.2f}s") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise ConnectionFailedError(type(exc).__name__) from exc
        return _AiohttpReply(resp, aiohttp)

    async def aclose(self) -> None:
        session, self._session, self._loop = self._session, None, None
        if session is not None and not session.closed:
            await session.close()
