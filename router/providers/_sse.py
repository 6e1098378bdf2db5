"""Server-sent events parsed from a body that arrives in chunks of bytes.

An event is ``(name, data)``: ``name`` is its ``event:`` field (``"message"`` when it has none),
``data`` its ``data:`` lines joined by newlines, as bytes (the JSON parser reads bytes, so a
one-line event costs one slice and no decoding). Lines end in ``\\n``, ``\\r\\n`` or ``\\r``;
comments and the ``id``/``retry`` fields are skipped; an event without data is not one.
"""

from __future__ import annotations

__all__ = ["EventParser"]

Event = tuple[str, bytes]


class EventParser:
    """Feed it the body's chunks in order; it returns the events each completes."""

    __slots__ = ("_buf", "_event", "_data")

    def __init__(self) -> None:
        self._buf = b""
        self._event = ""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[Event]:
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            held = buf.endswith(b"\r")  # it may be the first half of a \r\n split across chunks
            buf = (buf[:-1] if held else buf).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if held:
                buf += b"\r"
        out: list[Event] = []
        start = 0
        find = buf.find
        while True:
            nl = find(b"\n", start)
            if nl < 0:
                break
            self._line(buf, start, nl, out)
            start = nl + 1
        self._buf = buf[start:] if start else buf
        return out

    def close(self) -> list[Event]:
        """The end of the body: a last line without its newline counts, and so does an event whose
        blank line never came."""
        out: list[Event] = []
        buf, self._buf = self._buf.rstrip(b"\r"), b""
        if buf:
            self._line(buf, 0, len(buf), out)
        self._dispatch(out)
        return out

    def _line(self, buf: bytes, start: int, end: int, out: list[Event]) -> None:
        if start == end:
            self._dispatch(out)
        elif buf.startswith(b"data:", start):
            v = start + 5
            if v < end and buf[v] == 32:  # one leading space is not part of the value
                v += 1
            self._data.append(buf[v:end])
        elif end - start == 4 and buf.startswith(b"data", start):  # a field with no colon has an empty value
            self._data.append(b"")
        elif buf.startswith(b"event:", start):
            v = start + 6
            if v < end and buf[v] == 32:
                v += 1
            self._event = buf[v:end].decode("utf-8", "replace")
        # ":" comments, id, retry and unknown fields carry nothing we use

    def _dispatch(self, out: list[Event]) -> None:
        data = self._data
        if data:
            out.append((self._event or "message", data[0] if len(data) == 1 else b"\n".join(data)))
            self._data = []
        self._event = ""
