"""``chat.completion.chunk`` in the OpenAI SDK's shape (``openai.types.chat.ChatCompletionChunk``):
``chunk.choices[0].delta.content``, ``delta.tool_calls[i].index`` / ``.function.arguments``."""

from __future__ import annotations

from typing import Any, Optional

from router.types._base import OpenAIObject
from router.types.chat import ChoiceLogprobs, CompletionUsage, Routed

__all__ = [
    "ChatCompletionChunk",
    "ChoiceDelta",
    "ChoiceDeltaAudio",
    "ChoiceDeltaFunctionCall",
    "ChoiceDeltaToolCall",
    "ChoiceDeltaToolCallFunction",
    "ChunkChoice",
]


class ChoiceDeltaAudio(OpenAIObject):
    id: Optional[str] = None
    data: Optional[str] = None
    expires_at: Optional[int] = None
    transcript: Optional[str] = None


class ChoiceDeltaFunctionCall(OpenAIObject):
    arguments: Optional[str] = None
    name: Optional[str] = None


class ChoiceDeltaToolCallFunction(OpenAIObject):
    arguments: Optional[str] = None
    name: Optional[str] = None


class ChoiceDeltaToolCall(OpenAIObject):
    index: int
    id: Optional[str] = None
    function: Optional[ChoiceDeltaToolCallFunction] = None
    type: Optional[str] = None


class ChoiceDelta(OpenAIObject):
    audio: Optional[ChoiceDeltaAudio] = None
    content: Optional[str] = None
    function_call: Optional[ChoiceDeltaFunctionCall] = None
    refusal: Optional[str] = None
    role: Optional[str] = None
    tool_calls: Optional[list[ChoiceDeltaToolCall]] = None


class ChunkChoice(OpenAIObject):
    """``openai.types.chat.chat_completion_chunk.Choice``."""

    delta: ChoiceDelta
    index: int
    finish_reason: Optional[str] = None
    logprobs: Optional[ChoiceLogprobs] = None


class ChatCompletionChunk(Routed):
    """One ``chat.completion.chunk`` with the routing facts of its call as attributes."""

    id: str
    choices: list[ChunkChoice]
    created: int
    model: str
    object: str = "chat.completion.chunk"
    moderation: Optional[Any] = None
    obfuscation: Optional[str] = None
    service_tier: Optional[str] = None
    system_fingerprint: Optional[str] = None
    usage: Optional[CompletionUsage] = None
