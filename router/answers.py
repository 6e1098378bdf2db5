"""What an adapter returned, checked and scrubbed where it enters the call path: a success
only counts once its token counts, content and (kept) body are usable, and the ids and model
names a provider wrote are scrubbed of secrets before they reach a record or the caller."""

from __future__ import annotations

from typing import Any

from router.errors import InvalidResponseError
from router.providers.base import ProviderResponse
from router.redact import Redactor
from router.streaming import check_chunk, token_count

__all__ = ["check_answer", "check_body", "fill_body", "scrub_answer"]


def check_answer(resp: Any, *, stream: bool, chat: bool) -> None:
    """``InvalidResponseError`` unless ``resp`` is usable: a stream's first chunk well formed;
    an answer's token counts in range, its content text, its kept chat body readable."""
    if stream:
        check_chunk(resp.first)
        return
    try:
        token_count(resp.input_tokens, "usage.prompt_tokens")
        token_count(resp.output_tokens, "usage.completion_tokens")
        if resp.content is not None and type(resp.content) is not str:
            raise ValueError(f"content is a {type(resp.content).__name__}, not a string")
        if resp.body is not None and chat:
            check_body(resp.body)
    except (ValueError, AttributeError) as exc:
        raise InvalidResponseError(f"unusable answer ({exc})", status=getattr(resp, "http_status", None)) from None


def check_body(body: dict[str, Any]) -> None:
    """The parts of a kept ``chat.completion`` body a caller reads first: every choice an object
    with an integer ``index`` and a ``message`` object (string ``role``, string or null
    ``content``), ``finish_reason`` a string or null. ``ValueError`` otherwise."""
    choices = body.get("choices")
    if type(choices) is not list or not choices:
        raise ValueError("choices is not a non-empty list")
    for c in choices:
        if type(c) is not dict or type(c.get("index")) is not int or type(c.get("message")) is not dict:
            raise ValueError("a choice lacks an integer index or a message object")
        m = c["message"]
        if type(m.get("role", "assistant")) is not str or (m.get("content") is not None and type(m.get("content")) is not str):
            raise ValueError("a message has a role or content of the wrong type")
        if c.get("finish_reason") is not None and type(c.get("finish_reason")) is not str:
            raise ValueError("finish_reason is not a string")


def fill_body(body: dict[str, Any], *, id_: str, model: str, created: int) -> None:
    """A kept chat body's ``id``, ``model`` and ``created``, ours when the provider's are missing
    or of the wrong type (the API always sends them; a caller reads them first)."""
    if type(body.get("id")) is not str:
        body["id"] = id_
    if type(body.get("model")) is not str:
        body["model"] = model
    if type(body.get("created")) is not int:
        body["created"] = created


def scrub_answer(resp: ProviderResponse, redact: Redactor) -> None:
    """The provider-written ids and model name of an answer, scrubbed (and kept only when they
    are strings): they go into the record and the caller's response. A value the answer repeats
    (the body's ``id`` and ``model`` are usually the response's) is scrubbed once."""
    done: dict[str, str] = {}
    for name in ("response_id", "request_id", "model"):
        v = getattr(resp, name)
        if v is not None:
            setattr(resp, name, _scrubbed(v[:200], redact, done) if type(v) is str else None)
    body = resp.body
    if body is not None:
        for name in ("id", "model", "system_fingerprint"):
            v = body.get(name)
            if type(v) is str:
                body[name] = _scrubbed(v, redact, done)


def _scrubbed(text: str, redact: Redactor, done: dict[str, str]) -> str:
    out = done.get(text)
    if out is None:
        out = done[text] = redact.text(text)
    return out
