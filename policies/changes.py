"""Change tests on one deployment's two windows, run after each attempt in O(1).

- a **failure run**: consecutive failures less likely than ``RUN_ALPHA`` under the rate seen
  before them (at least ``MIN_FAILURE_RUN``): a per-attempt test, so its level is a false
  alarm rate per attempt, and a deployment whose normal is 15 % failures needs 4 in a row;
- a **failure-rate z-test**: the fast window's failures against the rate of the older
  evidence (dense traffic only), both ways (degradation and recovery);
- a **success run** while degraded: consecutive successes less likely than ``ALPHA`` under
  the failure rate seen since the degradation (one success after a full outage, nine in a
  30 % brownout), ``ALPHA`` halved for each relapse in a row (``relapses``);
- a **latency shift**: the fast window's mean log latency against the older evidence's.

On a degradation the slow window takes the new regime's evidence: the most recent run of
outcomes (of the last ``HISTORY``) least likely under the old rate (a generalised likelihood
ratio change point), so the estimate is the incident's own failure rate, whether a full
outage or a 30 % brownout. The rate before it is kept as the deployment's own normal
(``base_q``).

An incident ends (``readmit``) when its breaker's probe succeeds (``StatsRegistry.set_breaker``:
Linkerd's re-admission on one successful probe, where the statistics saw a full outage; after
a partial one or a relapse the probe is one success of the success-run test), when the
success-run test shows a recovery,
or when a slowed deployment answers ``NORMAL_RUN`` times in a row within its old baseline's
p75. It then restarts from its own normal (agentgateway's ``restoreHealth``, at the failure
rate it had before the incident rather than a generic one): the incident's failures, retries
and recent window no longer count, and its latency is its own baseline from before a
slowdown. An incident that starts again within ``RELAPSE_S`` of the last one's end is a
relapse: the next success-run re-admission needs stronger evidence (the flapping guard).
"""

from __future__ import annotations

import math
from policies.evidence import HISTORY, HISTORY_MASK, NEUTRAL_Q, Evidence

__all__ = [
    "HISTORY", "HISTORY_MASK", "NEUTRAL_Q", "after_failure", "after_success", "change_point", "note_baseline", "readmit",
    "replace_outcomes", "success_run_ends",
]  # fmt: skip

_log = math.log
_sqrt = math.sqrt
LOG_ALPHA = math.log(0.05)  # evidence level of the success-run (re-admission) test
LOG_RUN_ALPHA = math.log(1e-3)  # the failure-run test: false alarms per attempt
Z_RATE = 3.0  # failure-rate z-test threshold
MIN_FAILURE_RUN = 3
MIN_FAST_N = 4.0  # fast-window weight before the dense tests apply
MIN_OLD_N = 2.0  # weight of older evidence the dense tests compare against
LAT_SHIFT = math.log(1.5)  # a 1.5x shift of mean latency is a change
Z_LAT = 4.0  # latency shift threshold (it runs after every success: keep false alarms rare)
MIN_FAST_LAT_N = 4.0
NEUTRAL_N = 50.0  # weight of the evidence a re-admitted deployment restarts from...
# NEUTRAL_Q (policies.evidence, 0.01): ...at its own normal failure rate, at least this
BASE_Q_MAX = 0.5  # a normal above this is not a normal
NORMAL_RUN = 3  # answers within the old baseline's p75 that end a slowdown (a 2.5x slower one
# lands there 17 % of the time, three in a row 0.5 %; a recovered one 42 %)
_Z75 = 0.674
FORGET_RUN = 5  # successes in a row after which a re-admitted deployment's later failures are forgotten...
FORGET_S = 5.0  # ...once its last failure is this old
RELAPSE_S = 60.0  # an incident starting this soon after the last one ended is a relapse
MAX_RELAPSES = 3
_Z95 = 1.645
_LOG2 = math.log(2.0)


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
        if run * _log(q) < LOG_RUN_ALPHA:
            return _degrade(st, now, q, f"{run} failures in a row (baseline {q:.1%})")
    old_n, q_old = _older_rate(st)
    fn, ff = fast.attempts, fast.failures
    if fn >= MIN_FAST_N and old_n >= MIN_OLD_N and ff >= 4.0 and ff > 2.0 * q_old * fn and _rate_z(st, q_old) > Z_RATE:
        return _degrade(st, now, q_old, f"error rate {ff / fn:.0%} vs baseline {q_old:.1%}")
    return False


