"""Provider adapters: one per wire format, behind the ``Provider`` seam.

``OpenAIProvider`` (and with it httpx) is imported on first use, so ``import router`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from router.providers.base import Provider, ProviderRequest, ProviderResponse
from router.providers.memory import MemoryProvider

if TYPE_CHECKING:
    from router.providers.openai import OpenAIProvider

__all__ = ["MemoryProvider", "OpenAIProvider", "Provider", "ProviderRequest", "ProviderResponse"]


def __getattr__(name: str) -> Any:
    if name == "OpenAIProvider":
        from router.providers.openai import OpenAIProvider

        return OpenAIProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
