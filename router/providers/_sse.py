"""Server-sent events parsed from a body that arrives in chunks of bytes.

An event is ``(name, data)``: ``name`` is its ``event:`` field (``"message"`` when it has none),
``data`` its ``data:`` lines joined by newlines, as bytes (the JSON parser reads bytes, so a
one-line event costs one slice and no decoding). Lines end in ``\\n``, ``\\r\\n`` or ``\\r``;
comments and the ``id``/``retry`` fields are skipped; an event without data is not one.

Events are parsed as they are asked for (``next``), not when their bytes arrive: a provider
that sends a whole answer in one network read (a cached or short one) hands over its first
event after one event's parsing, not after all of them (benchmarks/RESULTS.md, "time to the
first chunk").
"""

from __future__ import annotations

__all__ = ["EventParser"]

Event = tuple[str, bytes]


class EventParser:
    """``push`` it the body's chunks in order; ``next`` returns the events they complete, one at
    a time, and ``close`` the last ones at the end of the body. ``feed`` does both at once."""

    __slots__ = ("_buf", "_pos", "_event", "_data")

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0  # where the unread part of ``_buf`` starts
        self._event = ""
        self._data: list[bytes] = []

    def push(self, chunk: bytes) -> None:
        """Add the body's next chunk."""
        pos, buf = self._pos, self._buf
        buf = (buf[pos:] if pos else buf) + chunk if pos < len(buf) else chunk
        self._pos = 0
        if b"\r" in buf:
            held = buf.endswith(b"\r")  # it may be the first half of a \r\n split across chunks
            buf = (buf[:-1] if held else buf).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if held:
                buf += b"\r"
        self._buf = buf

    def next(self) -> Event | None:
        """The next complete event, or None until more of the body is pushed."""
        buf = self._buf
        find = buf.find
        start = self._pos
        while True:
            nl = find(b"\n", start)
            if nl < 0:
                self._pos = start
                return None
            event = self._line(buf, start, nl)
            start = nl + 1
            if event is not None:
                self._pos = start
                return event

    def feed(self, chunk: bytes) -> list[Event]:
        """``push`` then every event now complete."""
        self.push(chunk)
        out = []
        while (event := self.next()) is not None:
            out.append(event)
        return out

    def close(self) -> list[Event]:
        """The end of the body: the events still unread; a last line without its newline counts,
        and so does an event whose blank line never came."""
        out = self.feed(b"")
        buf, self._buf, self._pos = self._buf[self._pos :].rstrip(b"\r"), b"", 0
        if buf:
            event = self._line(buf, 0, len(buf))
            if event is not None:
                out.append(event)
        event = self._dispatch()
        if event is not None:
            out.append(event)
        return out

    def _line(self, buf: bytes, start: int, end: int) -> Event | None:
        """Take one line; the event it completes (a blank line ends one), if any."""
        if start == end:
            return self._dispatch()
        if buf.startswith(b"data:", start):
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
        return None

    def _dispatch(self) -> Event | None:
        data = self._data
        name, self._event = self._event, ""
        if not data:
            return None
        self._data = []
        return (name or "message", data[0] if len(data) == 1 else b"\n".join(data))