def _degrade(st: Evidence, now: float, q_before: float, reason: str) -> bool:
    """A detected degradation: keep the rate before it as the deployment's normal, count a
    relapse, and let the change point's outcomes be the new regime's evidence."""
    note_baseline(st, now, q_before)
    relapse = st.readmissions > 0 and now - st.readmitted_at < RELAPSE_S
    st.relapses = min(st.relapses + 1, MAX_RELAPSES) if relapse else 0
    k, f = change_point(st, q_before)
    if k > 0.0:
        return replace_outcomes(st, now, reason, "degraded", k, f)
    return replace_outcomes(st, now, reason, "degraded")


def note_baseline(st: Evidence, now: float, q: float | None = None) -> None:
    """Keep ``q`` (default: the slow window's failure rate) and the mean time of a failed
    attempt as the deployment's normal, what a re-admission restarts from. Not while an
    incident's evidence may still be in the slow window (degraded, or recovered less than a
    half-life ago): an incident's rate is not a normal."""
    if st.regime == "degraded" or (st.regime == "recovered" and now - (st.regime_at or 0.0) < st.half_life_s):
        return
    slow = st.slow
    if q is None:
        q = slow.failure_rate()
    st.base_q = NEUTRAL_Q if q < NEUTRAL_Q else BASE_Q_MAX if q > BASE_Q_MAX else q
    st.base_fail_s = slow.fail_lat_sum / slow.failures if slow.failures >= 1.0 else 0.0


def change_point(st: Evidence, q0: float) -> tuple[float, float]:
    """(attempts, failures) of the most recent outcomes (of the last ``HISTORY``) whose
    failure rate is least likely under ``q0``: the generalised likelihood ratio's change
    point. ``(0, 0)`` when no recent run of outcomes fails more often than ``q0``."""
    h = st.history
    n = st.history_n if st.history_n < HISTORY else HISTORY
    l0, l1 = _log(q0), _log(1.0 - q0)
    best = 0.0
    bk = bf = f = 0
    for k in range(1, n + 1):
        f += h & 1
        h >>= 1
        r = f / k
        if r <= q0:
            continue
        llr = f * (_log(r) - l0) + ((k - f) * (_log(1.0 - r) - l1) if f < k else 0.0)
        if llr > best:
            best, bk, bf = llr, k, f
    return float(bk), float(bf)


def after_success(st: Evidence, now: float, x: float) -> bool:
    """Recovery and latency tests after a success that took ``x`` log-seconds; returns
    whether one fired."""
    changed = _recovery(st, now, x)
    if st.regime == "slow" and st.lat_baseline is not None:
        return _slowdown_over(st, now, x) or changed
    if st.regime == "recovered" and st.history_n == 1:
        return _slow_return(st, now, x) or changed
    return _latency_shift(st, now) or changed


def _slow_return(st: Evidence, now: float, x: float) -> bool:
    """The first answer after an incident ended, far slower than the deployment's own
    baseline (``LAT_SHIFT`` and ``Z_LAT`` standard deviations): the outage is over but a
    slowdown is not, so it is slow from here (with that baseline kept to know when it ends)."""
    slow = st.slow
    n = slow.lat_n
    if n < 2.0:
        return False
    mu, var = slow.lat_mean_var()
    sd = _sqrt(var) if var > 0.01 else 0.1
    d = x - mu
    if d <= LAT_SHIFT or d <= Z_LAT * sd:
        return False
    st.lat_baseline = (n, slow.lat_s1, slow.lat_s2)
    st.normal_run = 0
    slow.lat_n, slow.lat_s1, slow.lat_s2 = 1.0, x, x * x
    st.mark_change(now, "slow", f"answered x{math.exp(d):.0f} its baseline on re-admission")
    return True


