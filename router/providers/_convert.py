"""Pieces of the OpenAI-to-native request conversion that the Anthropic and Gemini adapters share.

A request that cannot be converted raises ``BadRequestError`` before anything is sent; the
message names the parameter or message and the adapter.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from router.errors import BadRequestError

__all__ = ["Part", "check_params", "content_parts", "data_url", "guess_media_type", "json_schema_format", "max_tokens", "stop_sequences", "text_parts", "tool_arguments", "tool_names"]


class Part(NamedTuple):
    """One OpenAI content part: ``kind`` is ``text`` (``value`` the text) or ``image``
    (``value`` the URL, a ``data:`` URL or http(s))."""

    kind: str
    value: str


def content_parts(content: Any, where: str, api: str) -> list[Part]:
    """An OpenAI message ``content`` as text and image parts (other part types are refused)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [Part("text", content)]
    if not isinstance(content, list):
        raise BadRequestError(f"{where}.content must be a string or a list of parts, got {type(content).__name__} ({api} adapter)")
    out = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part.get("text"), str):
            out.append(Part("text", part["text"]))
        elif kind == "image_url" and isinstance(part.get("image_url"), Mapping) and isinstance(part["image_url"].get("url"), str):
            url = part["image_url"]["url"]
            if not url.startswith(("data:", "http://", "https://")):
                raise BadRequestError(f"{where}.content[{i}].image_url.url must be a data: or http(s) URL ({api} adapter)")
            out.append(Part("image", url))
        else:
            raise BadRequestError(f"{where}.content[{i}] of type {kind!r} is not converted by the {api} adapter (text and image_url parts only)")
    return out


def data_url(url: str, where: str, api: str) -> tuple[str, str]:
    """``(media type, base64 data)`` of a ``data:<type>;base64,<data>`` URL."""
    head, sep, data = url.partition(",")
    media = head.removeprefix("data:").removesuffix(";base64")
    if not sep or not head.endswith(";base64") or not media or not data:
        raise BadRequestError(f"{where} must be a base64 data URL (data:<media type>;base64,<data>) ({api} adapter)")
    return media, data


def guess_media_type(url: str, where: str, api: str) -> str:
    """The media type of an http(s) image URL, from its file extension."""
    media, _ = mimetypes.guess_type(url.split("?", 1)[0])
    if media is None or not media.startswith("image/"):
        raise BadRequestError(f"{where}: cannot tell the image type of {url[:80]!r} from its extension; send it as a base64 data URL ({api} adapter)")
    return media


def tool_arguments(call: Any, where: str, api: str) -> tuple[str, str, dict[str, Any]]:
    """``(id, name, arguments)`` of an assistant ``tool_calls`` entry (arguments a JSON object)."""
    fn = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) or not isinstance(call.get("id"), str):
        raise BadRequestError(f"{where} must have an id and a function name ({api} adapter)")
    try:
        args = json.loads(fn.get("arguments") or "{}")
    except ValueError:
        raise BadRequestError(f"{where}.function.arguments is not JSON ({api} adapter)") from None
    if not isinstance(args, dict):
        raise BadRequestError(f"{where}.function.arguments must be a JSON object ({api} adapter)")
    return call["id"], fn["name"], args


def tool_names(messages: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Tool call id -> function name, from the assistant messages' ``tool_calls``."""
    out: dict[str, str] = {}
    for m in messages:
        for call in m.get("tool_calls") or ():
            fn = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(fn, Mapping) and isinstance(call.get("id"), str) and isinstance(fn.get("name"), str):
                out[call["id"]] = fn["name"]
    return out


def json_schema_format(fmt: Any, api: str) -> dict[str, Any] | None:
    """The JSON schema of ``response_format`` ``json_schema``; None for ``text``; ``{}`` marks
    ``json_object`` (any JSON object). Other types are refused."""
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {}
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("schema", {}), Mapping) or not isinstance(spec.get("name"), str):
            raise BadRequestError(f"parameter 'response_format.json_schema' needs a name and a schema object ({api} adapter)")
        return dict(spec.get("schema") or {"type": "object"})
    raise BadRequestError(f"parameter 'response_format' of type {kind!r} is not converted by the {api} adapter (text, json_object, json_schema)")


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
