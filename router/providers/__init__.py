"""Provider adapters: one per wire format, behind the ``Provider`` seam.

The httpx adapters (``OpenAIProvider``, ``AnthropicProvider``, ``GeminiProvider``, and with them
httpx) are imported on first use, so ``import router`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from router.providers.base import Provider, ProviderRequest, ProviderResponse
from router.providers.memory import MemoryProvider

if TYPE_CHECKING:
    from router.providers.anthropic import AnthropicProvider
    from router.providers.gemini import GeminiProvider
    from router.providers.openai import OpenAIProvider

__all__ = ["AnthropicProvider", "GeminiProvider", "MemoryProvider", "OpenAIProvider", "Provider", "ProviderRequest", "ProviderResponse"]

_LAZY = {
    "AnthropicProvider": "router.providers.anthropic",
    "GeminiProvider": "router.providers.gemini",
    "OpenAIProvider": "router.providers.openai",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
