"""OpenAI chat completions and embeddings as the fake server speaks them
(``POST /v1/chat/completions``, ``POST /v1/embeddings``).

Strict as the API: a top-level key outside ``CompletionCreateParams`` is answered 400
"Unrecognized request argument supplied", a value of the wrong JSON type 400 ``invalid_type``,
a missing ``model`` or ``messages`` 400 ``missing_required_parameter`` (param named each time).

Answers follow the request: ``n`` choices; ``logprobs`` (with ``top_logprobs``) when asked;
a forced tool choice (``required`` or a named function) is answered with ``tool_calls`` (one per
tool for ``required`` unless ``parallel_tool_calls`` is false); a ``json_schema`` response format
with a JSON value satisfying the schema. Streams carry the same, chunk by chunk.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
from typing import Any

from router.testing.faults import Fault
from router.testing.schema import Problem, check_body
from router.testing.wire import DEFAULT_COMPLETION_TOKENS, Reply, Wire, count_text, fault_headers, json_reply, sample_json, sse

__all__ = ["CHAT_PARAMS", "EMBEDDING_PARAMS", "OpenAIWire", "error_body"]

# the keys of openai.types.chat.CompletionCreateParams, with their JSON types
CHAT_PARAMS: dict[str, str] = {
    "messages": "list", "model": "str", "audio": "obj|null", "frequency_penalty": "num|null",
    "function_call": "str|obj", "functions": "list", "logit_bias": "obj|null", "logprobs": "bool|null",
    "max_completion_tokens": "int|null", "max_tokens": "int|null", "metadata": "obj|null",
    "modalities": "list|null", "moderation": "obj|null", "n": "int|null", "parallel_tool_calls": "bool",
    "prediction": "obj|null", "presence_penalty": "num|null", "prompt_cache_key": "str|null",
    "prompt_cache_options": "obj", "prompt_cache_retention": "str|null", "reasoning_effort": "str|null",
    "response_format": "obj", "safety_identifier": "str|null", "seed": "int|null", "service_tier": "str|null",
    "stop": "str|list|null", "store": "bool|null", "stream": "bool|null", "stream_options": "obj|null",
    "temperature": "num|null", "tool_choice": "str|obj", "tools": "list", "top_logprobs": "int|null",
    "top_p": "num|null", "user": "str", "verbosity": "str|null", "web_search_options": "obj",
}
# the keys of openai.types.EmbeddingCreateParams
EMBEDDING_PARAMS: dict[str, str] = {"input": "str|list", "model": "str", "dimensions": "int", "encoding_format": "str", "user": "str"}
_TYPE_WORDS = {"str": "a string", "int": "an integer", "num": "a decimal", "bool": "a boolean", "obj": "an object", "list": "an array"}
_GOT_WORDS = {"string": "a string", "number": "a number", "boolean": "a boolean", "object": "an object", "array": "an array", "null": "null"}

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


def problem_body(problem: Problem) -> dict[str, Any]:
    """The API's 400 body for a top-level body problem."""
    if problem.kind == "unknown":
        return error_body(f"Unrecognized request argument supplied: {problem.key}", "invalid_request_error")
    if problem.kind == "missing":
        return error_body(f"Missing required parameter: '{problem.key}'.", "invalid_request_error", "missing_required_parameter", problem.key)
    expected = " or ".join(_TYPE_WORDS[t] for t in problem.expected.split("|") if t in _TYPE_WORDS)
    message = f"Invalid type for '{problem.key}': expected {expected}, but got {_GOT_WORDS[problem.got]} instead."
    return error_body(message, "invalid_request_error", "invalid_type", problem.key)


