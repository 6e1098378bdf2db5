"""The breaker gate on a fake clock: trips, open windows, single probe, growing open time."""

import random

import pybreaker
import pytest

from router.errors import CircuitOpenError, OverloadedError
from router.resilience.breaker import BreakerSettings, DeploymentBreaker


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_750_000_000.0

    def __call__(self) -> float:
        return self.t


def make(**kw: object) -> tuple[DeploymentBreaker, FakeClock, list[tuple[str, str]]]:
    clock = FakeClock()
    changes: list[tuple[str, str]] = []

    class L(pybreaker.CircuitBreakerListener):
        def state_change(self, cb, old, new):  # type: ignore[no-untyped-def]
            changes.append((old.name if old else "", new.name))

    s = BreakerSettings(**{"jitter": 0.0, **kw})  # type: ignore[arg-type]
    return DeploymentBreaker("p/m", s, clock_time=clock, rng=random.Random(1), listeners=[L()]), clock, changes


def fail(b: DeploymentBreaker, probe: bool = False) -> None:
    b.on_failure(OverloadedError("x", status=503), probe)


def test_trips_after_consecutive_failures_and_reports_to_listeners() -> None:
    b, clock, changes = make(fail_max=3, min_volume=100)
    for _ in range(2):
        assert b.admit(clock()) is False
        fail(b)
    assert b.state == "closed"
    b.admit(clock())
    fail(b)
    assert b.state == "open"
    assert changes[-1] == ("closed", "open")
    with pytest.raises(CircuitOpenError):
        b.admit(clock())


def test_success_resets_consecutive_count() -> None:
    b, clock, _ = make(fail_max=3, min_volume=100)
    for _ in range(10):
        fail(b)
        fail(b)
        assert b.consecutive_failures == 2
        b.on_success(False)
        assert b.consecutive_failures == 0  # a third failure now counts one, not three
    assert b.state == "closed"


def test_trips_on_failure_rate_with_minimum_volume() -> None:
    b, clock, _ = make(fail_max=100, failure_rate=0.5, min_volume=10, window=10)
    for i in range(9):  # alternating: 4 failures in 9 attempts, under min volume
        if i % 2:
            fail(b)
        else:
            b.on_success(False)
    assert b.state == "closed"
    fail(b)  # 10 attempts, 5 failures: rate 0.5
    assert b.state == "open"


def test_open_window_follows_the_injected_clock_and_admits_one_probe() -> None:
    b, clock, _ = make(fail_max=1, reset_timeout_s=10.0)
    fail(b)
    assert b.state == "open"
    clock.t += 9.9
    with pytest.raises(CircuitOpenError):
        b.admit(clock())
    clock.t += 0.2
    assert b.admit(clock()) is True  # the probe
    assert b.state == "half-open"
    with pytest.raises(CircuitOpenError):  # a second caller while the probe is out
        b.admit(clock())
    b.on_success(True)
    assert b.state == "closed"
    assert b.admit(clock()) is False


def test_open_time_doubles_per_consecutive_trip_and_is_capped() -> None:
    b, clock, _ = make(fail_max=1, reset_timeout_s=10.0, max_open_s=35.0)
    periods = []
    fail(b)
    for _ in range(4):
        periods.append(round(b.open_until - clock(), 6))
        clock.t = b.open_until
        assert b.admit(clock()) is True
        fail(b, probe=True)  # the probe fails: open again, longer
    assert periods == [10.0, 20.0, 35.0, 35.0]
    clock.t = b.open_until
    b.admit(clock())
    b.on_success(True)
    fail(b)
    assert round(b.open_until - clock(), 6) == 10.0  # closed resets the doubling


def test_a_breaker_is_down_once_it_trips_again_after_a_failed_probe() -> None:
    b, clock, _ = make(fail_max=1, reset_timeout_s=10.0)
    assert b.would_admit(clock()) and not b.is_down(clock())
    fail(b)  # a first trip: held back, not yet down
    assert not b.would_admit(clock()) and not b.is_down(clock())
    clock.t = b.open_until
    assert b.would_admit(clock())  # its window is over, no probe out
    assert b.admit(clock()) is True
    assert not b.would_admit(clock())  # the probe is out
    fail(b, probe=True)  # the probe fails: open again
    assert b.is_down(clock())
    clock.t = b.open_until
    assert b.would_admit(clock()) and not b.is_down(clock())  # open past its window: it may be probed


def test_neutral_outcome_frees_the_probe_without_counting() -> None:
    b, clock, _ = make(fail_max=1, reset_timeout_s=1.0)
    fail(b)
    clock.t += 2
    assert b.admit(clock()) is True
    b.on_neutral(True)  # e.g. the caller cancelled
    assert b.state == "half-open"
    assert b.admit(clock()) is True  # the next caller may probe


def test_late_results_do_not_move_an_open_breaker() -> None:
    b, clock, _ = make(fail_max=1, reset_timeout_s=5.0)
    fail(b)
    until = b.open_until
    fail(b)  # an attempt admitted before the trip, failing late
    b.on_success(False)
    assert b.state == "open" and b.open_until == until


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="fail_max"):
        BreakerSettings(fail_max=0)
    with pytest.raises(ValueError, match="failure_rate"):
        BreakerSettings(failure_rate=1.5)


def test_a_breaker_class_put_in_by_the_testing_mode_is_wired_as_the_routers_own() -> None:
    from router import Deployment, MemoryProvider, Router, Tier
    from router.testing import FakeClock as RouterClock
    from router.testing import fast_settings, use_breaker

    seen: list[str] = []

    class Listener(pybreaker.CircuitBreakerListener):
        def state_change(self, cb, old, new):  # type: ignore[no-untyped-def]
            seen.append(new.name)

    class Counting(DeploymentBreaker):
        failures = 0

        def on_failure(self, exc: BaseException, probe: bool) -> None:
            type(self).failures += 1
            super().on_failure(exc, probe)

    clock = RouterClock()
    router = Router(
        deployments=[Deployment("m/a", MemoryProvider("a"), "m")],
        tiers=[Tier("t", ["m/a"], policy="static")],
        settings=fast_settings(breaker=BreakerSettings(fail_max=2, jitter=0.0, reset_timeout_s=7.0)),
        clock=clock,
        breaker_listeners=[Listener()],
    )
    br = use_breaker(router, "m/a", Counting)
    assert router.breaker("m/a") is br and isinstance(br, Counting) and br.settings.fail_max == 2
    fail(br)
    fail(br)
    assert Counting.failures == 2 and br.state == "open" and seen == ["open"]  # the router's listeners
    assert router.stats.get("m/a").breaker_state == "open"  # the router's statistics heard it
    assert br.open_until == clock.time() + 7.0  # on the router's clock
