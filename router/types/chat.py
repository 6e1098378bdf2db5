"""``chat.completion`` in the OpenAI SDK's shape (``openai.types.chat.ChatCompletion`` and the
models under it), field for field; unknown fields the provider sends are kept as extras.

Literal fields of the SDK (``role``, ``finish_reason``, ``type``) are plain strings here: the
SDK does not validate them either (it builds responses without validation), and a provider
adding a value must not fail a call.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from pydantic import PrivateAttr
from typing_extensions import Self

from router.facts import RoutingFacts
from router.types._base import LazyModel, OpenAIObject

__all__ = [
    "Annotation",
    "AnnotationURLCitation",
    "ChatCompletion",
    "ChatCompletionAudio",
    "ChatCompletionMessage",
    "ChatCompletionMessageCustomToolCall",
    "ChatCompletionMessageFunctionToolCall",
    "ChatCompletionMessageToolCall",
    "ChatCompletionTokenLogprob",
    "Choice",
    "ChoiceLogprobs",
    "CompletionTokensDetails",
    "CompletionUsage",
    "Custom",
    "Function",
    "FunctionCall",
    "PromptTokensDetails",
    "Routed",
    "RoutingFacts",
    "TopLogprob",
]


class CompletionTokensDetails(OpenAIObject):
    accepted_prediction_tokens: Optional[int] = None
    audio_tokens: Optional[int] = None
    reasoning_tokens: Optional[int] = None
    rejected_prediction_tokens: Optional[int] = None
    text_tokens: Optional[int] = None


class PromptTokensDetails(OpenAIObject):
    audio_tokens: Optional[int] = None
    cache_write_tokens: Optional[int] = None
    cached_tokens: Optional[int] = None
    image_tokens: Optional[int] = None
    text_tokens: Optional[int] = None


class CompletionUsage(OpenAIObject):
    completion_tokens: int
    prompt_tokens: int
    total_tokens: int
    completion_tokens_details: Optional[CompletionTokensDetails] = None
    prompt_tokens_details: Optional[PromptTokensDetails] = None


class TopLogprob(OpenAIObject):
    token: str
    bytes: Optional[list[int]] = None
    logprob: float


class ChatCompletionTokenLogprob(OpenAIObject):
    token: str
    bytes: Optional[list[int]] = None
    logprob: float
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(OpenAIObject):
    content: Optional[list[ChatCompletionTokenLogprob]] = None
    refusal: Optional[list[ChatCompletionTokenLogprob]] = None


class Function(OpenAIObject):
    arguments: str
    name: str


class ChatCompletionMessageFunctionToolCall(OpenAIObject):
    id: str
    function: Function
    type: str = "function"


ChatCompletionMessageToolCall = ChatCompletionMessageFunctionToolCall  # the SDK's compatibility name


class Custom(OpenAIObject):
    input: str
    name: str


class ChatCompletionMessageCustomToolCall(OpenAIObject):
    id: str
    custom: Custom
    type: str = "custom"


class FunctionCall(OpenAIObject):
    arguments: str
    name: str


class AnnotationURLCitation(OpenAIObject):
    end_index: int
    start_index: int
    title: str
    url: str


class Annotation(OpenAIObject):
    type: str
    url_citation: AnnotationURLCitation


class ChatCompletionAudio(OpenAIObject):
    id: str
    data: str
    expires_at: int
    transcript: str


class ChatCompletionMessage(OpenAIObject):
    """The assistant's message; append it to ``messages`` as is for the next turn."""

    content: Optional[str] = None
    refusal: Optional[str] = None
    role: str = "assistant"
    annotations: Optional[list[Annotation]] = None
    audio: Optional[ChatCompletionAudio] = None
    function_call: Optional[FunctionCall] = None
    tool_calls: Optional[list[Union[ChatCompletionMessageFunctionToolCall, ChatCompletionMessageCustomToolCall]]] = None


class Choice(OpenAIObject):
    finish_reason: Optional[str] = None
    index: int
    logprobs: Optional[ChoiceLogprobs] = None
    message: ChatCompletionMessage


class Routed(LazyModel):
    """A top-level response: ``provider``, ``deployment``, ``call_id``, ``fallback_used``,
    ``retry_count`` and the SDK's ``_request_id``, none of them dumped."""

    _routing: RoutingFacts = PrivateAttr(default_factory=RoutingFacts)  # a factory: a default instance would be deep-copied per object
    _request_id: Optional[str] = PrivateAttr(default=None)
    _http: Any = PrivateAttr(default=None)  # (status, headers) of the serving answer, for with_raw_response

    @classmethod
    def routed(cls, body: dict[str, Any], facts: RoutingFacts, request_id: Optional[str] = None, http: Any = None) -> Self:
        """``lazy`` for the call path: the private attributes set in one go."""
        obj = cls.__new__(cls)
        _set = object.__setattr__
        _set(obj, "__pydantic_private__", {"_body": body, "_routing": facts, "_request_id": request_id, "_http": http})
        _set(obj, "__pydantic_fields_set__", set())
        _set(obj, "__pydantic_extra__", {})
        return obj

    @property
    def routing(self) -> RoutingFacts:
        return self._routing

    @property
    def provider(self) -> str:
        """The provider family that served the call."""
        return self._routing.provider

    @property
    def deployment(self) -> str:
        """The deployment key that served the call."""
        return self._routing.deployment

    @property
    def call_id(self) -> str:
        """The id of the call's telemetry record."""
        return self._routing.call_id

    @property
    def fallback_used(self) -> bool:
        return self._routing.fallback_used

    @property
    def retry_count(self) -> int:
        return self._routing.retry_count


class ChatCompletion(Routed):
    """``chat.completion``: ``resp.choices[0].message.content``, ``resp.usage``, plus the
    routing facts as attributes."""

    id: str
    choices: list[Choice]
    created: int
    model: str
    object: str = "chat.completion"
    metadata: Optional[dict[str, str]] = None
    moderation: Optional[Any] = None
    service_tier: Optional[str] = None
    system_fingerprint: Optional[str] = None
    usage: Optional[CompletionUsage] = None
