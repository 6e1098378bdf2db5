"""attune-router: route LLM calls down fallback chains with retries, circuit breakers and
automatic telemetry, ordered by a policy that learns from what the telemetry shows."""

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
from router.providers import MemoryProvider, OpenAIProvider, Provider, ProviderRequest, ProviderResponse
from router.response import ChatCompletion
from router.settings import RouterSettings

__all__ = [
    "AsyncClient",
    "AttuneError",
    "ChatCompletion",
    "Client",
    "Clock",
    "ConfigError",
    "Deployment",
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
