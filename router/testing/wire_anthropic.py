"""The Anthropic Messages API as the fake server speaks it (``POST /v1/messages``).

A request that forces a tool (``tool_choice`` of type ``any`` or ``tool``) is answered with a
``tool_use`` block (empty input) instead of text, so tool conversion can be tested end to end.
"""

from __future__ import annotations

import uuid
from typing import Any

from router.testing.faults import Fault
from router.testing.wire import Reply, Wire, count_text, fault_headers, json_reply, sse

__all__ = ["AnthropicWire"]

# status -> (error type, default message)
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Bad request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low."),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    503: ("overloaded_error", "Overloaded"),
    529: ("overloaded_error", "Overloaded"),
}


def _error(status: int, type_: str, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    body = {"type": "error", "error": {"type": type_, "message": message}, "request_id": f"req_{uuid.uuid4().hex[:24]}"}
    return json_reply(status, body, headers)


def _error_shape(status: int) -> tuple[str, str]:
    return _ERRORS.get(status, ("invalid_request_error" if status < 500 else "api_error", f"Error {status}."))


def _forced_tool(payload: dict[str, Any]) -> str | None:
    tools = payload.get("tools") or []
    choice = payload.get("tool_choice") or {}
    if not tools or choice.get("type") not in ("any", "tool"):
        return None
    return str(choice.get("name") or tools[0]["name"])


class AnthropicWire(Wire):
    """Messages API bodies, ``x-api-key`` keys, ``{"type": "error", "error": {...}}`` errors."""

    name = "anthropic"
    key_header = "x-api-key"

    def unauthorized(self, headers: dict[str, str]) -> Reply:
        message = "x-api-key header is required" if "x-api-key" not in headers else "invalid x-api-key"
        return _error(401, "authentication_error", message)

    def bad_request(self, message: str) -> Reply:
        return _error(400, "invalid_request_error", message)

    def invalid(self, payload: dict[str, Any]) -> Reply | None:
        problem = self._problem(payload)
        return None if problem is None else self.bad_request(problem)

    @staticmethod
    def _problem(payload: dict[str, Any]) -> str | None:
        if not isinstance(payload.get("model"), str) or not payload["model"]:
            return "model: Field required"
        limit = payload.get("max_tokens")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            return "max_tokens: Field required (a positive integer)"
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            return "messages: at least one message is required"
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
                role = m.get("role") if isinstance(m, dict) else None
                return (f'messages.{i}.role: Unexpected role "{role}". The Messages API accepts a top-level '
                        '`system` parameter, not "system" as an input message role.')
            content = m.get("content")
            blocks_ok = isinstance(content, list) and content and all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in content)
            if not isinstance(content, str) and not blocks_ok:
                return f"messages.{i}.content: must be a string or a non-empty list of content blocks"
        system = payload.get("system")
        if system is not None and not isinstance(system, (str, list)):
            return "system: must be a string or a list of text blocks"
        stops = payload.get("stop_sequences")
        if stops is not None and not (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
            return "stop_sequences: must be a list of strings"
        for i, tool in enumerate(payload.get("tools") or ()):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str) or not isinstance(tool.get("input_schema"), dict):
                return f"tools.{i}: a tool needs a name and an input_schema"
        return None

    def prompt_tokens(self, payload: dict[str, Any]) -> int:
        return max(1, (count_text(payload.get("system")) + count_text(payload.get("messages"))) // 4)

    def completion_tokens(self, payload: dict[str, Any]) -> int:
        return int(payload["max_tokens"])

    def status_error(self, fault: Fault) -> Reply:
        status = fault.status_code
        assert status is not None
        type_, message = _error_shape(status)
        return _error(status, fault.code_str or type_, fault.message or message, fault_headers(fault))

    def context_error(self, limit: int, tokens: int, message: str | None) -> Reply:
        return _error(400, "invalid_request_error", message or f"prompt is too long: {tokens} tokens > {limit} maximum")

    def success(self, payload: dict[str, Any], model: str, count: int, prompt_tokens: int, stream: str | None, error: Fault | None) -> Reply:
        output = self.completion_tokens(payload)
        msg_id = f"msg_{uuid.uuid4().hex[:24]}"
        tool = _forced_tool(payload)
        if tool is not None:
            block: dict[str, Any] = {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": tool, "input": {}}
            stop = "tool_use"
        else:
            block, stop = {"type": "text", "text": f"ok: {count}"}, "end_turn"
        message = {"id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [block],
                   "stop_reason": stop, "stop_sequence": None, "usage": {"input_tokens": prompt_tokens, "output_tokens": output}}
        if stream is None:
            return json_reply(200, message)
        start = {**message, "content": [], "stop_reason": None, "usage": {"input_tokens": prompt_tokens, "output_tokens": 1}}
        if tool is not None:
            opening = {**block, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": "{}"}]
        else:
            opening = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": "ok: "}, {"type": "text_delta", "text": str(count)}]
        events: list[tuple[str | None, Any]] = [
            ("message_start", {"type": "message_start", "message": start}),
            ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": opening}),
            ("ping", {"type": "ping"}),
            *(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": d}) for d in deltas),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": output}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        if error is not None:
            assert error.status_code is not None
            type_, text = _error_shape(error.status_code)
            err = {"type": "error", "error": {"type": error.code_str or type_, "message": error.message or text}}
            return sse([*events[:4], ("error", err)])
        return sse(events)
