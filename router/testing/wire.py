"""The seam between the fake server and one provider's wire format: a ``Wire`` turns a parsed
request into the ``Reply`` that provider would send (success, error, fault). Standard library only.
"""

from __future__ import annotations

import abc
import json
from typing import Any, NamedTuple

from router.testing.faults import Fault

__all__ = ["DEFAULT_COMPLETION_TOKENS", "Reply", "Wire", "count_text", "dumps", "fault_headers", "json_reply", "sample_json", "sse"]

DEFAULT_COMPLETION_TOKENS = 8


class Reply(NamedTuple):
    """One HTTP answer: status, body bytes, content type and extra headers. A stream also has
    its ``events``, the body cut where the server may pause (their bytes joined are ``body``)."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    events: tuple[bytes, ...] = ()


def dumps(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))


def json_reply(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status, dumps(payload).encode(), "application/json", headers)


def sse(events: list[tuple[str | None, Any]], done: bool = False) -> Reply:
    """A ``text/event-stream`` body of ``(event name or None, JSON payload)`` events."""
    pieces = [((f"event: {name}\n" if name else "") + f"data: {dumps(data)}\n\n").encode() for name, data in events]
    if done:
        pieces.append(b"data: [DONE]\n\n")
    return Reply(200, b"".join(pieces), "text/event-stream; charset=utf-8", (), tuple(pieces))


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


def sample_json(schema: Any, depth: int = 0) -> Any:
    """A small value that satisfies a JSON schema (the fake's answer to a structured-output request)."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return sample_json(schema[key][0], depth + 1)
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    kind = kind.lower() if isinstance(kind, str) else kind  # Gemini's responseSchema: "OBJECT", ...
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {name: sample_json(sub, depth + 1) for name, sub in props.items()}
    if kind == "array":
        return [sample_json(schema["items"], depth + 1)] if isinstance(schema.get("items"), dict) else []
    return {"string": "ok", "integer": 1, "number": 1.5, "boolean": True}.get(str(kind))


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

    def missing_query(self, params: list[tuple[str, str]]) -> Reply | None:
        """The answer to a request missing a required query parameter (Azure's api-version)."""
        return None

    def invalid_embedding(self, payload: dict[str, Any]) -> Reply | None:
        """The 400 for an embeddings body (only OpenAI-style wires serve embeddings)."""
        return self.bad_request(f"the {self.name} API serves no embeddings endpoint here")

    def embedding_tokens(self, payload: dict[str, Any]) -> int:
        return max(1, count_text(payload.get("input")) // 4)

    def embedding(self, payload: dict[str, Any], model: str, prompt_tokens: int) -> Reply:
        raise NotImplementedError
