"""The fast local upstream of ``benchmarks/throughput.py``: an asyncio protocol on 127.0.0.1 that
answers every POST with a fixed ``chat.completion`` in one write (keep-alive, Content-Length),
or, when the request body asks for ``"stream": true``, with a 50-chunk SSE answer (chunked
transfer encoding, also one write). Standard library only; uvloop is used when installed so the
server stays out of the way of the clients being measured.

    python benchmarks/_fastserver.py [--port 0]     # prints "listening on http://127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import json

STREAM_CHUNKS = 50

_COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1764547200,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "The loop bound should be len(xs) - 1.", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 14, "completion_tokens": 11, "total_tokens": 25},
        "system_fingerprint": "fp_bench",
    },
    separators=(",", ":"),
).encode()

_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: req-bench\r\ncontent-length: %d\r\n\r\n"
ANSWER = (_HEAD % len(_COMPLETION)) + _COMPLETION


def _stream_answer() -> bytes:
    def event(delta: dict[str, object], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
        data: dict[str, object] = {
            "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1764547200, "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }  # fmt: skip
        if usage is not None:
            data["usage"] = usage
        return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"

    events = [event({"role": "assistant", "content": "tok0 "})]
    events += [event({"content": f"tok{i} "}) for i in range(1, STREAM_CHUNKS - 1)]
    events.append(event({}, "stop", {"prompt_tokens": 14, "completion_tokens": STREAM_CHUNKS, "total_tokens": 14 + STREAM_CHUNKS}))
    events.append(b"data: [DONE]\n\n")
    body = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ntransfer-encoding: chunked\r\n\r\n"
    return head + body


STREAM_ANSWER = _stream_answer()


class FastHTTP(asyncio.Protocol):
    """HTTP/1.1 keep-alive: reads a request head and its Content-Length body, answers in one write."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        out = []
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(buf[:end]).lower()
            i = head.find(b"content-length:")
            length = 0
            if i >= 0:
                j = head.find(b"\r\n", i)
                length = int(head[i + 15 : j if j > 0 else len(head)])
            if len(buf) < end + 4 + length:
                break
            body = bytes(buf[end + 4 : end + 4 + length])
            del buf[: end + 4 + length]
            streamed = b'"stream":true' in body or b'"stream": true' in body
            out.append(STREAM_ANSWER if streamed else ANSWER)
        if out and self.transport is not None:
            self.transport.write(b"".join(out))


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FastHTTP, "127.0.0.1", port, backlog=1024)
    print(f"listening on http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve(args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
