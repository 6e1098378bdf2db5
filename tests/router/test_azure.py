"""The Azure OpenAI adapter on ``httpx.MockTransport``: the URL, query and headers it sends, and
Azure's own error bodies mapped to the router's classes (the key never in a message)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from router.errors import ProviderError
from router.providers.azure import DEFAULT_API_VERSION, AzureOpenAIProvider
from router.providers.base import ProviderRequest

KEY = "azure-key-canary-31"
REQ = ProviderRequest("my-gpt 4o", [{"role": "user", "content": "hi"}], {"temperature": 0})
OK = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o", "prompt_filter_results": [],
      "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
      "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


def adapter(status: int, body: Any, seen: list[httpx.Request], headers: dict[str, str] | None = None) -> AzureOpenAIProvider:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body, headers=headers)

    return AzureOpenAIProvider(base_url="https://res.openai.azure.com/openai/", api_key=KEY, transport=httpx.MockTransport(handler))


async def test_url_query_headers_and_body() -> None:
    seen: list[httpx.Request] = []
    resp = await adapter(200, OK, seen).send(REQ, timeout=5)
    assert resp.content == "hello" and resp.input_tokens == 3
    (req,) = seen
    assert str(req.url) == f"https://res.openai.azure.com/openai/deployments/my-gpt%204o/chat/completions?api-version={DEFAULT_API_VERSION}"
    assert req.headers["api-key"] == KEY and "authorization" not in req.headers
    assert json.loads(req.content) == {"model": "my-gpt 4o", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}


@pytest.mark.parametrize(("status", "body", "headers", "error_type"), [
    (429, {"error": {"code": "429", "message": "Requests to the ChatCompletions_Create Operation have exceeded token rate limit. Retry after 2 seconds."}},
     {"retry-after": "2"}, "rate_limited"),
    (401, {"error": {"code": "401", "message": f"Access denied due to invalid subscription key {KEY}."}}, None, "auth"),
    (404, {"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource does not exist."}}, None, "bad_request"),
    (400, {"error": {"message": "The response was filtered", "type": None, "param": "prompt", "code": "content_filter", "status": 400,
                     "innererror": {"code": "ResponsibleAIPolicyViolation"}}}, None, "bad_request"),
    (400, {"error": {"code": "context_length_exceeded", "message": "This model's maximum context length is 128000 tokens."}}, None, "context_length"),
    (500, {"error": {"code": "InternalServerError", "message": "Backend returned unexpected response."}}, None, "server_error"),
])
async def test_azure_error_bodies(status: int, body: Any, headers: dict[str, str] | None, error_type: str) -> None:
    with pytest.raises(ProviderError) as info:
        await adapter(status, body, [], headers).send(REQ, timeout=5)
    assert info.value.error_type == error_type and KEY not in str(info.value)
    if status == 429:
        assert info.value.retry_after == 2.0


def test_api_version_is_checked_and_the_key_never_shown() -> None:
    with pytest.raises(ValueError, match="api_version must be a non-empty string"):
        AzureOpenAIProvider(base_url="https://r.openai.azure.com", api_key=KEY, api_version="")
    assert KEY not in repr(AzureOpenAIProvider(base_url="https://r.openai.azure.com", api_key=KEY))
