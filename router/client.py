"""Drop-in clients in the OpenAI SDK's surface.

``AsyncClient().chat.completions.create(model="capable", messages=[...], task_type=...)``
routes through a ``Router``; ``Client`` is the same surface for synchronous code, running
the router on a private event loop in a background thread. Beside ``create``:
``chat.completions.parse`` / ``.stream``, ``embeddings.create``, ``models.list``, each resource's
``.with_raw_response`` / ``.with_streaming_response`` (``router.raw_response``),
``with_options(timeout=..., max_retries=...)``, ``close()``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from os import PathLike
from typing import TYPE_CHECKING, Any, TypeVar

from router.chat_stream import AsyncChatStreamManager, ChatStreamManager
from router.core import Router
from router.raw_response import AsyncWithRawResponse, AsyncWithStreamingResponse, WithRawResponse, WithStreamingResponse
from router.streaming import AsyncChatCompletionStream, ChatCompletionStream

if TYPE_CHECKING:
    from router.types import ChatCompletion, CreateEmbeddingResponse, ModelList
    from router.types.parsed import ParsedChatCompletion

__all__ = ["AsyncClient", "Client"]

T = TypeVar("T")
_NOT_GIVEN: Any = object()


@dataclass(frozen=True, slots=True)
class _Defaults:
    """Per-client request options (``with_options``), under each call's own."""

    timeout: Any = None
    max_retries: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, Any] = field(default_factory=dict)

    def apply(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.timeout is not None and params.get("timeout") is None:
            params["timeout"] = self.timeout
        if self.max_retries is not None and params.get("max_retries") is None:
            params["max_retries"] = self.max_retries
        if self.headers:
            params["extra_headers"] = {**self.headers, **(params.get("extra_headers") or {})}
        if self.query:
            params["extra_query"] = {**self.query, **(params.get("extra_query") or {})}
        return params


class _AsyncCompletions:
    def __init__(self, owner: AsyncClient) -> None:
        self._owner = owner
        self.with_raw_response = AsyncWithRawResponse(self, "create", "parse")
        self.with_streaming_response = AsyncWithStreamingResponse(self, "create", "parse")

    async def create(
        self,
        *,
        model: str,
        messages: Sequence[Any],
        task_type: str = "default",
        tags: Mapping[str, str] | None = None,
        deadline_s: float | None = None,
        **params: Any,
    ) -> ChatCompletion:
        """Route one chat completion. ``model`` names a tier or a deployment; the SDK's request
        options (``timeout``, ``max_retries``, ``extra_headers``, ``extra_query``, ``extra_body``)
        shape the call; every other keyword argument goes to the provider unchanged.
        ``stream=True`` returns an ``AsyncChatCompletionStream`` of chunks."""
        params = self._owner._defaults.apply(params)
        return await self._owner.router.acompletion(
            model, messages, task_type=task_type, tags=tags, deadline_s=deadline_s, **params
        )

    async def parse(self, *, model: str, messages: Sequence[Any], response_format: Any, **params: Any) -> ParsedChatCompletion:
        """``create`` with ``response_format`` a pydantic model (sent as a strict json_schema);
        ``choices[i].message.parsed`` is the validated model, ``.refusal`` a refusal."""
        from router.parsing import parse_completion, response_format_param

        if params.pop("stream", False):
            raise TypeError("parse() does not stream; use chat.completions.stream(response_format=...)")
        fmt = response_format_param(response_format)
        resp = await self.create(model=model, messages=messages, response_format=fmt, stream=False, **params)  # the SDK sends "stream": false
        return parse_completion(resp, response_format)

    def stream(self, *, model: str, messages: Sequence[Any], response_format: Any = None, **params: Any) -> AsyncChatStreamManager:
        """The SDK's streaming helper: ``async with client.chat.completions.stream(...) as s:``
        then ``async for event in s`` (``content.delta``, ``content.done``, ``chunk``, tool-call
        argument events) and ``await s.get_final_completion()``."""
        from router.parsing import response_format_param

        if response_format is not None:
            params["response_format"] = response_format_param(response_format)
        opened = self.create(model=model, messages=messages, stream=True, **params)
        return AsyncChatStreamManager(opened, response_format)


class _AsyncChat:
    def __init__(self, owner: AsyncClient) -> None:
        self.completions = _AsyncCompletions(owner)


class _AsyncEmbeddings:
    def __init__(self, owner: AsyncClient) -> None:
        self._owner = owner
        self.with_raw_response = AsyncWithRawResponse(self, "create")
        self.with_streaming_response = AsyncWithStreamingResponse(self, "create")

    async def create(self, *, model: str, input: Any, task_type: str = "embedding", **params: Any) -> CreateEmbeddingResponse:  # noqa: A002
        """Route one embeddings call over a tier (or deployment) of embedding deployments. Without
        ``encoding_format`` the vectors travel as base64 and come back as floats, as the SDK does."""
        from router.embeddings import decode_embeddings

        params = self._owner._defaults.apply(params)
        if "encoding_format" in params:
            return await self._owner.router.aembedding(model, input, task_type=task_type, **params)
        resp = await self._owner.router.aembedding(model, input, task_type=task_type, encoding_format="base64", **params)
        return decode_embeddings(resp)


class _Models:
    def __init__(self, router: Router) -> None:
        self._router = router
        self.with_raw_response = WithRawResponse(self, "list", local=True)
        self.with_streaming_response = WithStreamingResponse(self, "list", local=True)

    def list(self) -> ModelList:
        """Every tier (``owned_by="attune"``) and deployment (``owned_by`` its provider)."""
        from router.types.embeddings import Model, ModelList

        r = self._router
        tiers = [Model(id=name, created=0, owned_by="attune") for name in r.tiers if name not in r.deployments]
        deps = [Model(id=d.key, created=0, owned_by=d.provider) for d in r.deployments.values()]
        return ModelList(data=[*tiers, *deps])


class _AsyncModels(_Models):
    def __init__(self, router: Router) -> None:
        self._router = router
        self.with_raw_response = AsyncWithRawResponse(self, "list", local=True)  # type: ignore[assignment]
        self.with_streaming_response = AsyncWithStreamingResponse(self, "list", local=True)  # type: ignore[assignment]

    async def list(self) -> ModelList:  # type: ignore[override]
        return super().list()


def _import_sdk_exceptions() -> None:
    """Import ``openai`` when installed, so routed failures are raised as its classes."""
    if importlib.util.find_spec("openai") is not None:
        import openai  # noqa: F401


class AsyncClient:
    """The async drop-in client. Build from a ``Router`` or with ``from_config(path)``."""

    def __init__(self, router: Router, *, telemetry: Any = None, _defaults: _Defaults | None = None) -> None:
        _import_sdk_exceptions()
        self.router = router
        self.telemetry = telemetry if telemetry is not None else router.telemetry
        self._defaults = _defaults or _Defaults()
        self.chat = _AsyncChat(self)
        self.embeddings = _AsyncEmbeddings(self)
        self.models = _AsyncModels(router)

    @classmethod
    def from_config(cls, source: str | PathLike[str] | Mapping[str, Any], **overrides: Any) -> AsyncClient:
        """Build from a YAML file path or an already-parsed mapping (see ``router.config``)."""
        from router.config import build_router

        router = build_router(source, **overrides)
        return cls(router)

    def with_options(
        self,
        *,
        timeout: Any = _NOT_GIVEN,
        max_retries: Any = _NOT_GIVEN,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, Any] | None = None,
    ) -> AsyncClient:
        """A client sharing this one's router, with other default request options (the SDK's
        ``with_options``; connection options such as ``base_url`` live in the config)."""
        d = self._defaults
        changes: dict[str, Any] = {}
        if timeout is not _NOT_GIVEN:
            changes["timeout"] = timeout
        if max_retries is not _NOT_GIVEN:
            changes["max_retries"] = max_retries
        if default_headers is not None:
            changes["headers"] = {**d.headers, **default_headers}
        if default_query is not None:
            changes["query"] = {**d.query, **default_query}
        return type(self)(self.router, telemetry=self.telemetry, _defaults=replace(d, **changes))

    copy = with_options

    def explain(self, model: str, *, task_type: str = "default") -> dict[str, Any]:
        """The current order for a tier, with the numbers and reasons behind it."""
        return self.router.explain(model, task_type=task_type)

    async def aclose(self) -> None:
        """Close HTTP pools and flush telemetry (every record written)."""
        await self.router.aclose()
        tel = self.telemetry
        if tel is not None and hasattr(tel, "aclose"):
            await tel.aclose()

    close = aclose  # the SDK's name: ``await client.close()``

    async def __aenter__(self) -> AsyncClient:
        await self.router.astart()
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


