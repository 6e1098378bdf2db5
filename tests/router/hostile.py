"""A hostile provider for the hardening tests: a real HTTP server on 127.0.0.1 that answers
whatever a test scripts, byte for byte, on every API path (OpenAI, Anthropic, Gemini).

``{ECHO}`` anywhere in a scripted body or header value is replaced by every header value the
request carried (the API key among them), the way a careless proxy echoes a request back.
A stream is a list of ``(delay_s, bytes)`` pieces written as they come, on a close-delimited
body; ``forever=`` repeats the last piece until the client goes away (a keep-alive-only stream).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ECHO = "{ECHO}"


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    pieces: list[tuple[float, bytes]] | None = None  # a stream, written piece by piece
    forever: bool = False  # repeat the last piece until the client hangs up (at most 60 s)
    silent: bool = False  # read the request, answer nothing, hold the connection


class HostileServer:
    """``with HostileServer() as srv: srv.answer = Answer(...)``; ``srv.base`` is the URL."""

    def __init__(self) -> None:
        self.answer = Answer(body=b"{}")
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                return None

            def do_GET(self) -> None:  # noqa: N802
                self.do_POST()

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("content-length") or 0)
                self.rfile.read(n)
                owner.requests += 1
                plain = {"host", "accept-encoding", "connection", "user-agent", "content-type", "accept", "content-length"}
                items = sorted(self.headers.items(), key=lambda kv: kv[0].lower() in plain)  # credentials first
                echo = " ".join(f"{k}: {v}" for k, v in items)
                a = owner.answer
                try:
                    owner._write(self, a, echo)
                except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @staticmethod
    def _sub(data: bytes, echo: str) -> bytes:
        return data.replace(ECHO.encode(), json.dumps(echo)[1:-1].encode())

    def _write(self, h: BaseHTTPRequestHandler, a: Answer, echo: str) -> None:
        if a.silent:
            time.sleep(30)
            return
        h.send_response(a.status)
        for k, v in a.headers.items():
            h.send_header(k, v.replace(ECHO, echo.replace("\r", " ").replace("\n", " ")))
        if a.pieces is None:
            body = self._sub(a.body, echo)
            h.send_header("content-type", a.headers.get("content-type", "application/json"))
            h.send_header("content-length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        h.send_header("content-type", "text/event-stream")
        h.end_headers()
        h.wfile.flush()
        deadline = time.monotonic() + 60
        for delay, piece in a.pieces:
            time.sleep(delay)
            h.wfile.write(self._sub(piece, echo))
            h.wfile.flush()
        while a.forever and a.pieces and time.monotonic() < deadline:
            delay, piece = a.pieces[-1]
            time.sleep(max(delay, 0.05))
            h.wfile.write(self._sub(piece, echo))
            h.wfile.flush()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def sse(*events: Any, event: str | None = None) -> bytes:
    """Server-sent events carrying ``events`` (dicts as JSON, strings as they are)."""
    out = []
    for e in events:
        data = e if isinstance(e, str) else json.dumps(e)
        out.append((f"event: {event}\n" if event else "") + f"data: {data}\n\n")
    return "".join(out).encode()
