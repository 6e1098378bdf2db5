"""``MemorySink``: the backend's surface over a list, for tests and the simulator."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._rows import epoch
from .errors import TelemetryClosedError
from .filters import check_filters, check_time
from .records import LLMCallRecord

if TYPE_CHECKING:
    from .analysis import CallFrame

__all__ = ["MemorySink"]


class MemorySink:
    """Keeps submitted records in ``records`` (in submission order); nothing is written."""

    def __init__(self) -> None:
        self.records: list[LLMCallRecord] = []
        self._lock = threading.Lock()
        self._closed = False
        self.dropped = 0

    def __len__(self) -> int:
        return len(self.records)

    def submit(self, record: LLMCallRecord) -> None:
        """Append ``record`` (thread-safe)."""
        if self._closed:
            raise TelemetryClosedError("memory sink is closed")
        if not isinstance(record, LLMCallRecord):
            raise TypeError(f"expected an LLMCallRecord, got {type(record).__name__}")
        self.records.append(record)

    async def record(self, record: LLMCallRecord) -> None:
        self.submit(record)

    def flush_sync(self, timeout: float | None = None) -> None:
        """Nothing to wait for."""

    async def flush(self, timeout: float | None = None) -> None:
        """Nothing to wait for."""

    def close(self, timeout: float | None = None) -> None:
        self._closed = True

    async def aclose(self, timeout: float | None = None) -> None:
        self.close()

    def __enter__(self) -> MemorySink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> MemorySink:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def query_sync(
        self,
        *,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
        limit: int | None = None,
        order: str = "asc",
        fresh: bool = True,
        **filters: Any,
    ) -> list[LLMCallRecord]:
        """Records matching ``filters`` (checked as ``TelemetryBackend.query`` checks them)."""
        checked = check_filters(filters)
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
        lo, hi = check_time("since", since), check_time("until", until)
        with self._lock:
            snapshot = list(self.records)
        out = []
        for r in snapshot:
            ts = epoch(r.timestamp)
            if (lo is not None and ts < lo) or (hi is not None and ts >= hi):
                continue
            if all(getattr(r, k) in vals for k, vals in checked.items()):
                out.append(r)
        out.sort(key=lambda r: (epoch(r.timestamp), r.call_id), reverse=order == "desc")
        return out if limit is None else out[:limit]

    async def query(self, **kwargs: Any) -> list[LLMCallRecord]:
        return self.query_sync(**kwargs)

    def frame(self) -> CallFrame:
        """All records as a ``CallFrame``."""
        from .analysis import CallFrame

        return CallFrame.from_records(self.records)
