"""The fake provider's HTTP/1.1: reading one request (keep-alive, Content-Length, chunked
bodies, ``Expect: 100-continue``) and writing responses, whole or chunk by chunk. Standard
library only.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import uuid
from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import parse_qsl

__all__ = [
    "MAX_BODY_BYTES", "MAX_HEADER_BYTES", "BadRequest", "HTTPRequest", "abort", "read_request",
    "wait_for_close", "write_chunk", "write_chunked_head", "write_response",
]

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024

REASONS = {
    100: "Continue", 200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
    409: "Conflict", 413: "Payload Too Large", 422: "Unprocessable Entity",
    429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 529: "Site is overloaded",
}


class BadRequest(Exception):
    """Malformed HTTP; answered with ``status`` and the connection is closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class HTTPRequest(NamedTuple):
    """One request as read: ``headers`` with lower-case names, ``query`` the raw query string."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool
    query: str = ""

    @property
    def query_params(self) -> list[tuple[str, str]]:
        """The query string decoded, in order, repeated names kept."""
        return parse_qsl(self.query, keep_blank_values=True)


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> HTTPRequest | None:
    """The next request on the connection, ``None`` when the peer closed it cleanly."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise BadRequest(400, "incomplete request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest(431, "request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    while lines and lines[0] == "":  # tolerate stray CRLF between requests
        lines.pop(0)
    parts = lines[0].split(" ") if lines else []
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1].startswith("/"):
        raise BadRequest(400, "malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest(400, "unsupported HTTP version")
    headers = _headers(lines[1:])
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = await _read_body(reader, headers)
    path, _, query = target.partition("?")
    return HTTPRequest(method.upper(), path, headers, body, keep_alive, query)


def _headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or " " in name:
            raise BadRequest(400, "malformed header line")
        headers[name.lower()] = value.strip()
    return headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    transfer = headers.get("transfer-encoding", "").lower()
    if transfer:
        if transfer != "chunked":
            raise BadRequest(501, "unsupported transfer-encoding")
        return await _read_chunked(reader)
    raw_length = headers.get("content-length", "0")
    if not raw_length.isdigit():
        raise BadRequest(400, "invalid content-length")
    length = int(raw_length)
    if length > MAX_BODY_BYTES:
        raise BadRequest(413, "request body too large")
    return await reader.readexactly(length) if length else b""


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size_text = size_line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadRequest(400, "malformed chunk size") from None
        if size < 0:
            raise BadRequest(400, "malformed chunk size")
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(chunks)
        total += size
        if total > MAX_BODY_BYTES:
            raise BadRequest(413, "request body too large")
        chunks.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise BadRequest(400, "malformed chunk")


def _head(status: int, content_type: str, framing: str, headers: Sequence[tuple[str, str]], keep_alive: bool) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
        f"content-type: {content_type}",
        framing,
        f"x-request-id: req_{uuid.uuid4().hex}",
        "server: attune-fake-provider",
        f"connection: {'keep-alive' if keep_alive else 'close'}",
    ]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def write_response(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    *,
    content_type: str = "application/json",
    headers: Sequence[tuple[str, str]] = (),
    keep_alive: bool = True,
    content_length: int | None = None,
) -> None:
    """A whole response; ``content_length`` may claim more than ``body`` (a truncation fault)."""
    framing = f"content-length: {len(body) if content_length is None else content_length}"
    writer.write(_head(status, content_type, framing, headers, keep_alive) + body)


def write_chunked_head(
    writer: asyncio.StreamWriter, status: int, *, content_type: str, headers: Sequence[tuple[str, str]] = (), keep_alive: bool = True
) -> None:
    """The head of a ``Transfer-Encoding: chunked`` response (a stream, as the real APIs send it)."""
    writer.write(_head(status, content_type, "transfer-encoding: chunked", headers, keep_alive))


def write_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    """One chunk of a chunked body; ``b""`` ends the body."""
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n" if data else b"0\r\n\r\n")


def abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST: SO_LINGER on with a zero timeout, then drop the transport."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


async def wait_for_close(reader: asyncio.StreamReader) -> None:
    """Discard input until the peer closes the connection."""
    while await reader.read(65536):
        pass
