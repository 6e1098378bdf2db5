"""OpenAI-shaped responses: ``resp.choices[0].message.content``, ``resp.usage``, plus which
deployment served the call (``resp.provider``, ``resp.deployment``, ``resp.call_id``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ChatCompletion", "Choice", "CompletionUsage", "Message"]


@dataclass(slots=True)
class Message:
    role: str
    content: str | None
    tool_calls: list[dict[str, Any]] | None = None


@dataclass(slots=True)
class Choice:
    index: int
    message: Message
    finish_reason: str | None = "stop"


@dataclass(slots=True)
class CompletionUsage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(slots=True)
class ChatCompletion:
    """The shape of OpenAI's ``chat.completion`` object, with routing facts added."""

    id: str
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    object: str = "chat.completion"
    provider: str = ""  # provider family that served the call
    deployment: str = ""  # deployment key that served the call
    call_id: str = ""  # the telemetry record's call id
    fallback_used: bool = False
    retry_count: int = 0

    def model_dump(self) -> dict[str, Any]:
        """A plain dict, as ``openai``'s pydantic models give."""
        return asdict(self)

    to_dict = model_dump
