"""Live statistics per deployment, read by policies and updated by the router in O(1).

The router calls ``observe`` once per attempt and ``set_breaker`` / ``set_cooldown`` /
``flag_misconfigured`` when those change. Counts decay exponentially in the router's clock
time (half-life ``half_life_s``), so old evidence fades and an idle deployment drifts back
towards the prior.
"""

from __future__ import annotations

import math

__all__ = ["DeploymentStats", "StatsRegistry"]


class DeploymentStats:
    """Time-decayed counts and latency for one deployment."""

    __slots__ = (
        "key",
        "half_life_s",
        "updated_at",
        "attempts",
        "successes",
        "failures",
        "errors",
        "latency_ewma_s",
        "consecutive_failures",
        "last_success_at",
        "last_failure_at",
        "breaker_state",
        "breaker_open_until",
        "cooldown_until",
        "cooldown_reason",
        "misconfigured",
    )

    def __init__(self, key: str, half_life_s: float = 60.0) -> None:
        self.key = key
        self.half_life_s = half_life_s
        self.updated_at: float | None = None
        self.attempts = 0.0
        self.successes = 0.0
        self.failures = 0.0
        self.errors: dict[str, float] = {}
        self.latency_ewma_s: float | None = None
        self.consecutive_failures = 0
        self.last_success_at: float | None = None
        self.last_failure_at: float | None = None
        self.breaker_state = "closed"
        self.breaker_open_until = 0.0
        self.cooldown_until = 0.0
        self.cooldown_reason: str | None = None
        self.misconfigured: str | None = None

    def _decay(self, now: float) -> None:
        last = self.updated_at
        self.updated_at = now
        if last is None or now <= last:
            return
        f = math.exp2(-(now - last) / self.half_life_s)
        self.attempts *= f
        self.successes *= f
        self.failures *= f
        if self.errors:
            for k in self.errors:
                self.errors[k] *= f

    def observe(self, ok: bool, error_type: str | None, latency_s: float, now: float) -> None:
        self._decay(now)
        self.attempts += 1.0
        if ok:
            self.successes += 1.0
            self.consecutive_failures = 0
            self.last_success_at = now
            lat = self.latency_ewma_s
            self.latency_ewma_s = latency_s if lat is None else lat + 0.1 * (latency_s - lat)
        else:
            self.failures += 1.0
            self.consecutive_failures += 1
            self.last_failure_at = now
            if error_type is not None:
                self.errors[error_type] = self.errors.get(error_type, 0.0) + 1.0

    def success_rate(self, prior_successes: float = 1.0, prior_failures: float = 0.0) -> float:
        """Posterior mean success probability with a Beta prior."""
        s = self.successes + prior_successes
        return s / (s + self.failures + prior_failures)


class StatsRegistry:
    """Every deployment's ``DeploymentStats``, created on first use."""

    def __init__(self, half_life_s: float = 60.0) -> None:
        self.half_life_s = half_life_s
        self._by_key: dict[str, DeploymentStats] = {}

    def get(self, key: str) -> DeploymentStats:
        st = self._by_key.get(key)
        if st is None:
            st = self._by_key[key] = DeploymentStats(key, self.half_life_s)
        return st

    def __contains__(self, key: str) -> bool:
        return key in self._by_key

    def keys(self) -> list[str]:
        return list(self._by_key)

    def observe(self, key: str, ok: bool, error_type: str | None, latency_s: float, now: float) -> None:
        self.get(key).observe(ok, error_type, latency_s, now)

    def set_breaker(self, key: str, state: str, open_until: float = 0.0) -> None:
        st = self.get(key)
        st.breaker_state = state
        st.breaker_open_until = open_until

    def set_cooldown(self, key: str, until: float, reason: str) -> None:
        st = self.get(key)
        if until > st.cooldown_until:
            st.cooldown_until = until
            st.cooldown_reason = reason

    def flag_misconfigured(self, key: str, reason: str) -> None:
        self.get(key).misconfigured = reason
