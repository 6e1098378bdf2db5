"""A local append-only file of records the database could not take yet (JSON lines, fsynced).

The writer spills its oldest in-memory records here when its buffer is full or when it must
stop while the database is down, and replays the file first when the database is back. A
store opened again later (same spool path) replays what an earlier process left behind.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._rows import decode_line, encode_line
from .records import LLMCallRecord

__all__ = ["Spool"]


class Spool:
    """Records spooled at ``path``, at most ``max_bytes`` of them on disk."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int = 1 << 30) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._offset = 0  # bytes already replayed
        self._count = 0  # records in the file after _offset
        self.corrupt = 0  # unreadable lines skipped (e.g. cut short by a crash)
        self._corrupt_upto = 0  # end of the last damaged line counted
        if self.path.exists():
            with self.path.open("rb") as f:
                self._count = sum(1 for line in f if line.strip())

    def __len__(self) -> int:
        return self._count

    def append(self, records: list[LLMCallRecord]) -> int:
        """Append as many records as fit under ``max_bytes`` and fsync; returns how many.

        Raises ``OSError`` when the file cannot be written.
        """
        return self.append_lines([encode_line(r) for r in records])

    def append_lines(self, encoded: list[bytes]) -> int:
        """Append as many encoded lines (``encode_line``) as fit and fsync; returns how many."""
        if not encoded:
            return 0
        size = self.path.stat().st_size if self.path.exists() else 0
        lines = []
        for line in encoded:
            if size + len(line) > self.max_bytes:
                break
            size += len(line)
            lines.append(line)
        if lines:
            with self.path.open("ab") as f:
                f.write(b"".join(lines))
                f.flush()
                os.fsync(f.fileno())
            self._count += len(lines)
        return len(lines)

    def read(self, n: int) -> tuple[list[LLMCallRecord], int]:
        """Up to ``n`` records from the replay position, and the offset just after them."""
        out, ends = self.read_with_offsets(n)
        return out, (ends[-1] if ends else self._offset)

    def read_with_offsets(self, n: int) -> tuple[list[LLMCallRecord], list[int]]:
        """Up to ``n`` records from the replay position and, for each, the offset just after
        it (so a partly written batch can be consumed record by record).

        Unreadable lines are skipped and counted in ``corrupt``.
        """
        out: list[LLMCallRecord] = []
        ends: list[int] = []
        if not self.path.exists():
            self._count = 0
        if not self._count:
            return out, ends
        with self.path.open("rb") as f:
            f.seek(self._offset)
            offset = self._offset
            while len(out) < n:
                line = f.readline()
                if not line:
                    break
                start, offset = offset, offset + len(line)
                if not line.strip():
                    continue
                try:
                    if not line.endswith(b"\n"):
                        raise ValueError("truncated line")
                    out.append(decode_line(line))
                    ends.append(offset)
                except Exception:  # noqa: BLE001 - a damaged line must not stop the replay
                    if start >= self._corrupt_upto:  # count each damaged line once, however often read
                        self._corrupt_upto = offset
                        self.corrupt += 1
                        self._count -= 1
                    if ends:
                        ends[-1] = offset  # consumed with the record before it
                    else:
                        self._offset = offset  # nothing before it to wait for
        if not out and not self._count:
            self.consume(self._offset, 0)  # only damaged lines were left: empty the file
        return out, ends

    def consume(self, offset: int, n: int) -> None:
        """Mark records up to ``offset`` (``n`` of them) as written; empties the file at its end."""
        self._offset = offset
        self._count = max(0, self._count - n)
        if self._count == 0 and self.path.exists() and self._offset >= self.path.stat().st_size:
            with self.path.open("r+b") as f:
                f.truncate(0)
                f.flush()
                os.fsync(f.fileno())
            self._offset = self._corrupt_upto = 0
            try:
                self.path.unlink()
            except OSError:
                pass
