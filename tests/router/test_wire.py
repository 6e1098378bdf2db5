"""The HTTP layer under the adapters: the SSE parser, fast JSON with the standard library's
results, the transports' connection limits and keep-alive (against a real local server that
counts connections) and the ``connections`` config key."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from router import ConfigError, Deployment, OpenAIProvider, Router, Tier
from router._json import dumps, loads
from router.config import build_router
from router.providers._sse import EventParser
from router.providers._wire import TRANSPORT_ENV, AiohttpWire, HttpxWire
from router.providers.base import ProviderRequest

SSE_BODY = (
    b": a comment\n"
    b"event: message_start\ndata: {\"a\": 1}\n\n"
    b"data: {\"b\":\n"
    b"data:  2}\n\n"
    b"id: 7\nretry: 100\n\n"
    b"data\n\n"
    b"data: [DONE]\n\n"
)
EVENTS = [("message_start", b'{"a": 1}'), ("message", b'{"b":\n 2}'), ("message", b""), ("message", b"[DONE]")]


def parse(chunks: list[bytes]) -> list[tuple[str, bytes]]:
    p = EventParser()
    out = [e for c in chunks for e in p.feed(c)]
    return out + p.close()


def test_sse_events_whatever_the_chunking_and_line_endings() -> None:
    for body in (SSE_BODY, SSE_BODY.replace(b"\n", b"\r\n"), SSE_BODY.replace(b"\n", b"\r")):
        assert parse([body]) == EVENTS
        for cut in range(1, len(body)):  # every split point, \r\n halves included
            assert parse([body[:cut], body[cut:]]) == EVENTS, (body, cut)
        assert parse([body[i : i + 1] for i in range(len(body))]) == EVENTS


def test_sse_events_are_parsed_as_they_are_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    # a whole answer in one read: the first event is handed over after its own lines only,
    # not after every line of the body (the time to the first chunk of a stream)
    body = b"".join(b"data: {\"n\": %d}\n\n" % i for i in range(50)) + b"data: [DONE]\n\n"
    lines_read = 0
    line = EventParser._line

    def counting(self: EventParser, buf: bytes, start: int, end: int) -> object:
        nonlocal lines_read
        lines_read += 1
        return line(self, buf, start, end)

    monkeypatch.setattr(EventParser, "_line", counting)
    p = EventParser()
    p.push(body)
    assert p.next() == ("message", b'{"n": 0}')
    assert lines_read == 2  # its data line and the blank line that ends it
    rest = []
    while (event := p.next()) is not None:
        rest.append(event)
    assert rest == [("message", b'{"n": %d}' % i) for i in range(1, 50)] + [("message", b"[DONE]")]
    assert p.close() == []


def test_sse_next_waits_for_the_line_that_ends_an_event() -> None:
    p = EventParser()
    p.push(b"data: a\n")
    assert p.next() is None
    p.push(b"\r")  # half of a \r\n: not yet a blank line
    assert p.next() is None
    p.push(b"\ndata: b")
    assert p.next() == ("message", b"a")
    assert p.next() is None
    assert p.close() == [("message", b"b")]


def test_sse_last_event_without_its_blank_line_still_counts() -> None:
    assert parse([b"data: x\n\ndata: y"]) == [("message", b"x"), ("message", b"y")]
    assert parse([b"event: ping\n\n"]) == []


@pytest.mark.parametrize(
    "text",
    ['{"a": [1, 2.5, null, true], "b": {"c": "\\u00e9\\ud83d\\ude00"}}', "[NaN, Infinity, -Infinity]",
     "123456789012345678901234567890", '{"k": 1, "k": 2}', '"x"'],
)  # fmt: skip
def test_fast_json_reads_what_the_standard_library_reads(text: str) -> None:
    got, want = loads(text.encode()), json.loads(text)
    assert json.dumps(got) == json.dumps(want)  # NaN-safe comparison
    assert loads(text) == want or any(isinstance(v, float) and math.isnan(v) for v in want)


@pytest.mark.parametrize("bad", [b"", b"{", b"{'a': 1}", b"\xff\xfe"])
def test_fast_json_refuses_what_the_standard_library_refuses(bad: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(bad)
    with pytest.raises(ValueError):
        loads(bad)


def test_fast_json_writes_what_the_standard_library_reads_back() -> None:
    for obj in ({"model": "m", "messages": [{"role": "user", "content": "héllo 😀"}], "n": 1, "t": 0.7},
                {1: "int key"}, {"big": 2**70}, []):  # fmt: skip
        assert json.loads(dumps(obj)) == json.loads(json.dumps(obj))
    with pytest.raises(TypeError):
        dumps({"x": object()})


class _Counting(asyncio.Protocol):
    """HTTP/1.1 keep-alive answering a fixed chat.completion after ``delay`` s; counts connections."""

    opened = 0
    live = 0
    most_live = 0
    delay = 0.0
    BODY = json.dumps({"id": "c1", "model": "m", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                                              "finish_reason": "stop"}], "usage": {}}).encode()  # fmt: skip

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cls = type(self)
        cls.opened += 1
        cls.live += 1
        cls.most_live = max(cls.most_live, cls.live)
        self.t = transport
        self.buf = b""

    def connection_lost(self, exc: Exception | None) -> None:
        type(self).live -= 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        head, sep, rest = self.buf.partition(b"\r\n\r\n")
        if not sep:
            return
        n = int(next(line.split(b":")[1] for line in head.lower().split(b"\r\n") if line.startswith(b"content-length")))
        if len(rest) < n:
            return
        self.buf = rest[n:]
        answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(self.BODY), self.BODY)
        asyncio.get_running_loop().call_later(type(self).delay, self.t.write, answer)  # type: ignore[attr-defined]


@pytest.fixture
async def counting() -> AsyncIterator[type[_Counting]]:
    cls = type("Counting", (_Counting,), {})
    server = await asyncio.get_running_loop().create_server(cls, "127.0.0.1", 0)
    cls.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"  # type: ignore[attr-defined]
    async with server:
        yield cls


REQ = ProviderRequest(model="m", messages=[{"role": "user", "content": "hi"}])


async def test_keep_alive_reuses_one_connection_and_zero_opens_one_per_call(counting: type[_Counting], http_transport: str) -> None:
    for keepalive, want in ((15.0, 1), (0.0, 20)):
        counting.opened = 0
        p = OpenAIProvider(base_url=counting.url, keepalive_s=keepalive)  # type: ignore[attr-defined]
        assert isinstance(p._wire, AiohttpWire if http_transport == "aiohttp" else HttpxWire)
        for _ in range(20):
            assert (await p.send(REQ, timeout=5)).content == "hi"
        await p.aclose()
        assert counting.opened == want, (keepalive, counting.opened)


async def test_max_connections_bounds_the_pool(counting: type[_Counting], http_transport: str) -> None:
    counting.delay = 0.02
    p = OpenAIProvider(base_url=counting.url, max_connections=3)  # type: ignore[attr-defined]
    out = await asyncio.gather(*(p.send(REQ, timeout=5) for _ in range(30)))
    await p.aclose()
    assert [r.content for r in out] == ["hi"] * 30
    assert counting.most_live == 3 and counting.opened == 3


def test_bad_pool_settings_and_transport_name_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="max_connections must be a positive integer, got 0"):
        OpenAIProvider(max_connections=0)
    with pytest.raises(ValueError, match="keepalive_s must be a number >= 0.*got -1"):
        OpenAIProvider(keepalive_s=-1)
    monkeypatch.setenv(TRANSPORT_ENV, "curl")
    with pytest.raises(ValueError, match="ATTUNE_HTTP_TRANSPORT='curl'"):
        OpenAIProvider()
    assert isinstance(OpenAIProvider(transport=httpx.MockTransport(lambda r: httpx.Response(200)))._wire, HttpxWire)


CONFIG = """
telemetry: false
deployments:
  openai/gpt-4o:
    model: gpt-4o
    base_url: http://127.0.0.1:9/v1
    connections: {max: 8, keepalive_s: 0}
  openai/gpt-4o-mini:
    model: gpt-4o-mini
    base_url: http://127.0.0.1:9/v1
