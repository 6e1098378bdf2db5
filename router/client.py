"""Drop-in clients in the OpenAI SDK's call shape.

``AsyncClient().chat.completions.create(model="capable", messages=[...], task_type=...)``
routes through a ``Router``; ``Client`` is the same surface for synchronous code, running
the router on a private event loop in a background thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping, Sequence
from os import PathLike
from typing import TYPE_CHECKING, Any, TypeVar

from router.core import Router
from router.streaming import AsyncChatCompletionStream, ChatCompletionStream

if TYPE_CHECKING:
    from router.types import ChatCompletion

__all__ = ["AsyncClient", "Client"]

T = TypeVar("T")


class _AsyncCompletions:
    def __init__(self, owner: AsyncClient) -> None:
        self._owner = owner

    async def create(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        task_type: str = "default",
        tags: Mapping[str, str] | None = None,
        deadline_s: float | None = None,
        **params: Any,
    ) -> ChatCompletion:
        """Route one chat completion. ``model`` names a tier or a deployment; other keyword
        arguments (``temperature``, ``max_tokens``...) go to the provider unchanged.
        ``stream=True`` returns an ``AsyncChatCompletionStream`` of chunks."""
        return await self._owner.router.acompletion(
            model, messages, task_type=task_type, tags=tags, deadline_s=deadline_s, **params
        )


class _AsyncChat:
    def __init__(self, owner: AsyncClient) -> None:
        self.completions = _AsyncCompletions(owner)


class AsyncClient:
    """The async drop-in client. Build from a ``Router`` or with ``from_config(path)``."""

    def __init__(self, router: Router, *, telemetry: Any = None) -> None:
        self.router = router
        self.telemetry = telemetry if telemetry is not None else router.telemetry
        self.chat = _AsyncChat(self)

    @classmethod
    def from_config(cls, source: str | PathLike[str] | Mapping[str, Any], **overrides: Any) -> AsyncClient:
        """Build from a YAML file path or an already-parsed mapping (see ``router.config``)."""
        from router.config import build_router

        router = build_router(source, **overrides)
        return cls(router)

    def explain(self, model: str, *, task_type: str = "default") -> dict[str, Any]:
        """The current order for a tier, with the numbers and reasons behind it."""
        return self.router.explain(model, task_type=task_type)

    async def aclose(self) -> None:
        """Close HTTP pools and flush telemetry (every record written)."""
        await self.router.aclose()
        tel = self.telemetry
        if tel is not None and hasattr(tel, "aclose"):
            await tel.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _LoopThread:
    """A private event loop in a daemon thread; coroutines run there, callers block."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="attune-client-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)
        self.loop.close()


class _Completions:
    def __init__(self, owner: Client) -> None:
        self._owner = owner

    def create(
        self,
        *,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        task_type: str = "default",
        tags: Mapping[str, str] | None = None,
        deadline_s: float | None = None,
        **params: Any,
    ) -> ChatCompletion:
        """Route one chat completion (blocking); same arguments as the async client.
        ``stream=True`` returns a ``ChatCompletionStream`` to iterate."""
        loop = self._owner._loop
        result = loop.run(
            self._owner._async.chat.completions.create(
                model=model, messages=messages, task_type=task_type, tags=tags, deadline_s=deadline_s, **params
            )
        )
        if isinstance(result, AsyncChatCompletionStream):
            return ChatCompletionStream(result, loop.run)  # type: ignore[return-value]
        return result


class _Chat:
    def __init__(self, owner: Client) -> None:
        self.completions = _Completions(owner)


class Client:
    """The synchronous drop-in client, same surface as ``AsyncClient``."""

    def __init__(self, router: Router, *, telemetry: Any = None) -> None:
        self._async = AsyncClient(router, telemetry=telemetry)
        self._loop = _LoopThread()
        self.router = router
        self.telemetry = self._async.telemetry
        self.chat = _Chat(self)
        self._closed = False

    @classmethod
    def from_config(cls, source: str | PathLike[str] | Mapping[str, Any], **overrides: Any) -> Client:
        from router.config import build_router

        return cls(build_router(source, **overrides))

    def explain(self, model: str, *, task_type: str = "default") -> dict[str, Any]:
        return self.router.explain(model, task_type=task_type)

    def close(self) -> None:
        """Close HTTP pools, flush telemetry and stop the private loop."""
        if self._closed:
            return
        self._closed = True
        try:
            self._loop.run(self._async.aclose())
        finally:
            self._loop.stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
