"""A routed stream as the Messages API streams: server-sent events, each ``event: <type>``
with its JSON ``data``, in the order the API sends them::

    message_start   the message with empty content, stop_reason null, usage zero
    ping
    content_block_start / content_block_delta* / content_block_stop    per block, in turn:
        text      deltas of type text_delta
        tool_use  (id, name, input {}) then input_json_delta pieces of its arguments
    message_delta   stop_reason and the usage (input_tokens too: the router learns it at the end)
    message_stop

Blocks follow each other, never interleave: text after a tool call opens a new text block.
A provider that interleaves the argument pieces of two tool calls cannot be carried (a block
once stopped does not reopen): the stream ends with an error event. An error after the first
event (the routed stream broke) is sent as ``event: error`` with Anthropic's error object,
which the ``anthropic`` SDK raises as ``APIStatusError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from router.errors import RoutingError
from router.gateway.messages_reply import ANTHROPIC, error_body, message_id, stop_reason, usage_from
from router.gateway.wire import dumps, to_wire

__all__ = ["MessageEvents", "send_stream"]


class _Interleaved(Exception):
    """A piece of a tool call whose block is already stopped."""


def event(name: str, data: Mapping[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + dumps(data) + b"\n\n"


class MessageEvents:
    """The events for a routed stream's chunks (OpenAI ``chat.completion.chunk`` bodies)."""

    def __init__(self, call_id: str) -> None:
        self._call_id = call_id
        self._started = False
        self._index = -1  # of the open block, or of the last one
        self._open: tuple[str, int] | None = None  # ("text", 0) or ("tool", its index)
        self._tools_seen: set[int] = set()
        self._finish: str | None = None
        self._refused = False
        self._usage: Mapping[str, Any] | None = None

    def feed(self, chunk: Mapping[str, Any]) -> list[bytes]:
        out = [] if self._started else self._start(chunk)
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue  # the call asks for one choice
            delta = choice.get("delta") or {}
            if delta.get("refusal"):
                self._refused = True
                out += self._text(delta["refusal"])
            if delta.get("content"):
                out += self._text(delta["content"])
            for call in delta.get("tool_calls") or ():
                out += self._tool(call)
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return out

    def end(self) -> list[bytes]:
        out = [] if self._started else self._start({})
        out += self._close()
        reason = "refusal" if self._refused else stop_reason(self._finish)
        out.append(event("message_delta", {"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None}, "usage": usage_from(self._usage)}))
        out.append(event("message_stop", {"type": "message_stop"}))
        return out

    def _start(self, chunk: Mapping[str, Any]) -> list[bytes]:
        self._started = True
        message = {
            "id": message_id(chunk.get("id"), self._call_id), "type": "message", "role": "assistant", "model": chunk.get("model") or "",
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [event("message_start", {"type": "message_start", "message": message}), event("ping", {"type": "ping"})]

    def _begin(self, key: tuple[str, int], block: dict[str, Any]) -> list[bytes]:
        out = self._close()
        self._index += 1
        self._open = key
        return [*out, event("content_block_start", {"type": "content_block_start", "index": self._index, "content_block": block})]

    def _close(self) -> list[bytes]:
        if self._open is None:
            return []
        self._open = None
        return [event("content_block_stop", {"type": "content_block_stop", "index": self._index})]

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return event("content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta})

    def _text(self, text: str) -> list[bytes]:
        out = [] if self._open == ("text", 0) else self._begin(("text", 0), {"type": "text", "text": ""})
        return [*out, self._delta({"type": "text_delta", "text": text})]

    def _tool(self, call: Mapping[str, Any]) -> list[bytes]:
        i = call.get("index", 0)
        fn = call.get("function") or {}
        out: list[bytes] = []
        if self._open != ("tool", i):
            if i in self._tools_seen:
                raise _Interleaved(f"the upstream interleaved the arguments of tool call {i} with another block; a Messages stream cannot carry that")
            self._tools_seen.add(i)
            out = self._begin(("tool", i), {"type": "tool_use", "id": call.get("id") or "", "name": fn.get("name") or "", "input": {}})
        if fn.get("arguments"):
            out.append(self._delta({"type": "input_json_delta", "partial_json": fn["arguments"]}))
        return out


async def send_stream(request: web.Request, stream: Any, headers: Mapping[str, str]) -> web.StreamResponse:
    """Answer ``request`` with the events of the routed ``stream`` (already past its first chunk)."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", **headers})
    await resp.prepare(request)
    events = MessageEvents(stream.call_id)
    try:
        async for chunk in stream:
            out = events.feed(to_wire(chunk))
            if out:
                await resp.write(b"".join(out))
        await resp.write(b"".join(events.end()))
    except RoutingError as exc:  # after the first event: the SDK raises on an error event
        await resp.write(event("error", ANTHROPIC.routing(exc)[1]))
    except _Interleaved as exc:
        await resp.write(event("error", error_body("api_error", str(exc), stream.call_id)))
    finally:
        close = getattr(stream, "aclose", None) or getattr(stream, "close", None)
        if close is not None:
            await close()
    await resp.write_eof()
    return resp