class OpenAIWire(Wire):
    """Chat completions, ``Authorization: Bearer`` keys, OpenAI error objects."""

    name = "openai"
    key_header = "authorization"
    required: tuple[str, ...] = ("messages", "model")

    def __init__(self, *, deterministic: bool = False) -> None:
        # deterministic: ids from the route's request count and a fixed ``created``, so the same
        # request after a reset gets the same bytes back (the conformance suite compares them)
        self.deterministic = deterministic

    def _id(self, prefix: str, count: int, index: int = 0) -> str:
        if self.deterministic:
            return f"{prefix}{count:06d}{index:02d}"
        return f"{prefix}{uuid.uuid4().hex[:24]}"

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
        problem = check_body(payload, CHAT_PARAMS, self.required)
        if problem is not None:
            return json_reply(400, problem_body(problem))
        found = self._problem(payload)
        if found is None:
            return None
        return json_reply(400, error_body(found[1], "invalid_request_error", None, found[0]))

    def invalid_embedding(self, payload: dict[str, Any]) -> Reply | None:
        problem = check_body(payload, EMBEDDING_PARAMS, ("input", "model"))
        if problem is not None:
            return json_reply(400, problem_body(problem))
        if payload.get("encoding_format", "float") not in ("float", "base64"):
            return json_reply(400, error_body("'encoding_format' must be 'float' or 'base64'", "invalid_request_error", None, "encoding_format"))
        return None

    @staticmethod
    def _problem(payload: dict[str, Any]) -> tuple[str, str] | None:
        if not payload.get("model", "deployment"):
            return "model", "you must provide a model parameter"
        messages = payload["messages"]
        if not messages:
            return "messages", "'messages' must be a non-empty array"
        if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
            return "messages", "each message must be an object with a 'role'"
        for key in ("max_tokens", "max_completion_tokens", "n"):
            value = payload.get(key)
            if value is not None and value < 1:
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

    def stream_error_body(self, fault: Fault) -> dict[str, Any]:
        assert fault.status_code is not None
        type_, _, message = _ERROR_SHAPES.get(fault.status_code, ("server_error", None, "Error."))
        return error_body(fault.message or message, type_)

    def context_error(self, limit: int, tokens: int, message: str | None) -> Reply:
        message = message or (
            f"This model's maximum context length is {limit} tokens. However, your messages "
            f"resulted in {tokens} tokens. Please reduce the length of the messages."
        )
        return json_reply(400, error_body(message, "invalid_request_error", "context_length_exceeded", "messages"))

    def success(self, payload: dict[str, Any], model: str, count: int, prompt_tokens: int, stream: str | None, error: Fault | None) -> Reply:
        completion_tokens = self.completion_tokens(payload)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens}
        created = 1_700_000_000 if self.deterministic else int(time.time())
        base = {"id": self._id("chatcmpl-", count), "created": created, "model": model, "system_fingerprint": "fp_fake"}
        answers = [_answer(payload, count, i, [self._id("call_", count, 10 * i + j) for j in range(8)]) for i in range(payload.get("n") or 1)]
        if stream is None:
            choices = [{"index": i, "message": msg, "logprobs": lp, "finish_reason": fin} for i, (msg, lp, fin) in enumerate(answers)]
            return json_reply(200, {**base, "object": "chat.completion", "choices": choices, "usage": usage, "service_tier": "default"})
        options = payload.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        base = {**base, "object": "chat.completion.chunk", "service_tier": "default"}
        events: list[tuple[str | None, Any]] = []
        for i, answer in enumerate(answers):
            for delta, logprobs, finish in _deltas(*answer):
                chunk = dict(base, choices=[{"index": i, "delta": delta, "logprobs": logprobs, "finish_reason": finish}])
                if include_usage:
                    chunk["usage"] = None
                events.append((None, chunk))
        if error is not None:
            return sse([*events[:2], (None, self.stream_error_body(error))])
        if include_usage:
            events.append((None, dict(base, choices=[], usage=usage)))
        return sse(events, done=True)

    def embedding(self, payload: dict[str, Any], model: str, prompt_tokens: int) -> Reply:
        inputs = payload["input"] if isinstance(payload["input"], list) else [payload["input"]]
        if inputs and isinstance(inputs[0], int):  # one tokenized input
            inputs = [inputs]
        size = payload.get("dimensions") or 8
        data = []
        for i, item in enumerate(inputs):
            vector = [round(((count_text(item) + i + k) % 7) / 7.0 - 0.5, 4) for k in range(size)]
            if payload.get("encoding_format") == "base64":
                encoded: Any = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
            else:
                encoded = vector
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        return json_reply(200, {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}})


def _tool_names(payload: dict[str, Any]) -> list[str]:
    """The functions a forced tool choice calls (none when the model may answer in text)."""
    tools = [t["function"]["name"] for t in payload.get("tools") or () if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    choice = payload.get("tool_choice")
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return [str(choice["function"].get("name"))]
    if choice == "required" and tools:
        return tools if payload.get("parallel_tool_calls") is not False else tools[:1]
    return []


def _content(payload: dict[str, Any], count: int, index: int) -> str:
    fmt = payload.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return json.dumps(sample_json((fmt.get("json_schema") or {}).get("schema")))
    if fmt.get("type") == "json_object":
        return json.dumps({"ok": count})
    return f"ok: {count}" if index == 0 else f"ok: {count}.{index}"


def _answer(payload: dict[str, Any], count: int, index: int, call_ids: list[str]) -> tuple[dict[str, Any], Any, str]:
    """One choice: (message, logprobs, finish_reason); ``call_ids`` for its tool calls."""
    names = _tool_names(payload)[: len(call_ids)]
    if names:
        calls = [{"id": call_ids[i], "type": "function", "function": {"name": n, "arguments": "{}"}} for i, n in enumerate(names)]
        return {"role": "assistant", "content": None, "refusal": None, "tool_calls": calls}, None, "tool_calls"
    text = _content(payload, count, index)
    logprobs = None
    if payload.get("logprobs"):
        top = payload.get("top_logprobs") or 0
        entry = {"token": text, "logprob": -0.01, "bytes": list(text.encode())}
        logprobs = {"content": [{**entry, "top_logprobs": [entry] * min(top, 1)}], "refusal": None}
    return {"role": "assistant", "content": text, "refusal": None, "annotations": []}, logprobs, "stop"


def _deltas(message: dict[str, Any], logprobs: Any, finish: str) -> list[tuple[dict[str, Any], Any, str | None]]:
    """The stream deltas of one choice: role, content (or tool call pieces), then the finish."""
    out: list[tuple[dict[str, Any], Any, str | None]] = [({"role": "assistant", "content": "", "refusal": None}, None, None)]
    for i, call in enumerate(message.get("tool_calls") or ()):
        head = {"index": i, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}}
        out.append(({"tool_calls": [head]}, None, None))
        out.append(({"tool_calls": [{"index": i, "function": {"arguments": call["function"]["arguments"]}}]}, None, None))
    if message.get("content"):
        out.append(({"content": message["content"]}, logprobs, None))
    out.append(({}, None, finish))
    return out
