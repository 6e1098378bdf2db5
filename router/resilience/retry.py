"""Retries on one deployment, built from tenacity's composable strategies.

The router keeps its own attempt loop (it must interleave breakers, deadlines and fallback),
but every decision in it is a tenacity strategy evaluated on a fresh ``RetryCallState`` per
call and deployment: ``stop`` (``stop_after_attempt(3) | stop_after_delay(30)``...), ``wait``
(any ``wait_*``, composable with ``+``) and ``retry`` (any ``retry_*``). The state is created
at the first failure only, so the success path costs nothing.

``RetryBudget`` is gRPC-style retry throttling shared by every call of a router: failures
drain tokens, successes refill a fraction, and retries stop while the bucket is below half.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from tenacity import RetryCallState, stop_after_attempt
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base
from tenacity import Future as _TFuture

__all__ = ["RetryBudget", "RetryPolicy", "UnlimitedRetryBudget", "new_retry_state", "retry_if_retryable", "set_failure", "wait_jittered_backoff"]


class wait_jittered_backoff(wait_base):  # noqa: N801 - tenacity naming
    """Exponential backoff with "equal jitter": half fixed, half uniform random.

    ``initial * exp_base ** (attempt - 1)`` capped at ``max``; the random half comes from
    ``rng`` so a seeded router (the simulator) is deterministic.
    """

    def __init__(self, initial: float = 0.25, max: float = 8.0, exp_base: float = 2.0, rng: random.Random | None = None) -> None:  # noqa: A002
        self.initial = initial
        self.max = max
        self.exp_base = exp_base
        self.rng = rng or random.Random()

    def __call__(self, retry_state: RetryCallState) -> float:
        n = max(retry_state.attempt_number - 1, 0)
        try:
            base = self.initial * self.exp_base**n
        except OverflowError:
            base = self.max
        base = min(base, self.max)
        return base / 2 + self.rng.uniform(0, base / 2)


class retry_if_retryable(retry_base):  # noqa: N801 - tenacity naming
    """Retry when the failed attempt's error class allows retries (the router's rule table)
    and the attempts at this deployment so far, of any class, are within that class's cap
    (``ErrorRule.max_retries``)."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        if outcome is None or not outcome.failed:
            return False
        exc = outcome.exception()
        rules = (retry_state.kwargs or {}).get("rules")
        rule = rules.get(getattr(exc, "error_type", ""), None) if rules else None
        if rule is None:
            return False
        cap = rule.max_retries
        return cap is None or retry_state.attempt_number <= cap


@dataclass(slots=True)
class RetryPolicy:
    """Tenacity strategies deciding retries on one deployment."""

    stop: stop_base = field(default_factory=lambda: stop_after_attempt(3))
    wait: wait_base = field(default_factory=wait_jittered_backoff)
    retry: retry_base = field(default_factory=retry_if_retryable)

    def next_delay(self, state: RetryCallState) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to stop retrying here."""
        delay, capped = self.decide(state)
        return None if capped else delay

    def decide(self, state: RetryCallState) -> tuple[float | None, bool]:
        """``(delay, capped)``: the wait before the next attempt (``None`` when the retry
        strategy rules one out: the error class, its own cap), and whether the stop strategy
        (the attempt cap) says stop. A capped retry's wait is ``0.0`` here and drawn by
        ``wait_for`` only if the router's stops let it go ahead
        (``router.resilience.stops.stop_at_attempt_cap``), so a seeded wait draws nothing more
        where the cap is kept."""
        if not self.retry(state):
            return None, False
        if self.stop(state):
            return 0.0, True
        return self.wait_for(state), False

    def wait_for(self, state: RetryCallState) -> float:
        """The wait strategy's delay before the next attempt."""
        delay = float(self.wait(state))
        state.upcoming_sleep = delay
        return delay


def new_retry_state(start: float, rules: Any) -> RetryCallState:
    """A fresh tenacity state for one call on one deployment, started at ``start``; ``rules``
    (the tier's error rules) ride in ``kwargs`` for ``retry_if_retryable``."""
    state = RetryCallState(None, None, (), {"rules": rules})  # type: ignore[arg-type]
    state.start_time = start
    return state


def set_failure(state: RetryCallState, exc: BaseException, now: float) -> None:
    state.outcome = _TFuture.construct(state.attempt_number, exc, True)
    state.outcome_timestamp = now


class RetryBudget:
    """Token bucket in the manner of gRPC retry throttling (shared by all calls)."""

    __slots__ = ("max_tokens", "token_ratio", "tokens")

    def __init__(self, max_tokens: float = 10.0, token_ratio: float = 0.1) -> None:
        if max_tokens <= 0:
            raise ValueError(f"retry budget max_tokens must be > 0, got {max_tokens!r}")
        if token_ratio < 0:
            raise ValueError(f"retry budget token_ratio must be >= 0, got {token_ratio!r}")
        self.max_tokens = max_tokens
        self.token_ratio = token_ratio
        self.tokens = max_tokens

    def on_success(self) -> None:
        t = self.tokens + self.token_ratio
        self.tokens = t if t < self.max_tokens else self.max_tokens

    def on_failure(self) -> None:
        t = self.tokens - 1.0
        self.tokens = t if t > 0.0 else 0.0

    def allows_retry(self) -> bool:
        return self.tokens > self.max_tokens / 2

    def snapshot(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "max_tokens": self.max_tokens, "token_ratio": self.token_ratio}


class UnlimitedRetryBudget(RetryBudget):
    """A budget that never throttles (``RouterSettings(retry_budget_enabled=False)``)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(1.0, 0.0)

    def on_success(self) -> None:
        return None

    def on_failure(self) -> None:
        return None

    def allows_retry(self) -> bool:
        return True
