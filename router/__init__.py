"""attune-router: route LLM calls down fallback chains with retries, circuit breakers and
automatic telemetry, ordered by a policy that learns from what the telemetry shows."""

from typing import TYPE_CHECKING, Any

from router.client import AsyncClient, Client
from router.clock import Clock, LoopClock, SystemClock
from router.core import RecordSink, Router
from router.deployment import Deployment, Tier
from router.errors import (
    AttuneError,
    ConfigError,
    InvalidRequestError,
    ProviderError,
    RoutingError,
    UnknownModelError,
)
from router.providers import MemoryProvider, Provider, ProviderRequest, ProviderResponse
from router.settings import RouterSettings
from router.streaming import AsyncChatCompletionStream, ChatCompletionStream

if TYPE_CHECKING:
    from router.providers.anthropic import AnthropicProvider
    from router.providers.gemini import GeminiProvider
    from router.providers.openai import OpenAIProvider
    from router.types import ChatCompletion, ChatCompletionChunk

__all__ = [
    "AnthropicProvider",
    "AsyncChatCompletionStream",
    "AsyncClient",
    "AttuneError",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionStream",
    "Client",
    "Clock",
    "ConfigError",
    "Deployment",
    "GeminiProvider",
    "InvalidRequestError",
    "LoopClock",
    "MemoryProvider",
    "OpenAIProvider",
    "Provider",
    "ProviderError",
    "ProviderRequest",
    "ProviderResponse",
    "RecordSink",
    "Router",
    "RouterSettings",
    "RoutingError",
    "SystemClock",
    "Tier",
    "UnknownModelError",
]


def __getattr__(name: str) -> Any:
    if name in ("AnthropicProvider", "GeminiProvider", "OpenAIProvider"):  # import httpx: loaded on first use
        import router.providers

        return getattr(router.providers, name)
    if name in ("ChatCompletion", "ChatCompletionChunk"):  # pydantic models: loaded on first use
        import router.types

        return getattr(router.types, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
