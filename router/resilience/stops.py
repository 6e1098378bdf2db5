"""When to stop retrying one deployment: each reason a small strategy object in the tenacity
manner, a callable on one ``RetryCheck`` returning ``True`` to stop, composable with ``|``.

The call path asks three groups in turn after a failed attempt (``router.call``)::

    FIRM  = stop_by_tenacity() | stop_at_max_retries()        nothing overrides these
            | stop_at_attempt_cap_with_alternatives()
    SOFT  = stop_when_forced() | stop_on_spent_budget()        a degraded-everywhere plan may
            | stop_at_attempt_cap()                           retry past them (one token of its
                                                              chain-wide budget)
    TIME  = stop_past_deadline() | stop_to_keep_time_to_fall_back()

and, after the backoff sleep, ``stop_on_open_breaker`` (the breaker must re-admit the retry).

The per-deployment attempt cap (tenacity's stop, ``max_attempts_per_deployment``) is firm for a
last resort and while another deployment may be as good a place for the next attempt; at the
one deployment that can answer (admitted through its breaker, every other one down: its
breaker tripped again after its probe failed) it is soft: a degraded-everywhere plan keeps
spending the deadline on jittered retries there, within the chain-wide budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "FIRM",
    "SOFT",
    "TIME",
    "RetryCheck",
    "stop_any",
    "stop_at_attempt_cap",
    "stop_at_attempt_cap_with_alternatives",
    "stop_at_max_retries",
    "stop_base",
    "stop_by_tenacity",
    "stop_on_open_breaker",
    "stop_on_spent_budget",
    "stop_past_deadline",
    "stop_to_keep_time_to_fall_back",
    "stop_when_forced",
]


@dataclass(slots=True, kw_only=True)
class RetryCheck:
    """What the stop conditions read after a failed attempt at one deployment (times on the
    router's monotonic clock)."""

    error_type: str
    retry_number: int  # of the attempt that just failed (0: the first at this deployment)
    delay: float | None  # the backoff tenacity asks for (0.0 when capped: drawn if the retry goes ahead); None: its retry strategy rules a retry out
    capped: bool = False  # tenacity's stop strategy (the per-deployment attempt cap) says stop
    retry_at: float  # when the retry would start
    deadline: float  # the call's
    attempt_timeout: float  # this deployment's
    forced: bool = False  # a last-resort attempt at a held-back deployment
    budget_allows: bool = True  # the deployment's retry budget
    max_retries: int | None = None  # the caller's ``max_retries``
    keep_time_to_fall_back: bool = True  # the router setting
    others_available: Callable[[], bool] = lambda: True  # another deployment could take the call
    alternative_left: Callable[[], bool] = lambda: True  # another could be as good a place (any but a down one)
    breaker_admits: bool = True  # after the backoff: the breaker let the retry through


class stop_base:  # noqa: N801 - tenacity naming
    """A stop condition; ``a | b`` stops when either does."""

    def __call__(self, check: RetryCheck) -> bool:
        raise NotImplementedError

    def __or__(self, other: stop_base) -> stop_any:
        return stop_any(self, other)


class stop_any(stop_base):  # noqa: N801
    def __init__(self, *stops: stop_base) -> None:
        self.stops = stops

    def __call__(self, check: RetryCheck) -> bool:
        return any(s(check) for s in self.stops)


class stop_by_tenacity(stop_base):  # noqa: N801
    """The router's ``RetryPolicy`` rules a retry out (tenacity's retry strategy: the error
    class, or its own cap of retries)."""

    def __call__(self, check: RetryCheck) -> bool:
        return check.delay is None


class stop_at_attempt_cap(stop_base):  # noqa: N801
    """The per-deployment attempt cap (tenacity's stop strategy) is reached."""

    def __call__(self, check: RetryCheck) -> bool:
        return check.capped


class stop_at_attempt_cap_with_alternatives(stop_base):  # noqa: N801
    """The attempt cap is reached and this is a last resort, or another deployment may be as
    good a place for the next attempt (any but one that is down: its breaker tripped again
    after its probe failed): move on, whatever the plan."""

    def __call__(self, check: RetryCheck) -> bool:
        return check.capped and (check.forced or check.alternative_left())


class stop_at_max_retries(stop_base):  # noqa: N801
    """The caller's ``max_retries`` retries at this deployment are used up."""

    def __call__(self, check: RetryCheck) -> bool:
        return check.max_retries is not None and check.retry_number >= check.max_retries


class stop_when_forced(stop_base):  # noqa: N801
    """A last resort (a held-back deployment tried anyway) gets one attempt."""

    def __call__(self, check: RetryCheck) -> bool:
        return check.forced


class stop_on_spent_budget(stop_base):  # noqa: N801
    """The deployment's retry budget is below half (failures outnumber successes)."""

    def __call__(self, check: RetryCheck) -> bool:
        return not check.budget_allows


class stop_past_deadline(stop_base):  # noqa: N801
    """The retry would start at or after the call's deadline."""

    def __call__(self, check: RetryCheck) -> bool:
        return check.retry_at >= check.deadline


class stop_to_keep_time_to_fall_back(stop_base):  # noqa: N801
    """After a timeout, a second one here would leave no attempt's time to fall back while
    another deployment could take the call: fall back now."""

    def __call__(self, check: RetryCheck) -> bool:
        return (
            check.error_type == "timeout"
            and check.keep_time_to_fall_back
            and check.retry_at + 2.0 * check.attempt_timeout > check.deadline
            and check.others_available()
        )


class stop_on_open_breaker(stop_base):  # noqa: N801
    """The breaker opened meanwhile (or a probe is out): the retry is not admitted."""

    def __call__(self, check: RetryCheck) -> bool:
        return not check.breaker_admits


FIRM = stop_by_tenacity() | stop_at_max_retries() | stop_at_attempt_cap_with_alternatives()
SOFT = stop_when_forced() | stop_on_spent_budget() | stop_at_attempt_cap()
TIME = stop_past_deadline() | stop_to_keep_time_to_fall_back()
