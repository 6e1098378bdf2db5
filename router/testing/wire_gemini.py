"""The Gemini API as the fake server speaks it (``POST /v1beta/models/<model>:generateContent``,
``:streamGenerateContent`` with ``?alt=sse`` or as a JSON array).

A status fault's ``retry_after`` is sent the way Google sends it, as a ``google.rpc.RetryInfo``
detail in the body (a Retry-After header only when the fault's ``headers`` name one).
"""

from __future__ import annotations

import uuid
from typing import Any

from router.testing.faults import Fault
from router.testing.wire import DEFAULT_COMPLETION_TOKENS, Reply, Wire, count_text, dumps, fault_headers, json_reply, sse

__all__ = ["GeminiWire"]

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
        problem = self._problem(payload)
        return None if problem is None else self.bad_request(problem)

    @staticmethod
    def _problem(payload: dict[str, Any]) -> str | None:
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
        system = payload.get("systemInstruction")
        if system is not None and not (isinstance(system, dict) and isinstance(system.get("parts"), list)):
            return "* GenerateContentRequest.system_instruction: must be a Content with parts"
        config = payload.get("generationConfig") or {}
        if not isinstance(config, dict):
            return "* GenerateContentRequest.generation_config: must be an object"
        limit = config.get("maxOutputTokens")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            return "* GenerateContentRequest.generation_config.max_output_tokens: must be a positive integer"
        stops = config.get("stopSequences")
        if stops is not None and not (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
            return "* GenerateContentRequest.generation_config.stop_sequences: must be a list of strings"
        return None

    def prompt_tokens(self, payload: dict[str, Any]) -> int:
        return max(1, (count_text(payload.get("systemInstruction")) + count_text(payload.get("contents"))) // 4)

    def completion_tokens(self, payload: dict[str, Any]) -> int:
        limit = (payload.get("generationConfig") or {}).get("maxOutputTokens")
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

        def candidate(text: str, finish: str | None) -> dict[str, Any]:
            out: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
            if finish:
                out["finishReason"] = finish
            return out

        if stream is None:
            return json_reply(200, {"candidates": [candidate(f"ok: {count}", "STOP")], "usageMetadata": usage, **base})
        chunks: list[dict[str, Any]] = [
            {"candidates": [candidate("ok: ", None)], "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens}, **base},
            {"candidates": [candidate(str(count), "STOP")], "usageMetadata": usage, **base},
        ]
        if error is not None:
            assert error.status_code is not None
            gstatus, message = _error_shape(error.status_code)
            err = {"error": {"code": error.status_code, "message": error.message or message, "status": error.code_str or gstatus}}
            chunks = [chunks[0], err]
        if stream == "sse":
            return sse([(None, c) for c in chunks])
        return Reply(200, ("[" + ",\r\n".join(dumps(c) for c in chunks) + "]").encode(), "application/json")
