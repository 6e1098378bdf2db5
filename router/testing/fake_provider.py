"""A fake OpenAI-compatible chat-completions server with injectable faults.

A real HTTP/1.1 server (keep-alive, Content-Length, chunked request bodies) on plain asyncio
streams, run in a daemon thread with its own event loop, so both sync and async tests can use
it. Standard library only.

Endpoints (``/r/<route>`` may prefix the ``/v1`` ones to address a separate route)::

    POST /v1/chat/completions    chat.completion object, or the route's fault
    GET  /v1/models              model list
    POST /_control/faults        {"route": R, "script": [fault, ...], "default": fault}
    POST /_control/reset         clears faults, counters and the request log
    GET  /_control/stats         {"total": N, "routes": {R: {"requests": n, "outcomes": {...}}}}

The route of a chat request is the ``/r/<route>`` prefix, else the body's ``model`` (``""``
when the body is not valid JSON). Faults are chosen per route: the next scripted fault, else
the route's default, else the ``"*"`` default, else success. Fault JSON is documented in
``router.testing.faults``.

``"stream": true`` is answered with a complete ``text/event-stream`` body (role chunk, content
chunk, finish chunk, a usage chunk when ``stream_options.include_usage`` is set, then
``data: [DONE]``) sent at once with a Content-Length. Faults apply to streaming requests too.

Request bodies and API keys are never logged or printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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

__all__ = ["FakeProviderServer", "RequestRecord", "main"]

DEFAULT_COMPLETION_TOKENS = 8
DEFAULT_CONTEXT_LIMIT = 128_000
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024
WILDCARD = "*"

_REASONS = {
    100: "Continue", 200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    409: "Conflict", 413: "Payload Too Large", 422: "Unprocessable Entity",
    429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 529: "Site is overloaded",
}

# (type, code, message) of the OpenAI-shaped error body for a status fault.
_ERROR_SHAPES: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", None, "You are not allowed to access this resource."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    408: ("timeout", None, "Request timed out."),
    409: ("invalid_request_error", None, "Conflict."),
    422: ("invalid_request_error", None, "Unprocessable request."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
    529: ("overloaded_error", None, "Overloaded."),
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


class _RouteState:
    """Faults and counters of one route."""

    __slots__ = ("script", "default", "requests", "outcomes", "last_headers", "context_limit")

    def __init__(self) -> None:
        self.script: deque[Fault | None] = deque()
        self.default: Fault | None = None
        self.requests = 0
        self.outcomes: dict[str, int] = {}
        self.last_headers: dict[str, str] | None = None
        self.context_limit: int | None = None


def error_body(
    message: str, type_: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """An OpenAI error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _estimate_prompt_tokens(messages: Any) -> int:
    """About one token per four characters of message text, at least 1."""
    chars = 0
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, dict):
                continue
            content = message.get("content")
            if isinstance(content, str):
                chars += len(content)
            elif isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        chars += len(part["text"])
    return max(1, chars // 4)


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
        """The ``base_url`` of a separate route: ``http://HOST:PORT/r/<route>/v1``."""
        if not route or "/" in route or route == WILDCARD:
            raise ValueError(f"invalid route name {route!r}")
        return f"{self.base}/r/{route}/v1"

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
        """Require ``Authorization: Bearer <key>`` on ``/v1`` endpoints (None = no auth)."""
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
        path = target.split("?", 1)[0]
        return _Request(method.upper(), path, headers, body, keep_alive)

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
            return await self._chat(request, route, reader, writer)
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

    def _authorized(self, request: _Request) -> bool:
        key = self._api_key
        return key is None or request.headers.get("authorization") == f"Bearer {key}"

    def _unauthorized(self, writer: asyncio.StreamWriter, request: _Request) -> bool:
        if "authorization" not in request.headers:
            message = ("You didn't provide an API key. You need to provide your API key in an "
                       "Authorization header using Bearer auth.")
            code = None
        else:
            message = "Incorrect API key provided."  # never echo the key
            code = "invalid_api_key"
        body = error_body(message, "invalid_request_error", code)
        self._write_json(writer, 401, body, keep_alive=request.keep_alive)
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
    ) -> bool:
        t = time.monotonic()
        keep_alive = request.keep_alive
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            payload = None
        model = payload.get("model") if isinstance(payload, dict) else None
        if not isinstance(model, str):
            model = None
        if route is None:
            route = model or ""
        with self._lock:
            state = self._route(route)
            state.requests += 1
            count = state.requests
            state.last_headers = dict(request.headers)

        if not self._authorized(request):
            self._record(route, model, 401, t)
            return self._unauthorized(writer, request)
        if not isinstance(payload, dict):
            self._record(route, model, 400, t)
            body = error_body("We could not parse the JSON body of your request.",
                              "invalid_request_error")
            self._write_json(writer, 400, body, keep_alive=keep_alive)
            return True
        problem = self._validate(payload)
        if problem is not None:
            self._record(route, model, 400, t)
            self._write_json(writer, 400, error_body(problem[1], "invalid_request_error",
                                                     None, problem[0]), keep_alive=keep_alive)
            return True

        fault, context_limit = self._next_fault(route)
        prompt_tokens = _estimate_prompt_tokens(payload["messages"])
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
            self._write_status_fault(writer, fault, keep_alive)
            return True
        if kind == "context_length":
            limit = context_limit or DEFAULT_CONTEXT_LIMIT
            message = fault.message or (
                f"This model's maximum context length is {limit} tokens. However, your "
                f"messages resulted in {max(prompt_tokens, limit + 1)} tokens. Please reduce "
                "the length of the messages."
            )
            body = error_body(message, "invalid_request_error", "context_length_exceeded",
                              "messages")
            self._write_json(writer, 400, body, keep_alive=keep_alive)
            return True
        if kind == "reset":
            self._abort(writer)
            return False
        if kind == "hang":
            await self._wait_for_close(reader)
            return False
        if kind == "invalid_json":
            self._write_response(writer, 200, b'{"id": "chatcmpl-broken", "choices": [{',
                                 keep_alive=keep_alive)
            return True

        body, content_type = self._success_body(payload, model, count, prompt_tokens)
        if kind == "ok":
            self._write_response(writer, 200, body, content_type=content_type,
                                 keep_alive=keep_alive)
            return True
        half = body[: max(1, len(body) // 2)]
        self._write_response(writer, 200, half, content_type=content_type,
                             keep_alive=False, content_length=len(body))
        await writer.drain()
        if kind == "reset_mid_body":
            await asyncio.sleep(0.005)  # let the partial response leave before the RST
            self._abort(writer)
        else:  # truncate: orderly close (FIN) after the short body
            writer.close()
        return False

    @staticmethod
    def _validate(payload: dict[str, Any]) -> tuple[str, str] | None:
        """(param, message) of the first invalid parameter, or None."""
        if not isinstance(payload.get("model"), str) or not payload["model"]:
            return "model", "you must provide a model parameter"
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages", "'messages' must be a non-empty array"
        if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
            return "messages", "each message must be an object with a 'role'"
        for key in ("max_tokens", "max_completion_tokens"):
            value = payload.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 1):
                return key, f"'{key}' must be a positive integer"
        return None

    def _write_status_fault(self, writer: asyncio.StreamWriter, fault: Fault,
                            keep_alive: bool) -> None:
        status = fault.status_code
        assert status is not None
        default_type = "invalid_request_error" if status < 500 else "server_error"
        type_, code, message = _ERROR_SHAPES.get(status, (default_type, None, f"Error {status}."))
        headers = list(fault.headers)
        if fault.retry_after is not None:
            headers.append(("retry-after", fault.retry_after))
        if fault.retry_after_ms is not None:
            headers.append(("retry-after-ms", str(fault.retry_after_ms)))
        body = error_body(fault.message or message, type_, fault.code_str or code)
        self._write_json(writer, status, body, headers=headers, keep_alive=keep_alive)

    @staticmethod
    def _success_body(
        payload: dict[str, Any], model: str | None, count: int, prompt_tokens: int
    ) -> tuple[bytes, str]:
        max_tokens = payload.get("max_completion_tokens") or payload.get("max_tokens")
        completion_tokens = max_tokens if isinstance(max_tokens, int) else DEFAULT_COMPLETION_TOKENS
        content = f"ok: {count}"
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if not payload.get("stream"):
            body = {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }],
                "usage": usage,
            }
            return json.dumps(body, separators=(",", ":")).encode(), "application/json"
        base = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                "model": model, "system_fingerprint": "fp_fake"}
        deltas: list[tuple[dict[str, Any], str | None]] = [
            ({"role": "assistant", "content": ""}, None),
            ({"content": content}, None),
            ({}, "stop"),
        ]
        options = payload.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        events = []
        for delta, finish in deltas:
            chunk = dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None,
                                         "finish_reason": finish}])
            if include_usage:
                chunk["usage"] = None
            events.append(chunk)
        if include_usage:
            events.append(dict(base, choices=[], usage=usage))
        text = "".join(f"data: {json.dumps(e, separators=(',', ':'))}\n\n" for e in events)
        return (text + "data: [DONE]\n\n").encode(), "text/event-stream; charset=utf-8"

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
            "Serve a fake OpenAI-compatible chat-completions API with injectable faults. "
            "Inject faults at run time with POST /_control/faults; read counts at "
            "GET /_control/stats."
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
                        help="require 'Authorization: Bearer <key>', the key read from ENV_VAR")
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
