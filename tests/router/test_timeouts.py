"""AttemptTimeouts: one loop timer for many attempt deadlines."""

from __future__ import annotations

import asyncio

import pytest

from router.resilience.timeouts import AttemptTimeouts


async def test_overdue_attempts_are_cancelled_in_deadline_order_and_flagged() -> None:
    loop = asyncio.get_running_loop()
    timers = AttemptTimeouts(loop)
    order: list[int] = []

    async def attempt(i: int, timeout: float) -> None:
        entry = timers.arm(loop.time() + timeout, asyncio.current_task())  # type: ignore[arg-type]
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            assert AttemptTimeouts.fired(entry)
            order.append(i)
            raise
        finally:
            timers.disarm(entry)

    tasks = [asyncio.create_task(attempt(i, t)) for i, t in [(0, 0.09), (1, 0.03), (2, 0.06)]]
    t0 = loop.time()
    for t in tasks:
        with pytest.raises(asyncio.CancelledError):
            await t
    assert order == [1, 2, 0]
    assert 0.08 <= loop.time() - t0 < 0.2
    assert len(timers) == 0


async def test_disarmed_entries_never_fire_and_are_compacted() -> None:
    loop = asyncio.get_running_loop()
    timers = AttemptTimeouts(loop)
    task = asyncio.current_task()
    entries = [timers.arm(loop.time() + 0.05, task) for _ in range(1000)]  # type: ignore[arg-type]
    for e in entries:
        timers.disarm(e)
    assert len(timers) == 0 and timers.held < 1000  # compacted as it went
    await asyncio.sleep(0.08)  # would have been cancelled had any fired
    assert not any(AttemptTimeouts.fired(e) for e in entries)


async def test_an_earlier_deadline_reschedules_the_loop_timer() -> None:
    loop = asyncio.get_running_loop()
    timers = AttemptTimeouts(loop)
    fired_at: list[float] = []

    async def attempt(timeout: float) -> None:
        entry = timers.arm(loop.time() + timeout, asyncio.current_task())  # type: ignore[arg-type]
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            fired_at.append(loop.time())
        finally:
            timers.disarm(entry)

    slow = asyncio.create_task(attempt(1.0))
    await asyncio.sleep(0)
    t0 = loop.time()
    await asyncio.create_task(attempt(0.02))
    assert fired_at and fired_at[0] - t0 < 0.2
    slow.cancel()
    await asyncio.gather(slow, return_exceptions=True)


async def test_run_returns_the_answer_and_leaves_no_entry_behind() -> None:
    timers = AttemptTimeouts(asyncio.get_running_loop())
    assert await timers.run(asyncio.sleep(0.01, result="answer"), 1.0) == "answer"
    assert len(timers) == 0


async def test_run_raises_timeout_error_when_the_wait_is_overdue() -> None:
    loop = asyncio.get_running_loop()
    timers = AttemptTimeouts(loop)
    t0 = loop.time()
    with pytest.raises(TimeoutError, match="no answer within 0.050s"):
        await timers.run(asyncio.sleep(5), 0.05)
    assert loop.time() - t0 < 1.0
    assert len(timers) == 0
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]  # its own cancel was taken back


async def test_run_lets_a_cancellation_from_elsewhere_through() -> None:
    timers = AttemptTimeouts(asyncio.get_running_loop())
    task = asyncio.create_task(timers.run(asyncio.sleep(5), 10.0))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(timers) == 0
