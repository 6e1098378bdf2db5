"""``chat.completions.stream(...)``: the SDK's streaming helper over a routed stream. Iterating
gives events (``chunk``, ``content.delta`` / ``content.done``, ``refusal.delta`` /
``refusal.done``, ``tool_calls.function.arguments.delta`` / ``.done``, as
``openai.lib.streaming.chat`` names them); ``get_final_completion()`` accumulates the chunks
into a ``ParsedChatCompletion`` (``message.parsed`` when ``response_format`` was a model)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AsyncChatStream", "AsyncChatStreamManager", "ChatStream", "ChatStreamManager", "StreamEvent"]


@dataclass(slots=True)
class StreamEvent:
    """One helper event; ``type`` says which, the other fields are those the SDK's event of that type has."""

    type: str
    chunk: Any = None
    delta: str | None = None
    snapshot: Any = None
    content: str | None = None
    refusal: str | None = None
    parsed: Any = None
    name: str | None = None
    index: int | None = None
    arguments: str | None = None
    arguments_delta: str | None = None
    parsed_arguments: Any = None


@dataclass(slots=True)
class _ChoiceState:
    content: str = ""
    refusal: str = ""
    role: str = "assistant"
    finish_reason: str | None = None
    tool_calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    saw_content: bool = False


def _loads(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


class AsyncChatStream:
    """``async for event in stream``; ``await stream.get_final_completion()``."""

    def __init__(self, stream: Any, response_format: Any) -> None:
        self._stream = stream
        self._format = response_format
        self._choices: dict[int, _ChoiceState] = {}
        self._head: dict[str, Any] = {}
        self._usage: Any = None
        self._events = self._run()

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events

    async def __anext__(self) -> StreamEvent:
        return await self._events.__anext__()

    def _parsed(self, content: str) -> Any:
        fmt = self._format
        if isinstance(fmt, type) and hasattr(fmt, "model_validate_json"):
            return fmt.model_validate_json(content)
        return _loads(content) if isinstance(fmt, dict) else None

    async def _run(self) -> AsyncIterator[StreamEvent]:
        async for chunk in self._stream:
            d = chunk.to_dict()
            self._head = {k: d[k] for k in ("id", "created", "model", "system_fingerprint", "service_tier") if k in d}
            if d.get("usage"):
                self._usage = d["usage"]
            yield StreamEvent("chunk", chunk=chunk, snapshot=self)
            for c in d.get("choices") or ():
                for event in self._choice_events(c):
                    yield event

    def _choice_events(self, c: dict[str, Any]) -> Iterator[StreamEvent]:
        st = self._choices.setdefault(c.get("index", 0), _ChoiceState())
        delta = c.get("delta") or {}
        st.role = delta.get("role") or st.role
        if delta.get("content"):
            st.content += delta["content"]
            st.saw_content = True
            yield StreamEvent("content.delta", delta=delta["content"], snapshot=st.content, parsed=None)
        if delta.get("refusal"):
            st.refusal += delta["refusal"]
            yield StreamEvent("refusal.delta", delta=delta["refusal"], snapshot=st.refusal)
        for tc in delta.get("tool_calls") or ():
            call = st.tool_calls.setdefault(tc.get("index", 0), {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
            call["id"] = tc.get("id") or call["id"]
            fn = tc.get("function") or {}
            call["function"]["name"] += fn.get("name") or ""
            if fn.get("arguments"):
                call["function"]["arguments"] += fn["arguments"]
                args = call["function"]["arguments"]
                yield StreamEvent("tool_calls.function.arguments.delta", name=call["function"]["name"], index=tc.get("index", 0),
                                  arguments=args, arguments_delta=fn["arguments"], parsed_arguments=_loads(args))
        if c.get("finish_reason"):
            st.finish_reason = c["finish_reason"]
            if st.saw_content:
                yield StreamEvent("content.done", content=st.content, parsed=self._parsed(st.content) if st.finish_reason == "stop" else None)
            if st.refusal:
                yield StreamEvent("refusal.done", refusal=st.refusal)
            for i, call in sorted(st.tool_calls.items()):
                args = call["function"]["arguments"]
                yield StreamEvent("tool_calls.function.arguments.done", name=call["function"]["name"], index=i, arguments=args, parsed_arguments=_loads(args))

    def _completion_body(self) -> dict[str, Any]:
        choices = []
        for i, st in sorted(self._choices.items()):
            msg: dict[str, Any] = {"role": st.role, "content": st.content if st.saw_content else None, "refusal": st.refusal or None}
            if st.tool_calls:
                msg["tool_calls"] = [st.tool_calls[k] for k in sorted(st.tool_calls)]
            choices.append({"index": i, "message": msg, "finish_reason": st.finish_reason, "logprobs": None})
        body = {"object": "chat.completion", **self._head, "choices": choices}
        if self._usage:
            body["usage"] = self._usage
        return body

    async def until_done(self) -> AsyncChatStream:
        async for _ in self._events:
            pass
        return self

    async def get_final_completion(self) -> Any:
        """The whole answer as a ``ParsedChatCompletion`` (reads the rest of the stream first)."""
        from router.parsing import parse_completion
        from router.types.chat import ChatCompletion

        await self.until_done()
        facts = getattr(self._stream, "_facts", None)
        completion = ChatCompletion.lazy(self._completion_body(), **({"_routing": facts} if facts is not None else {}))
        return parse_completion(completion, self._format)

    async def close(self) -> None:
        await self._stream.aclose()


class AsyncChatStreamManager:
    """``async with client.chat.completions.stream(...) as stream:`` (the call starts on entry)."""

    def __init__(self, opened: Awaitable[Any], response_format: Any) -> None:
        self._opened = opened
        self._format = response_format
        self._stream: AsyncChatStream | None = None

    async def __aenter__(self) -> AsyncChatStream:
        self._stream = AsyncChatStream(await self._opened, self._format)
        return self._stream

    async def __aexit__(self, *exc: object) -> None:
        if self._stream is not None:
            await self._stream.close()


class ChatStream:
    """The synchronous helper stream: ``for event in stream``; ``stream.get_final_completion()``."""

    def __init__(self, inner: AsyncChatStream, run: Callable[[Any], Any]) -> None:
        self._inner = inner
        self._run = run

    def __iter__(self) -> Iterator[StreamEvent]:
        return self

    def __next__(self) -> StreamEvent:
        try:
            return self._run(self._inner.__anext__())  # type: ignore[no-any-return]
        except StopAsyncIteration:
            raise StopIteration from None

    def get_final_completion(self) -> Any:
        return self._run(self._inner.get_final_completion())

    def close(self) -> None:
        self._run(self._inner.close())


class ChatStreamManager:
    """``with client.chat.completions.stream(...) as stream:`` for the synchronous client."""

    def __init__(self, manager: AsyncChatStreamManager, run: Callable[[Any], Any]) -> None:
        self._m = manager
        self._run = run

    def __enter__(self) -> ChatStream:
        return ChatStream(self._run(self._m.__aenter__()), self._run)

    def __exit__(self, *exc: object) -> None:
        self._run(self._m.__aexit__(*exc))
