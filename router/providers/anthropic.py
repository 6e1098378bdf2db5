"""The Anthropic Messages API (``POST {base_url}/v1/messages``) over httpx.

Requests arrive in the OpenAI chat shape and are converted: system (and developer) messages
become the top-level ``system``; ``max_tokens`` is required by Anthropic, so it comes from
``max_completion_tokens`` / ``max_tokens`` or the adapter's ``default_max_tokens``; ``stop``
becomes ``stop_sequences``; OpenAI function tools, ``tool_choice``, assistant ``tool_calls`` and
``tool`` messages become ``tools``, ``tool_use`` and ``tool_result`` blocks; ``temperature``,
``top_p`` and ``top_k`` pass as given (the API decides by model: newer models take
``temperature`` or ``top_p`` but not both, the newest only their defaults; docs/providers.md).
Content parts other than text and images, and parameters without an Anthropic equivalent, raise
``BadRequestError`` before anything is sent.

Responses: text blocks joined are the content, ``tool_use`` blocks the ``tool_calls``;
``input_tokens`` counts cache writes and reads too (the prompt's full size). Stop reasons::

    end_turn, stop_sequence, pause_turn -> "stop"      max_tokens -> "length"
    tool_use -> "tool_calls"                           refusal -> "content_filter"

Errors, by the body's ``error.type`` first, else by status::

    rate_limit_error (429)          -> "rate_limited" (Retry-After honoured; spend limit flagged)
    overloaded_error (529), 503     -> "overloaded"
    api_error (500), other 5xx      -> "server_error"
    authentication_error (401), permission_error (403), billing_error (402) -> "auth"
    invalid_request_error (400) "prompt is too long" / context limit -> "context_length"
    other 400, 404, 413             -> "bad_request"

A stream's ``event: error`` maps the same way (by its type).
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from router.errors import (
    AuthError,
    BadRequestError,
    InvalidResponseError,
    OverloadedError,
    ProviderError,
    ServerError,
)
from router.providers._convert import check_params, content_parts, data_url, json_schema_format, max_tokens, stop_sequences, text_parts, tool_arguments
from router.providers._http import SSE, ChunkStream, HTTPAdapter, json_object, parse_guard, provider_error, retry_after_header
from router.providers.base import DEFAULT_BASE_URLS, ProviderRequest, ProviderResponse

__all__ = ["AnthropicProvider", "anthropic_error", "from_anthropic", "to_anthropic"]

_API = "Anthropic Messages"
_PARAMS = (
    "max_tokens", "max_completion_tokens", "stop", "tools", "tool_choice", "parallel_tool_calls", "user", "metadata", "n",
    "stream_options", "response_format", "stream", "temperature", "top_p", "top_k",
)
_SAMPLING = ("temperature", "top_p", "top_k")  # passed as given: which a model takes is the API's to say
ANTHROPIC_VERSION = "2026-10-21"  # anthropic._constants.ANTHROPIC_API_VERSION of the SDK the params follow
JSON_TOOL = "json_response"  # the tool forced for response_format json_object
_MEDIA = ("image/jpeg", "image/png", "image/gif", "image/webp")
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_BY_TYPE: dict[str, type[ProviderError]] = {
    "overloaded_error": OverloadedError,
    "api_error": ServerError,
    "authentication_error": AuthError,
    "permission_error": AuthError,
    "billing_error": AuthError,
}
_CONTEXT_HINTS = ("prompt is too long", "exceed context limit", "context window", "context length")


# -- errors -------------------------------------------------------------------------------


def anthropic_error(status: int, payload: dict[str, Any], *, retry_after: float | None = None, secret: str | None = None) -> ProviderError:
    """Map an Anthropic error object (``{"type": "error", "error": {"type", "message"}}``)."""
    err = payload.get("error")
    err = err if isinstance(err, dict) else {}
    details = err.get("details")
    code = str(details.get("error_code") or "") if isinstance(details, dict) else ""
    return provider_error(
        status, str(err.get("type") or ""), str(err.get("message") or ""), by_kind=_BY_TYPE, rate_limit_kind="rate_limit_error",
        context_hints=_CONTEXT_HINTS, retry_after=retry_after, spend_limit="spend_limit" in code, auth=status == 402, secret=secret,
    )  # fmt: skip


# -- request ------------------------------------------------------------------------------


def _tool(tool: Any, where: str) -> dict[str, Any]:
    fn = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise BadRequestError(f"{where} must be {{'type': 'function', 'function': {{'name': ...}}}} ({_API} adapter)")
    out: dict[str, Any] = {"name": fn["name"], "input_schema": fn.get("parameters") or {"type": "object", "properties": {}}}
    if fn.get("description"):
        out["description"] = fn["description"]
    return out


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None:
        out: dict[str, Any] | None = None
    elif choice in ("auto", "required", "none"):
        out = {"type": {"auto": "auto", "required": "any", "none": "none"}[choice]}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict) and isinstance(choice["function"].get("name"), str):
        out = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise BadRequestError(f"parameter 'tool_choice' must be 'auto', 'required', 'none' or a function choice, got {choice!r} ({_API} adapter)")
    if parallel is False and (out is None or out["type"] != "none"):
        out = {**(out or {"type": "auto"}), "disable_parallel_tool_use": True}
    return out


def _tool_use(call: Any, where: str) -> dict[str, Any]:
    id_, name, args = tool_arguments(call, where, _API)
    return {"type": "tool_use", "id": id_, "name": name, "input": args}


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """Text and image blocks of a user message."""
    out: list[dict[str, Any]] = []
    for i, part in enumerate(content_parts(content, where, _API)):
        if part.kind == "text":
            out.append({"type": "text", "text": part.value})
        elif part.value.startswith("data:"):
            media, data = data_url(part.value, f"{where}.content[{i}].image_url.url", _API)
            if media not in _MEDIA:
                raise BadRequestError(f"{where}.content[{i}]: image type {media!r} is not one of {list(_MEDIA)} ({_API} adapter)")
            out.append({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}})
        else:
            out.append({"type": "image", "source": {"type": "url", "url": part.value}})
    return out


def _messages(messages: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """(system texts, Anthropic messages); consecutive turns of one role are merged."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        role = m.get("role")
        if role in ("system", "developer"):
            system.extend(text_parts(m.get("content"), where, _API))
            continue
        if role == "user":
            blocks = _blocks(m.get("content"), where)
        elif role == "assistant":
            blocks = [{"type": "text", "text": t} for t in text_parts(m.get("content"), where, _API) if t]
            blocks += [_tool_use(c, f"{where}.tool_calls[{j}]") for j, c in enumerate(m.get("tool_calls") or ())]
            role = "assistant"
        elif role == "tool":
            if not isinstance(m.get("tool_call_id"), str):
                raise BadRequestError(f"{where} (role 'tool') needs a tool_call_id ({_API} adapter)")
            text = "".join(text_parts(m.get("content"), where, _API))
            blocks = [{"type": "tool_result", "tool_use_id": m["tool_call_id"], "content": text}]
            role = "user"
        else:
            raise BadRequestError(f"{where}.role {role!r} is not converted by the {_API} adapter")
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    for m in out:  # a lone text block is sent as a plain string
        if len(m["content"]) == 1 and m["content"][0]["type"] == "text":
            m["content"] = m["content"][0]["text"]
    return system, out


