"""The router's clock in the simulator: ``LoopClock`` with fewer Python frames per reading.

The router reads its clock about eight times per call; ``LoopClock`` resolves the running
loop on each read. Bound to one ``VirtualLoop``, ``monotonic`` is the loop's own ``time``
and ``time()`` adds the epoch to the loop's virtual time directly. Same readings.
"""

from __future__ import annotations

from router.clock import LoopClock
from router.sim.loop import VirtualLoop

__all__ = ["VirtualClock"]


class VirtualClock(LoopClock):
    """``LoopClock(epoch, loop)`` for a ``VirtualLoop``: wall time is ``epoch`` plus virtual
    time; sleeping wakes at the exact virtual instant."""

    def __init__(self, loop: VirtualLoop, epoch: float) -> None:
        super().__init__(epoch, loop)
        self._vloop = loop
        self.monotonic = loop.time  # type: ignore[method-assign]

    def time(self) -> float:
        return self.epoch + self._vloop._now

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            loop = self._vloop
            await loop.sleep_until(loop._now + seconds)
