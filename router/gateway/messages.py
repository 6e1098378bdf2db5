"""An Anthropic Messages request (``POST /v1/messages``) as the router's OpenAI-shaped call.

The body is checked as strictly as the Messages API checks it, before anything is routed: an
unknown key is "<path>: Extra inputs are not permitted", a missing one "<path>: Field
required", a value of the wrong type or range names its path (``max_tokens``,
``messages.0.content.1.source.media_type``); each is a 400 ``invalid_request_error``. What
becomes what::

    system (a string or text blocks)     -> a system message first
    role "system" messages               -> system messages where they stand
    text and image blocks                -> text and image_url parts (base64 -> a data: URL)
    assistant tool_use blocks            -> tool_calls (input as JSON arguments)
    user tool_result blocks              -> tool messages, before the turn's other blocks
    tools (custom tools)                 -> function tools (input_schema -> parameters, strict)
    tool_choice auto / any / tool / none -> auto / required / that function / none
    disable_parallel_tool_use: true      -> parallel_tool_calls: false
    max_tokens -> max_completion_tokens, stop_sequences -> stop, temperature, top_p, top_k
    stream: true                         -> a stream (with its usage)

``cache_control`` and ``citations`` are accepted and not forwarded (a routed call has no place
for them); ``tool_result.is_error`` is not carried either (tool messages have no such flag).
What has no OpenAI-shaped equivalent (thinking, documents, server tools, file sources,
output_config, ...) is refused by name. ``model`` and ``metadata`` are read by the gateway
before this (``router.gateway.app``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from router.gateway.access import Denied

__all__ = ["to_chat_call"]

_TOP = {
    "max_tokens": "int", "messages": "list", "system": "str|list", "stop_sequences": "list", "stream": "bool",
    "temperature": "num", "top_p": "num", "top_k": "int", "tools": "list", "tool_choice": "obj", "cache_control": "obj|null",
}
_TOP_UNSUPPORTED = (
    "container", "context_management", "diagnostics", "inference_geo", "mcp_servers", "output_config", "service_tier",
    "speed", "thinking", "user_profile_id", "workspace_id",
)
_BLOCKS = {"user": ("text", "image", "tool_result"), "assistant": ("text", "tool_use"), "system": ("text",)}
_MEDIA = ("image/jpeg", "image/png", "image/gif", "image/webp")
_CHOICE_KEYS = {"auto": ("type", "disable_parallel_tool_use"), "any": ("type", "disable_parallel_tool_use"),
                "tool": ("type", "name", "disable_parallel_tool_use"), "none": ("type",)}
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_WORDS = {"str": "a valid string", "int": "a valid integer", "num": "a valid number", "bool": "a valid boolean", "obj": "a valid dictionary", "list": "a valid list"}
_KINDS = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "num": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
    "bool": lambda v: isinstance(v, bool),
    "obj": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def _bad(path: str, problem: str) -> Denied:
    return Denied(400, "invalid_request_error", None, f"{path}: {problem}", param=path)


def _typed(value: Any, kinds: str, path: str) -> Any:
    if not any(_KINDS[k](value) for k in kinds.split("|")):
        raise _bad(path, f"Input should be {_WORDS[kinds.split('|')[0]]}")
    return value


def _keys(obj: Mapping[str, Any], allowed: Iterable[str], path: str, unsupported: Iterable[str] = ()) -> None:
    known, unsupported = set(allowed), set(unsupported)
    for k, v in obj.items():
        if k in known or (k in unsupported and v is None):  # null: the feature is not asked for
            continue
        where = f"{path}.{k}" if path else k
        raise _bad(where, "not supported by this gateway" if k in unsupported else "Extra inputs are not permitted")


def _required(obj: Mapping[str, Any], key: str, kinds: str, path: str) -> Any:
    where = f"{path}.{key}" if path else key
    if key not in obj:
        raise _bad(where, "Field required")
    return _typed(obj[key], kinds, where)


def _block(value: Any, path: str) -> tuple[dict[str, Any], str]:
    """A content block and its ``type``."""
    block = _typed(value, "obj", path)
    return block, _required(block, "type", "str", path)


# -- sampling ---------------------------------------------------------------------------


def _between(body: Mapping[str, Any], name: str, low: float, high: float | None) -> Any:
    value = body[name]
    if value < low:
        raise _bad(name, f"Input should be greater than or equal to {low:g}")
    if high is not None and value > high:
        raise _bad(name, f"Input should be less than or equal to {high:g}")
    return value


def _sampling(body: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"max_completion_tokens": _between(body, "max_tokens", 1, None)}
    for name, high in (("temperature", 1.0), ("top_p", 1.0), ("top_k", None)):
        if name in body:
            out[name] = _between(body, name, 0, high)
    stops = body.get("stop_sequences")
    if stops:
        out["stop"] = [_typed(s, "str", f"stop_sequences.{i}") for i, s in enumerate(stops)]
    return out


# -- content ----------------------------------------------------------------------------


def _text(block: Mapping[str, Any], path: str) -> str:
    _keys(block, ("type", "text", "cache_control", "citations"), path)
    text: str = _required(block, "text", "str", path)
    if not text:
        raise _bad(f"{path}.text", "text content blocks must be non-empty")
    return text


def _image(block: Mapping[str, Any], path: str) -> dict[str, Any]:
    _keys(block, ("type", "source", "cache_control"), path, ("transformations",))
    source = _required(block, "source", "obj", path)
    where = f"{path}.source"
    kind = _required(source, "type", "str", where)
    if kind == "base64":
        _keys(source, ("type", "media_type", "data"), where)
        media = _required(source, "media_type", "str", where)
        if media not in _MEDIA:
            raise _bad(f"{where}.media_type", f"Input should be {', '.join(repr(m) for m in _MEDIA)}")
        data = _required(source, "data", "str", where)
        if not data:
            raise _bad(f"{where}.data", "String should have at least 1 character")
        url = f"data:{media};base64,{data}"
    elif kind == "url":
        _keys(source, ("type", "url"), where)
        url = _required(source, "url", "str", where)
        if not url.startswith(("http://", "https://")):
            raise _bad(f"{where}.url", "Input should be an http(s) URL")
    elif kind == "file":
        raise _bad(f"{where}.type", "file sources are not supported by this gateway (send base64 or url)")
    else:
        raise _bad(f"{where}.type", f"Input tag {kind!r} found using 'type' does not match any of the expected tags: 'base64', 'url', 'file'")
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_use(block: Mapping[str, Any], path: str) -> dict[str, Any]:
    _keys(block, ("type", "id", "name", "input", "cache_control"), path, ("caller", "toolset_name"))
    id_ = _required(block, "id", "str", path)
    name = _required(block, "name", "str", path)
    args = _required(block, "input", "obj", path)
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}}


def _tool_result(block: Mapping[str, Any], path: str) -> dict[str, Any]:
    _keys(block, ("type", "tool_use_id", "content", "is_error", "cache_control"), path, ("toolset_name",))
    id_ = _required(block, "tool_use_id", "str", path)
    if "is_error" in block:
        _typed(block["is_error"], "bool", f"{path}.is_error")
    content = _typed(block.get("content", ""), "str|list", f"{path}.content")
    if isinstance(content, list):
        texts = _text_blocks(content, f"{path}.content", "{kind!r} blocks in a tool_result are not supported by this gateway (text only)")
        content = _joined(texts) or ""
    return {"role": "tool", "tool_call_id": id_, "content": content}


def _joined(parts: list[dict[str, Any]]) -> Any:
    """A lone text part as a plain string, none as None, else the list of parts."""
    if not parts:
        return None
    if len(parts) == 1 and parts[0]["type"] == "text":
        return parts[0]["text"]
    return parts


def _turn(role: str, blocks: list[Any], path: str) -> list[dict[str, Any]]:
    """The OpenAI messages of one Messages turn given as content blocks."""
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for j, item in enumerate(blocks):
        where = f"{path}.content.{j}"
        block, kind = _block(item, where)
        if kind not in ("text", "image", "tool_use", "tool_result"):
            raise _bad(f"{where}.type", f"{kind!r} content blocks are not supported by this gateway (text, image, tool_use and tool_result are)")
        if kind not in _BLOCKS[role]:
            raise _bad(f"{where}.type", f"{kind!r} blocks are not allowed in a {role} message")
        if kind == "text":
            parts.append({"type": "text", "text": _text(block, where)})
        elif kind == "image":
            parts.append(_image(block, where))
        elif kind == "tool_use":
            calls.append(_tool_use(block, where))
        else:
            results.append(_tool_result(block, where))
    out = results  # tool messages answer the assistant turn just before this one
    if calls:
        out.append({"role": role, "content": _joined(parts), "tool_calls": calls})
    elif parts:
        out.append({"role": role, "content": _joined(parts)})
    return out


def _messages(messages: list[Any]) -> list[dict[str, Any]]:
    if not messages:
        raise _bad("messages", "List should have at least 1 item after validation, not 0")
    out: list[dict[str, Any]] = []
    last = len(messages) - 1
    for i, item in enumerate(messages):
        path = f"messages.{i}"
        m = _typed(item, "obj", path)
        _keys(m, ("role", "content"), path)
        role = _required(m, "role", "str", path)
        if role not in _BLOCKS:
            raise _bad(f"{path}.role", "Input should be 'user', 'assistant' or 'system'")
        content = _required(m, "content", "str|list", path)
        if not content:
            if role == "assistant" and i == last:
                continue  # an empty prefill asks for nothing
            raise _bad(path, "all messages must have non-empty content except for the optional final assistant message")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
        else:
            out.extend(_turn(role, content, path))
    return out


def _system(system: Any) -> list[dict[str, Any]]:
    if isinstance(system, str):
        return [{"role": "system", "content": system}] if system else []
    parts = _text_blocks(system, "system", "Input tag {kind!r} found using 'type' does not match any of the expected tags: 'text'")
    return [{"role": "system", "content": _joined(parts)}] if parts else []


def _text_blocks(items: list[Any], path: str, refusal: str) -> list[dict[str, Any]]:
    """Text blocks as OpenAI text parts; another kind of block is refused with ``refusal``
    (formatted with its ``kind``) at its path."""
    parts = []
    for i, item in enumerate(items):
        where = f"{path}.{i}"
        block, kind = _block(item, where)
        if kind != "text":
            raise _bad(f"{where}.type", refusal.format(kind=kind))
        parts.append({"type": "text", "text": _text(block, where)})
    return parts


# -- tools ------------------------------------------------------------------------------


def _tool(value: Any, path: str) -> dict[str, Any]:
    tool = _typed(value, "obj", path)
    kind = tool.get("type")
    if kind not in (None, "custom"):
        raise _bad(f"{path}.type", f"tool type {kind!r} is not supported by this gateway (custom tools only)")
    _keys(tool, ("type", "name", "description", "input_schema", "cache_control", "strict", "eager_input_streaming"), path,
          ("allowed_callers", "defer_loading", "input_examples"))
    name = _required(tool, "name", "str", path)
    if not _TOOL_NAME.match(name):
        raise _bad(f"{path}.name", f"String should match pattern '{_TOOL_NAME.pattern}'")
    schema = _required(tool, "input_schema", "obj", path)
    if schema.get("type") != "object":
        raise _bad(f"{path}.input_schema.type", "Input should be 'object'")
    fn: dict[str, Any] = {"name": name, "parameters": schema}
    if "description" in tool:
        fn["description"] = _typed(tool["description"], "str", f"{path}.description")
    if "strict" in tool:
        fn["strict"] = _typed(tool["strict"], "bool", f"{path}.strict")
    return {"type": "function", "function": fn}


def _tools(body: Mapping[str, Any]) -> dict[str, Any]:
    """``tools``, ``tool_choice`` and ``parallel_tool_calls`` of the call."""
    tools = [_tool(t, f"tools.{i}") for i, t in enumerate(body.get("tools") or ())]
    names = [t["function"]["name"] for t in tools]
    if len(set(names)) != len(names):
        raise _bad("tools", "Tool names must be unique.")
    out: dict[str, Any] = {"tools": tools} if tools else {}
    if "tool_choice" not in body:
        return out
    choice = body["tool_choice"]
    kind = _required(choice, "type", "str", "tool_choice")
    if kind not in _CHOICE_KEYS:
        raise _bad("tool_choice.type", f"Input tag {kind!r} found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'")
    _keys(choice, _CHOICE_KEYS[kind], "tool_choice")
    if kind == "tool":
        name = _required(choice, "name", "str", "tool_choice")
        if name not in names:
            raise _bad("tool_choice.name", f"tool {name!r} is not among the request's tools")
    if not tools:
        if kind in ("any", "tool"):
            raise _bad("tool_choice", f"tool_choice of type {kind!r} needs tools")
        return out  # auto or none without tools: nothing to choose from
    out["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}.get(kind) or {"type": "function", "function": {"name": choice["name"]}}
    if _typed(choice.get("disable_parallel_tool_use", False), "bool", "tool_choice.disable_parallel_tool_use") and kind != "none":
        out["parallel_tool_calls"] = False
    return out


# -- the call ---------------------------------------------------------------------------


def to_chat_call(body: Mapping[str, Any]) -> dict[str, Any]:
    """The router call's keyword arguments (``messages``, ``stream`` and the parameters) for a
    Messages body whose ``model`` and ``metadata`` the gateway has taken; ``Denied`` (400)
    naming the first problem."""
    _keys(body, _TOP, "", _TOP_UNSUPPORTED)
    for name in ("max_tokens", "messages"):
        _required(body, name, _TOP[name], "")
    for name, kinds in _TOP.items():
        if name in body:
            _typed(body[name], kinds, name)
    messages = _system(body.get("system", "")) + _messages(body["messages"])
    call: dict[str, Any] = {"messages": messages, **_sampling(body), **_tools(body)}
    if body.get("stream"):
        call["stream"] = True
        call["stream_options"] = {"include_usage": True}
    return call
