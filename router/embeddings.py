"""Embeddings on the call path: ``Router.aembedding`` routes ``POST /v1/embeddings`` over tiers
of embedding deployments like a chat call (plan, breakers, retries, fallback, deadline, one
telemetry record with its own ``task_type``, ``"embedding"`` by default). An adapter serves
embeddings by having ``embed(request, *, timeout)``; the request's ``params["input"]`` is the
caller's ``input`` and the response's ``body`` the provider's ``CreateEmbeddingResponse`` JSON.

As the OpenAI SDK does, the client asks for ``encoding_format="base64"`` when the caller names no
format and decodes the vectors (little-endian float32) into lists of floats
(``decode_embeddings``); a caller who names a format gets what the provider sent.
"""

from __future__ import annotations

import array
import base64
from collections.abc import Awaitable, Callable
from typing import Any

from router.errors import BadRequestError, InvalidRequestError
from router.facts import RoutingFacts
from router.providers.base import ProviderRequest, ProviderResponse

__all__ = ["decode_embeddings", "embed_sender", "embedding_input_tokens", "routed_embedding"]


def embedding_input_tokens(value: Any) -> int:
    """A rough size of ``input`` (characters / 4), or ``InvalidRequestError`` naming what is wrong:
    a string, a list of strings, a list of token ids or a list of such lists, as the API takes."""
    if isinstance(value, str):
        if not value:
            raise InvalidRequestError("input must not be an empty string", argument="input")
        return len(value) // 4 + 1
    if isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value):
            return sum(len(v) for v in value) // 4 + 1
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return len(value)
        if all(isinstance(v, list) and all(isinstance(t, int) for t in v) for v in value):
            return sum(len(v) for v in value)
    raise InvalidRequestError(
        f"input must be a string, a list of strings or a list of token ids, got {type(value).__name__}", argument="input"
    )


def embed_sender(adapter: Any) -> Callable[..., Awaitable[ProviderResponse]]:
    """``adapter.embed``, or a sender refusing (``bad_request``, nothing sent) for an adapter without it."""
    embed = getattr(adapter, "embed", None)
    if embed is not None:
        return embed  # type: ignore[no-any-return]

    async def refuse(request: ProviderRequest, *, timeout: float) -> ProviderResponse:
        raise BadRequestError(f"the {getattr(adapter, 'name', type(adapter).__name__)} adapter does not serve embeddings")

    return refuse


def routed_embedding(resp: ProviderResponse, facts: RoutingFacts) -> Any:
    """The ``CreateEmbeddingResponse`` handed to the caller (validated on first read)."""
    from router.types.embeddings import CreateEmbeddingResponse

    return CreateEmbeddingResponse.routed(resp.body or {}, facts, resp.request_id, (resp.http_status, resp.headers))


def decode_embeddings(resp: Any) -> Any:
    """``resp`` with every base64 ``embedding`` decoded to its float32 values as floats, in place
    (what ``openai.lib._parsing._embeddings.parse_embedding_response`` does)."""
    if not resp.data:
        raise ValueError("No embedding data received")
    for item in resp.data:
        if isinstance(item.embedding, str):
            item.embedding = array.array("f", base64.b64decode(item.embedding)).tolist()
    return resp
