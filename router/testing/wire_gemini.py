"""The Gemini API as the fake server speaks it (``POST /v1beta/models/<model>:generateContent``,
``:streamGenerateContent`` with ``?alt=sse`` or as a JSON array).

A status fault's ``retry_after`` is sent the way Google sends it, as a ``google.rpc.RetryInfo``
detail in the body (a Retry-After header only when the fault's ``headers`` name one).

Strict as the API (which reads camelCase and snake_case field names alike): an unknown field of
``GenerateContentRequest`` or of its ``generationConfig`` is answered 400 'Invalid JSON payload
received. Unknown name "x"', a value of the wrong type "Invalid value at 'x'" (with a
``google.rpc.BadRequest`` field violation); parts are checked by kind (text, inlineData,
fileData, functionCall, functionResponse, ...).

A forced function call (``toolConfig.functionCallingConfig.mode: ANY``) is answered with
``functionCall`` parts; a ``responseSchema`` / ``responseJsonSchema`` with a JSON text that
satisfies it.
"""

from __future__ import annotations

import uuid
from typing import Any

from router.testing.faults import Fault
from router.testing.schema import Problem, check_body
from router.testing.wire import DEFAULT_COMPLETION_TOKENS, Reply, Wire, count_text, dumps, fault_headers, json_reply, sample_json, sse

__all__ = ["GENERATION_CONFIG", "REQUEST_FIELDS", "GeminiWire"]

# GenerateContentRequest (the model is in the URL) and GenerationConfig, camelCase, with JSON types
REQUEST_FIELDS: dict[str, str] = {
    "contents": "list", "tools": "list", "toolConfig": "obj", "safetySettings": "list", "systemInstruction": "obj",
    "generationConfig": "obj", "cachedContent": "str",
}
GENERATION_CONFIG: dict[str, str] = {
    "stopSequences": "list", "responseMimeType": "str", "responseSchema": "obj", "responseJsonSchema": "any",
    "_responseJsonSchema": "any", "responseModalities": "list", "candidateCount": "int", "maxOutputTokens": "int",
    "temperature": "num", "topP": "num", "topK": "int", "seed": "int", "presencePenalty": "num", "frequencyPenalty": "num",
    "responseLogprobs": "bool", "logprobs": "int", "enableEnhancedCivicAnswers": "bool", "speechConfig": "obj",
    "thinkingConfig": "obj", "mediaResolution": "str", "imageConfig": "obj",
}
_PARTS = {"text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode", "codeExecutionResult"}
_PART_EXTRAS = {"thought", "thoughtSignature", "videoMetadata", "partMetadata"}
_PROTO_TYPES = {"str": "TYPE_STRING", "int": "TYPE_INT32", "num": "TYPE_FLOAT", "bool": "TYPE_BOOL", "obj": "TYPE_MESSAGE", "list": "TYPE_MESSAGE", "any": "TYPE_MESSAGE"}


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def _aliases(spec: dict[str, str]) -> dict[str, str]:
    return {_snake(k): k for k in spec}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)

