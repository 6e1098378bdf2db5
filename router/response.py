"""OpenAI-shaped responses: ``resp.choices[0].message.content``, ``resp.usage``, plus which
deployment served the call (``resp.provider``, ``resp.deployment``, ``resp.call_id``).

``choices`` and ``usage`` are built from the provider's answer on first access: a caller
that reads them pays for them once, and routing itself does not.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from router.providers.base import ProviderResponse

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


class ChatCompletion:
    """The shape of OpenAI's ``chat.completion`` object, with routing facts added."""

    __slots__ = ("id", "created", "model", "provider", "deployment", "call_id", "fallback_used", "retry_count", "_raw", "_choices", "_usage")

    object = "chat.completion"

    def __init__(
        self,
        id: str,  # noqa: A002 - the OpenAI field name
        created: int,
        model: str,
        raw: ProviderResponse,
        provider: str = "",
        deployment: str = "",
        call_id: str = "",
        fallback_used: bool = False,
        retry_count: int = 0,
    ) -> None:
        self.id = id
        self.created = created
        self.model = model
        self.provider = provider  # provider family that served the call
        self.deployment = deployment  # deployment key that served the call
        self.call_id = call_id  # the telemetry record's call id
        self.fallback_used = fallback_used
        self.retry_count = retry_count
        self._raw = raw
        self._choices: list[Choice] | None = None
        self._usage: CompletionUsage | None = None

    @property
    def choices(self) -> list[Choice]:
        if self._choices is None:
            raw = self._raw
            msg = raw.message
            message = (
                Message("assistant", raw.content)
                if msg is None
                else Message(msg.get("role", "assistant"), msg.get("content"), msg.get("tool_calls"))
            )
            self._choices = [Choice(0, message, raw.finish_reason)]
        return self._choices

    @property
    def usage(self) -> CompletionUsage:
        if self._usage is None:
            raw = self._raw
            self._usage = CompletionUsage(raw.input_tokens, raw.output_tokens, raw.input_tokens + raw.output_tokens)
        return self._usage

    def model_dump(self) -> dict[str, Any]:
        """A plain dict, as ``openai``'s pydantic models give."""
        return {
            "id": self.id,
            "object": self.object,
            "created": self.created,
            "model": self.model,
            "choices": [asdict(c) for c in self.choices],
            "usage": asdict(self.usage),
            "provider": self.provider,
            "deployment": self.deployment,
            "call_id": self.call_id,
            "fallback_used": self.fallback_used,
            "retry_count": self.retry_count,
        }

    to_dict = model_dump

    def __repr__(self) -> str:
        return f"ChatCompletion(id={self.id!r}, model={self.model!r}, deployment={self.deployment!r}, usage={self.usage!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChatCompletion) and self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]
