"""What ``POST /v1/messages`` answers: the router's OpenAI-shaped result as an Anthropic
``Message``, and every refusal as an Anthropic error object.

Stop reasons (from the routed call's ``finish_reason``)::

    stop -> end_turn      length -> max_tokens      tool_calls, function_call -> tool_use
    content_filter (or a refusal) -> refusal        anything else -> end_turn

``usage.input_tokens`` is the prompt without its cached part (Anthropic counts cache reads and
writes apart: ``cache_read_input_tokens``, ``cache_creation_input_tokens``), so the three add
up to the prompt as the router recorded it. ``stop_sequence`` is always null: a routed call
does not tell which stop sequence ended it.

Errors are ``{"type": "error", "error": {"type", "message"}, "request_id"}`` with the status
codes the ``anthropic`` SDK maps to its exception classes::

    400 invalid_request_error (BadRequestError)      401 authentication_error (AuthenticationError)
    403 permission_error (PermissionDeniedError)     404 not_found_error (NotFoundError)
    413 request_too_large (ContentTooLargeError)     429 rate_limit_error (RateLimitError)
    502 api_error, 500 api_error (InternalServerError) 504 timeout_error (GatewayTimeoutError)
    529 overloaded_error (OverloadedError): every deployment overloaded or held back by its
        breaker, the worker at its concurrency limit or draining
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from router.errors import InvalidRequestError, RoutingError, UnknownModelError
from router.gateway.access import Denied

__all__ = ["ANTHROPIC", "AnthropicFront", "error_body", "message_from", "message_id", "stop_reason", "tool_input", "usage_from"]

_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use", "content_filter": "refusal"}

# HTTP status of a gateway refusal -> (the status Anthropic's API uses, its error type)
_BY_STATUS: dict[int, tuple[int, str]] = {
    400: (400, "invalid_request_error"),
    401: (401, "authentication_error"),
    403: (403, "permission_error"),
    404: (404, "not_found_error"),
    408: (408, "invalid_request_error"),
    413: (413, "request_too_large"),
    429: (429, "rate_limit_error"),
    500: (500, "api_error"),
    502: (502, "api_error"),
    503: (529, "overloaded_error"),
    504: (504, "timeout_error"),
}

# error_type of a routed failure -> (status, Anthropic error type)
_ROUTING: dict[str, tuple[int, str]] = {
    "rate_limited": (429, "rate_limit_error"),
    "timeout": (504, "timeout_error"),
    "context_length": (400, "invalid_request_error"),
    "bad_request": (400, "invalid_request_error"),
    "overloaded": (529, "overloaded_error"),
    "circuit_open": (529, "overloaded_error"),
    "auth": (502, "api_error"),  # our credentials upstream, not the caller's
    "server_error": (502, "api_error"),
    "connection": (502, "api_error"),
    "invalid_response": (502, "api_error"),
}


def error_body(type_: str, message: str, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "error": {"type": type_, "message": message}}
    if request_id:
        body["request_id"] = request_id
    return body


class AnthropicFront:
    """How ``/v1/messages`` takes a key (``x-api-key`` or ``Authorization: Bearer``) and words
    a refusal; the same interface as ``router.gateway.wire.OpenAIFront``."""

    reserved: frozenset[str] = frozenset()  # the strict body check refuses every unknown key

    def credentials(self, headers: Mapping[str, str]) -> tuple[str | None, str | None]:
        api_key, authorization = headers.get("x-api-key"), headers.get("Authorization")
        if api_key is None and not authorization:
            raise Denied(401, "authentication_error", None, "x-api-key header is required (or Authorization: Bearer <key>)")
        return authorization, api_key

    def denied(self, status: int, type_: str, code: str | None, message: str, param: str | None) -> tuple[int, dict[str, Any]]:
        status, kind = _BY_STATUS.get(status, (status, "invalid_request_error" if status < 500 else "api_error"))
        return status, error_body(kind, message)

    def http_error(self, status: int, message: str) -> tuple[int, dict[str, Any]]:
        return self.denied(status, "", None, message, None)

    def routing(self, exc: RoutingError) -> tuple[int, dict[str, Any]]:
        status, kind = _ROUTING.get(exc.error_type, (502, "api_error"))
        if exc.error_type == "bad_request":
            last = next((a.http_status for a in reversed(exc.attempts) if a.http_status), None)
            if last in (404, 413):
                status, kind = _BY_STATUS[last]
        return status, error_body(kind, exc.summary, exc.call_id)

    def invalid(self, exc: InvalidRequestError) -> tuple[int, dict[str, Any]]:
        if isinstance(exc, UnknownModelError):
            return 404, error_body("not_found_error", f"model: {exc}")
        return 400, error_body("invalid_request_error", str(exc))

    def call_headers(self, call_id: str) -> dict[str, str]:
        return {"x-request-id": call_id, "request-id": call_id}  # the SDK reads request-id


ANTHROPIC = AnthropicFront()


def stop_reason(finish_reason: Any) -> str:
    return _STOP.get(finish_reason or "stop", "end_turn")


def usage_from(usage: Mapping[str, Any] | None) -> dict[str, int]:
    """Anthropic usage for an OpenAI ``usage`` (missing: zeros)."""
    u = usage or {}
    details = u.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    written = int(details.get("cache_write_tokens") or 0)
    prompt = int(u.get("prompt_tokens") or 0)
    return {
        "input_tokens": max(0, prompt - cached - written),
        "output_tokens": int(u.get("completion_tokens") or 0),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }


def message_id(upstream_id: Any, call_id: str) -> str:
    """The upstream's id when it is an Anthropic message id, else one made from the call id."""
    if isinstance(upstream_id, str) and upstream_id.startswith("msg_"):
        return upstream_id
    return "msg_" + call_id.replace("-", "")


def tool_input(arguments: Any, name: str) -> dict[str, Any]:
    """A tool call's JSON arguments as the ``input`` object of a ``tool_use`` block."""
    if not arguments:
        return {}
    try:
        value = json.loads(arguments)
    except (TypeError, ValueError):
        value = None
    if not isinstance(value, dict):
        raise Denied(502, "server_error", "upstream_invalid_response", f"the model's arguments for tool {name!r} are not a JSON object (a tool_use input must be one)")
    return value


def message_from(data: Mapping[str, Any], call_id: str) -> dict[str, Any]:
    """The Anthropic ``Message`` for an OpenAI ``chat.completion`` body (its first choice)."""
    choices = data.get("choices") or [{}]
    choice = choices[0]
    msg = choice.get("message") or {}
    text, refusal = msg.get("content"), msg.get("refusal")
    content: list[dict[str, Any]] = []
    if text or refusal:
        content.append({"type": "text", "text": text or refusal})
    for call in msg.get("tool_calls") or ():
        fn = call.get("function") or {}
        name = fn.get("name") or ""
        content.append({"type": "tool_use", "id": call.get("id") or "", "name": name, "input": tool_input(fn.get("arguments"), name)})
    return {
        "id": message_id(data.get("id"), call_id),
        "type": "message",
        "role": "assistant",
        "model": data.get("model") or "",
        "content": content,
        "stop_reason": "refusal" if refusal and not text else stop_reason(choice.get("finish_reason")),
        "stop_sequence": None,
        "usage": usage_from(data.get("usage")),
    }
