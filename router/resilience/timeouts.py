"""Attempt timeouts for many concurrent calls on one event loop, with one asyncio timer.

``loop.call_at`` per attempt costs a Python ``TimerHandle``, a context copy and a heap of
Python-compared handles; ``asyncio.timeout`` adds more. Here each attempt is one small list
in a C-compared heap, and a single loop timer is kept for the earliest deadline. When it
fires, the overdue attempts' tasks are cancelled and flagged, and the router turns that
cancellation into a ``timeout`` (distinct from a caller's cancellation).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from typing import Any, TypeVar

__all__ = ["AttemptTimeouts"]

# an entry: [when, seq, task | None (disarmed), fired]
_T = TypeVar("_T")
_WHEN, _SEQ, _TASK, _FIRED = 0, 1, 2, 3


class AttemptTimeouts:
    """Every armed attempt timer of one loop."""

    __slots__ = ("loop", "_heap", "_seq", "_handle", "_handle_when", "_dead")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._heap: list[list[Any]] = []
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._handle_when = float("inf")
        self._dead = 0

    def arm(self, when: float, task: asyncio.Task[Any]) -> list[Any]:
        """Cancel ``task`` at loop time ``when`` unless disarmed first; returns the entry."""
        entry = [when, next(self._seq), task, False]
        heapq.heappush(self._heap, entry)
        if when < self._handle_when:
            self._schedule(when)
        return entry

    def disarm(self, entry: list[Any]) -> None:
        if entry[_TASK] is not None:
            entry[_TASK] = None
            self._dead += 1
            heap = self._heap
            if self._dead > 256 and self._dead * 2 > len(heap):  # keep the heap mostly live
                heap[:] = [e for e in heap if e[_TASK] is not None]
                heapq.heapify(heap)
                self._dead = 0

    def _schedule(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle_when = when
        self._handle = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._handle_when = float("inf")
        heap = self._heap
        now = self.loop.time()
        while heap:
            top = heap[0]
            task = top[_TASK]
            if task is None:
                heapq.heappop(heap)
                self._dead -= 1
                continue
            if top[_WHEN] > now:
                self._schedule(top[_WHEN])
                return
            heapq.heappop(heap)
            top[_TASK] = None
            top[_FIRED] = True
            task.cancel()

    @staticmethod
    def fired(entry: list[Any]) -> bool:
        return bool(entry[_FIRED])

    async def run(self, awaitable: Awaitable[_T], timeout: float) -> _T:
        """``await awaitable`` in the current task, cancelled after ``timeout`` seconds of loop
        time; ``TimeoutError`` then (a cancellation from elsewhere propagates as it is). What
        ``asyncio.timeout`` does, with one heap entry instead of a loop timer per wait."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("AttemptTimeouts.run() must be awaited inside a task")
        entry = self.arm(self.loop.time() + timeout, task)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if entry[_FIRED] and task.uncancel() == 0:
                raise TimeoutError(f"no answer within {timeout:.3f}s") from None
            raise
        finally:
            self.disarm(entry)

    def __len__(self) -> int:
        return len(self._heap) - self._dead

    @property
    def held(self) -> int:
        """Entries the heap holds: the armed ones and disarmed ones not compacted away yet."""
        return len(self._heap)
