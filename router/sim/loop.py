"""A minimal asyncio event loop on virtual time, for the simulator.

``time()`` is virtual: when nothing is ready, the loop jumps to the next timer instead of
sleeping. Ready callbacks sit in a deque of slotted handles and timers in a heap of
``(when, seq, handle)`` tuples, so ordering is C tuple comparison. C ``asyncio.Task`` and
``Future`` run on it, and so do ``asyncio.sleep``, ``asyncio.current_task`` and
``asyncio.timeout``. It has no I/O, threads, signals or subprocesses: only what a simulated
call path needs.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["VirtualLoop", "run_virtual"]

log = logging.getLogger("attune.sim")
T = TypeVar("T")


class _Handle:
    """A scheduled callback: what ``call_soon`` / ``call_at`` return."""

    __slots__ = ("_cb", "_args", "_ctx", "_cancelled", "_when")

    def __init__(self, cb: Callable[..., Any], args: tuple[Any, ...], ctx: contextvars.Context | None, when: float) -> None:
        self._cb = cb
        self._args = args
        self._ctx = ctx
        self._cancelled = False
        self._when = when

    def cancel(self) -> None:
        self._cancelled = True
        self._cb = None  # type: ignore[assignment]
        self._args = ()

    def cancelled(self) -> bool:
        return self._cancelled

    def when(self) -> float:
        return self._when


class _Wakeup:
    """What ``VirtualLoop.sleep_until`` awaits: a future-like object that a C ``Task`` can wait
    on; its timer calls the task's wakeup directly (no ``Future``, no extra ``call_soon``)."""

    __slots__ = ("_loop", "_when", "_handle", "_cancelled", "_asyncio_future_blocking")

    def __init__(self, loop: VirtualLoop, when: float) -> None:
        self._loop = loop
        self._when = when
        self._handle: _Handle | None = None
        self._cancelled = False
        self._asyncio_future_blocking = False

    def get_loop(self) -> VirtualLoop:
        return self._loop

    def add_done_callback(self, fn: Callable[..., Any], *, context: contextvars.Context | None = None) -> None:
        self._handle = self._loop.call_at(self._when, fn, self, context=context)

    def remove_done_callback(self, fn: Callable[..., Any]) -> int:
        return 0

    def done(self) -> bool:
        return self._cancelled or self._loop._now >= self._when

    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self, msg: Any = None) -> bool:
        h = self._handle
        if self._cancelled or h is None or h._cancelled:
            return False
        self._cancelled = True
        cb, args, ctx = h._cb, h._args, h._ctx
        h.cancel()
        self._loop.call_soon(cb, *args, context=ctx)
        return True

    def result(self) -> None:
        self._handle = None  # the handle holds us in its args: break the cycle once woken
        if self._cancelled:
            raise asyncio.CancelledError()
        return None

    def exception(self) -> BaseException | None:
        return None

    def __await__(self) -> Any:
        self._asyncio_future_blocking = True
        yield self
        return self.result()

    __iter__ = __await__


class VirtualLoop(asyncio.AbstractEventLoop):
    """An event loop whose clock only moves when every ready callback has run."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._ready: deque[_Handle] = deque()
        self._timers: list[tuple[float, int, _Handle]] = []
        self._seq = 0
        self._running = False
        self._closed = False
        self._stopping = False
        self._exc_handler: Callable[..., Any] | None = None
        self.callbacks_run = 0

    # -- time ---------------------------------------------------------------------------
    def time(self) -> float:
        return self._now

    # -- scheduling ---------------------------------------------------------------------
    def call_soon(self, callback: Callable[..., Any], *args: Any, context: contextvars.Context | None = None) -> _Handle:  # type: ignore[override]
        h = _Handle(callback, args, context, self._now)
        self._ready.append(h)
        return h

    call_soon_threadsafe = call_soon  # type: ignore[assignment]

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any, context: contextvars.Context | None = None) -> _Handle:  # type: ignore[override]
        h = _Handle(callback, args, context, when)
        self._seq += 1
        heapq.heappush(self._timers, (when, self._seq, h))
        return h

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any, context: contextvars.Context | None = None) -> _Handle:  # type: ignore[override]
        return self.call_at(self._now + delay, callback, *args, context=context)

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(self, coro: Coroutine[Any, Any, T], *, name: str | None = None, context: contextvars.Context | None = None) -> asyncio.Task[T]:  # type: ignore[override]
        return asyncio.Task(coro, loop=self, name=name, context=context)

    def sleep_until(self, when: float) -> _Wakeup:
        """An awaitable that resumes the awaiting task at virtual time ``when`` (a cheaper
        ``asyncio.sleep`` for the simulator's providers; cancellable like a future)."""
        return _Wakeup(self, when)

    # -- running ------------------------------------------------------------------------
    def _run(self, until: asyncio.Future[Any] | None) -> None:
        ready = self._ready
        timers = self._timers
        pop = ready.popleft
        heappop = heapq.heappop
        n = 0
        while not self._stopping:
            if not ready:
                if until is not None and until.done():
                    break
                while timers:
                    when, _, h = heappop(timers)
                    if not h._cancelled:
                        if when > self._now:
                            self._now = when
                        ready.append(h)
                        # take every other timer due at the same instant
                        while timers and timers[0][0] <= when:
                            h2 = heappop(timers)[2]
                            if not h2._cancelled:
                                ready.append(h2)
                        break
                if not ready:
                    break
            h = pop()
            if h._cancelled:
                continue
            n += 1
            try:
                ctx = h._ctx
                if ctx is None:
                    h._cb(*h._args)
                else:
                    ctx.run(h._cb, *h._args)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:  # noqa: BLE001 - reported like asyncio does
                self.call_exception_handler({"message": f"exception in callback {h._cb!r}", "exception": exc, "handle": h})
        self.callbacks_run += n

    def run_until_complete(self, future: Any) -> Any:
        if self._closed:
            raise RuntimeError("the virtual loop is closed")
        fut = asyncio.ensure_future(future, loop=self)
        old = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        self._running = True
        self._stopping = False
        try:
            self._run(fut)
        finally:
            self._running = False
            asyncio.events._set_running_loop(old)
        if not fut.done():
            raise RuntimeError("the virtual loop ran out of events before the future completed (deadlock)")
        return fut.result()

    def run_forever(self) -> None:
        old = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        self._running = True
        self._stopping = False
        try:
            self._run(None)
        finally:
            self._running = False
            self._stopping = False
            asyncio.events._set_running_loop(old)

    def stop(self) -> None:
        self._stopping = True

    def is_running(self) -> bool:
        return self._running

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True
        self._ready.clear()
        self._timers.clear()

    async def shutdown_asyncgens(self) -> None:
        return None

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        return None

    # -- errors and debug ---------------------------------------------------------------
    def get_debug(self) -> bool:
        return False

    def set_debug(self, enabled: bool) -> None:
        return None

    def set_exception_handler(self, handler: Callable[..., Any] | None) -> None:
        self._exc_handler = handler

    def get_exception_handler(self) -> Callable[..., Any] | None:
        return self._exc_handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        log.error("%s", context.get("message", "unhandled exception in the virtual loop"), exc_info=exc)

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        if self._exc_handler is not None:
            self._exc_handler(self, context)
        else:
            self.default_exception_handler(context)


def run_virtual(coro: Coroutine[Any, Any, T], start: float = 0.0) -> T:
    """Run ``coro`` to completion on a fresh ``VirtualLoop`` and close it."""
    loop = VirtualLoop(start)
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