# status -> (google.rpc status, default message)
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "The requested model was not found."),
    409: ("ABORTED", "The request was aborted."),
    429: ("RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details."),
    499: ("CANCELLED", "The operation was cancelled."),
    500: ("INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}
_QUOTA = {
    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
    "violations": [{
        "quotaMetric": "generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count",
        "quotaId": "GenerateContentPaidTierInputTokensPerModelPerMinute",
    }],
}


def _error(status: int, gstatus: str, message: str, details: list[dict[str, Any]] | None = None,
           headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    err: dict[str, Any] = {"code": status, "message": message, "status": gstatus}
    if details:
        err["details"] = details
    return json_reply(status, {"error": err}, headers)


def _error_shape(status: int) -> tuple[str, str]:
    return _ERRORS.get(status, ("INVALID_ARGUMENT" if status < 500 else "INTERNAL", f"Error {status}."))


def _config(payload: dict[str, Any]) -> dict[str, Any]:
    config = payload.get("generationConfig", payload.get("generation_config"))
    return config if isinstance(config, dict) else {}


def _field_error(problem: Problem, body: dict[str, Any], where: str) -> Reply:
    field = f"{where}.{_snake(problem.key)}" if where else _snake(problem.key)
    if problem.kind == "unknown":
        at = f" at '{where}'" if where else ""
        message = f'Invalid JSON payload received. Unknown name "{problem.key}"{at}: Cannot find field.'
    else:
        proto = _PROTO_TYPES[problem.expected.split("|")[0]]
        message = f"Invalid value at '{field}' ({proto}), {dumps(body[problem.key])}"
    violation = {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": field, "description": message}]}
    return _error(400, "INVALID_ARGUMENT", message, [violation])


def _forced_calls(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """``functionCall`` parts for a request that forces a call (mode ANY), else []."""
    camel = {_camel(k): v for k, v in payload.items()}
    config = ((camel.get("toolConfig") or {}).get("functionCallingConfig")) or {}
    if str(config.get("mode", "")).upper() != "ANY":
        return []
    names = [d.get("name") for t in camel.get("tools") or () for d in (t.get("functionDeclarations") or ())]
    allowed = config.get("allowedFunctionNames") or names[:1]
    return [{"functionCall": {"name": n, "args": {}}} for n in allowed]


def _structured_text(payload: dict[str, Any]) -> str | None:
    config = {_camel(k): v for k, v in _config(payload).items()}
    for key in ("responseJsonSchema", "responseSchema"):
        if isinstance(config.get(key), dict):
            return dumps(sample_json(config[key]))
    return dumps({"ok": True}) if config.get("responseMimeType") == "application/json" else None


class GeminiWire(Wire):
    """generateContent bodies, ``x-goog-api-key`` keys, ``{"error": {code, message, status}}`` errors."""

    name = "gemini"
    key_header = "x-goog-api-key"

    def unauthorized(self, headers: dict[str, str]) -> Reply:
        if "x-goog-api-key" not in headers:
            return _error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established "
                          "identity). Please use API Key or other form of API consumer identity to call this API.")
        info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}
        return _error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [info])

    def bad_request(self, message: str) -> Reply:
        return _error(400, "INVALID_ARGUMENT", message)

    def invalid(self, payload: dict[str, Any]) -> Reply | None:
        for spec, where in ((REQUEST_FIELDS, ""), (GENERATION_CONFIG, "generation_config")):
            body = payload if not where else _config(payload)
            problem = check_body(body, spec, (), aliases=_aliases(spec)) if isinstance(body, dict) else None
            if problem is not None:
                return _field_error(problem, body, where)
        found = self._problem(payload)
        return None if found is None else self.bad_request(found)

    @staticmethod
    def _problem(payload: dict[str, Any]) -> str | None:
        payload = {_camel(k): v for k, v in payload.items()}
        contents = payload.get("contents")
        if not isinstance(contents, list) or not contents:
            return "* GenerateContentRequest.contents: contents is not specified"
        for i, c in enumerate(contents):
            if not isinstance(c, dict) or c.get("role", "user") not in ("user", "model"):
                role = c.get("role") if isinstance(c, dict) else None
                return f"* GenerateContentRequest.contents[{i}].role: Please use a valid role: user, model (got {role!r})."
            parts = c.get("parts")
            if not isinstance(parts, list) or not parts or not all(isinstance(p, dict) and p for p in parts):
                return f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
            for j, part in enumerate(parts):
                kinds = {_camel(k) for k in part} - _PART_EXTRAS
                if len(kinds) != 1 or not kinds <= _PARTS:
                    return f"* GenerateContentRequest.contents[{i}].parts[{j}].data: required oneof field 'data' must have one initialized field"
        system = payload.get("systemInstruction")
        if system is not None and not (isinstance(system, dict) and isinstance(system.get("parts"), list)):
            return "* GenerateContentRequest.system_instruction: must be a Content with parts"
        config = {_camel(k): v for k, v in (payload.get("generationConfig") or {}).items()}
        limit = config.get("maxOutputTokens")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            return "* GenerateContentRequest.generation_config.max_output_tokens: must be a positive integer"
        stops = config.get("stopSequences")
        if stops is not None and not (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
            return "* GenerateContentRequest.generation_config.stop_sequences: must be a list of strings"
        return None

    def prompt_tokens(self, payload: dict[str, Any]) -> int:
        payload = {_camel(k): v for k, v in payload.items()}
        return max(1, (count_text(payload.get("systemInstruction")) + count_text(payload.get("contents"))) // 4)

    def completion_tokens(self, payload: dict[str, Any]) -> int:
        limit = {_camel(k): v for k, v in _config(payload).items()}.get("maxOutputTokens")
        return limit if isinstance(limit, int) else DEFAULT_COMPLETION_TOKENS

    def status_error(self, fault: Fault) -> Reply:
        status = fault.status_code
        assert status is not None
        gstatus, message = _error_shape(status)
        details: list[dict[str, Any]] = []
        if status == 429:
            details.append(_QUOTA)
        if fault.retry_after is not None:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{fault.retry_after}s"})
        return _error(status, fault.code_str or gstatus, fault.message or message, details, fault_headers(fault, retry_after_header=False))

    def context_error(self, limit: int, tokens: int, message: str | None) -> Reply:
        return _error(400, "INVALID_ARGUMENT", message or f"The input token count ({tokens}) exceeds the maximum number of tokens allowed ({limit}).")

    def success(self, payload: dict[str, Any], model: str, count: int, prompt_tokens: int, stream: str | None, error: Fault | None) -> Reply:
        output = self.completion_tokens(payload)
        base = {"modelVersion": model, "responseId": uuid.uuid4().hex[:22]}
        usage = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": output, "totalTokenCount": prompt_tokens + output}

        def candidate(parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
            out: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            if finish:
                out["finishReason"] = finish
            return out

        calls = _forced_calls(payload)
        text = _structured_text(payload) or f"ok: {count}"
        if stream is None:
            parts = calls or [{"text": text}]
            return json_reply(200, {"candidates": [candidate(parts, "STOP")], "usageMetadata": usage, **base})
        cut = text.rfind(" ") + 1 or len(text) // 2
        first, last = ([calls[0]], calls[1:]) if calls else ([{"text": text[:cut]}], [{"text": text[cut:]}])
        chunks: list[dict[str, Any]] = [
            {"candidates": [candidate(first, None)], "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens}, **base},
            {"candidates": [candidate(last, "STOP")], "usageMetadata": usage, **base},
        ]
        if error is not None:
            assert error.status_code is not None
            gstatus, message = _error_shape(error.status_code)
            err = {"error": {"code": error.status_code, "message": error.message or message, "status": error.code_str or gstatus}}
            chunks = [chunks[0], err]
        if stream == "sse":
            return sse([(None, c) for c in chunks])
        pieces = tuple((("[" if i == 0 else ",\r\n") + dumps(c) + ("]" if i == len(chunks) - 1 else "")).encode() for i, c in enumerate(chunks))
        return Reply(200, b"".join(pieces), "application/json", (), pieces)
