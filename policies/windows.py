"""One decaying window of attempt outcomes and success latency.

A deployment's statistics keep two of these: a slow one (the baseline) and a fast one (the
recent past). Both hold the same fields and age the same way; only their half-lives differ,
so every change test compares like with like (``policies.changes``).
"""

from __future__ import annotations

import math

__all__ = ["Window", "log_latency"]

_log = math.log
_MIN_LATENCY_S = 1e-4  # a zero latency (an in-memory provider) is taken as 0.1 ms


def log_latency(latency_s: float) -> float:
    """Log-seconds of a latency, floored at 0.1 ms."""
    return _log(latency_s if latency_s > _MIN_LATENCY_S else _MIN_LATENCY_S)


class Window:
    """Decayed counts of attempts, successes and failures, the seconds failed attempts cost,
    and the weight, sum and sum of squares of log success latency."""

    __slots__ = ("attempts", "successes", "failures", "fail_lat_sum", "lat_n", "lat_s1", "lat_s2")

    def __init__(self) -> None:
        self.attempts = 0.0
        self.successes = 0.0
        self.failures = 0.0
        self.fail_lat_sum = 0.0
        self.lat_n = 0.0
        self.lat_s1 = 0.0
        self.lat_s2 = 0.0

    def decay(self, outcomes: float, latency: float) -> None:
        """Multiply outcome counts by ``outcomes`` and latency moments by ``latency``."""
        self.attempts *= outcomes
        self.successes *= outcomes
        self.failures *= outcomes
        self.fail_lat_sum *= outcomes
        self.lat_n *= latency
        self.lat_s1 *= latency
        self.lat_s2 *= latency

    def lat_mean_var(self) -> tuple[float, float]:
        """Mean and (uncorrected, possibly slightly negative) variance of log success latency;
        call with ``lat_n > 0``."""
        mu = self.lat_s1 / self.lat_n
        return mu, self.lat_s2 / self.lat_n - mu * mu

    def add_success(self, x: float) -> None:
        """One success that took ``x`` log-seconds."""
        self.attempts += 1.0
        self.successes += 1.0
        self.lat_n += 1.0
        self.lat_s1 += x
        self.lat_s2 += x * x

    def add_success_clipped(self, x: float) -> None:
        """One success, its log latency clipped at 3 standard deviations above this window's
        mean once it holds 10 samples: an answer from a slow spell (which the recent window's
        shift test judges) does not stretch the baseline's tail for the next half hour."""
        n = self.lat_n
        if n >= 10.0:
            mu = self.lat_s1 / n
            d = x - mu
            if d > 0.0 and d * d > 9.0 * (self.lat_s2 / n - mu * mu):
                var = self.lat_s2 / n - mu * mu
                x = mu + 3.0 * math.sqrt(var if var > 0.0 else 0.0)
        self.add_success(x)

    def add_failure(self, latency_s: float) -> None:
        """One failed attempt that cost ``latency_s`` seconds."""
        self.attempts += 1.0
        self.failures += 1.0
        self.fail_lat_sum += latency_s

    def failure_rate(self) -> float:
        return self.failures / self.attempts if self.attempts > 0 else 0.0

    def set_outcomes(self, attempts: float, failures: float, fail_latency_s: float) -> None:
        """Replace the outcome counts (a detected change: the new regime's evidence)."""
        self.attempts = attempts
        self.failures = failures
        self.successes = attempts - failures
        self.fail_lat_sum = failures * fail_latency_s

    def set_latency(self, other: Window) -> None:
        """Replace the latency moments by ``other``'s (a detected latency shift)."""
        self.lat_n = other.lat_n
        self.lat_s1 = other.lat_s1
        self.lat_s2 = other.lat_s2
