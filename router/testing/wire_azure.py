"""Azure OpenAI as the fake server speaks it:
``POST /openai/deployments/<deployment>/chat/completions?api-version=<V>`` (and ``/embeddings``),
the key in an ``api-key`` header, the deployment in the path (it is the route).

Bodies are OpenAI's and checked as strictly; Azure's own answers differ where Azure differs: a
request without ``api-version`` is 404 "Resource not found", a missing or wrong key 401 with
``{"error": {"code": "401", "message": "Access denied ..."}}``, and error bodies of status
faults carry the status as a string ``code`` (``{"error": {"code": "429", "message": ...}}``).
Answers carry Azure's ``prompt_filter_results``; a stream opens with Azure's content-filter
chunk (no choices, empty id and model) before the first OpenAI chunk.
"""

from __future__ import annotations

import json
from typing import Any

from router.testing.faults import Fault
from router.testing.wire import Reply, dumps, fault_headers, json_reply
from router.testing.wire_openai import OpenAIWire

__all__ = ["AzureWire"]

_FILTERS = [{"prompt_index": 0, "content_filter_results": {
    "hate": {"filtered": False, "severity": "safe"}, "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"}, "violence": {"filtered": False, "severity": "safe"}}}]
_MESSAGES = {
    400: "The request is invalid.",
    404: "The API deployment for this resource does not exist.",
    429: "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version have exceeded token rate limit "
         "of your current OpenAI S0 pricing tier. Please retry after 1 second.",
    500: "The server had an error while processing your request.",
    503: "The service is temporarily unable to process your request.",
}


def azure_error(status: int, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return json_reply(status, {"error": {"code": code, "message": message}}, headers)


class AzureWire(OpenAIWire):
    """OpenAI bodies behind Azure's URL scheme, ``api-key`` header and error bodies."""

    name = "azure"
    key_header = "api-key"
    required = ("messages",)  # the deployment in the URL names the model

    def key_ok(self, headers: dict[str, str], key: str) -> bool:
        return headers.get("api-key") == key

    def unauthorized(self, headers: dict[str, str]) -> Reply:
        return azure_error(401, "401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide "
                           "a valid key for an active subscription and use a correct regional API endpoint for your resource.")

    def missing_query(self, params: list[tuple[str, str]]) -> Reply | None:
        if not any(name == "api-version" and value for name, value in params):
            return azure_error(404, "404", "Resource not found")
        return None

    def status_error(self, fault: Fault) -> Reply:
        status = fault.status_code
        assert status is not None
        code = fault.code_str or ("DeploymentNotFound" if status == 404 else str(status))
        return azure_error(status, code, fault.message or _MESSAGES.get(status, f"Error {status}."), fault_headers(fault))

    def stream_error_body(self, fault: Fault) -> dict[str, Any]:
        assert fault.status_code is not None
        return {"error": {"code": str(fault.status_code), "message": fault.message or _MESSAGES.get(fault.status_code, "Error.")}}

    def success(self, payload: dict[str, Any], model: str, count: int, prompt_tokens: int, stream: str | None, error: Fault | None) -> Reply:
        reply = super().success(payload, model, count, prompt_tokens, stream, error)
        if stream is None:
            return json_reply(200, {**json.loads(reply.body), "prompt_filter_results": _FILTERS})
        preamble = f"data: {dumps({'choices': [], 'created': 0, 'id': '', 'model': '', 'object': '', 'prompt_filter_results': _FILTERS})}\n\n".encode()
        return reply._replace(body=preamble + reply.body, events=(preamble, *reply.events))
