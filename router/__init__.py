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
from router.settings import BreakerSettings, RouterSettings
from router.streaming import AsyncChatCompletionStream, ChatCompletionStream

if TYPE_CHECKING:
    from router.providers.anthropic import AnthropicProvider
    from router.providers.gemini import GeminiProvider
    from router.providers.openai import OpenAIProvider
    from router.types import ChatCompletion, ChatCompletionChunk
    from router.resilience.retry import RetryPolicy
    from router.resilience.shared import LocalSharedState, RedisSharedState

__all__ = [
    "AnthropicProvider",
    "AsyncChatCompletionStream",
    "AsyncClient",
    "AttuneError",
    "BreakerSettings",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionStream",
    "Client",
    "Clock",
    "ConfigError",
    "Deployment",
    "GeminiProvider",
    "InvalidRequestError",
    "LocalSharedState",
    "LoopClock",
    "MemoryProvider",
    "OpenAIProvider",
    "Provider",
    "ProviderError",
    "ProviderRequest",
    "ProviderResponse",
    "RecordSink",
    "RedisSharedState",
    "RetryPolicy",
    "Router",
    "RouterSettings",
    "RoutingError",
    "SystemClock",
    "Tier",
    "UnknownModelError",
]


# loaded on first use: the httpx adapters import httpx, the response types pydantic; the rest
# stay out of `import router`'s way
_LAZY = {
    "AnthropicProvider": "router.providers",
    "ChatCompletion": "router.types",  # pydantic models
    "ChatCompletionChunk": "router.types",
    "GeminiProvider": "router.providers",
    "OpenAIProvider": "router.providers",
    "LocalSharedState": "router.resilience.shared",
    "RedisSharedState": "router.resilience.shared",
    "RetryPolicy": "router.resilience.retry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