tiers:
  capable: {chain: [openai/gpt-4o, openai/gpt-4o-mini]}
"""


def test_connections_config_key_sets_the_deployments_pool(tmp_path: Path) -> None:
    path = tmp_path / "attune.yaml"
    path.write_text(CONFIG)
    router = build_router(path)
    a, b = (router.deployments[k].adapter for k in ("openai/gpt-4o", "openai/gpt-4o-mini"))
    assert a is not b  # different pool settings: separate pools
    assert (a._slots._value, a._wire.max_connections, a._wire.keepalive_s) == (8, 8, 0.0)
    assert (b._slots._value, b._wire.max_connections, b._wire.keepalive_s) == (64, 64, 15.0)
    for bad, key, fragment in (("{max: 0}", "connections.max", "greater than or equal to 1 \\(got 0\\)"),
                               ("{keepalive_s: -1}", "connections.keepalive_s", "greater than or equal to 0"),
                               ("{max: true}", "connections.max", "integer"),
                               ("{maximum: 8}", "connections.maximum", "unknown key")):  # fmt: skip
        path.write_text(CONFIG.replace("{max: 8, keepalive_s: 0}", bad))
        with pytest.raises(ConfigError, match=fragment) as info:
            build_router(path)
        assert f"deployments.openai/gpt-4o.{key}" in str(info.value)
