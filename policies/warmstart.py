"""Warm start and shared learning: fold the store's per-minute rollups into live statistics.

``RollupRefresher(stats, source)`` reads rollups from ``source`` (a ``TelemetryBackend``, a
``TelemetryStore``, or anything with ``load_rollups(since, until)`` returning rollups or an
awaitable of them):

- ``await warm_start()`` at start-up loads the last ``lookback_s`` seconds, so a restarted or a
  second instance does not start from the prior;
- ``await refresh()`` (or ``run()`` in a background task, every ``interval_s``) loads the
  minutes completed since, minus this instance's own attempts of those minutes, so every
  instance on one database learns from the others' calls without counting its own twice.

A minute is read once it ended ``settle_s`` ago (writers batch; a row arriving later than that
is missed, not double counted).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

from policies.stats import StatsRegistry

__all__ = ["RollupRefresher"]

log = logging.getLogger("attune.policies")


class RollupRefresher:
    """Keeps ``stats`` fed from the rollups of ``source``; see the module docstring."""

    def __init__(
        self,
        stats: StatsRegistry,
        source: Any,
        *,
        interval_s: float = 30.0,
        lookback_s: float = 900.0,
        settle_s: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval_s <= 0 or lookback_s <= 0 or settle_s < 0:
            raise ValueError("interval_s and lookback_s must be > 0, settle_s >= 0")
        if not hasattr(source, "load_rollups"):
            raise TypeError(f"source needs a load_rollups(since, until) method, got {type(source).__name__}")
        self.stats = stats
        self.source = source
        self.interval_s = interval_s
        self.lookback_s = lookback_s
        self.settle_s = settle_s
        self.clock = clock
        self.loaded_until: float | None = None  # epoch seconds: minutes before this are folded
        self.folded = 0

    def _complete_until(self, now: float) -> float:
        return float(int((now - self.settle_s) // 60) * 60)

    async def _load(self, since: float, until: float) -> list[Any]:
        out = self.source.load_rollups(since, until)
        if inspect.isawaitable(out):
            out = await out
        return list(out)

    async def warm_start(self, now: float | None = None) -> int:
        """Fold the last ``lookback_s`` seconds of complete minutes; returns rollups folded."""
        now = self.clock() if now is None else now
        until = self._complete_until(now)
        rows = await self._load(now - self.lookback_s, until)
        self.stats.track_minutes = True
        n = self.stats.load_rollups(rows, now, subtract_own=True)
        self.loaded_until = until
        self.folded += n
        return n

    async def refresh(self, now: float | None = None) -> int:
        """Fold the minutes completed since the last load (minus this instance's own)."""
        if self.loaded_until is None:
            return await self.warm_start(now)
        now = self.clock() if now is None else now
        until = self._complete_until(now)
        if until <= self.loaded_until:
            return 0
        rows = await self._load(self.loaded_until, until)
        n = self.stats.load_rollups(rows, now, subtract_own=True)
        self.stats.prune_own_minutes(self.loaded_until - 120.0)
        self.loaded_until = until
        self.folded += n
        return n

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Refresh every ``interval_s`` until ``stop`` is set (or the task is cancelled);
        a failed load is logged and retried at the next interval."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 - the store being down must not stop routing
                log.warning("rollup refresh failed: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), self.interval_s)
            except asyncio.TimeoutError:
                pass
