"""An in-process provider: answers from memory, optionally failing on a script.

For tests, examples and the overhead benchmark; no network, no sleeping unless asked.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Iterable

from router.errors import ProviderError
from router.providers.base import ProviderRequest, ProviderResponse

__all__ = ["MemoryProvider"]


def _vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(b / 255.0 - 0.5, 4) for b in digest[:8]]


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

    async def embed(self, request: ProviderRequest, *, timeout: float) -> ProviderResponse:
        """Deterministic 8-dimensional vectors, one per input (from each input's hash)."""
        self.calls += 1
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.failures:
            raise self.failures.popleft()
        raw = request.params.get("input")
        items = raw if isinstance(raw, list) and raw and not isinstance(raw[0], int) else [raw]
        data = [{"object": "embedding", "index": i, "embedding": _vector(repr(item))} for i, item in enumerate(items)]
        body = {"object": "list", "data": data, "model": request.model, "usage": {"prompt_tokens": self.input_tokens, "total_tokens": self.input_tokens}}
        return ProviderResponse(None, self.input_tokens, 0, None, None, request.model, body=body)

    async def aclose(self) -> None:
        return None
