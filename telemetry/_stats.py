"""The writer's counters as users see them (``TelemetryStats``), and the flush marker."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["Marker", "TelemetryStats", "queued_records"]


@dataclass(frozen=True, slots=True)
class TelemetryStats:
    """A snapshot of a backend's counters.

    Exact for this process's records: ``submitted`` = ``written`` + ``duplicates`` +
    ``dropped`` + ``pending`` + ``spooled`` (so ``written`` never exceeds ``submitted``).
    ``spilled`` counts records ever sent to the spool file. Records an ended process left in
    its spool, which this backend replays, count apart: ``recovered`` (written or already
    stored) and ``recovered_dropped``.
    """

    submitted: int
    written: int
    duplicates: int
    dropped: int
    pending: int
    spooled: int
    spilled: int
    batches: int
    write_failures: int
    db_available: bool
    last_error: str | None
    recovered: int = 0
    recovered_dropped: int = 0


class Marker:
    """A flush request: set once every record submitted before it is settled."""

    __slots__ = ("event", "target", "ok")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.target = -1
        self.ok = True


def queued_records(queue: deque[Any]) -> int:
    """Records (not flush markers) in ``queue``, which other threads may be appending to."""
    for _ in range(10):
        try:
            return sum(1 for x in list(queue) if type(x) is not Marker)
        except RuntimeError:  # mutated while copied
            continue
    return len(queue)
