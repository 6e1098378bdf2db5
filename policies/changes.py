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

An incident ends (``readmit``) when its breaker's probe succeeds (``StatsRegistry.set_breaker``:
Linkerd's re-admission on one successful probe), when a run of successes the failure rate
before it makes unlikely shows a recovery, or when a slowed deployment answers ``NORMAL_RUN``
times in a row within its old baseline's p95.
It then restarts from a neutral estimate (agentgateway's ``restoreHealth``): the outage's
failures no longer count, and its latency is its own baseline from before the slowdown.
"""

from __future__ import annotations

import math
from policies.evidence import Evidence

__all__ = ["after_failure", "after_success", "readmit", "replace_outcomes"]

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
NEUTRAL_N = 50.0  # weight of the neutral evidence a re-admitted deployment restarts from
NEUTRAL_Q = 0.01  # its failure rate (a healthy deployment's)
NORMAL_RUN = 2  # answers within the old baseline's p95 that end a slowdown
FORGET_RUN = 5  # successes in a row after which a re-admitted deployment's later failures are forgotten...
FORGET_S = 5.0  # ...once its last failure is this old
_Z95 = 1.645


def _older_rate(st: Evidence) -> tuple[float, float]:
    """(weight, failure rate) of the slow window's evidence older than the fast window."""
    slow, fast = st.slow, st.fast
    old_n = slow.attempts - fast.attempts
    q = (slow.failures - fast.failures + 0.5) / (old_n + 1.0) if old_n > 0.0 else 0.5
    return old_n, 0.005 if q < 0.005 else 0.97 if q > 0.97 else q


def _rate_z(st: Evidence, q_old: float) -> float:
    fast = st.fast
    mean = fast.attempts * q_old
    return (fast.failures - mean) / _sqrt(mean * (1.0 - q_old) + 0.25)


def after_failure(st: Evidence, now: float) -> bool:
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


def after_success(st: Evidence, now: float, x: float) -> bool:
    """Recovery and latency tests after a success that took ``x`` log-seconds; returns
    whether one fired."""
    changed = _recovery(st, now)
    if st.regime == "slow" and st.lat_baseline is not None:
        return _slowdown_over(st, now, x) or changed
    return _latency_shift(st, now) or changed


def readmit(st: Evidence, now: float, reason: str, *, ramp: bool = True) -> bool:
    """End an incident: restart the outcome counts from a neutral estimate (``NEUTRAL_N``
    attempts at ``NEUTRAL_Q`` failures), put back its latency baseline from before a
    slowdown, and mark it recovered.
    ``ramp``: count it as an incident ended (``readmissions``: policies ramp traffic back)."""
    slow = st.slow
    fail_lat = slow.fail_lat_sum / slow.failures if slow.failures > 0 else 0.0
    old = slow.failures
    slow.set_outcomes(NEUTRAL_N, NEUTRAL_N * NEUTRAL_Q, fail_lat)
    if st.errors and old > 0:
        scale = slow.failures / old
        for k in st.errors:
            st.errors[k] *= scale
    st.regime_q = NEUTRAL_Q
    st.consecutive_failures = 0
    if ramp:  # a slowdown's samples go with the incident (the recent window forgets by itself)
        if st.lat_baseline is not None:
            _restore_latency(st)
        st.readmitted_at = now
        st.readmissions += 1
    st.mark_change(now, "recovered", reason)
    return True


def _restore_latency(st: Evidence) -> None:
    """Put back the latency baseline from before a slowdown; the recent window restarts."""
    n, s1, s2 = st.lat_baseline  # type: ignore[misc]
    slow, fast = st.slow, st.fast
    slow.lat_n, slow.lat_s1, slow.lat_s2 = n, s1, s2
    fast.lat_n = fast.lat_s1 = fast.lat_s2 = 0.0
    st.lat_baseline = None


def _recovery(st: Evidence, now: float) -> bool:
    slow = st.slow
    run = st.consecutive_successes
    before = slow.attempts - run
    # the failure rate before this run of successes (or the one a degradation showed)
    q = slow.failures / before if before > 1.0 else 0.0
    degraded = st.regime == "degraded"
    if degraded and st.regime_q > q:
        q = st.regime_q
    q = 0.97 if q > 0.97 else q
    if (
        st.regime == "recovered"
        and run >= FORGET_RUN
        and slow.failures > 2.0 * NEUTRAL_N * NEUTRAL_Q
        and now - (st.last_failure_at or now) >= FORGET_S
    ):
        # it has answered well since: what went wrong around its incident no longer counts
        return readmit(st, now, f"{run} successes in a row since its last failure", ramp=False)
    if run >= 2 and q > 0.1 and (run * _log(1.0 - q) < LOG_ALPHA or (degraded and run >= MAX_SUCCESS_RUN)):
        # the run is the new regime's evidence (the fast window still holds the failures)
        # a recovery seen in the numbers (no ramp: under dense traffic such runs also come by luck)
        return readmit(st, now, f"{run} successes in a row (baseline {q:.0%} failures)", ramp=False)
    old_n, q_old = _older_rate(st)
    fast = st.fast
    if fast.attempts >= MIN_FAST_N and old_n >= MIN_OLD_N and q_old > 0.02 and _rate_z(st, q_old) < -Z_RATE:
        return replace_outcomes(st, now, f"error rate {fast.failures / fast.attempts:.0%} vs baseline {q_old:.1%}", "recovered")
    return False


def _latency_shift(st: Evidence, now: float) -> bool:
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
        if d > 0:  # keep the baseline from before the slowdown, to know when it is over
            st.lat_baseline = (sn, slow.lat_s1 - fast.lat_s1, slow.lat_s2 - fast.lat_s2)
            st.normal_run = 0
        slow.set_latency(fast)
        st.mark_change(now, "slow" if d > 0 else "recovered", f"latency x{math.exp(d):.1f} vs baseline")
        return True
    return False


def replace_outcomes(
    st: Evidence, now: float, reason: str, regime: str, attempts: float | None = None, failures: float | None = None
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


def _slowdown_over(st: Evidence, now: float, x: float) -> bool:
    """While slow: ``NORMAL_RUN`` answers in a row within the old baseline's p95 restore it
    (and restart the recent window's latency from them)."""
    n, s1, s2 = st.lat_baseline  # type: ignore[misc]
    mu = s1 / n
    var = s2 / n - mu * mu
    sd = _sqrt(var) if var > 0.01 else 0.1
    if x > mu + _Z95 * sd:
        st.normal_run = 0
        return False
    st.normal_run += 1
    if st.normal_run < NORMAL_RUN:
        return False
    _restore_latency(st)
    fast = st.fast
    fast.lat_n, fast.lat_s1, fast.lat_s2 = 1.0, x, x * x
    st.readmitted_at = now
    st.readmissions += 1
    st.mark_change(now, "recovered", f"latency back to baseline ({st.normal_run} answers)")
    return True
