"""Provider adapters: one per wire format, behind the ``Provider`` seam."""

from router.providers.base import Provider, ProviderRequest, ProviderResponse
from router.providers.memory import MemoryProvider
from router.providers.openai import OpenAIProvider

__all__ = ["MemoryProvider", "OpenAIProvider", "Provider", "ProviderRequest", "ProviderResponse"]