def to_anthropic(request: ProviderRequest, *, default_max_tokens: int) -> dict[str, Any]:
    """The Messages API body for an OpenAI-shaped request."""
    params = request.params
    check_params(params, _PARAMS, _API)
    if params.get("n", 1) not in (1, None):
        raise BadRequestError(f"parameter 'n' must be 1 for the {_API} adapter, got {params['n']!r}")
    system, messages = _messages(request.messages)
    body: dict[str, Any] = {"model": request.model, "max_tokens": max_tokens(params, default_max_tokens, _API), "messages": messages}
    if system:
        body["system"] = "\n\n".join(system)
    if params.get("metadata") is not None:
        body["metadata"] = params["metadata"]
    if params.get("user") is not None:
        body["metadata"] = {**body.get("metadata", {}), "user_id": params["user"]}
    if params.get("stop") is not None:
        body["stop_sequences"] = stop_sequences(params["stop"], _API)
    for name in _SAMPLING:
        if params.get(name) is not None:
            body[name] = params[name]
    if params.get("tools"):
        body["tools"] = [_tool(t, f"tools[{i}]") for i, t in enumerate(params["tools"])]
    choice = _tool_choice(params.get("tool_choice"), params.get("parallel_tool_calls"))
    if choice is not None:
        body["tool_choice"] = choice
    schema = json_schema_format(params["response_format"], _API) if params.get("response_format") is not None else None
    if schema == {}:  # json_object: a forced tool whose input is the answer
        if params.get("tools"):
            raise BadRequestError(f"parameter 'response_format' json_object cannot be combined with 'tools' ({_API} adapter)")
        body["tools"] = [{"name": JSON_TOOL, "description": "Answer with a JSON object.", "input_schema": {"type": "object"}}]
        body["tool_choice"] = {"type": "tool", "name": JSON_TOOL}
    elif schema is not None:
        body["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    return body


def json_tool(request: ProviderRequest) -> bool:
    """Whether the request asked for json_object, answered through the forced ``JSON_TOOL``."""
    fmt = request.params.get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") == "json_object"


# -- response -----------------------------------------------------------------------------


def _input_tokens(usage: dict[str, Any]) -> int:
    return sum(int(usage.get(k) or 0) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))


