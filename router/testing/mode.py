"""The testing mode, public API in the manner of stamina's: settings that retry at once, a fake
clock, and control over breakers, so tests (yours and ours) need no router internals.

::

    from router.testing import FakeClock, fast_settings, open_breaker

    clock = FakeClock()
    router = Router(deployments=..., settings=fast_settings(deadline_s=5.0), clock=clock)
    open_breaker(router, "openai/gpt-4o")            # as if it had just tripped
    await router.acompletion(...)                     # backoff sleeps advance the clock, no waiting
    assert clock.slept == [...]

For whole runs on virtual time (attempt timers included) use ``run_virtual`` with a
``LoopClock``: ``run_virtual(main())`` runs ``main`` on an event loop whose clock jumps to the
next timer, so a 3 s provider delay against a 0.5 s deadline takes no real time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from router.resilience.breaker import DeploymentBreaker
from router.settings import RouterSettings

__all__ = ["FAST", "FakeClock", "close_breaker", "fast_settings", "open_breaker", "run_virtual", "use_breaker"]

# backoff in milliseconds, attempts of 2 s within a 10 s call: failures retry and fall back at
# once, a hang still ends
FAST: dict[str, float] = {"backoff_initial_s": 0.001, "backoff_max_s": 0.004, "attempt_timeout_s": 2.0, "deadline_s": 10.0}


def fast_settings(**overrides: Any) -> RouterSettings:
    """``RouterSettings`` for tests: ``FAST`` with ``overrides`` on top."""
    return RouterSettings(**{**FAST, **overrides})


class FakeClock:
    """A ``Clock`` whose time moves only when the router sleeps or the test calls ``advance``:
    backoff and Retry-After waits return at once and are recorded in ``slept``. (Attempt timers
    run on the event loop's clock; see ``run_virtual`` for those.)"""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self._wall = start
        self._mono = 0.0
        self.slept: list[float] = []

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        """Move time on by ``seconds`` (breaker windows and Retry-After windows age with it)."""
        self._wall += seconds
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.slept.append(seconds)
            self.advance(seconds)
        await asyncio.sleep(0)  # still a suspension point, as a real sleep is


def open_breaker(router: Any, key: str, *, for_s: float | None = None) -> None:
    """Open ``key``'s breaker now, as if it had tripped (for ``for_s`` seconds, or its settings'
    reset timeout), and let the router's listeners and shared state know."""
    br: DeploymentBreaker = router.breaker(key)
    until = router.clock.time() + (br.settings.reset_timeout_s if for_s is None else for_s)
    br.apply_remote_open(until)


def close_breaker(router: Any, key: str) -> None:
    """Close ``key``'s breaker and forget its counts."""
    router.breaker(key).reset()


def use_breaker(router: Any, key: str, breaker: DeploymentBreaker | type[DeploymentBreaker]) -> DeploymentBreaker:
    """Put ``breaker`` in front of deployment ``key`` and return it. Given a class (e.g. a
    ``DeploymentBreaker`` subclass that counts probes), one is built wired as the router's own
    is (settings, clock, listeners, statistics and shared state: ``DeploymentBreaker.like``)."""
    if isinstance(breaker, type):
        breaker = breaker.like(router.breaker(key))
    router.replace_breaker(key, breaker)
    return breaker


def run_virtual(coro: Any, start: float = 0.0) -> Any:
    """Run ``coro`` on a fresh virtual-time event loop (``router.sim.run_virtual``)."""
    from router.sim.loop import run_virtual as _run

    return _run(coro, start)
