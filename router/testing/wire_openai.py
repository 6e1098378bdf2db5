"""OpenAI chat completions as the fake server speaks them (``POST /v1/chat/completions``)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from router.testing.faults import Fault
from router.testing.wire import DEFAULT_COMPLETION_TOKENS, Reply, Wire, count_text, fault_headers, json_reply, sse

__all__ = ["OpenAIWire", "error_body"]

# (type, code, message) of the error body for a status fault.
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


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """An OpenAI error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class OpenAIWire(Wire):
    """Chat completions, ``Authorization: Bearer`` keys, OpenAI error objects."""

    name = "openai"
    key_header = "authorization"

    def key_ok(self, headers: dict[str, str], key: str) -> bool:
        return headers.get("authorization") == f"Bearer {key}"

    def unauthorized(self, headers: dict[str, str]) -> Reply:
        if "authorization" not in headers:
            message = ("You didn't provide an API key. You need to provide your API key in an "
                       "Authorization header using Bearer auth.")
            return json_reply(401, error_body(message, "invalid_request_error"))
        return json_reply(401, error_body("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"))

    def bad_request(self, message: str) -> Reply:
        return json_reply(400, error_body(message, "invalid_request_error"))

    def invalid(self, payload: dict[str, Any]) -> Reply | None:
        problem = self._problem(payload)
        if problem is None:
            return None
        return json_reply(400, error_body(problem[1], "invalid_request_error", None, problem[0]))

    @staticmethod
    def _problem(payload: dict[str, Any]) -> tuple[str, str] | None:
        if not isinstance(payload.get("model"), str) or not payload["model"]:
            return "model", "you must provide a model parameter"
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages", "'messages' must be a non-empty array"
        if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
            return "messages", "each message must be an object with a 'role'"
        for key in ("max_tokens", "max_completion_tokens"):
            value = payload.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                return key, f"'{key}' must be a positive integer"
        return None

    def prompt_tokens(self, payload: dict[str, Any]) -> int:
        return max(1, count_text(payload.get("messages")) // 4)

    def completion_tokens(self, payload: dict[str, Any]) -> int:
        limit = payload.get("max_completion_tokens") or payload.get("max_tokens")
        return limit if isinstance(limit, int) else DEFAULT_COMPLETION_TOKENS

    def status_error(self, fault: Fault) -> Reply:
        status = fault.status_code
        assert status is not None
        default_type = "invalid_request_error" if status < 500 else "server_error"
        type_, code, message = _ERROR_SHAPES.get(status, (default_type, None, f"Error {status}."))
        body = error_body(fault.message or message, type_, fault.code_str or code)
        return json_reply(status, body, fault_headers(fault))

    def context_error(self, limit: int, tokens: int, message: str | None) -> Reply:
        message = message or (
            f"This model's maximum context length is {limit} tokens. However, your messages "
            f"resulted in {tokens} tokens. Please reduce the length of the messages."
        )
        return json_reply(400, error_body(message, "invalid_request_error", "context_length_exceeded", "messages"))

    def success(self, payload: dict[str, Any], model: str, count: int, prompt_tokens: int, stream: str | None, error: Fault | None) -> Reply:
        completion_tokens = self.completion_tokens(payload)
        content = f"ok: {count}"
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if stream is None:
            return json_reply(200, {
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
            })
        base = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model, "system_fingerprint": "fp_fake"}
        deltas: list[tuple[dict[str, Any], str | None]] = [({"role": "assistant", "content": ""}, None), ({"content": content}, None), ({}, "stop")]
        options = payload.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        events: list[tuple[str | None, Any]] = []
        for delta, finish in deltas:
            chunk = dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])
            if include_usage:
                chunk["usage"] = None
            events.append((None, chunk))
        if error is not None:
            assert error.status_code is not None
            type_, _, message = _ERROR_SHAPES.get(error.status_code, ("server_error", None, "Error."))
            return sse([*events[:2], (None, error_body(error.message or message, type_))])
        if include_usage:
            events.append((None, dict(base, choices=[], usage=usage)))
        return sse(events, done=True)
