"""An in-process provider: answers from memory, optionally failing on a script.

For tests, examples and the overhead benchmark; no network, no sleeping unless asked.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable

from router.errors import ProviderError
from router.providers.base import ProviderRequest, ProviderResponse

__all__ = ["MemoryProvider"]


class MemoryProvider:
    """Answers ``content`` with fixed token counts; ``fail_with`` errors are raised first,
    one per call, in order. ``latency_s`` sleeps on the event loop before answering."""

    enforces_timeout = False

    def __init__(
        self,
        name: str = "memory",
        *,
        content: str = "ok",
        input_tokens: int = 10,
        output_tokens: int = 5,
        latency_s: float = 0.0,
        fail_with: Iterable[ProviderError] = (),
    ) -> None:
        self.name = name
        self.content = content
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.latency_s = latency_s
        self.failures: deque[ProviderError] = deque(fail_with)
        self.calls = 0
        self._response = ProviderResponse(content, input_tokens, output_tokens, "stop", None, None)

    async def send(self, request: ProviderRequest, *, timeout: float) -> ProviderResponse:
        self.calls += 1
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.failures:
            raise self.failures.popleft()
        return self._response

    async def aclose(self) -> None:
        return None
