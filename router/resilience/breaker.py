"""Circuit breakers per deployment, on pybreaker's state machine, made safe for asyncio.

pybreaker keeps the states, counters, storage and listeners. Around it this module adds
what an async router needs (see "Known pitfalls" in docs/design.md):

- the gate (``admit``) reads the router's clock, not ``datetime.now``, so open windows run
  on virtual time in the simulator; pybreaker's own open-state timer is never consulted;
- outcomes are reported after the ``await`` (``on_success`` / ``on_failure`` /
  ``on_neutral``), so no lock is held across an await, cancellations and 4xx never reach
  pybreaker, and a 429 is neither a failure nor a success;
- exactly one half-open probe at a time;
- trips on consecutive failures (pybreaker's ``fail_max``) or on a failure rate over a
  window of recent attempts with a minimum volume;
- the open time doubles with each consecutive trip, jittered and capped.

State changes reach pybreaker listeners (``pybreaker.CircuitBreakerListener``), which is
also how the router updates live statistics and shares state across processes.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from router.errors import CircuitOpenError
from router.resilience._pybreaker import pybreaker
from router.settings import BreakerSettings  # defined with the other settings; re-exported here

__all__ = ["BreakerSettings", "DeploymentBreaker", "PassThroughBreaker"]


def _ok() -> None:
    return None


def _raise(exc: BaseException) -> None:
    raise exc


class _ClockedBreaker(pybreaker.CircuitBreaker):
    """pybreaker with ``opened_at`` taken from the router's clock."""

    def __init__(self, clock_time: Callable[[], float], **kwargs: Any) -> None:
        self._clock_time = clock_time
        super().__init__(**kwargs)

    def open(self) -> bool:
        with self._lock:
            self._state_storage.opened_at = datetime.fromtimestamp(self._clock_time(), timezone.utc)
            self.state = self._state_storage.state = pybreaker.STATE_OPEN  # type: ignore[assignment]
            return self._throw_new_error_on_trip


class _Bridge(pybreaker.CircuitBreakerListener):
    def __init__(self, owner: DeploymentBreaker) -> None:
        self.owner = owner

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        self.owner._on_state_change(old_state.name if old_state else None, new_state.name)


