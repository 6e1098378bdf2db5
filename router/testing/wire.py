"""The seam between the fake server and one provider's wire format: a ``Wire`` turns a parsed
request into the ``Reply`` that provider would send (success, error, fault). Standard library only.
"""

from __future__ import annotations

import abc
import json
from typing import Any, NamedTuple

from router.testing.faults import Fault

__all__ = ["DEFAULT_COMPLETION_TOKENS", "Reply", "Wire", "count_text", "dumps", "fault_headers", "json_reply", "sse"]

DEFAULT_COMPLETION_TOKENS = 8


class Reply(NamedTuple):
    """One HTTP answer: status, body bytes, content type and extra headers."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))


def json_reply(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, dumps(payload).encode(), "application/json", headers)


def sse(events: list[tuple[str | None, Any]], done: bool = False) -> Reply:
    """A ``text/event-stream`` body of ``(event name or None, JSON payload)`` events."""
    text = "".join((f"event: {name}\n" if name else "") + f"data: {dumps(data)}\n\n" for name, data in events)
    if done:
        text += "data: [DONE]\n\n"
    return Reply(200, text.encode(), "text/event-stream; charset=utf-8")


def count_text(value: Any) -> int:
    """Characters of message text: a string, or the ``text`` of parts, in lists and dicts."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(count_text(v) for v in value)
    if isinstance(value, dict):
        if isinstance(value.get("text"), str):
            return len(value["text"])
        return sum(count_text(value.get(k)) for k in ("content", "parts") if k in value)
    return 0


def fault_headers(fault: Fault, *, retry_after_header: bool = True) -> tuple[tuple[str, str], ...]:
    """The fault's extra headers, with Retry-After / retry-after-ms when it sets them."""
    headers = list(fault.headers)
    if retry_after_header and fault.retry_after is not None:
        headers.append(("retry-after", fault.retry_after))
    if fault.retry_after_ms is not None:
        headers.append(("retry-after-ms", str(fault.retry_after_ms)))
    return tuple(headers)


class Wire(abc.ABC):
    """How one provider API answers. ``stream`` is None, ``"sse"`` or ``"array"`` (Gemini's
    default JSON-array stream); ``error`` is a ``stream_error`` fault to end a stream with."""

    name = ""
    key_header = ""

    def key_ok(self, headers: dict[str, str], key: str) -> bool:
        return headers.get(self.key_header) == key

    @abc.abstractmethod
    def unauthorized(self, headers: dict[str, str]) -> Reply:
        """The answer to a missing or wrong key (never echoing it)."""

    @abc.abstractmethod
    def bad_request(self, message: str) -> Reply:
        """A 400 for a request body that is not valid."""

    @abc.abstractmethod
    def invalid(self, payload: dict[str, Any]) -> Reply | None:
        """The 400 naming the first invalid field of a parsed body, or None when it is valid."""

    @abc.abstractmethod
    def prompt_tokens(self, payload: dict[str, Any]) -> int:
        """About one token per four characters of prompt text, at least 1."""

    @abc.abstractmethod
    def completion_tokens(self, payload: dict[str, Any]) -> int:
        """The requested output limit, else ``DEFAULT_COMPLETION_TOKENS``."""

    @abc.abstractmethod
    def status_error(self, fault: Fault) -> Reply:
        """The provider's error body for a ``status`` fault."""

    @abc.abstractmethod
    def context_error(self, limit: int, tokens: int, message: str | None) -> Reply:
        """The provider's answer to a prompt over its context window."""

    @abc.abstractmethod
    def success(self, payload: dict[str, Any], model: str, count: int, prompt_tokens: int, stream: str | None, error: Fault | None) -> Reply:
        """The completion ``"ok: <count>"``, whole or streamed (cut by ``error`` when given)."""

    invalid_json = b'{"id": "broken", "choices": [{'
