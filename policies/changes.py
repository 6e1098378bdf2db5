"""Change tests on one deployment's two windows, run after each attempt in O(1).

- a **failure run**: consecutive failures less likely than ``ALPHA`` under the rate seen
  before them (at least ``MIN_FAILURE_RUN``);
- a **failure-rate z-test**: the fast window's failures against the rate of the older
  evidence (dense traffic only), both ways (degradation and recovery);
- a **success run**: consecutive successes less likely than ``ALPHA`` under the failure rate
  before them (or at most ``MAX_SUCCESS_RUN`` after a detected degradation);
- a **latency shift**: the fast window's mean log latency against the older evidence's.

On a change the slow window takes the new regime's evidence (``replace_outcomes``), so the
policies' estimates follow it within a few attempts without chasing noise.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policies.stats import DeploymentStats

__all__ = ["after_failure", "after_success", "replace_outcomes"]

_log = math.log
_sqrt = math.sqrt
LOG_ALPHA = math.log(0.05)  # evidence level of the run tests
Z_RATE = 3.0  # failure-rate z-test threshold
MIN_FAILURE_RUN = 3
MIN_FAST_N = 4.0  # fast-window weight before the dense tests apply
MIN_OLD_N = 2.0  # weight of older evidence the dense tests compare against
MAX_SUCCESS_RUN = 8  # consecutive successes always enough to end a detected degradation
LAT_SHIFT = math.log(1.5)  # a 1.5x shift of mean latency is a change
Z_LAT = 4.0  # latency shift threshold (it runs after every success: keep false alarms rare)
MIN_FAST_LAT_N = 4.0


def _older_rate(st: DeploymentStats) -> tuple[float, float]:
    """(weight, failure rate) of the slow window's evidence older than the fast window."""
    slow, fast = st.slow, st.fast
    old_n = slow.attempts - fast.attempts
    q = (slow.failures - fast.failures + 0.5) / (old_n + 1.0) if old_n > 0.0 else 0.5
    return old_n, 0.005 if q < 0.005 else 0.97 if q > 0.97 else q


def _rate_z(st: DeploymentStats, q_old: float) -> float:
    fast = st.fast
    mean = fast.attempts * q_old
    return (fast.failures - mean) / _sqrt(mean * (1.0 - q_old) + 0.25)


def after_failure(st: DeploymentStats, now: float) -> bool:
    """Degradation tests after a failed attempt; returns whether one fired."""
    if st.regime == "degraded":
        return False
    slow, fast = st.slow, st.fast
    run = st.consecutive_failures
    if run >= MIN_FAILURE_RUN:
        q = (slow.failures - run + 0.5) / (slow.attempts - run + 1.0)
        q = 0.01 if q < 0.01 else 0.97 if q > 0.97 else q
        if run * _log(q) < LOG_ALPHA:  # the run is the new regime's evidence
            return replace_outcomes(st, now, f"{run} failures in a row (baseline {q:.1%})", "degraded", float(run), float(run))
    old_n, q_old = _older_rate(st)
    fn, ff = fast.attempts, fast.failures
    if fn >= MIN_FAST_N and old_n >= MIN_OLD_N and ff >= 4.0 and ff > 2.0 * q_old * fn and _rate_z(st, q_old) > Z_RATE:
        # the excess is recent: the fast window's rate understates it
        return replace_outcomes(st, now, f"error rate {ff / fn:.0%} vs baseline {q_old:.1%}", "degraded", 2.0 * ff, ff)
    return False


def after_success(st: DeploymentStats, now: float) -> bool:
    """Recovery and latency-shift tests after a success; returns whether one fired."""
    changed = _recovery(st, now)
    return _latency_shift(st, now) or changed


def _recovery(st: DeploymentStats, now: float) -> bool:
    slow = st.slow
    run = st.consecutive_successes
    before = slow.attempts - run
    # the failure rate before this run of successes (or the one a degradation showed)
    q = slow.failures / before if before > 1.0 else 0.0
    degraded = st.regime == "degraded"
    if degraded and st.regime_q > q:
        q = st.regime_q
    q = 0.97 if q > 0.97 else q
    if run >= 2 and q > 0.1 and (run * _log(1.0 - q) < LOG_ALPHA or (degraded and run >= MAX_SUCCESS_RUN)):
        # the run is the new regime's evidence (the fast window still holds the failures)
        return replace_outcomes(st, now, f"{run} successes in a row (baseline {q:.0%} failures)", "recovered", float(run), 0.0)
    old_n, q_old = _older_rate(st)
    fast = st.fast
    if fast.attempts >= MIN_FAST_N and old_n >= MIN_OLD_N and q_old > 0.02 and _rate_z(st, q_old) < -Z_RATE:
        return replace_outcomes(st, now, f"error rate {fast.failures / fast.attempts:.0%} vs baseline {q_old:.1%}", "recovered")
    return False


def _latency_shift(st: DeploymentStats, now: float) -> bool:
    slow, fast = st.slow, st.fast
    fl = fast.lat_n
    if fl < MIN_FAST_LAT_N:
        return False
    sn = slow.lat_n - fl
    if sn < 2.0:
        return False
    mu_s = (slow.lat_s1 - fast.lat_s1) / sn
    var = (slow.lat_s2 - fast.lat_s2) / sn - mu_s * mu_s
    sd = _sqrt(var) if var > 0.01 else 0.1
    d = fast.lat_s1 / fl - mu_s
    if (d > LAT_SHIFT or d < -LAT_SHIFT) and abs(d) > Z_LAT * sd * _sqrt(1.0 / fl + 1.0 / sn):
        slow.set_latency(fast)
        st.mark_change(now, "slow" if d > 0 else "recovered", f"latency x{math.exp(d):.1f} vs baseline")
        return True
    return False


def replace_outcomes(
    st: DeploymentStats, now: float, reason: str, regime: str, attempts: float | None = None, failures: float | None = None
) -> bool:
    """Replace the slow window's outcome counts by the new regime's evidence (the fast
    window's unless given), scale the error mix to match, and record the change."""
    slow, fast = st.slow, st.fast
    old = slow.failures
    fail_lat = fast.fail_lat_sum / fast.failures if fast.failures > 0 else 0.0
    a = fast.attempts if attempts is None else attempts
    f = fast.failures if failures is None else failures
    slow.set_outcomes(a, f, fail_lat)
    st.regime_q = f / a if a > 0 else 0.0
    errors = st.errors
    if errors and old > 0:
        scale = f / old
        for k in errors:
            errors[k] *= scale
    st.mark_change(now, regime, reason)
    return True