def _sync_stream(result: Any, loop: _LoopThread) -> Any:
    return ChatCompletionStream(result, loop.run) if isinstance(result, AsyncChatCompletionStream) else result


class _Completions:
    def __init__(self, owner: Client) -> None:
        self._owner = owner
        self.with_raw_response = WithRawResponse(self, "create", "parse")
        self.with_streaming_response = WithStreamingResponse(self, "create", "parse")

    def _async(self) -> _AsyncCompletions:
        return self._owner._async.chat.completions

    def create(self, **kwargs: Any) -> Any:
        """Route one chat completion (blocking); same arguments as the async client.
        ``stream=True`` returns a ``ChatCompletionStream`` to iterate."""
        loop = self._owner._loop
        return _sync_stream(loop.run(self._async().create(**kwargs)), loop)

    def parse(self, **kwargs: Any) -> ParsedChatCompletion:
        return self._owner._loop.run(self._async().parse(**kwargs))

    def stream(self, **kwargs: Any) -> ChatStreamManager:
        return ChatStreamManager(self._async().stream(**kwargs), self._owner._loop.run)


class _Chat:
    def __init__(self, owner: Client) -> None:
        self.completions = _Completions(owner)


class _Embeddings:
    def __init__(self, owner: Client) -> None:
        self._owner = owner
        self.with_raw_response = WithRawResponse(self, "create")
        self.with_streaming_response = WithStreamingResponse(self, "create")

    def create(self, **kwargs: Any) -> CreateEmbeddingResponse:
        return self._owner._loop.run(self._owner._async.embeddings.create(**kwargs))


