"""``chat.completions.parse`` results in the OpenAI SDK's shape (``ParsedChatCompletion``):
``choices[i].message.parsed`` holds the response model instance, ``.refusal`` the refusal."""

from __future__ import annotations

from typing import Any, ClassVar, Optional

from router.types.chat import ChatCompletion, ChatCompletionMessage, Choice

__all__ = ["ParsedChatCompletion", "ParsedChatCompletionMessage", "ParsedChoice"]


class ParsedChatCompletionMessage(ChatCompletionMessage):
    parsed: Optional[Any] = None
    __api_exclude__: ClassVar[set[str]] = {"parsed"}  # appended to messages, ``parsed`` is not sent


class ParsedChoice(Choice):
    message: ParsedChatCompletionMessage


class ParsedChatCompletion(ChatCompletion):
    choices: list[ParsedChoice]  # type: ignore[assignment]
