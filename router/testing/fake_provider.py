"""A fake LLM provider server with injectable faults, as strict as the real APIs, speaking four
wire formats: OpenAI chat completions (and embeddings, models), Azure OpenAI deployments, the
Anthropic Messages API and the Gemini API.

A real HTTP/1.1 server (``router.testing.http11``) on plain asyncio streams, run in a daemon
thread with its own event loop, so both sync and async tests can use it. Standard library only.

Endpoints (``/r/<route>`` may prefix the API ones to address a separate route)::

    POST /v1/chat/completions                       OpenAI chat.completion, or the route's fault
    POST /v1/embeddings                             OpenAI embedding list
    GET  /v1/models                                 OpenAI model list
    POST /openai/deployments/<name>/chat/completions?api-version=V    Azure OpenAI (also embeddings)
    POST /v1/messages                               Anthropic message
    POST /v1beta/models/<model>:generateContent     Gemini GenerateContentResponse (also /v1/)
    POST /v1beta/models/<model>:streamGenerateContent[?alt=sse]
    /_control/...                                   see ``router.testing.control``

The route of a request is the ``/r/<route>`` prefix, else the model (the body's ``model``; for
Gemini the one in the URL, for Azure the deployment; ``""`` when there is none). Faults are
chosen per route: the next scripted fault, else the route's default, else the ``"*"`` default,
else success, and each is rendered in the addressed API's shape (``router.testing.faults``, the
wire formats in ``router.testing.wire_*``).

Strict like the real APIs: a body with an unknown top-level key, a value of the wrong type or a
missing required field is answered with that provider's own 400 (``router.testing.wire_*``'s
``invalid``), so a test catches what production would reject. With ``require_api_key(key)``
each API checks its own header (``Authorization: Bearer``, ``api-key``, ``x-api-key``,
``x-goog-api-key``) and answers a missing or wrong key as that provider does.

Every API request is recorded as it arrived (method, path, query string, headers, parsed body:
``recordings()``, ``last_request(route)``), in memory only, never logged or printed. Streams
are sent event by event with chunked transfer encoding; a fault's ``gap`` spaces the events and
``Fault.stall(after=n)`` stops a stream after ``n`` events.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

from router.testing import http11
from router.testing.control import handle_control
from router.testing.faults import Fault
from router.testing.http11 import HTTPRequest
from router.testing.routes import WILDCARD, RecordedRequest, RequestRecord, RouteTable
from router.testing.serving import ThreadedServer
from router.testing.wire import Reply, Wire
from router.testing.wire_anthropic import AnthropicWire
from router.testing.wire_azure import AzureWire
from router.testing.wire_gemini import GeminiWire
from router.testing.wire_openai import OpenAIWire, error_body

__all__ = ["FakeProviderServer", "RecordedRequest", "RequestRecord"]

DEFAULT_CONTEXT_LIMIT = 128_000

_ANTHROPIC, _GEMINI = AnthropicWire(), GeminiWire()
_GEMINI_PATH = re.compile(r"/v1(?:beta)?/models/([^/:]+):(generateContent|streamGenerateContent)")
_AZURE_PATH = re.compile(r"/openai/deployments/([^/]+)/(chat/completions|embeddings)")


class FakeProviderServer(ThreadedServer):
    """The fake provider; ``start()`` serves it from a daemon thread until ``stop()``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_size: int = 100_000,
        backlog: int = 4096,
        recording_size: int = 1000,
        deterministic: bool = False,
    ) -> None:
        """``deterministic``: OpenAI and Azure answers get ids from the route's request count and a
        fixed ``created``, so the same request after ``reset()`` gets the same answer."""
        super().__init__(host, port, backlog=backlog)
        self._openai, self._azure = OpenAIWire(deterministic=deterministic), AzureWire(deterministic=deterministic)
        self._table = RouteTable(log_size=log_size, recording_size=recording_size)
        self._api_key: str | None = None

    # -- addresses ----------------------------------------------------------------------

    def url_for(self, route: str) -> str:
        """The OpenAI ``base_url`` of a separate route: ``http://HOST:PORT/r/<route>/v1``."""
        return f"{self.base_for(route)}/v1"

    def base_for(self, route: str) -> str:
        """The Anthropic / Gemini / Azure ``base_url`` of a separate route: ``http://HOST:PORT/r/<route>``."""
        if not route or "/" in route or route == WILDCARD:
            raise ValueError(f"invalid route name {route!r}")
        return f"{self.base}/r/{route}"

    # -- faults -------------------------------------------------------------------------

    def script(self, route: str, faults: Iterable[Fault | None]) -> None:
        """Queue faults for the next requests on ``route``, one per request (None = success)."""
        self._table.script(route, faults)

    def set_default(self, route: str, fault: Fault | None) -> None:
        """Answer every unscripted request on ``route`` with ``fault`` (None = success).

        ``route="*"`` sets the default of routes that have none of their own.
        """
        self._table.set_default(route, fault)

    def set_context_limit(self, route: str, tokens: int | None) -> None:
        """Answer 400 ``context_length_exceeded`` when the estimated prompt exceeds ``tokens``."""
        self._table.set_context_limit(route, tokens)

    def require_api_key(self, key: str | None) -> None:
        """Require ``key`` on the API endpoints, in each API's own header (None = no auth)."""
        self._api_key = key

    def reset(self) -> None:
        """Clear faults, context limits, counters, recordings and the request log."""
        self._table.reset()

    # -- observations -------------------------------------------------------------------

    def requests(self, route: str) -> int:
        """Chat and embedding requests received on ``route`` (counted once fully read)."""
        return self._table.requests(route)

    @property
    def total_requests(self) -> int:
        """Chat and embedding requests received on all routes."""
        return self._table.total_requests()

    @property
    def request_log(self) -> list[RequestRecord]:
        """The most recent chat requests (at most ``log_size``), oldest first."""
        return self._table.request_log()

    def recordings(self, route: str | None = None) -> list[RecordedRequest]:
        """The most recent API requests (at most ``recording_size``) as they arrived, oldest
        first; only ``route``'s when given."""
        return self._table.recordings(route)

    def last_request(self, route: str) -> RecordedRequest | None:
        """The last API request on ``route`` as it arrived, or None."""
        return self._table.last(route)

    def last_headers(self, route: str) -> dict[str, str] | None:
        """Headers (lower-case names) of the last API request on ``route``, or None."""
        last = self._table.last(route)
        return None if last is None else dict(last.headers)

    def last_body(self, route: str) -> Any:
        """The parsed JSON body of the last API request on ``route`` (None if none or not JSON).
        Kept in memory for tests to inspect; never logged."""
        last = self._table.last(route)
        return None if last is None else last.body

    def stats(self) -> dict[str, Any]:
        """``{"total": N, "routes": {route: {"requests": n, "outcomes": {outcome: n}}}}``."""
        return self._table.stats()

    # -- HTTP ---------------------------------------------------------------------------

    async def _handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    request = await http11.read_request(reader, writer)
                except http11.BadRequest as exc:
                    self._write_json(writer, exc.status, error_body(exc.message, "invalid_request_error"), keep_alive=False)
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

    def _write_json(
        self, writer: asyncio.StreamWriter, status: int, payload: Any, *, headers: Sequence[tuple[str, str]] = (), keep_alive: bool = True
    ) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        http11.write_response(writer, status, body, headers=headers, keep_alive=keep_alive)

    async def _dispatch(self, request: HTTPRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must not be reused."""
        path = request.path
        route: str | None = None
        if path.startswith("/r/"):
            route, sep, rest = path[3:].partition("/")
            if not route or not sep or route == WILDCARD:
                return self._not_found(writer, request)
            path = "/" + rest
        endpoint = self._endpoint(path, request.query)
        if endpoint is not None:
            wire, method, path_model, stream, embeddings = endpoint
            if request.method != method:
                return self._method_not_allowed(writer, request, method)
            if method == "GET":
                return self._models(request, route, writer)
            call = _Call(request, route, wire, path_model, stream, embeddings)
            return await self._chat(call, reader, writer)
        if route is None and path.startswith("/_control/"):
            answer = handle_control(self._table, request.method, path, request.body)
            if answer is not None:
                self._write_json(writer, answer[0], answer[1], keep_alive=request.keep_alive)
                return True
        return self._not_found(writer, request)

    def _endpoint(self, path: str, query: str) -> tuple[Wire, str, str | None, str | None, bool] | None:
        """``(wire, method, model in the path, stream mode, embeddings?)`` of an API path, else None."""
        if path in ("/v1/chat/completions", "/v1/embeddings", "/v1/models"):
            return self._openai, "GET" if path == "/v1/models" else "POST", None, None, path == "/v1/embeddings"
        if path == "/v1/messages":
            return _ANTHROPIC, "POST", None, None, False
        azure = _AZURE_PATH.fullmatch(path)
        if azure is not None:
            return self._azure, "POST", azure.group(1), None, azure.group(2) == "embeddings"
        gemini = _GEMINI_PATH.fullmatch(path)
        if gemini is not None:
            stream = None
            if gemini.group(2) == "streamGenerateContent":
                stream = "sse" if "alt=sse" in query.split("&") else "array"
            return _GEMINI, "POST", gemini.group(1), stream, False
        return None

    def _not_found(self, writer: asyncio.StreamWriter, request: HTTPRequest) -> bool:
        body = error_body(f"Unknown request URL: {request.method} {request.path}.", "invalid_request_error", "unknown_url")
        self._write_json(writer, 404, body, keep_alive=request.keep_alive)
        return True

    def _method_not_allowed(self, writer: asyncio.StreamWriter, request: HTTPRequest, allowed: str) -> bool:
        body = error_body(f"Method {request.method} not allowed; use {allowed}.", "invalid_request_error")
        self._write_json(writer, 405, body, headers=[("allow", allowed)], keep_alive=request.keep_alive)
        return True

    def _models(self, request: HTTPRequest, route: str | None, writer: asyncio.StreamWriter) -> bool:
        self._table.record_request(_recorded(request, route or "", None), chat=False)
        if self._api_key is not None and not self._openai.key_ok(request.headers, self._api_key):
            self._write_reply(writer, self._openai.unauthorized(request.headers), request.keep_alive)  # never echoes the key
            return True
        names = [route] if route is not None else self._table.route_names()
        created = int(time.time())
        data = [{"id": n, "object": "model", "created": created, "owned_by": "fake-provider"} for n in (names or ["fake-model"])]
        self._write_json(writer, 200, {"object": "list", "data": data}, keep_alive=request.keep_alive)
        return True

    async def _chat(self, call: _Call, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one chat (or embedding) request in its wire's format."""
        request, wire = call.request, call.wire
        t = time.monotonic()
        payload = _json(request.body)
        model = call.path_model or (payload.get("model") if isinstance(payload, dict) else None)
        model = model if isinstance(model, str) else None
        route = call.route if call.route is not None else model or ""
        count = self._table.record_request(_recorded(request, route, payload), chat=True)
        rejected = self._reject(call, payload)
        if rejected is not None:
            self._table.record_outcome(route, model, rejected.status, t)
            self._write_reply(writer, rejected, request.keep_alive)
            return True
        assert isinstance(payload, dict)
        stream = call.stream or ("sse" if call.wire is not _GEMINI and payload.get("stream") else None)
        fault, context_limit = self._table.next_fault(route)
        if fault.kind in ("stream_error", "stall") and stream is None:
            fault = fault.as_status() if fault.kind == "stream_error" else Fault.hang().with_delay(fault.delay_s)
        prompt_tokens = wire.prompt_tokens(payload) if not call.embeddings else wire.embedding_tokens(payload)
        if fault.kind == "ok" and context_limit is not None and prompt_tokens > context_limit:
            fault = Fault("context_length", delay_s=fault.delay_s)
        self._table.record_outcome(route, model, _outcome(fault), t)
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.kind in ("ok", "stream_error", "stall", "reset_mid_body", "truncate"):
            if call.embeddings:
                reply = wire.embedding(payload, model or "", prompt_tokens)
            else:
                reply = wire.success(payload, model or "", count, prompt_tokens, stream, fault if fault.kind == "stream_error" else None)
            return await self._answer(reply, fault, reader, writer, request.keep_alive)
        return await self._fail(wire, fault, context_limit, prompt_tokens, reader, writer, request.keep_alive)

    def _reject(self, call: _Call, payload: Any) -> Reply | None:
        """The provider's answer to a bad key or a body it would refuse, else None."""
        wire, headers = call.wire, call.request.headers
        if self._api_key is not None and not wire.key_ok(headers, self._api_key):
            return wire.unauthorized(headers)
        missing = wire.missing_query(call.request.query_params)
        if missing is not None:
            return missing
        if not isinstance(payload, dict):
            return wire.bad_request("We could not parse the JSON body of your request.")
        return wire.invalid_embedding(payload) if call.embeddings else wire.invalid(payload)

    async def _fail(
        self, wire: Wire, fault: Fault, limit: int | None, tokens: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, keep_alive: bool
    ) -> bool:
        kind = fault.kind
        if kind == "status":
            self._write_reply(writer, wire.status_error(fault), keep_alive)
            return True
        if kind == "context_length":
            limit = limit or DEFAULT_CONTEXT_LIMIT
            self._write_reply(writer, wire.context_error(limit, max(tokens, limit + 1), fault.message), keep_alive)
            return True
        if kind == "invalid_json":
            http11.write_response(writer, 200, wire.invalid_json, keep_alive=keep_alive)
            return True
        if kind == "reset":
            http11.abort(writer)
        else:  # hang
            await http11.wait_for_close(reader)
        return False

    async def _answer(self, reply: Reply, fault: Fault, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, keep_alive: bool) -> bool:
        """Send a successful reply: whole, event by event, stalled, or cut short."""
        kind = fault.kind
        if kind in ("reset_mid_body", "truncate"):
            half = reply.body[: max(1, len(reply.body) // 2)]
            http11.write_response(writer, 200, half, content_type=reply.content_type, keep_alive=False, content_length=len(reply.body))
            await writer.drain()
            if kind == "reset_mid_body":
                await asyncio.sleep(0.005)  # let the partial response leave before the RST
                http11.abort(writer)
            else:  # truncate: orderly close (FIN) after the short body
                writer.close()
            return False
        if not reply.events:
            self._write_reply(writer, reply, keep_alive)
            return True
        http11.write_chunked_head(writer, reply.status, content_type=reply.content_type, headers=reply.headers, keep_alive=keep_alive)
        for i, event in enumerate(reply.events):
            if kind == "stall" and i >= fault.after:
                await writer.drain()
                await http11.wait_for_close(reader)
                return False
            if i and fault.gap_s:
                await writer.drain()
                await asyncio.sleep(fault.gap_s)
            http11.write_chunk(writer, event)
        http11.write_chunk(writer, b"")
        return True

    def _write_reply(self, writer: asyncio.StreamWriter, reply: Reply, keep_alive: bool) -> None:
        http11.write_response(writer, reply.status, reply.body, content_type=reply.content_type, headers=reply.headers, keep_alive=keep_alive)


class _Call:
    """One API request and what its URL says: the wire, the model in the path, the stream mode."""

    __slots__ = ("request", "route", "wire", "path_model", "stream", "embeddings")

    def __init__(self, request: HTTPRequest, route: str | None, wire: Wire, path_model: str | None, stream: str | None, embeddings: bool) -> None:
        self.request, self.route, self.wire = request, route, wire
        self.path_model, self.stream, self.embeddings = path_model, stream, embeddings


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _recorded(request: HTTPRequest, route: str, payload: Any) -> RecordedRequest:
    return RecordedRequest(route, request.method, request.path, request.query, dict(request.headers), payload, request.body)


def _outcome(fault: Fault) -> int | str:
    if fault.kind == "status":
        assert fault.status_code is not None
        return fault.status_code
    return 200 if fault.kind == "ok" else fault.kind

