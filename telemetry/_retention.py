"""Retention: raw calls and attempts older than a cutoff are deleted; rollups stay."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

__all__ = ["StoreRetention"]


class StoreRetention:
    """The retention part of ``TelemetryStore`` (it provides ``tables`` and ``engine``)."""

    tables: Any
    engine: Any

    def prune(self, older_than: timedelta | float, *, now: float | None = None) -> int:
        """Delete raw calls (and their attempts) older than ``older_than`` (a timedelta or
        days); rollups are kept. Returns the number of calls deleted."""
        from sqlalchemy import delete, select

        days = older_than.total_seconds() / 86400 if isinstance(older_than, timedelta) else older_than
        if not isinstance(days, (int, float)) or isinstance(days, bool) or days < 0:
            raise TypeError(f"older_than must be a timedelta or a non-negative number of days, got {older_than!r}")
        if not days <= 1e9:  # also NaN
            raise ValueError(f"older_than must be at most 1e9 days, got {older_than!r:.60}")
        cutoff = (time.time() if now is None else now) - days * 86400
        calls, attempts = self.tables.calls, self.tables.attempts
        with self.engine.begin() as conn:
            old = select(calls.c.call_id).where(calls.c.ts < cutoff)
            conn.execute(delete(attempts).where(attempts.c.call_id.in_(old)))
            return int(conn.execute(delete(calls).where(calls.c.ts < cutoff)).rowcount)
