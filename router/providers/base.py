"""The provider seam: one adapter per wire format, each turning a ``ProviderRequest`` into a
``ProviderResponse`` or raising a ``ProviderError`` subclass with the right ``error_type``.

An adapter does one attempt and never retries: retries, breakers and fallback belong to the
router. ``timeout`` is the time left for this attempt; an adapter that enforces it exactly
sets ``enforces_timeout = True`` and the router then skips its own timer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = ["DEFAULT_BASE_URLS", "Provider", "ProviderRequest", "ProviderResponse"]

# the endpoint each wire format talks to unless a deployment names another (config and adapters)
DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "gemini": "https://generativelanguage.googleapis.com",
}


@dataclass(slots=True)
class ProviderRequest:
    """A chat request addressed to one deployment (``model`` is the provider's model name)."""

    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    task_type: str = ""
    input_tokens_estimate: int = 0
    # the SDK's per-call request options, applied by the transport as the SDK applies them
    extra_headers: dict[str, str] | None = None  # merged over the adapter's headers
    extra_query: dict[str, Any] | None = None  # added to the URL's query string
    extra_body: dict[str, Any] | None = None  # merged (top level) over the adapter's JSON body


@dataclass(slots=True)
class ProviderResponse:
    """What an adapter got back, in a provider-neutral shape."""

    content: str | None
    input_tokens: int
    output_tokens: int
    finish_reason: str | None = "stop"
    response_id: str | None = None
    model: str | None = None  # the model the provider says served it
    ttft_s: float | None = None
    message: dict[str, Any] | None = None  # full assistant message (tool calls etc.) if any
    http_status: int | None = 200
    body: dict[str, Any] | None = None  # the provider's chat.completion JSON, kept whole (OpenAI wire)
    headers: Mapping[str, str] | None = None  # the answer's HTTP headers (with_raw_response)
    request_id: str | None = None  # the x-request-id header, when sent


@runtime_checkable
class Provider(Protocol):
    """An adapter for one provider API. ``name`` is the provider family ("openai", ...)."""

    name: str
    enforces_timeout: bool

    async def send(self, request: ProviderRequest, *, timeout: float) -> ProviderResponse: ...

    async def aclose(self) -> None: ...
