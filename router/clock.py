"""Clocks: where the router reads time and how it sleeps.

Everything in the call path (deadlines, backoff, breaker open windows, Retry-After windows,
statistics) reads time through a ``Clock``, so tests and the simulator can run on virtual
time. ``time()`` is wall-clock seconds (shared with other processes through Redis);
``monotonic()`` measures durations.
"""

from __future__ import annotations

import asyncio
import time as _time
from typing import Protocol

__all__ = ["Clock", "LoopClock", "SystemClock"]


class Clock(Protocol):
    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: ``time.time``, ``time.perf_counter`` and ``asyncio.sleep``."""

    __slots__ = ()

    time = staticmethod(_time.time)
    monotonic = staticmethod(_time.perf_counter)

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)


class LoopClock:
    """Time of the running event loop, offset to an epoch: on a virtual-time loop this is
    virtual time, so the simulator's router sleeps and ages without real waiting."""

    __slots__ = ("epoch", "_loop")

    def __init__(self, epoch: float = 1_750_000_000.0, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.epoch = epoch
        self._loop = loop

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def time(self) -> float:
        return self.epoch + self._get_loop().time()

    def monotonic(self) -> float:
        return self._get_loop().time()

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)