class Client:
    """The synchronous drop-in client, same surface as ``AsyncClient``."""

    def __init__(self, router: Router, *, telemetry: Any = None, _async: AsyncClient | None = None, _loop: _LoopThread | None = None) -> None:
        self._async = _async or AsyncClient(router, telemetry=telemetry)
        self._loop = _loop or _LoopThread()
        self._owns_loop = _loop is None
        self.router = router
        self.telemetry = self._async.telemetry
        self.chat = _Chat(self)
        self.embeddings = _Embeddings(self)
        self.models = _Models(router)
        self._closed = False

    @classmethod
    def from_config(cls, source: str | PathLike[str] | Mapping[str, Any], **overrides: Any) -> Client:
        from router.config import build_router

        return cls(build_router(source, **overrides))

    def with_options(self, **options: Any) -> Client:
        """A client sharing this one's router and loop, with other default request options."""
        return Client(self.router, _async=self._async.with_options(**options), _loop=self._loop)

    copy = with_options

    def explain(self, model: str, *, task_type: str = "default") -> dict[str, Any]:
        return self.router.explain(model, task_type=task_type)

    def close(self) -> None:
        """Close HTTP pools, flush telemetry and stop the private loop (the client that made it)."""
        if self._closed:
            return
        self._closed = True
        if not self._owns_loop:
            return  # a with_options copy: the original owns the router and the loop
        try:
            self._loop.run(self._async.aclose())
        finally:
            self._loop.stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