def _finish(reason: Any) -> str | None:
    return None if reason is None else _FINISH.get(str(reason), str(reason))


def from_anthropic(data: dict[str, Any], *, http_status: int = 200, ttft_s: float | None = None, json_answer: bool = False) -> ProviderResponse:
    """A Messages API ``message`` object as a ``ProviderResponse`` (raises on a wrong shape).
    ``json_answer``: the forced ``JSON_TOOL``'s input is the content (json_object)."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in data["content"]:
        if block["type"] == "text":
            texts.append(block["text"])
        elif block["type"] == "tool_use" and json_answer and block["name"] == JSON_TOOL:
            texts.append(json.dumps(block.get("input") or {}))
        elif block["type"] == "tool_use":
            args = json.dumps(block.get("input") or {})
            calls.append({"id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": args}})
    content = "".join(texts)
    usage = data.get("usage") or {}
    return ProviderResponse(
        content=content if texts or not calls else None,
        input_tokens=_input_tokens(usage),
        output_tokens=int(usage.get("output_tokens") or 0),
        finish_reason="stop" if json_answer and not calls and data.get("stop_reason") == "tool_use" else _finish(data.get("stop_reason")),
        response_id=data.get("id"),
        model=data.get("model"),
        ttft_s=ttft_s,
        message={"role": "assistant", "content": content or None, "tool_calls": calls} if calls else None,
        http_status=http_status,
    )


# -- adapter ------------------------------------------------------------------------------


class AnthropicProvider(HTTPAdapter):
    """One Anthropic Messages endpoint. The key goes as ``Authorization: Bearer`` with
    ``anthropic-version: 2026-10-21``, as the official SDK (2.x) sends them. A
    ``base_url`` ending in ``/v1`` is accepted as well as the bare host."""

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URLS["anthropic"],
        api_key: str | None = None,
        name: str = "anthropic",
        anthropic_version: str = ANTHROPIC_VERSION,
        default_max_tokens: int = 4096,
        connect_timeout_s: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        extra_headers: dict[str, str] | None = None,
        max_connections: int = 64,
        keepalive_s: float = 15.0,
    ) -> None:
        if isinstance(default_max_tokens, bool) or not isinstance(default_max_tokens, int) or default_max_tokens < 1:
            raise ValueError(f"default_max_tokens must be a positive integer, got {default_max_tokens!r}")
        headers = {"anthropic-version": anthropic_version}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        super().__init__(
            name=name,
            base_url=base_url,
            api_key=api_key,
            headers=headers,
            connect_timeout_s=connect_timeout_s,
            transport=transport,
            http_client=http_client,
            extra_headers=extra_headers,
            max_connections=max_connections,
            keepalive_s=keepalive_s,
        )
        self.default_max_tokens = default_max_tokens
        self._url = self.base_url + ("/messages" if self.base_url.endswith("/v1") else "/v1/messages")

    def _error(self, status: int, body: bytes, headers: httpx.Headers) -> ProviderError:
        return anthropic_error(status, json_object(body), retry_after=retry_after_header(headers, time.time()), secret=self._key)

    async def send(self, request: ProviderRequest, *, timeout: float) -> ProviderResponse:
        body = to_anthropic(request, default_max_tokens=self.default_max_tokens)
        data, resp, elapsed = await self._post_json(self._url, body, timeout, "Anthropic message body", request)
        with parse_guard("Anthropic message body", resp.status_code):
            return from_anthropic(data, http_status=resp.status_code, ttft_s=elapsed, json_answer=json_tool(request))

    async def open_stream(self, request: ProviderRequest, *, timeout: float) -> _AnthropicStream:
        """Start a streamed message; returns once the first content (or the end) has arrived."""
        body = {**to_anthropic(request, default_max_tokens=self.default_max_tokens), "stream": True}
        answer = json_tool(request)
        return await self._open_stream(self._url, body, timeout, lambda sse: _AnthropicStream(sse, request.model, self._key, answer), request)


class _AnthropicStream(ChunkStream):
    """Messages API stream events (message_start, content_block_*, message_delta, message_stop,
    error) as OpenAI chunks: one per text delta or tool call piece, a last one with the finish
    reason and usage."""

    def __init__(self, sse: SSE, model: str, secret: str | None, json_answer: bool = False) -> None:
        super().__init__(sse)
        self._json_answer = json_answer  # the JSON_TOOL's input deltas are content
        self._json_block: int | None = None
        self._id = ""
        self._model = model
        self._secret = secret
        self._input = 0
        self._tools: dict[int, int] = {}  # content block index -> tool call index
        self._stopped = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None, usage: tuple[int, int] | None = None) -> dict[str, Any]:
        return self._emit(self._id, self._model, delta, finish, usage)

    async def _next_chunk(self) -> dict[str, Any] | None:
        while not self._stopped:
            item = await self._sse.next()
            if item is None:
                raise InvalidResponseError("stream ended before message_stop", status=self.http_status)
            name, data = item
            event = self._sse.json(data)
            if not isinstance(event, dict):
                continue
            with parse_guard("Anthropic stream event", self.http_status):
                out = self._translate(str(event.get("type") or name), event)
            if out is not None:
                return out
        return None

    def _translate(self, kind: str, event: dict[str, Any]) -> dict[str, Any] | None:
        if kind == "error":
            raise anthropic_error(self.http_status or 200, event, secret=self._secret)
        if kind == "message_start":
            msg = event["message"]
            self._id = msg.get("id") or ""
            self._model = msg.get("model") or self._model
            self._input = _input_tokens(msg.get("usage") or {})
        elif kind == "content_block_start":
            block = event["content_block"]
            if block["type"] == "text" and block.get("text"):
                return self._chunk({"content": block["text"]})
            if block["type"] == "tool_use" and self._json_answer and block["name"] == JSON_TOOL:
                self._json_block = event["index"]
            elif block["type"] == "tool_use":
                n = self._tools[event["index"]] = len(self._tools)
                call = {"index": n, "id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": ""}}
                return self._chunk({"tool_calls": [call]})
        elif kind == "content_block_delta":
            delta = event["delta"]
            if delta["type"] == "text_delta":
                return self._chunk({"content": delta["text"]})
            if delta["type"] == "input_json_delta" and event["index"] == self._json_block:
                return self._chunk({"content": delta["partial_json"]}) if delta["partial_json"] else None
            if delta["type"] == "input_json_delta" and event["index"] in self._tools:
                call = {"index": self._tools[event["index"]], "function": {"arguments": delta["partial_json"]}}
                return self._chunk({"tool_calls": [call]})
        elif kind == "message_delta":
            usage = event.get("usage") or {}
            if usage.get("input_tokens") is not None:
                self._input = _input_tokens(usage)
            output = int(usage.get("output_tokens") or 0)
            reason = event["delta"].get("stop_reason")
            finish = "stop" if self._json_block is not None and not self._tools and reason == "tool_use" else _finish(reason)
            return self._chunk({}, finish, (self._input, output))
        elif kind == "message_stop":
            self._stopped = True
        return None  # ping, content_block_stop, thinking deltas
