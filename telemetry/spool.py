"""A local append-only file of records the database could not take yet (JSON lines, fsynced).

The writer spills its oldest in-memory records here when its buffer is full or when it must
stop while the database is down, and replays the file first when the database is back.

One spool file per process: ``Spool.claim(base)`` takes the first of ``base``, ``base.1``, ...
``base.63`` whose lock (``<file>.lock``, an ``flock``) no live process holds, and merges into
it the files of processes that ended with records left, so a backend opened later replays
them. Two processes writing one database therefore never replay or truncate each other's
spool. Files are created 0600.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._rows import decode_line, encode_line
from .records import LLMCallRecord

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per spool path is assumed
    fcntl = None  # type: ignore[assignment]

__all__ = ["MAX_SPOOL_FILES", "Spool", "spool_files"]

MAX_SPOOL_FILES = 64
_MODE = 0o600


def spool_files(base: str | os.PathLike[str]) -> list[Path]:
    """Every path a process may spool to for ``base``: ``base``, ``base.1`` ... ``base.63``."""
    b = Path(base)
    return [b, *(b.with_name(f"{b.name}.{i}") for i in range(1, MAX_SPOOL_FILES))]


def _lock(path: Path) -> int | None:
    """A descriptor holding the exclusive lock of ``path`` (on ``<path>.lock``), or None when
    another live process holds it. Raises ``OSError`` when the lock file cannot be created."""
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, _MODE)
    if fcntl is None:  # pragma: no cover
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class Spool:
    """Records spooled at ``path``, at most ``max_bytes`` of them on disk.

    ``Spool(path)`` opens one file as it is (tests, tools); the writer uses ``Spool.claim``.
    """

    @classmethod
    def claim(cls, base: str | os.PathLike[str], max_bytes: int = 1 << 30) -> Spool:
        """This process's spool among ``spool_files(base)``, locked until ``close``, holding
        the records every ended process left in the others."""
        paths = spool_files(base)
        for path in paths:
            fd = _lock(path)
            if fd is not None:
                break
        else:
            raise OSError(f"all {MAX_SPOOL_FILES} spool files {paths[0]}[.N] are held by live processes")
        spool = cls(path, max_bytes, lock_fd=fd)
        for other in paths:
            if other != path and other.exists():
                spool._adopt(other)
        return spool

    def __init__(self, path: str | os.PathLike[str], max_bytes: int = 1 << 30, *, lock_fd: int | None = None) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock_fd = lock_fd
        self._offset = 0  # bytes already replayed
        self._count = 0  # records in the file after _offset
        self.corrupt = 0  # unreadable lines skipped (e.g. cut short by a crash)
        self._corrupt_upto = 0  # end of the last damaged line counted
        if self.path.exists():
            with self.path.open("rb") as f:
                self._count = sum(1 for line in f if line.strip())

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        """Release this process's claim (the file stays if it holds records)."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

    def _adopt(self, other: Path) -> None:
        """Move the records of ``other`` (a spool whose process ended) to the end of this one."""
        fd = _lock(other)
        if fd is None:  # its process is alive: it replays its own file
            return
        try:
            data = other.read_bytes()
            if data.strip():
                if not data.endswith(b"\n"):
                    data += b"\n"  # a line cut short by a crash stays one (unreadable) line
                self._write(data)
                self._count += sum(1 for line in data.splitlines() if line.strip())
            other.unlink()
        finally:
            os.close(fd)

    def _write(self, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _MODE)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)

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
            self._write(b"".join(lines))
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
