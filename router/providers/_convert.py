"""Pieces of the OpenAI-to-native request conversion that the Anthropic and Gemini adapters share.

A request that cannot be converted raises ``BadRequestError`` before anything is sent; the
message names the parameter or message and the adapter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from router.errors import BadRequestError

__all__ = ["check_params", "max_tokens", "stop_sequences", "text_parts"]


def text_parts(content: Any, where: str, api: str) -> list[str]:
    """The text of an OpenAI message ``content``: a string, None, or a list of ``text`` parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise BadRequestError(f"{where}.content must be a string or a list of parts, got {type(content).__name__} ({api} adapter)")
    out = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind != "text" or not isinstance(part.get("text"), str):
            raise BadRequestError(f"{where}.content[{i}] of type {kind!r} is not converted by the {api} adapter (text parts only)")
        out.append(part["text"])
    return out


def check_params(params: Mapping[str, Any], supported: Iterable[str], api: str) -> None:
    """Raise for a call parameter the adapter does not convert."""
    known = set(supported)
    for name in params:
        if name not in known:
            raise BadRequestError(f"parameter {name!r} is not supported by the {api} adapter; supported: {sorted(known)}")


def max_tokens(params: Mapping[str, Any], default: int | None, api: str) -> int | None:
    """``max_completion_tokens`` (else ``max_tokens``, else ``default``), checked to be a positive integer."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = params.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadRequestError(f"parameter {name!r} must be a positive integer, got {value!r} ({api} adapter)")
        return value
    return default


def stop_sequences(value: Any, api: str) -> list[str]:
    """OpenAI ``stop`` (a string or a list of strings) as a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return list(value)
    raise BadRequestError(f"parameter 'stop' must be a string or a list of strings, got {value!r} ({api} adapter)")
