"""A fake LLM provider server with injectable faults, speaking three wire formats: OpenAI chat
completions, the Anthropic Messages API and the Gemini API.

A real HTTP/1.1 server (keep-alive, Content-Length, chunked request bodies) on plain asyncio
streams, run in a daemon thread with its own event loop, so both sync and async tests can use
it. Standard library only.

Endpoints (``/r/<route>`` may prefix the API ones to address a separate route)::

    POST /v1/chat/completions                       OpenAI chat.completion, or the route's fault
    GET  /v1/models                                 OpenAI model list
    POST /v1/messages                               Anthropic message
    POST /v1beta/models/<model>:generateContent     Gemini GenerateContentResponse (also /v1/)
    POST /v1beta/models/<model>:streamGenerateContent[?alt=sse]
    POST /_control/faults        {"route": R, "script": [fault, ...], "default": fault}
    POST /_control/reset         clears faults, counters and the request log
    GET  /_control/stats         {"total": N, "routes": {R: {"requests": n, "outcomes": {...}}}}

The route of a chat request is the ``/r/<route>`` prefix, else the model (the body's ``model``,
for Gemini the one in the URL; ``""`` when there is none). Faults are chosen per route: the next
scripted fault, else the route's default, else the ``"*"`` default, else success, and each is
rendered in the addressed API's shape (its error body, Retry-After or Gemini's RetryInfo, its
context-window message, its stream events). Fault JSON is documented in
``router.testing.faults``; the wire formats in ``router.testing.wire_*``.

With ``require_api_key(key)`` each API checks its own header: ``Authorization: Bearer`` (OpenAI),
``x-api-key`` (Anthropic), ``x-goog-api-key`` (Gemini), and answers a missing or wrong key as
that provider does (Gemini: 403 without a key, 400 "API key not valid" with a wrong one).

Streams (OpenAI and Anthropic ``"stream": true``, Gemini ``streamGenerateContent``) are answered
with a complete ``text/event-stream`` body sent at once with a Content-Length. Faults apply to
streaming requests too.

Request bodies and API keys are never logged or printed (the last body of each route is kept in
memory for ``last_body``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import struct
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, NamedTuple

from router.testing.faults import Fault
from router.testing.wire import Reply, Wire
from router.testing.wire_anthropic import AnthropicWire
from router.testing.wire_gemini import GeminiWire
from router.testing.wire_openai import OpenAIWire, error_body

__all__ = ["FakeProviderServer", "RequestRecord", "main"]

DEFAULT_CONTEXT_LIMIT = 128_000
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024
WILDCARD = "*"

_OPENAI, _ANTHROPIC, _GEMINI = OpenAIWire(), AnthropicWire(), GeminiWire()
_GEMINI_PATH = re.compile(r"/v1(?:beta)?/models/([^/:]+):(generateContent|streamGenerateContent)")

_REASONS = {
    100: "Continue", 200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    409: "Conflict", 413: "Payload Too Large", 422: "Unprocessable Entity",
    429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 529: "Site is overloaded",
}

class RequestRecord(NamedTuple):
    """One chat request as the fake provider answered it.

    ``outcome`` is the HTTP status for a success, a status fault or a rejected request
    (400 validation, 401 auth), else the fault kind (``"context_length"``, ``"invalid_json"``,
    ``"reset"``, ``"reset_mid_body"``, ``"truncate"``, ``"hang"``).
    """

    route: str
    model: str | None
    outcome: int | str
    t: float  # time.monotonic() when the request was fully read


class _BadRequest(Exception):
    """Malformed HTTP; answered with ``status`` and the connection is closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Request(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool
    query: str = ""


class _RouteState:
    """Faults and counters of one route."""

    __slots__ = ("script", "default", "requests", "outcomes", "last_headers", "last_body", "context_limit")

    def __init__(self) -> None:
        self.script: deque[Fault | None] = deque()
        self.default: Fault | None = None
        self.requests = 0
        self.outcomes: dict[str, int] = {}
        self.last_headers: dict[str, str] | None = None
        self.last_body: Any = None
        self.context_limit: int | None = None


class FakeProviderServer:
    """The fake provider; ``start()`` serves it from a daemon thread until ``stop()``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_size: int = 100_000,
        backlog: int = 4096,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._backlog = backlog
        self._lock = threading.Lock()
        self._routes: dict[str, _RouteState] = {}
        self._log: deque[RequestRecord] = deque(maxlen=log_size)
        self._api_key: str | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeProviderServer:
        """Start serving in a daemon thread (idempotent); returns ``self`` once listening."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._ready.clear()
        self._start_error = None
        self._thread = threading.Thread(target=self._run, name="fake-provider", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            self._thread.join()
            self._thread = None
            raise self._start_error
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if thread.is_alive():
            try:
                loop.call_soon_threadsafe(self._shutdown)
            except RuntimeError:  # loop already closed
                pass
            thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(
                    self._handle_connection,
                    self.host,
                    self._requested_port,
                    backlog=self._backlog,
                    limit=MAX_HEADER_BYTES,
                )
            )
            self._port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # reported to start()
            self._start_error = exc
            loop.close()
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(loop)
            if tasks:  # connections were aborted: give handlers a moment to see it
                loop.run_until_complete(asyncio.wait(tasks, timeout=0.5))
            tasks = {t for t in tasks if not t.done()}
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        assert self._loop is not None
        self._loop.stop()

    def __enter__(self) -> FakeProviderServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> FakeProviderServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- addresses ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The listening port (after ``start()``)."""
        if self._port is None:
            raise RuntimeError("the fake provider is not started")
        return self._port

    @property
    def base(self) -> str:
        """``http://HOST:PORT`` without a path."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI ``base_url``: ``http://HOST:PORT/v1``."""
        return f"{self.base}/v1"

    def url_for(self, route: str) -> str:
        """The OpenAI ``base_url`` of a separate route: ``http://HOST:PORT/r/<route>/v1``."""
        return f"{self.base_for(route)}/v1"

    def base_for(self, route: str) -> str:
        """The Anthropic / Gemini ``base_url`` of a separate route: ``http://HOST:PORT/r/<route>``."""
        if not route or "/" in route or route == WILDCARD:
            raise ValueError(f"invalid route name {route!r}")
        return f"{self.base}/r/{route}"

    # -- faults -------------------------------------------------------------------------

    def _route(self, route: str) -> _RouteState:
        state = self._routes.get(route)
        if state is None:
            state = self._routes[route] = _RouteState()
        return state

    def script(self, route: str, faults: Iterable[Fault | None]) -> None:
        """Queue faults for the next requests on ``route``, one per request (None = success)."""
        items = list(faults)
        with self._lock:
            self._route(route).script.extend(items)

    def set_default(self, route: str, fault: Fault | None) -> None:
        """Answer every unscripted request on ``route`` with ``fault`` (None = success).

        ``route="*"`` sets the default of routes that have none of their own.
        """
        with self._lock:
            self._route(route).default = fault

    def set_context_limit(self, route: str, tokens: int | None) -> None:
        """Answer 400 ``context_length_exceeded`` when the estimated prompt exceeds ``tokens``."""
        with self._lock:
            self._route(route).context_limit = tokens

    def require_api_key(self, key: str | None) -> None:
        """Require ``key`` on the API endpoints, in each API's own header (None = no auth)."""
        self._api_key = key

    def reset(self) -> None:
        """Clear faults, context limits, counters, last headers and the request log."""
        with self._lock:
            self._routes.clear()
            self._log.clear()

    def _next_fault(self, route: str) -> tuple[Fault, int | None]:
        with self._lock:
            state = self._route(route)
            if state.script:
                fault = state.script.popleft()
            elif state.default is not None:
                fault = state.default
            else:
                wildcard = self._routes.get(WILDCARD)
                fault = wildcard.default if wildcard is not None else None
            limit = state.context_limit
            if limit is None:
                wildcard = self._routes.get(WILDCARD)
                limit = wildcard.context_limit if wildcard is not None else None
        return (fault or Fault.ok()).resolve(), limit

    # -- observations -------------------------------------------------------------------

    def requests(self, route: str) -> int:
        """Chat requests received on ``route`` (counted once the request is fully read)."""
        with self._lock:
            state = self._routes.get(route)
            return state.requests if state is not None else 0

    @property
    def total_requests(self) -> int:
        """Chat requests received on all routes."""
        with self._lock:
            return sum(s.requests for s in self._routes.values())

    @property
    def request_log(self) -> list[RequestRecord]:
        """The most recent chat requests (at most ``log_size``), oldest first."""
        with self._lock:
            return list(self._log)

    def last_headers(self, route: str) -> dict[str, str] | None:
        """Headers (lower-case names) of the last chat request on ``route``, or None."""
        with self._lock:
            state = self._routes.get(route)
            if state is None or state.last_headers is None:
                return None
            return dict(state.last_headers)

    def last_body(self, route: str) -> Any:
        """The parsed JSON body of the last chat request on ``route`` (None if none or not JSON).
        Kept in memory for tests to inspect; never logged."""
        with self._lock:
            state = self._routes.get(route)
            return None if state is None else state.last_body

    def stats(self) -> dict[str, Any]:
        """``{"total": N, "routes": {route: {"requests": n, "outcomes": {outcome: n}}}}``."""
        with self._lock:
            routes = {
                name: {"requests": s.requests, "outcomes": dict(s.outcomes)}
                for name, s in sorted(self._routes.items())
                if s.requests
            }
        return {"total": sum(r["requests"] for r in routes.values()), "routes": routes}

    def _record(self, route: str, model: str | None, outcome: int | str, t: float) -> None:
        with self._lock:
            state = self._route(route)
            key = str(outcome)
            state.outcomes[key] = state.outcomes.get(key, 0) + 1
            self._log.append(RequestRecord(route, model, outcome, t))

    # -- HTTP ---------------------------------------------------------------------------

    async def _handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    request = await self._read_request(reader, writer)
                except _BadRequest as exc:
                    body = error_body(exc.message, "invalid_request_error")
                    self._write_json(writer, exc.status, body, keep_alive=False)
                    await writer.drain()
                    break
                if request is None:
                    break
                keep_open = await self._dispatch(request, reader, writer)
                if not keep_open or not request.keep_alive:
                    break
                await writer.drain()  # back-pressure against a client that does not read
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        except asyncio.CancelledError:  # server stopping: end quietly (asyncio logs cancelled
            pass  # connection tasks as errors)
        finally:
            self._writers.discard(writer)
            if not writer.transport.is_closing():
                writer.close()

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> _Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise _BadRequest(400, "incomplete request head") from None
            return None
        except asyncio.LimitOverrunError:
            raise _BadRequest(431, "request head too large") from None
        try:
            text = head.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
            raise _BadRequest(400, "undecodable request head") from None
        lines = text.split("\r\n")
        while lines and lines[0] == "":  # tolerate stray CRLF between requests
            lines.pop(0)
        parts = lines[0].split(" ") if lines else []
        if len(parts) != 3 or not parts[0].isalpha() or not parts[1].startswith("/"):
            raise _BadRequest(400, "malformed request line")
        method, target, version = parts
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise _BadRequest(400, "unsupported HTTP version")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip() or " " in name:
                raise _BadRequest(400, "malformed header line")
            headers[name.lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.1":
            keep_alive = "close" not in connection
        else:
            keep_alive = "keep-alive" in connection
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        transfer = headers.get("transfer-encoding", "").lower()
        if transfer:
            if transfer != "chunked":
                raise _BadRequest(501, "unsupported transfer-encoding")
            body = await self._read_chunked(reader)
        else:
            raw_length = headers.get("content-length", "0")
            if not raw_length.isdigit():
                raise _BadRequest(400, "invalid content-length")
            length = int(raw_length)
            if length > MAX_BODY_BYTES:
                raise _BadRequest(413, "request body too large")
            body = await reader.readexactly(length) if length else b""
        path, _, query = target.partition("?")
        return _Request(method.upper(), path, headers, body, keep_alive, query)

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size_text = size_line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise _BadRequest(400, "malformed chunk size") from None
            if size < 0:
                raise _BadRequest(400, "malformed chunk size")
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise _BadRequest(413, "request body too large")
            chunks.append(await reader.readexactly(size))
            if await reader.readexactly(2) != b"\r\n":
                raise _BadRequest(400, "malformed chunk")

    def _write_response(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        *,
        content_type: str = "application/json",
        headers: Sequence[tuple[str, str]] = (),
        keep_alive: bool = True,
        content_length: int | None = None,
    ) -> None:
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}",
            f"content-type: {content_type}",
            f"content-length: {len(body) if content_length is None else content_length}",
            f"x-request-id: req_{uuid.uuid4().hex}",
            "server: attune-fake-provider",
            f"connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        lines.extend(f"{name}: {value}" for name, value in headers)
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _write_json(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        payload: Any,
        *,
        headers: Sequence[tuple[str, str]] = (),
        keep_alive: bool = True,
    ) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        self._write_response(writer, status, body, headers=headers, keep_alive=keep_alive)

    async def _dispatch(
        self, request: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must not be reused."""
        path = request.path
        route: str | None = None
        if path.startswith("/r/"):
            route, sep, rest = path[3:].partition("/")
            if not route or not sep or route == WILDCARD:
                return self._not_found(writer, request)
            path = "/" + rest
        if path == "/v1/chat/completions":
            if request.method != "POST":
                return self._method_not_allowed(writer, request, "POST")
            return await self._chat(request, route, reader, writer, _OPENAI)
        if path == "/v1/messages":
            if request.method != "POST":
                return self._method_not_allowed(writer, request, "POST")
            return await self._chat(request, route, reader, writer, _ANTHROPIC)
        gemini = _GEMINI_PATH.fullmatch(path)
        if gemini is not None:
            if request.method != "POST":
                return self._method_not_allowed(writer, request, "POST")
            stream = None
            if gemini.group(2) == "streamGenerateContent":
                stream = "sse" if "alt=sse" in request.query.split("&") else "array"
            return await self._chat(request, route, reader, writer, _GEMINI, gemini.group(1), stream)
        if path == "/v1/models":
            if request.method != "GET":
                return self._method_not_allowed(writer, request, "GET")
            if not self._authorized(request):
                return self._unauthorized(writer, request)
            self._models(writer, request, route)
            return True
        if route is None and path.startswith("/_control/"):
            return self._control(request, path, writer)
        return self._not_found(writer, request)

    def _not_found(self, writer: asyncio.StreamWriter, request: _Request) -> bool:
        body = error_body(f"Unknown request URL: {request.method} {request.path}.",
                          "invalid_request_error", "unknown_url")
        self._write_json(writer, 404, body, keep_alive=request.keep_alive)
        return True

    def _method_not_allowed(
        self, writer: asyncio.StreamWriter, request: _Request, allowed: str
    ) -> bool:
        body = error_body(f"Method {request.method} not allowed; use {allowed}.",
                          "invalid_request_error")
        self._write_json(writer, 405, body, headers=[("allow", allowed)],
                         keep_alive=request.keep_alive)
        return True

    def _authorized(self, request: _Request, wire: Wire = _OPENAI) -> bool:
        key = self._api_key
        return key is None or wire.key_ok(request.headers, key)

    def _unauthorized(self, writer: asyncio.StreamWriter, request: _Request, wire: Wire = _OPENAI) -> bool:
        self._write_reply(writer, wire.unauthorized(request.headers), request.keep_alive)  # never echoes the key
        return True

    def _models(self, writer: asyncio.StreamWriter, request: _Request, route: str | None) -> None:
        with self._lock:
            names = sorted(n for n in self._routes if n and n != WILDCARD)
        if route is not None:
            names = [route]
        created = int(time.time())
        data = [{"id": n, "object": "model", "created": created, "owned_by": "fake-provider"}
                for n in (names or ["fake-model"])]
        self._write_json(writer, 200, {"object": "list", "data": data},
                         keep_alive=request.keep_alive)

    def _control(self, request: _Request, path: str, writer: asyncio.StreamWriter) -> bool:
        if path == "/_control/stats" and request.method == "GET":
            self._write_json(writer, 200, self.stats(), keep_alive=request.keep_alive)
            return True
        if path == "/_control/reset" and request.method == "POST":
            self.reset()
            self._write_json(writer, 200, {"ok": True}, keep_alive=request.keep_alive)
            return True
        if path == "/_control/faults" and request.method == "POST":
            try:
                payload = json.loads(request.body or b"null")
                if not isinstance(payload, dict):
                    raise ValueError("the body must be a JSON object")
                unknown = set(payload) - {"route", "script", "default", "context_limit"}
                if unknown:
                    raise ValueError(f"unknown field(s): {sorted(unknown)}")
                route = payload.get("route")
                if not isinstance(route, str) or not route:
                    raise ValueError("'route' must be a non-empty string")
                script = payload.get("script")
                if script is not None and not isinstance(script, list):
                    raise ValueError("'script' must be a list of faults")
                faults = [Fault.from_json(f) for f in script] if script is not None else None
                default = Fault.from_json(payload["default"]) if "default" in payload else None
                limit = payload.get("context_limit")
                if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
                    raise ValueError("'context_limit' must be an integer")
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                self._write_json(writer, 400, error_body(str(exc), "invalid_request_error"),
                                 keep_alive=request.keep_alive)
                return True
            if faults is not None:
                with self._lock:
                    self._route(route).script = deque(faults)
            if "default" in payload:
                self.set_default(route, default)
            if "context_limit" in payload:
                self.set_context_limit(route, limit)
            with self._lock:
                state = self._route(route)
                queued = len(state.script)
                current = state.default.to_json() if state.default is not None else None
            self._write_json(writer, 200, {"route": route, "scripted": queued, "default": current},
                             keep_alive=request.keep_alive)
            return True
        return self._not_found(writer, request)

    async def _chat(
        self,
        request: _Request,
        route: str | None,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        wire: Wire,
        path_model: str | None = None,
        stream: str | None = None,
    ) -> bool:
        """Answer one chat request in ``wire``'s format. ``path_model`` is the model named in the
        URL (Gemini); ``stream`` is set from the URL there, else from the body's ``stream``."""
        t = time.monotonic()
        keep_alive = request.keep_alive
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            payload = None
        model = path_model or (payload.get("model") if isinstance(payload, dict) else None)
        if not isinstance(model, str):
            model = None
        if route is None:
            route = model or ""
        with self._lock:
            state = self._route(route)
            state.requests += 1
            count = state.requests
            state.last_headers = dict(request.headers)
            state.last_body = payload

        if not self._authorized(request, wire):
            reply = wire.unauthorized(request.headers)
            self._record(route, model, reply.status, t)
            self._write_reply(writer, reply, keep_alive)
            return True
        if not isinstance(payload, dict):
            self._record(route, model, 400, t)
            self._write_reply(writer, wire.bad_request("We could not parse the JSON body of your request."), keep_alive)
            return True
        invalid = wire.invalid(payload)
        if invalid is not None:
            self._record(route, model, invalid.status, t)
            self._write_reply(writer, invalid, keep_alive)
            return True
        if path_model is None and payload.get("stream"):
            stream = "sse"

        fault, context_limit = self._next_fault(route)
        if fault.kind == "stream_error" and stream is None:
            fault = fault.as_status()
        prompt_tokens = wire.prompt_tokens(payload)
        if fault.kind == "ok" and context_limit is not None and prompt_tokens > context_limit:
            fault = Fault("context_length", delay_s=fault.delay_s)
        outcome: int | str
        if fault.kind == "status":
            assert fault.status_code is not None
            outcome = fault.status_code
        elif fault.kind == "ok":
            outcome = 200
        else:
            outcome = fault.kind
        self._record(route, model, outcome, t)

        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        kind = fault.kind
        if kind == "status":
            self._write_reply(writer, wire.status_error(fault), keep_alive)
            return True
        if kind == "context_length":
            limit = context_limit or DEFAULT_CONTEXT_LIMIT
            self._write_reply(writer, wire.context_error(limit, max(prompt_tokens, limit + 1), fault.message), keep_alive)
            return True
        if kind == "reset":
            self._abort(writer)
            return False
        if kind == "hang":
            await self._wait_for_close(reader)
            return False
        if kind == "invalid_json":
            self._write_response(writer, 200, wire.invalid_json, keep_alive=keep_alive)
            return True

        reply = wire.success(payload, model or "", count, prompt_tokens, stream, fault if kind == "stream_error" else None)
        if kind in ("ok", "stream_error"):
            self._write_reply(writer, reply, keep_alive)
            return True
        half = reply.body[: max(1, len(reply.body) // 2)]
        self._write_response(writer, 200, half, content_type=reply.content_type,
                             keep_alive=False, content_length=len(reply.body))
        await writer.drain()
        if kind == "reset_mid_body":
            await asyncio.sleep(0.005)  # let the partial response leave before the RST
            self._abort(writer)
        else:  # truncate: orderly close (FIN) after the short body
            writer.close()
        return False

    def _write_reply(self, writer: asyncio.StreamWriter, reply: Reply, keep_alive: bool) -> None:
        self._write_response(writer, reply.status, reply.body, content_type=reply.content_type,
                             headers=reply.headers, keep_alive=keep_alive)

    @staticmethod
    def _abort(writer: asyncio.StreamWriter) -> None:
        """Close with RST: SO_LINGER on with a zero timeout, then drop the transport."""
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        writer.transport.abort()

    @staticmethod
    async def _wait_for_close(reader: asyncio.StreamReader) -> None:
        """Discard input until the peer closes the connection."""
        while await reader.read(65536):
            pass


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attune fake-provider",
        description=(
            "Serve fake LLM APIs with injectable faults: OpenAI chat completions "
            "(/v1/chat/completions), Anthropic Messages (/v1/messages) and Gemini "
            "(/v1beta/models/MODEL:generateContent). Inject faults at run time with "
            "POST /_control/faults; read counts at GET /_control/stats."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one")
    parser.add_argument("--error-rate", type=float, default=0.0, metavar="F",
                        help="fraction of chat requests answered with --error-status (0..1)")
    parser.add_argument("--error-status", type=int, default=503, metavar="CODE",
                        help="HTTP status of injected errors (default 503)")
    parser.add_argument("--latency-ms", type=float, default=0.0, metavar="MS",
                        help="added latency of every chat response")
    parser.add_argument("--seed", type=int, default=None, help="seed of the error draws")
    parser.add_argument("--require-key", metavar="ENV_VAR", default=None,
                        help="require the key read from ENV_VAR ('Authorization: Bearer', "
                             "'x-api-key' or 'x-goog-api-key', per API)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``attune fake-provider``: serve until interrupted (Ctrl-C); returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if not 0.0 <= args.error_rate <= 1.0:
        parser.error("--error-rate must be between 0 and 1")
    if not 400 <= args.error_status <= 599:
        parser.error("--error-status must be a 4xx or 5xx code")
    if args.latency_ms < 0:
        parser.error("--latency-ms must be >= 0")
    server = FakeProviderServer(host=args.host, port=args.port)
    if args.require_key:
        key = os.environ.get(args.require_key)
        if not key:
            parser.error(f"environment variable {args.require_key} is not set or empty")
        server.require_api_key(key)
    default: Fault | None = None
    if args.error_rate > 0:
        default = Fault.error_rate(args.error_rate, [Fault.status(args.error_status)],
                                   seed=args.seed)
    if args.latency_ms > 0:
        default = (default or Fault.ok()).with_delay(args.latency_ms / 1000.0)
    server.set_default(WILDCARD, default)
    try:
        server.start()
    except OSError as exc:
        print(f"fake provider: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"fake provider listening on {server.url}", flush=True)
    print(f"  Anthropic base_url {server.base}, Gemini base_url {server.base}", flush=True)
    stop = threading.Event()
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
