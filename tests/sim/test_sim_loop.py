"""The virtual-time event loop: asyncio primitives work and time only moves when idle."""

from __future__ import annotations

import asyncio

import pytest

from router.sim.loop import VirtualLoop, run_virtual


def test_sleeps_advance_virtual_time_in_order() -> None:
    seen: list[tuple[str, float]] = []

    async def sleeper(name: str, d: float) -> None:
        await asyncio.sleep(d)
        seen.append((name, asyncio.get_running_loop().time()))

    async def main() -> float:
        await asyncio.gather(sleeper("b", 3600.0), sleeper("a", 1.5), sleeper("c", 86400.0))
        return asyncio.get_running_loop().time()

    assert run_virtual(main()) == 86400.0
    assert seen == [("a", 1.5), ("b", 3600.0), ("c", 86400.0)]


def test_asyncio_timeout_current_task_and_cancellation_work() -> None:
    async def main() -> tuple[bool, bool, float]:
        loop = asyncio.get_running_loop()
        timed_out = False
        try:
            async with asyncio.timeout(5):
                await asyncio.sleep(100)
        except TimeoutError:
            timed_out = True
        t = asyncio.create_task(asyncio.sleep(50))
        await asyncio.sleep(1)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        return timed_out, asyncio.current_task() is not None, loop.time()

    assert run_virtual(main()) == (True, True, 6.0)


def test_call_at_handles_can_be_cancelled() -> None:
    loop = VirtualLoop()
    fired: list[int] = []
    h = loop.call_at(10.0, fired.append, 1)
    loop.call_at(20.0, fired.append, 2)
    h.cancel()
    assert h.cancelled() and h.when() == 10.0
    loop.run_forever()
    assert fired == [2] and loop.time() == 20.0


def test_a_future_nobody_resolves_is_reported_not_hung() -> None:
    async def main() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(RuntimeError, match="deadlock"):
        run_virtual(main())


def test_sleep_until_resumes_at_the_instant_and_can_be_cancelled() -> None:
    async def main() -> tuple[float, bool, float]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualLoop)
        await loop.sleep_until(12.5)
        t1 = loop.time()

        async def long() -> None:
            await loop.sleep_until(1000.0)

        task = asyncio.create_task(long())
        await asyncio.sleep(1)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            cancelled = True
        else:
            cancelled = False
        return t1, cancelled, loop.time()

    assert run_virtual(main()) == (12.5, True, 13.5)


def test_the_virtual_clock_reads_what_loopclock_reads() -> None:
    from router.clock import LoopClock
    from router.sim.clock import VirtualClock

    async def main() -> list[tuple[float, float]]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualLoop)
        fast, ref = VirtualClock(loop, 1000.0), LoopClock(1000.0, loop)
        out = [(fast.time(), ref.time()), (fast.monotonic(), ref.monotonic())]
        await fast.sleep(2.5)
        await ref.sleep(0.5)
        out += [(fast.time(), ref.time()), (fast.monotonic(), ref.monotonic())]
        return out

    readings = run_virtual(main(), start=7.0)
    assert readings == [(1007.0, 1007.0), (7.0, 7.0), (1010.0, 1010.0), (10.0, 10.0)]
