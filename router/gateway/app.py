"""The gateway's HTTP application (aiohttp.web): OpenAI's routes, and Anthropic's Messages
route (``POST /v1/messages``, ``router.gateway.messages*``), in front of the router.

Every request needs a key (``Authorization: Bearer``, or ``x-api-key`` on the Messages
route); ``model`` names a tier or deployment as in the library; ``x-attune-task-type`` (or ``metadata.task_type``) sets the task type and
the other string entries of ``metadata`` become record tags. Answers carry
``x-attune-deployment``, ``x-attune-fallback-used``, ``x-attune-retry-count`` and
``x-request-id`` (the call id). Each route answers refusals in its own wire's error shape
(a "front": ``wire.OPENAI``, ``messages_reply.ANTHROPIC``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from router.errors import InvalidRequestError, RoutingError
from router.gateway.access import KEY_TAG, Access, Denied
from router.gateway.messages import to_chat_call
from router.gateway.messages_reply import ANTHROPIC, AnthropicFront, message_from
from router.gateway.messages_stream import send_stream
from router.gateway.metrics import GatewayMetrics
from router.gateway.wire import OPENAI, OpenAIFront, dumps, retry_after_for, routing_error_status, to_wire

__all__ = ["Gateway"]

log = logging.getLogger("attune.gateway")

_JSON = "application/json"
Front = OpenAIFront | AnthropicFront  # how a route takes a key and words its refusals
MESSAGES_PATH = "/v1/messages"


class Gateway:
    """Holds the client, the access rules and the counters; ``app()`` builds the aiohttp app."""

    def __init__(self, client: Any, access: Access, settings: Any, *, router_metrics: Any = None) -> None:
        self.client = client
        self.router = client.router
        self.access = access
        self.settings = settings
        self.metrics = GatewayMetrics()
        self.router_metrics = router_metrics  # router.prometheus.PrometheusMetrics, or None
        self.in_flight = 0
        self.draining = False
        self.ready = False

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_bytes, middlewares=[self._errors])
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_post(MESSAGES_PATH, self.messages)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics_page)
        return app

    # -- the middleware: every refusal in the error shape of the route's wire -------------
    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        t0 = time.perf_counter()
        front: Front = ANTHROPIC if request.path == MESSAGES_PATH else OPENAI
        try:
            resp = await handler(request)
        except Denied as d:
            resp = _error(*front.denied(d.status, d.type, d.code, d.message, d.param), d.retry_after)
        except web.HTTPException as exc:  # aiohttp's own: 404 route, 405, 413 body too large
            resp = _error(*front.http_error(exc.status, exc.reason or "error"))
        except Exception:  # noqa: BLE001 - never a raw traceback to a client
            log.exception("gateway error on %s", request.path)
            resp = _error(*front.http_error(500, "internal gateway error"))
        self.metrics.request(request.path, resp.status, time.perf_counter() - t0)
        return resp

    # -- routes -----------------------------------------------------------------------
    async def chat(self, request: web.Request) -> web.StreamResponse:
        key, body, model = await self._routed_request(request, OPENAI)
        task_type, tags = _task_and_tags(request, body, key.name)
        stream = bool(body.get("stream"))  # left in the body: an explicit false is sent upstream as the SDK sent it
        self._enter()
        try:
            resp = await self._route(OPENAI, self.client.chat.completions.create, key, model, task_type=task_type, tags=tags, **body)
            if isinstance(resp, web.Response):
                return resp
            if stream:
                return await self._stream(request, resp)
            return web.Response(body=dumps(to_wire(resp)), content_type=_JSON, headers=_routing_headers(resp))
        finally:
            self.in_flight -= 1

    async def messages(self, request: web.Request) -> web.StreamResponse:
        """Anthropic's Messages API: the body checked and translated (``router.gateway.messages``),
        routed as a chat completion, answered as a ``Message`` or its event stream."""
        key, body, model = await self._routed_request(request, ANTHROPIC)
        task_type, tags = _task_and_tags(request, body, key.name)
        call = to_chat_call(body)
        self._enter()
        try:
            resp = await self._route(ANTHROPIC, self.client.chat.completions.create, key, model, task_type=task_type, tags=tags, **call)
            if isinstance(resp, web.Response):
                return resp
            headers = {**_routing_headers(resp), **ANTHROPIC.call_headers(resp.call_id)}
            if call.get("stream"):
                return await send_stream(request, resp, headers)
            return web.Response(body=dumps(message_from(to_wire(resp), resp.call_id)), content_type=_JSON, headers=headers)
        finally:
            self.in_flight -= 1

    async def embeddings(self, request: web.Request) -> web.StreamResponse:
        key, body, model = await self._routed_request(request, OPENAI)
        task_type, tags = _task_and_tags(request, body, key.name, default="embedding")
        embeddings = getattr(self.client, "embeddings", None)
        if embeddings is None:
            raise Denied(404, "invalid_request_error", "unsupported", "this gateway's client does not route embeddings")
        self._enter()
        try:
            resp = await self._route(OPENAI, embeddings.create, key, model, task_type=task_type, tags=tags, **body)
            if isinstance(resp, web.Response):
                return resp
            return web.Response(body=dumps(to_wire(resp)), content_type=_JSON, headers=_routing_headers(resp))
        finally:
            self.in_flight -= 1

    async def models(self, request: web.Request) -> web.Response:
        key = await self.access.authenticate(request.headers.get("Authorization"))
        listing = to_wire(await self.client.models.list())
        listing["data"] = [m for m in listing["data"] if key.allows(m["id"])]
        return web.Response(body=dumps(listing), content_type=_JSON)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ok"}', content_type=_JSON)

    async def readyz(self, request: web.Request) -> web.Response:
        checks = self.readiness()
        ok = self.ready and not self.draining
        body = {"status": "ready" if ok else ("draining" if self.draining else "starting"), **checks}
        return web.Response(status=200 if ok else 503, body=dumps(body), content_type=_JSON)

    async def metrics_page(self, request: web.Request) -> web.Response:
        text = self.metrics.render(in_flight=self.in_flight, router=self.router)
        if self.router_metrics is not None:  # calls, tokens, fallbacks, breaker transitions
            text += self.router_metrics.render()[0].decode()
        return web.Response(text=text, content_type="text/plain", charset="utf-8", headers={"X-Content-Type-Options": "nosniff"})

    # -- pieces -----------------------------------------------------------------------
    async def _routed_request(self, request: web.Request, front: Front) -> tuple[Any, dict[str, Any], str]:
        """The caller's key, the JSON body without ``model``, and the model the key may use."""
        key = await self.access.authenticate(*front.credentials(request.headers))
        body = await self._json_body(request, front.reserved)
        model = body.pop("model", None)
        if not isinstance(model, str) or not model:
            raise Denied(400, "invalid_request_error", None, "'model' must be a tier or deployment name", param="model")
        self.access.check_model(key, model)
        return key, body, model

    def readiness(self) -> dict[str, str]:
        tel = self.router.telemetry
        telemetry = "off"
        if tel is not None:
            stats = getattr(tel, "stats", None)
            telemetry = "ok" if stats is None or getattr(stats, "db_available", True) else "degraded"
        shared = self.router.shared_state
        shared_state = "off" if shared is None else ("ok" if getattr(shared, "available", False) else "degraded")
        return {"telemetry": telemetry, "shared_state": shared_state}

    def _enter(self) -> None:
        if self.draining:
            raise Denied(503, "server_error", "draining", "the gateway is shutting down; retry on another instance", retry_after=1)
        if self.in_flight >= self.settings.max_concurrent:
            raise Denied(503, "server_error", "overloaded", "the gateway is at its concurrency limit; retry shortly", retry_after=1)
        self.in_flight += 1

    async def _route(self, front: Front, create: Any, key: Any, model: str, **call: Any) -> Any:
        """The routed call's result, or the error response (in ``front``'s shape) when it failed."""
        await self.access.admit(key)
        try:
            return await create(model=model, **call)
        except RoutingError as exc:
            status, err = front.routing(exc)
            retry = retry_after_for(self.router, model) if status == 429 else None
            resp = _error(status, err, retry)
            resp.headers.update(front.call_headers(exc.call_id))
            return resp
        except InvalidRequestError as exc:
            return _error(*front.invalid(exc))

    async def _json_body(self, request: web.Request, reserved: frozenset[str]) -> dict[str, Any]:
        if request.content_length is not None and request.content_length > self.settings.max_body_bytes:
            raise Denied(413, "invalid_request_error", "request_too_large", f"request body over {self.settings.max_body_bytes} bytes")
        try:
            async with asyncio.timeout(self.settings.body_timeout_s):
                raw = await request.read()
        except TimeoutError:
            if self.draining:  # the shutdown cut the body short: not the client's fault
                raise Denied(503, "server_error", "draining", "the gateway is shutting down; retry on another instance", retry_after=1) from None
            raise Denied(408, "invalid_request_error", "request_timeout", f"request body not received within {self.settings.body_timeout_s:g}s") from None
        except web.HTTPRequestEntityTooLarge:
            raise Denied(413, "invalid_request_error", "request_too_large", f"request body over {self.settings.max_body_bytes} bytes") from None
        try:
            body = _loads(raw)
        except ValueError:
            raise Denied(400, "invalid_request_error", "invalid_json", "We could not parse the JSON body of your request.") from None
        if not isinstance(body, dict):
            raise Denied(400, "invalid_request_error", "invalid_json", "the request body must be a JSON object")
        bad = sorted(reserved & body.keys())
        if bad:
            raise Denied(400, "invalid_request_error", "unknown_parameter", f"Unrecognized request argument supplied: {', '.join(bad)}", param=bad[0])
        return body

    async def _stream(self, request: web.Request, stream: Any) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", **_routing_headers(stream)})
        await resp.prepare(request)
        try:
            async for chunk in stream:
                await resp.write(b"data: " + dumps(to_wire(chunk)) + b"\n\n")
        except RoutingError as exc:  # after the first chunk: the SDK raises on an error event
            _, err = routing_error_status(exc)
            await resp.write(b"data: " + dumps(err) + b"\n\n")
        finally:
            close = getattr(stream, "aclose", None) or getattr(stream, "close", None)
            if close is not None:
                await close()
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def _error(status: int, body: dict[str, Any], retry_after: float | None = None) -> web.Response:
    """An error answer; ``Retry-After`` when ``retry_after`` is set."""
    headers = None
    if retry_after:  # whole seconds (RFC 9110) and, as OpenAI sends it, milliseconds
        headers = {"Retry-After": str(max(1, math.ceil(retry_after))), "retry-after-ms": str(max(1, round(retry_after * 1000)))}
    return web.Response(status=status, body=dumps(body), content_type=_JSON, headers=headers)