def readmit(st: Evidence, now: float, reason: str, *, ramp: bool = True) -> bool:
    """End an incident: restart the outcome counts from the deployment's own normal
    (``NEUTRAL_N`` attempts at ``base_q`` failures costing ``base_fail_s`` each), put back its latency baseline from
    before a slowdown, and mark it recovered. ``ramp``: count it as an incident ended
    (``readmissions``: policies ramp traffic back), and drop the incident's recent window,
    retries and outcome history too."""
    slow = st.slow
    old = slow.failures
    q = st.base_q
    slow.set_outcomes(NEUTRAL_N, NEUTRAL_N * q, st.base_fail_s)
    if st.errors and old > 0:
        scale = slow.failures / old
        for k in st.errors:
            st.errors[k] *= scale
    st.regime_q = q
    st.consecutive_failures = 0
    if ramp:  # a slowdown's samples go with the incident
        if st.lat_baseline is not None:
            _restore_latency(st)
        fast = st.fast
        fast.set_outcomes(0.0, 0.0, 0.0)
        st.history = st.history_n = 0
        st.retries = 0.0
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


def _recovery(st: Evidence, now: float, x: float) -> bool:
    slow = st.slow
    run = st.consecutive_successes
    if st.regime == "degraded":
        q = success_run_ends(st, run, run)
        if q is not None:
            readmit(st, now, f"{run} successes in a row (degraded at {q:.0%} failures)")
            _slow_return(st, now, x)  # the answer that ended it may still be a slow one
            return True
    elif (
        st.regime == "recovered"
        and run >= FORGET_RUN
        and slow.failures > 2.0 * NEUTRAL_N * st.base_q
        and now - (st.last_failure_at or now) >= FORGET_S
    ):
        # it has answered well since: what went wrong around its incident no longer counts
        return readmit(st, now, f"{run} successes in a row since its last failure", ramp=False)
    old_n, q_old = _older_rate(st)
    fast = st.fast
    if fast.attempts >= MIN_FAST_N and old_n >= MIN_OLD_N and q_old > 0.02 and _rate_z(st, q_old) < -Z_RATE:
        return replace_outcomes(st, now, f"error rate {fast.failures / fast.attempts:.0%} vs baseline {q_old:.1%}", "recovered")
    return False


def success_run_ends(st: Evidence, run: int, counted: int) -> float | None:
    """Whether ``run`` successes in a row end a degradation: their chance under the failure
    rate seen since it began (the ``counted`` of them already in the slow window left out)
    is under ``ALPHA``, halved per relapse. Returns that rate when they do, else ``None``."""
    slow = st.slow
    before = slow.attempts - counted
    q = slow.failures / before if before > 1.0 else st.regime_q
    q = 0.97 if q > 0.97 else q
    if q > 0.1 and run * _log(1.0 - q) < LOG_ALPHA - _LOG2 * st.relapses:
        return q
    return None


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
        if d > 0:  # keep the baseline from before the slowdown, to know when it is over: the
            # slow window's own moments (it clipped the slow answers at 3 sd, so taking the
            # recent window's unclipped ones out of it would bias the baseline low)
            st.lat_baseline = (slow.lat_n, slow.lat_s1, slow.lat_s2)
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
    """While slow: ``NORMAL_RUN`` answers in a row within the old baseline's p75 restore it
    (and restart the recent window's latency from them)."""
    n, s1, s2 = st.lat_baseline  # type: ignore[misc]
    mu = s1 / n
    var = s2 / n - mu * mu
    sd = _sqrt(var) if var > 0.01 else 0.1
    if x > mu + _Z75 * sd:
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
