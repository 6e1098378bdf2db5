"""The evidence and state of one deployment that the change tests (``policies.changes``) read
and rewrite and the rollup folds (``policies.folds``) add to: two ``Window``s decaying in the
router's clock time, the error mix, runs, the detected regime and what holds it back.
``policies.stats.DeploymentStats`` adds the attempt path and the reads on top."""

from __future__ import annotations

import math

from policies.holds import Holds
from policies.windows import Window

__all__ = ["HISTORY", "HISTORY_MASK", "NEUTRAL_Q", "Evidence"]

_exp2 = math.exp2
NEUTRAL_Q = 0.01  # the lowest failure rate taken as a deployment's normal (policies.changes)
HISTORY = 64  # outcomes kept as bits for the change point (policies.changes.change_point)
HISTORY_MASK = (1 << HISTORY) - 1


class Evidence:
    """Time-decayed evidence and state of one deployment (or one deployment x task).

    ``slow`` and ``fast``: the two windows; ``errors``: the slow window's failures by error
    class; ``holds``: breaker and hold windows; ``regime``: the last detected change
    (``"normal" | "degraded" | "slow" | "recovered"``) with its time, reason and failure rate.
    """

    __slots__ = (
        "key",
        "half_life_s",
        "fast_half_life_s",
        "latency_half_life_s",
        "tick_s",
        "updated_at",
        "slow",
        "fast",
        "errors",
        "holds",
        "consecutive_failures",
        "consecutive_successes",
        "last_success_at",
        "last_failure_at",
        "last_answer_at",
        "calls",
        "retries",
        "ttft_ewma_s",
        "regime",
        "regime_at",
        "regime_reason",
        "regime_q",
        "changes",
        "readmitted_at",
        "readmissions",
        "lat_baseline",
        "normal_run",
        "last_latency_s",
        "history",
        "history_n",
        "base_q",
        "base_fail_s",
        "relapses",
    )

    def __init__(
        self, key: str, half_life_s: float = 300.0, fast_half_life_s: float = 15.0, latency_half_life_s: float | None = None
    ) -> None:
        self.key = key
        self.half_life_s = half_life_s
        self.fast_half_life_s = fast_half_life_s
        # latency moves less often than error rates (and its shifts are tested): a longer memory
        self.latency_half_life_s = latency_half_life_s or 5.0 * half_life_s
        self.tick_s = fast_half_life_s / 300.0  # events this close together count as simultaneous
        self.updated_at: float | None = None
        self.slow = Window()
        self.fast = Window()
        self.errors: dict[str, float] = {}
        self.holds = Holds()
        self.consecutive_failures = 0
        self.consecutive_successes = 0
        self.last_success_at: float | None = None
        self.last_failure_at: float | None = None
        self.last_answer_at = -1.0  # the later of the two (for the hang watch on the hot path)
        self.calls = 0.0  # calls that reached this deployment (from records), decayed
        self.retries = 0.0  # retry attempts at this deployment (from records), decayed
        self.ttft_ewma_s: float | None = None
        self.regime = "normal"
        self.regime_at: float | None = None
        self.regime_reason: str | None = None
        self.regime_q = 0.0  # failure rate of the evidence of the last change
        self.changes = 0
        self.readmitted_at = -1.0  # about when its last incident ended
        self.readmissions = 0  # incidents ended (a policy ramps traffic back after each)
        self.lat_baseline: tuple[float, float, float] | None = None  # latency moments before a slowdown
        self.normal_run = 0  # answers at baseline latency in a row while slow
        self.last_latency_s = 0.0  # of the last success
        self.history = 0  # the last HISTORY outcomes as bits, newest lowest (1 = failure)
        self.history_n = 0
        self.base_q = NEUTRAL_Q  # its failure rate before its last incident (its own normal)
        self.base_fail_s = 0.0  # the mean time of its failed attempts then (0: not known)
        self.relapses = 0  # incidents that began soon after the previous one ended, in a row

    # -- decay --------------------------------------------------------------------------
    def _decay(self, now: float) -> bool:
        """Age the counts to ``now``; returns whether they were aged (at most once a tick)."""
        last = self.updated_at
        if last is None:
            self.updated_at = now
            return True
        dt = now - last
        if dt < self.tick_s:
            return False
        self.updated_at = now
        f = _exp2(-dt / self.half_life_s)
        self.slow.decay(f, _exp2(-dt / self.latency_half_life_s))
        g = _exp2(-dt / self.fast_half_life_s)
        self.fast.decay(g, g)
        self.calls *= f
        self.retries *= f
        errs = self.errors
        if errs:
            for k in errs:
                errs[k] *= f
        return True

    def decay_to(self, now: float) -> None:
        """Age every count to ``now`` (reads call this; updates do it themselves)."""
        self._decay(now)

    def mark_change(self, now: float, regime: str, reason: str) -> None:
        """Record a detected change (the change tests call this)."""
        self.changes += 1
        self.regime = regime
        self.regime_at = now
        self.regime_reason = reason

    # -- warm start ---------------------------------------------------------------------
    def add_evidence(
        self,
        *,
        successes: float,
        failures: float,
        errors: dict[str, float] | None = None,
        log_latency: tuple[float, float, float] | None = None,
        fail_latency_sum_s: float = 0.0,
        calls: float = 0.0,
        retries: float = 0.0,
        now: float,
    ) -> None:
        """Add already-weighted evidence to the slow window (used by the rollup warm start).
        ``log_latency`` is (weight, sum, sum of squares) of log-seconds."""
        self._decay(now)
        slow = self.slow
        slow.attempts += successes + failures
        slow.successes += successes
        slow.failures += failures
        slow.fail_lat_sum += fail_latency_sum_s
        self.calls += calls
        self.retries += retries
        if errors:
            for k, v in errors.items():
                self.errors[k] = self.errors.get(k, 0.0) + v
        if log_latency is not None:
            slow.lat_n += log_latency[0]
            slow.lat_s1 += log_latency[1]
            slow.lat_s2 += log_latency[2]
