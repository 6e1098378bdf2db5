"""The Anthropic Messages API as the fake server speaks it (``POST /v1/messages``).

Strict as the API: a top-level key outside ``anthropic.types.MessageCreateParams`` (and the
sampling parameters the API still takes, model by model: ``sampling_rule``) is answered
400 "<key>: Extra inputs are not permitted", a missing one "<key>: Field required", a value of
the wrong type "<key>: Input should be a valid ..."; content blocks are checked by type (text,
image with a base64 or url source, tool_use, tool_result, document, thinking).

An ``output_config.format`` of type ``json_schema`` is answered with a JSON text satisfying the
schema. A request that forces a tool (``tool_choice`` of type ``any`` or ``tool``) is answered with a
``tool_use`` block (empty input) instead of text, so tool conversion can be tested end to end.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from router.testing.faults import Fault
from router.testing.schema import Problem, check_body
from router.testing.wire import Reply, Wire, count_text, dumps, fault_headers, json_reply, sample_json, sse

__all__ = ["MESSAGE_PARAMS", "SAMPLING_PARAMS", "AnthropicWire", "sampling_rule"]

# the keys of anthropic.types.MessageCreateParams, with their JSON types
MESSAGE_PARAMS: dict[str, str] = {
    "max_tokens": "int", "messages": "list", "model": "str", "cache_control": "obj|null", "container": "str|obj|null",
    "diagnostics": "obj|null", "inference_geo": "str|null", "metadata": "obj", "output_config": "obj",
    "service_tier": "str", "speed": "str|null", "stop_sequences": "list", "stream": "bool", "system": "str|list",
    "thinking": "obj", "tool_choice": "obj", "tools": "list", "user_profile_id": "str", "workspace_id": "str",
}
# the sampling parameters the Messages API still takes (model by model, ``sampling_problem``);
# the anthropic SDK 2.x dropped them from its types, so they are sent as ``extra_body`` there
SAMPLING_PARAMS: dict[str, str] = {"temperature": "num", "top_p": "num", "top_k": "int"}
_ACCEPTED = {**MESSAGE_PARAMS, **SAMPLING_PARAMS}
_MODEL = re.compile(r"claude-(?:([a-z]+)-)?(\d+)(?:-(\d{1,2}))?(?=-|$)")
_TYPE_WORDS = {"str": "string", "int": "integer", "num": "number", "bool": "boolean", "obj": "dictionary", "list": "list"}
_BLOCKS = {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking", "search_result"}
_MEDIA = ("image/jpeg", "image/png", "image/gif", "image/webp")

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


def _problem_text(problem: Problem) -> str:
    if problem.kind == "unknown":
        return f"{problem.key}: Extra inputs are not permitted"
    if problem.kind == "missing":
        return f"{problem.key}: Field required"
    return f"{problem.key}: Input should be a valid {_TYPE_WORDS[problem.expected.split('|')[0]]}"


def _block_problem(block: dict[str, Any]) -> str | None:
    """What is wrong with one content block (a suffix of its path), or None."""
    kind = block["type"]
    if kind not in _BLOCKS:
        return f".type: Input tag '{kind}' found using 'type' does not match any of the expected tags: {', '.join(sorted(_BLOCKS))}"
    if kind == "text" and not isinstance(block.get("text"), str):
        return ".text: Field required"
    if kind == "image":
        source = block.get("source")
        if not isinstance(source, dict) or source.get("type") not in ("base64", "url", "file"):
            return ".source: Input should be a base64, url or file image source"
        if source["type"] == "base64" and (source.get("media_type") not in _MEDIA or not isinstance(source.get("data"), str)):
            return f".source.media_type: Input should be {', '.join(_MEDIA)} (with base64 data)"
        if source["type"] == "url" and not str(source.get("url", "")).startswith(("http://", "https://")):
            return ".source.url: Input should be an http(s) URL"
    if kind == "tool_use" and not (isinstance(block.get("id"), str) and isinstance(block.get("name"), str) and isinstance(block.get("input"), dict)):
        return ": a tool_use block needs an id, a name and an input object"
    if kind == "tool_result" and not isinstance(block.get("tool_use_id"), str):
        return ".tool_use_id: Field required"
    return None


def sampling_rule(model: str) -> str:
    """How the API treats ``temperature`` / ``top_p`` / ``top_k`` for ``model``, as reported for
    the Claude families: ``"any"`` (Claude 3.x, Sonnet 4, Opus 4: each and together),
    ``"one"`` (Opus 4.1 to 4.6, Sonnet and Haiku 4.5 and 4.6: ``temperature`` and ``top_p`` not
    together), ``"deprecated"`` (Opus 4.7 and later, every 5.x model: only the defaults,
    ``temperature`` 1 and ``top_p`` >= 0.95, no ``top_k``). Names it cannot read: ``"any"``."""
    m = _MODEL.match(model)
    if m is None or m.group(1) is None:  # claude-3-5-sonnet-...: the older naming
        return "any"
    family, version = m.group(1), (int(m.group(2)), int(m.group(3) or 0))
    if version < (4, 1) or (family != "opus" and version < (4, 5)):
        return "any"
    if version >= (5, 0) or (family == "opus" and version >= (4, 7)):
        return "deprecated"
    return "one"


def _sampling_problem(payload: dict[str, Any]) -> str | None:
    temperature, top_p = payload.get("temperature"), payload.get("top_p")
    if temperature is not None and not 0 <= temperature <= 1:
        return "temperature: Input should be less than or equal to 1" if temperature > 1 else "temperature: Input should be greater than or equal to 0"
    if top_p is not None and not 0 <= top_p <= 1:
        return "top_p: Input should be less than or equal to 1" if top_p > 1 else "top_p: Input should be greater than or equal to 0"
    rule = sampling_rule(str(payload["model"]))
    if rule == "one" and temperature is not None and top_p is not None:
        return "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
    if rule == "deprecated":
        for name, allowed in (("temperature", lambda v: v == 1), ("top_p", lambda v: v >= 0.95), ("top_k", lambda v: False)):
            if payload.get(name) is not None and not allowed(payload[name]):
                return f"`{name}` is deprecated for this model."
    return None


def _structured_text(payload: dict[str, Any]) -> str | None:
    fmt = (payload.get("output_config") or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return dumps(sample_json(fmt.get("schema")))
    return None


def _forced_tool(payload: dict[str, Any]) -> str | None:
    tools = payload.get("tools") or []
    choice = payload.get("tool_choice") or {}
    if not tools or choice.get("type") not in ("any", "tool"):
        return None
    return str(choice.get("name") or tools[0]["name"])


class AnthropicWire(Wire):
    """Messages API bodies, keys in ``x-api-key`` or ``Authorization: Bearer`` (the SDK's),
    ``{"type": "error", "error": {...}}`` errors."""

    name = "anthropic"
    key_header = "x-api-key"

    def key_ok(self, headers: dict[str, str], key: str) -> bool:
        return headers.get("x-api-key") == key or headers.get("authorization") == f"Bearer {key}"

    def unauthorized(self, headers: dict[str, str]) -> Reply:
        if "x-api-key" not in headers and "authorization" not in headers:
            return _error(401, "authentication_error", "x-api-key header is required")
        message = "invalid x-api-key" if "x-api-key" in headers else "invalid bearer token"
        return _error(401, "authentication_error", message)

    def bad_request(self, message: str) -> Reply:
        return _error(400, "invalid_request_error", message)

    def invalid(self, payload: dict[str, Any]) -> Reply | None:
        problem = self._problem(payload)
        return None if problem is None else self.bad_request(problem)

    @staticmethod
    def _problem(payload: dict[str, Any]) -> str | None:
        problem = check_body(payload, _ACCEPTED, ("max_tokens", "messages", "model"))
        if problem is not None:
            return _problem_text(problem)
        if not payload["model"]:
            return "model: String should have at least 1 character"
        sampling = _sampling_problem(payload)
        if sampling is not None:
            return sampling
        if payload["max_tokens"] < 1:
            return "max_tokens: Input should be greater than or equal to 1"
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
            for j, block in enumerate(content if isinstance(content, list) else ()):
                found = _block_problem(block)
                if found:
                    return f"messages.{i}.content.{j}{found}"
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
            block, stop = {"type": "text", "text": _structured_text(payload) or f"ok: {count}"}, "end_turn"
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
            text = block["text"]
            cut = text.rfind(" ") + 1 or len(text) // 2
            deltas = [{"type": "text_delta", "text": text[:cut]}, {"type": "text_delta", "text": text[cut:]}]
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
