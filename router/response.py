"""The routed call's response: ``router.types.ChatCompletion`` (the OpenAI SDK's shape), built
lazily from the provider's JSON body, or, for adapters that translate another wire format,
from the body they assembled.

The routing facts (``resp.provider``, ``resp.deployment``, ``resp.call_id``,
``resp.fallback_used``, ``resp.retry_count``) are attributes, left out of every dump, so
``resp.model_dump()`` is what the provider sent.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from router.facts import RoutingFacts
from router.providers.base import ProviderResponse

if TYPE_CHECKING:
    from router.types.chat import ChatCompletion

__all__ = ["ChatCompletion", "completion_body", "routed_completion"]


def completion_body(resp: ProviderResponse, *, id_: str, created: int, model: str) -> dict[str, Any]:
    """The ``chat.completion`` body of ``resp``: the provider's own when the adapter kept it,
    else one assembled from the adapter's fields."""
    if resp.body is not None:
        return resp.body
    message = resp.message if resp.message is not None else {"role": "assistant", "content": resp.content}
    return {
        "id": resp.response_id or id_,
        "object": "chat.completion",
        "created": created,
        "model": resp.model or model,
        "choices": [{"index": 0, "message": message, "finish_reason": resp.finish_reason, "logprobs": None}],
        "usage": {
            "prompt_tokens": resp.input_tokens,
            "completion_tokens": resp.output_tokens,
            "total_tokens": resp.input_tokens + resp.output_tokens,
        },
    }


def routed_completion(resp: ProviderResponse, facts: RoutingFacts, *, created: int, model: str) -> ChatCompletion:
    """The ``ChatCompletion`` handed to the caller (validated on first read)."""
    body: Any = resp.body
    if body is None:  # assembled on first read, like the validation
        body = partial(completion_body, resp, id_=f"chatcmpl-{facts.call_id}", created=created, model=model)
    return (_ChatCompletion or _load()).routed(body, facts, resp.request_id, (resp.http_status, resp.headers))


_ChatCompletion: Any = None  # router.types.chat.ChatCompletion once loaded (pydantic: kept off ``import router``)


def _load() -> Any:
    global _ChatCompletion
    from router.types.chat import ChatCompletion

    _ChatCompletion = ChatCompletion
    return ChatCompletion


def __getattr__(name: str) -> Any:
    if name == "ChatCompletion":
        from router.types.chat import ChatCompletion

        return ChatCompletion
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