class DeploymentBreaker:
    """The breaker of one deployment."""

    __slots__ = (
        "key",
        "settings",
        "cb",
        "open_until",
        "trips",
        "_clock_time",
        "_rng",
        "_probe",
        "_window",
        "_window_failures",
        "_on_change",
    )

    def __init__(
        self,
        key: str,
        settings: BreakerSettings,
        *,
        clock_time: Callable[[], float],
        rng: random.Random | None = None,
        listeners: Iterable[pybreaker.CircuitBreakerListener] = (),
        on_change: Callable[[str, str, float], None] | None = None,
    ) -> None:
        self.key = key
        self.settings = settings
        self.open_until = 0.0
        self.trips = 0
        self._clock_time = clock_time
        self._rng = rng or random.Random()
        self._probe = False
        self._window: deque[bool] = deque(maxlen=settings.window)
        self._window_failures = 0
        self._on_change = on_change
        self.cb = _ClockedBreaker(
            clock_time,
            fail_max=settings.fail_max,
            reset_timeout=settings.reset_timeout_s,
            name=key,
            listeners=[_Bridge(self), *listeners],
            throw_new_error_on_trip=False,
        )

    @classmethod
    def like(cls, other: DeploymentBreaker) -> DeploymentBreaker:
        """A fresh breaker of this class wired as ``other`` is: its key, settings, clock, random
        source, listeners and change callback (``router.testing.use_breaker``)."""
        listeners = [x for x in other.cb.listeners if not isinstance(x, _Bridge)]
        return cls(other.key, other.settings, clock_time=other._clock_time, rng=other._rng, listeners=listeners, on_change=other._on_change)

    # -- state ------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"`` (pybreaker's names)."""
        return self.cb._state_storage.state  # type: ignore[no-any-return]

    @property
    def probe_in_flight(self) -> bool:
        return self._probe

    def would_admit(self, now: float) -> bool:
        """Whether an attempt would get through now: closed, or open past its window with no
        probe out."""
        return self.state == "closed" or (self.open_until <= now and not self._probe)

    def is_down(self, now: float) -> bool:
        """Held back after tripping again when its probe failed (a first trip may be a degraded
        deployment's, not a down one's)."""
        return self.trips > 1 and not self.would_admit(now)

    @property
    def consecutive_failures(self) -> int:
        """Failures counted since the last success (pybreaker's ``fail_counter``)."""
        return int(self.cb.fail_counter)

    @property
    def window_failures(self) -> int:
        """Failures among the last ``settings.window`` counted outcomes (the failure-rate trip)."""
        return self._window_failures

    def _on_state_change(self, old: str | None, new: str) -> None:
        if new == pybreaker.STATE_OPEN:
            self.trips += 1
            s = self.settings
            period = min(s.reset_timeout_s * 2 ** (self.trips - 1), s.max_open_s)
            period *= 1.0 + self._rng.uniform(-s.jitter, s.jitter)
            self.open_until = self._clock_time() + period
            self.cb.reset_timeout = period
        elif new == pybreaker.STATE_CLOSED:
            self.trips = 0
            self.open_until = 0.0
            self._window.clear()
            self._window_failures = 0
        if self._on_change is not None:
            self._on_change(self.key, new, self.open_until)

    # -- the gate ---------------------------------------------------------------------
    def admit(self, now: float) -> bool:
        """Let an attempt through; returns ``True`` when it is the half-open probe.

        Raises ``CircuitOpenError`` while open, and while another probe is in flight.
        """
        state = self.cb._state_storage.state
        if state == pybreaker.STATE_CLOSED:
            return False
        if self._probe:
            raise CircuitOpenError("half-open probe already in flight", deployment=self.key)
        if state == pybreaker.STATE_OPEN:
            if now < self.open_until:
                raise CircuitOpenError(f"open for {self.open_until - now:.1f}s more", deployment=self.key)
            self.cb.half_open()
        self._probe = True
        return True

    def force_probe(self) -> bool:
        """Admit an attempt before the open window ends (the router's last resort when every
        deployment of a chain is held back). Returns ``True`` when it is the probe, ``False``
        when the breaker is closed or another probe is already in flight."""
        state = self.cb._state_storage.state
        if state == pybreaker.STATE_CLOSED or self._probe:
            return False
        if state == pybreaker.STATE_OPEN:
            self.cb.half_open()
        self._probe = True
        return True

    # -- outcomes ---------------------------------------------------------------------
    def _observe(self, failed: bool) -> None:
        w = self._window
        if len(w) == w.maxlen and w[0]:
            self._window_failures -= 1
        w.append(failed)
        if failed:
            self._window_failures += 1

    def on_success(self, probe: bool) -> None:
        storage = self.cb._state_storage
        state = storage.state
        if probe:
            self._probe = False
        elif state != pybreaker.STATE_CLOSED:
            return  # a late result from before the trip: only the probe moves an open breaker
        w = self._window
        if self._window_failures or len(w) < self.settings.window:
            self._observe(False)  # (a full window of successes stays the same)
        if state == pybreaker.STATE_OPEN or (state == pybreaker.STATE_CLOSED and storage.counter == 0):
            return  # nothing for pybreaker to reset (or opened by another process meanwhile)
        self.cb.call(_ok)

    def on_failure(self, exc: BaseException, probe: bool) -> None:
        state = self.cb._state_storage.state
        if probe:
            self._probe = False
        elif state != pybreaker.STATE_CLOSED:
            return
        if state == pybreaker.STATE_OPEN:
            return  # opened meanwhile (e.g. by another process): nothing to count
        self._observe(True)
        try:
            self.cb.call(_raise, exc)
        except BaseException:  # noqa: BLE001 - pybreaker re-raises the failure we fed it
            pass
        if self.cb._state_storage.state == pybreaker.STATE_CLOSED:
            s = self.settings
            n = len(self._window)
            if n >= s.min_volume and self._window_failures >= s.failure_rate * n:
                self.cb.open()

    def on_panic_success(self) -> None:
        """A last-resort attempt (not the probe) succeeded: the deployment has recovered."""
        if self.cb._state_storage.state != pybreaker.STATE_CLOSED:
            self.cb.close()

    def on_neutral(self, probe: bool) -> None:
        """An outcome that says nothing of health (429, 4xx, cancellation): frees the probe."""
        if probe:
            self._probe = False

    # -- shared state -----------------------------------------------------------------
    def apply_remote_open(self, until: float) -> None:
        """Open because another process saw the outage (shared state); keeps the later end."""
        if self.cb._state_storage.state != pybreaker.STATE_OPEN:
            self._probe = False
            self.cb.open()
        self.open_until = until

    def reset(self) -> None:
        self._probe = False
        if self.cb._state_storage.state != pybreaker.STATE_CLOSED:
            self.cb.close()


class PassThroughBreaker(DeploymentBreaker):
    """A breaker that never trips: every attempt passes and no outcome is counted
    (``RouterSettings(breakers_enabled=False)``, for baselines without circuit breaking)."""

    __slots__ = ()

    def admit(self, now: float) -> bool:
        return False

    def force_probe(self) -> bool:
        return False

    def on_success(self, probe: bool) -> None:
        return None

    def on_failure(self, exc: BaseException, probe: bool) -> None:
        return None

    def on_panic_success(self) -> None:
        return None

    def apply_remote_open(self, until: float) -> None:
        return None