def _routing_headers(obj: Any) -> dict[str, str]:
    return {
        "x-attune-deployment": str(getattr(obj, "deployment", "") or ""),
        "x-attune-fallback-used": "true" if getattr(obj, "fallback_used", False) else "false",
        "x-attune-retry-count": str(getattr(obj, "retry_count", 0) or 0),
        "x-request-id": str(getattr(obj, "call_id", "") or ""),
    }


def _task_and_tags(request: web.Request, body: dict[str, Any], key_name: str, default: str = "default") -> tuple[str, dict[str, str]]:
    meta = body.pop("metadata", None)
    tags: dict[str, str] = {}
    task_type = request.headers.get("x-attune-task-type") or default
    if isinstance(meta, Mapping):
        for k, v in meta.items():
            if isinstance(k, str) and isinstance(v, str):
                if k == "task_type":
                    task_type = request.headers.get("x-attune-task-type") or v
                else:
                    tags[k] = v
    elif meta is not None:
        raise Denied(400, "invalid_request_error", None, "'metadata' must be an object of string values", param="metadata")
    tags[KEY_TAG] = key_name  # last: a caller cannot pose as another key
    return task_type, tags


try:
    from orjson import loads as _loads
except ImportError:  # pragma: no cover
    from json import loads as _loads
