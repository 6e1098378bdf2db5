"""Live statistics per deployment, read by policies and updated by the router in O(1).

The router calls ``observe`` once per attempt and ``set_breaker`` / ``set_cooldown`` /
``flag_misconfigured`` when those change; a policy may also pass finished call records to
``observe_record`` (retries, time to first token, per-task-type figures).

Every count decays exponentially in the router's clock time, in two windows: a slow one
(half-life ``half_life_s``, the baseline; latency keeps ``latency_half_life_s``, five times
longer by default) and a fast one (``fast_half_life_s``, the recent past). ``observe`` runs a change test after each attempt (DESIGN: no numpy, a few float
operations):

- dense traffic: a z-test of the fast window's failure count against the slow window's rate,
  and a shift of the fast window's mean log-latency against the slow one's;
- sparse traffic (probes): a run of consecutive failures, or of consecutive successes, that is
  less likely than ``alpha`` under the baseline rate.

On a detected change the slow window forgets the old regime (it is replaced by the recent
evidence), so a deployment that broke is demoted within a few attempts and one that recovered
is re-admitted within a bounded number of probes. ``version`` rises on every event a cached
plan should react to (a failure, a first success after failures, a regime change, a breaker,
cooldown or misconfiguration change).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["DeploymentStats", "StatsRegistry"]

_exp2 = math.exp2
_log = math.log
_sqrt = math.sqrt
_LOG_ALPHA = math.log(0.05)  # evidence level of the sparse run tests
_Z_CRIT = 3.0  # dense failure-rate z-test threshold
_LAT_SHIFT = math.log(1.5)  # a 1.5x shift of mean latency is a change
_MIN_FAST_N = 4.0  # fast-window weight before the dense tests apply
_MIN_FAST_LAT_N = 4.0
_Z_LAT = 4.0  # latency shift test threshold (it runs after every success: keep false alarms rare)
_MAX_RUN = 8  # consecutive successes always enough to re-admit
_PRIOR_SD = 0.6  # log-seconds: a typical LLM latency spread (p95 about 2.7 x the median)
_PRIOR_VAR_N = 10.0
_IGNORED_ERRORS = frozenset({"bad_request", "context_length", "cancelled"})  # caller's fault, not health


class DeploymentStats:
    """Time-decayed counts, latency and state of one deployment (or one deployment x task).

    Slow window: ``attempts``, ``successes``, ``failures``, ``errors`` (by error class),
    ``lat_n/lat_s1/lat_s2`` (weight, sum and sum of squares of log success latency),
    ``fail_lat_sum`` (seconds spent in failed attempts). Fast window: the ``f_`` fields.
    """

    __slots__ = (
        "key",
        "half_life_s",
        "fast_half_life_s",
        "latency_half_life_s",
        "updated_at",
        "attempts",
        "successes",
        "failures",
        "errors",
        "lat_n",
        "lat_s1",
        "lat_s2",
        "fail_lat_sum",
        "f_attempts",
        "f_failures",
        "f_lat_n",
        "f_lat_s1",
        "f_lat_s2",
        "f_fail_lat_sum",
        "consecutive_failures",
        "consecutive_successes",
        "last_success_at",
        "last_answer_at",
        "last_failure_at",
        "breaker_state",
        "breaker_open_until",
        "cooldown_until",
        "cooldown_reason",
        "misconfigured",
        "calls",
        "retries",
        "ttft_ewma_s",
        "regime",
        "regime_at",
        "regime_reason",
        "regime_q",
        "changes",
        "tick_s",
    )

    def __init__(
        self, key: str, half_life_s: float = 300.0, fast_half_life_s: float = 15.0, latency_half_life_s: float | None = None
    ) -> None:
        self.key = key
        self.half_life_s = half_life_s
        self.fast_half_life_s = fast_half_life_s
        # latency moves less often than error rates (and its shifts are tested): a longer memory
        self.latency_half_life_s = latency_half_life_s or 5.0 * half_life_s
        self.updated_at: float | None = None
        self.attempts = 0.0
        self.successes = 0.0
        self.failures = 0.0
        self.errors: dict[str, float] = {}
        self.lat_n = self.lat_s1 = self.lat_s2 = 0.0
        self.fail_lat_sum = 0.0
        self.f_attempts = self.f_failures = 0.0
        self.f_lat_n = self.f_lat_s1 = self.f_lat_s2 = 0.0
        self.f_fail_lat_sum = 0.0
        self.consecutive_failures = 0
        self.consecutive_successes = 0
        self.last_success_at: float | None = None
        self.last_failure_at: float | None = None
        self.last_answer_at = -1.0  # the later of the two (for the hang watch on the hot path)
        self.breaker_state = "closed"
        self.breaker_open_until = 0.0
        self.cooldown_until = 0.0
        self.cooldown_reason: str | None = None
        self.misconfigured: str | None = None
        self.calls = 0.0  # calls that reached this deployment (from records), decayed
        self.retries = 0.0  # retry attempts at this deployment (from records), decayed
        self.ttft_ewma_s: float | None = None
        self.regime = "normal"  # "normal" | "degraded" | "slow" | "recovered": the last change seen
        self.regime_at: float | None = None
        self.regime_reason: str | None = None
        self.regime_q = 0.0  # failure rate of the evidence of the last change
        self.changes = 0
        self.tick_s = fast_half_life_s / 300.0

    # -- decay --------------------------------------------------------------------------
    def _decay(self, now: float) -> bool:
        """Age the counts to ``now``; returns whether they were aged (at most once a tick)."""
        last = self.updated_at
        if last is None:
            self.updated_at = now
            return True
        dt = now - last
        if dt < self.tick_s:
            return False  # events this close together count as simultaneous
        self.updated_at = now
        f = _exp2(-dt / self.half_life_s)
        self.attempts *= f
        self.successes *= f
        self.failures *= f
        h = _exp2(-dt / self.latency_half_life_s)
        self.lat_n *= h
        self.lat_s1 *= h
        self.lat_s2 *= h
        self.fail_lat_sum *= f
        self.calls *= f
        self.retries *= f
        errs = self.errors
        if errs:
            for k in errs:
                errs[k] *= f
        g = _exp2(-dt / self.fast_half_life_s)
        self.f_attempts *= g
        self.f_failures *= g
        self.f_lat_n *= g
        self.f_lat_s1 *= g
        self.f_lat_s2 *= g
        self.f_fail_lat_sum *= g
        return True

    def decay_to(self, now: float) -> None:
        """Age every count to ``now`` (reads call this; updates do it themselves)."""
        self._decay(now)

    # -- updates ------------------------------------------------------------------------
    def observe(self, ok: bool, error_type: str | None, latency_s: float, now: float) -> bool:
        """Fold one attempt in; returns whether a cached plan should be recomputed.

        Counts age at most once per ``tick_s`` (1/300 of the fast half-life), and the change
        tests after a success run once per tick too: a burst costs no more than one update.
        """
        aged = self._decay(now)
        if ok:
            self.attempts += 1.0
            self.successes += 1.0
            self.f_attempts += 1.0
            x = _log(latency_s if latency_s > 1e-4 else 1e-4)
            self.lat_n += 1.0
            self.lat_s1 += x
            self.lat_s2 += x * x
            self.f_lat_n += 1.0
            self.f_lat_s1 += x
            self.f_lat_s2 += x * x
            self.last_success_at = now
            self.last_answer_at = now
            had_failures = self.consecutive_failures > 0
            self.consecutive_failures = 0
            self.consecutive_successes += 1
            if aged or had_failures or self.regime == "degraded":
                return self._test(now, x) or had_failures
            return False
        if error_type in _IGNORED_ERRORS:
            return False
        self.attempts += 1.0
        self.failures += 1.0
        self.f_attempts += 1.0
        self.f_failures += 1.0
        self.fail_lat_sum += latency_s
        self.f_fail_lat_sum += latency_s
        if error_type is not None:
            self.errors[error_type] = self.errors.get(error_type, 0.0) + 1.0
        self.consecutive_failures += 1
        self.consecutive_successes = 0
        self.last_failure_at = now
        self.last_answer_at = now
        self._test(now, None)
        return True

    def _test(self, now: float, x: float | None) -> bool:
        """The change tests; on a change the slow window takes the fast window's evidence."""
        fn = self.f_attempts
        old_n = self.attempts - fn  # slow evidence older than the fast window
        q_old = (self.failures - self.f_failures + 0.5) / (old_n + 1.0) if old_n > 0.0 else 0.5
        q_old = 0.005 if q_old < 0.005 else 0.97 if q_old > 0.97 else q_old
        dense = fn >= _MIN_FAST_N and old_n >= 2.0
        if x is None:
            if self.regime == "degraded":
                return False
            # a run of failures unlikely under the rate seen before it
            run = self.consecutive_failures
            if run >= 3:
                q = (self.failures - run + 0.5) / (self.attempts - run + 1.0)
                q = 0.01 if q < 0.01 else 0.97 if q > 0.97 else q
                if run * _log(q) < _LOG_ALPHA:
                    # the run is the new regime's evidence
                    return self._reset_failures(
                        now, f"{run} failures in a row (baseline {q:.1%})", "degraded", float(run), float(run)
                    )
            if dense and self.f_failures >= 4.0 and self.f_failures > 2.0 * q_old * fn:
                mean = fn * q_old
                z = (self.f_failures - mean) / _sqrt(mean * (1.0 - q_old) + 0.25)
                if z > _Z_CRIT:
                    # the excess is recent: the fast window's rate understates it
                    ff = self.f_failures
                    return self._reset_failures(
                        now, f"error rate {ff / fn:.0%} vs baseline {q_old:.1%}", "degraded", 2.0 * ff, ff
                    )
            return False
        changed = False
        run = self.consecutive_successes
        before = self.attempts - run
        # the failure rate before this run of successes (or the one a degradation showed)
        q = self.failures / before if before > 1.0 else 0.0
        degraded = self.regime == "degraded"
        if degraded and self.regime_q > q:
            q = self.regime_q
        q = 0.97 if q > 0.97 else q
        if run >= 2 and q > 0.1 and (run * _log(1.0 - q) < _LOG_ALPHA or (degraded and run >= _MAX_RUN)):
            # the run is the new regime's evidence (the fast window still holds the failures)
            changed = self._reset_failures(
                now, f"{run} successes in a row (baseline {q:.0%} failures)", "recovered", float(run), 0.0
            )
        elif dense and q_old > 0.02:
            mean = fn * q_old
            z = (self.f_failures - mean) / _sqrt(mean * (1.0 - q_old) + 0.25)
            if z < -_Z_CRIT:
                changed = self._reset_failures(
                    now, f"error rate {self.f_failures / fn:.0%} vs baseline {q_old:.1%}", "recovered"
                )
        fl = self.f_lat_n
        if fl >= _MIN_FAST_LAT_N:
            sn = self.lat_n - fl
            if sn >= 2.0:
                mu_s = (self.lat_s1 - self.f_lat_s1) / sn
                var = (self.lat_s2 - self.f_lat_s2) / sn - mu_s * mu_s
                sd = _sqrt(var) if var > 0.01 else 0.1
                mu_f = self.f_lat_s1 / fl
                d = mu_f - mu_s
                if (d > _LAT_SHIFT or d < -_LAT_SHIFT) and abs(d) > _Z_LAT * sd * _sqrt(1.0 / fl + 1.0 / sn):
                    self.lat_n = fl
                    self.lat_s1 = self.f_lat_s1
                    self.lat_s2 = self.f_lat_s2
                    self.changes += 1
                    self.regime = "slow" if d > 0 else "recovered"
                    self.regime_at = now
                    self.regime_reason = f"latency x{math.exp(d):.1f} vs baseline"
                    changed = True
        return changed

    def _reset_failures(
        self, now: float, reason: str, regime: str, attempts: float | None = None, failures: float | None = None
    ) -> bool:
        """Replace the slow window's outcome counts by the new regime's evidence (the fast
        window's unless given)."""
        old = self.failures
        fail_lat = self.f_fail_lat_sum / self.f_failures if self.f_failures > 0 else 0.0
        self.attempts = self.f_attempts if attempts is None else attempts
        self.failures = self.f_failures if failures is None else failures
        self.successes = self.attempts - self.failures
        self.fail_lat_sum = self.failures * fail_lat
        self.regime_q = self.failures / self.attempts if self.attempts > 0 else 0.0
        if self.errors and old > 0:
            scale = self.failures / old
            for k in self.errors:
                self.errors[k] *= scale
        self.changes += 1
        self.regime = regime
        self.regime_at = now
        self.regime_reason = reason
        return True

    # -- reads --------------------------------------------------------------------------
    def p_success(self, prior_p: float = 0.95, prior_n: float | None = None) -> float:
        """Attempt success probability: the slow window shrunk towards ``prior_p`` with weight
        ``prior_n`` (default 10, or 2 after a detected degradation, whose evidence then
        speaks). A change test replaces the slow window by the recent evidence, so this
        follows a regime change within a few attempts without chasing noise."""
        if prior_n is None:
            prior_n = 2.0 if self.regime == "degraded" else 10.0
        return (self.successes + prior_n * prior_p) / (self.attempts + prior_n)

    def latency_log_moments(self) -> tuple[float, float, float] | None:
        """(weight, mean, sd) of log success latency (seconds) in the slow window; ``None``
        with no evidence. The spread is shrunk towards a typical LLM one (sd 0.6 of log
        seconds, worth ``10`` samples), so a few draws do not make a heavy tail."""
        n, s1, s2 = self.lat_n, self.lat_s1, self.lat_s2
        if n < 0.3:
            return None
        mu = s1 / n
        var = s2 / n - mu * mu
        var = ((var if var > 0.0 else 0.0) * n + _PRIOR_VAR_N * _PRIOR_SD * _PRIOR_SD) / (n + _PRIOR_VAR_N)
        return n, mu, _sqrt(var)

    def latency_mean_s(self) -> float | None:
        m = self.latency_log_moments()
        return None if m is None else math.exp(m[1] + 0.5 * m[2] * m[2])

    def latency_quantile_s(self, z: float) -> float | None:
        """Lognormal quantile at standard score ``z`` (1.645 for p95)."""
        m = self.latency_log_moments()
        return None if m is None else math.exp(m[1] + z * m[2])

    def fail_latency_s(self) -> float | None:
        """Mean seconds a failed attempt costs (fast window first)."""
        if self.f_failures >= 1.0:
            return self.f_fail_lat_sum / self.f_failures
        if self.failures >= 0.2:
            return self.fail_lat_sum / self.failures
        return None

    def failure_rate_fast(self) -> float:
        return self.f_failures / self.f_attempts if self.f_attempts > 0 else 0.0

    def retry_rate(self) -> float:
        """Retries per call that reached this deployment (from records)."""
        return self.retries / self.calls if self.calls > 0.5 else 0.0

    def error_shares(self) -> dict[str, float]:
        tot = sum(self.errors.values())
        return {k: v / tot for k, v in self.errors.items() if v > 1e-3} if tot > 0 else {}

    def snapshot(self, now: float) -> dict[str, Any]:
        """Numbers for explanations (rounded)."""
        self._decay(now)
        m = self.latency_log_moments()
        return {
            "p_success": round(self.p_success(), 4),
            "attempts_weight": round(self.attempts, 2),
            "recent_failure_rate": round(self.failure_rate_fast(), 4),
            "latency_p50_ms": None if m is None else round(math.exp(m[1]) * 1000, 1),
            "latency_p95_ms": None if m is None else round(math.exp(m[1] + 1.645 * m[2]) * 1000, 1),
            "failed_attempt_ms": None if self.fail_latency_s() is None else round(self.fail_latency_s() * 1000, 1),  # type: ignore[operator]
            "retry_rate": round(self.retry_rate(), 3),
            "errors": {k: round(v, 3) for k, v in self.error_shares().items()},
            "ttft_ms": None if self.ttft_ewma_s is None else round(self.ttft_ewma_s * 1000, 1),
            "regime": self.regime,
            "regime_reason": self.regime_reason,
            "breaker": self.breaker_state,
            "misconfigured": self.misconfigured,
        }

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
        self.attempts += successes + failures
        self.successes += successes
        self.failures += failures
        self.fail_lat_sum += fail_latency_sum_s
        self.calls += calls
        self.retries += retries
        if errors:
            for k, v in errors.items():
                self.errors[k] = self.errors.get(k, 0.0) + v
        if log_latency is not None:
            self.lat_n += log_latency[0]
            self.lat_s1 += log_latency[1]
            self.lat_s2 += log_latency[2]


class StatsRegistry:
    """Every deployment's ``DeploymentStats`` (created on first use), and per task type.

    ``version`` rises whenever a cached plan may be stale; ``track_minutes`` (set by the
    rollup refresher) keeps this instance's own per-minute attempt counts so rollups shared
    through the store are not counted twice. ``track_tasks`` keeps per-task-type statistics
    from finished records (a policy with ``per_task=True`` turns it on; off, nobody reads them).
    """

    def __init__(
        self,
        half_life_s: float = 300.0,
        fast_half_life_s: float = 15.0,
        *,
        per_task_min_weight: float = 30.0,
        track_tasks: bool = False,
    ) -> None:
        self.half_life_s = half_life_s
        self.fast_half_life_s = fast_half_life_s
        self.per_task_min_weight = per_task_min_weight
        self.version = 0
        self._by_key: dict[str, DeploymentStats] = {}
        self._by_task: dict[tuple[str, str], DeploymentStats] = {}
        self.track_minutes = False
        self.track_tasks = track_tasks
        self.own_minutes: dict[tuple[int, str], list[int]] = {}
        self.output_tokens_ewma: float | None = None
        self.input_tokens_ewma: float | None = None
        self._last_record: Any = None

    def get(self, key: str) -> DeploymentStats:
        st = self._by_key.get(key)
        if st is None:
            st = self._by_key[key] = DeploymentStats(key, self.half_life_s, self.fast_half_life_s)
        return st

    def for_task(self, key: str, task_type: str) -> DeploymentStats:
        """The per-task statistics when they hold ``per_task_min_weight`` of evidence, else
        the deployment's."""
        st = self._by_task.get((key, task_type))
        if st is not None and st.attempts >= self.per_task_min_weight:
            return st
        return self.get(key)

    def task_stats(self, key: str, task_type: str) -> DeploymentStats | None:
        return self._by_task.get((key, task_type))

    def __contains__(self, key: str) -> bool:
        return key in self._by_key

    def keys(self) -> list[str]:
        return list(self._by_key)

    # -- the router's calls -------------------------------------------------------------
    def observe(self, key: str, ok: bool, error_type: str | None, latency_s: float, now: float) -> None:
        st = self._by_key.get(key)
        if st is None:
            st = self.get(key)
        if st.observe(ok, error_type, latency_s, now):
            self.version += 1
        if self.track_minutes:
            k = (int(now // 60) * 60, key)
            c = self.own_minutes.get(k)
            if c is None:
                c = self.own_minutes[k] = [0, 0, 0]
            c[0] += 1
            if ok:
                c[1] += 1
            else:
                c[2] += 1

    def set_breaker(self, key: str, state: str, open_until: float = 0.0) -> None:
        st = self.get(key)
        st.breaker_state = state
        st.breaker_open_until = open_until
        self.version += 1

    def set_cooldown(self, key: str, until: float, reason: str) -> None:
        st = self.get(key)
        if until > st.cooldown_until:
            st.cooldown_until = until
            st.cooldown_reason = reason
            self.version += 1

    def flag_misconfigured(self, key: str, reason: str) -> None:
        st = self.get(key)
        if st.misconfigured != reason:
            st.misconfigured = reason
            self.version += 1

    def clear_misconfigured(self, key: str) -> None:
        """Forget a misconfiguration flag (after the key was fixed)."""
        st = self.get(key)
        if st.misconfigured is not None:
            st.misconfigured = None
            self.version += 1

    # -- finished calls -----------------------------------------------------------------
    def observe_record(self, record: Any) -> None:
        """Fold a finished ``LLMCallRecord`` in: retries and calls per deployment, time to
        first token, token sizes, and (with ``track_tasks``) per-task-type attempt statistics."""
        if record is self._last_record:
            return  # two policies of one router forward the same record
        self._last_record = record
        task = record.task_type
        seen: str | None = None
        by_task = self._by_task if self.track_tasks else None
        for a in record.attempts:
            outcome = a.outcome
            if outcome == "skipped" or outcome == "cancelled":
                continue
            key = a.deployment
            st = self._by_key.get(key)
            if st is None:
                st = self.get(key)
            if a.retry_number:
                st.retries += 1.0
            elif key != seen:
                st.calls += 1.0
            seen = key
            if by_task is None:
                continue
            tk = (key, task)
            ts = by_task.get(tk)
            if ts is None:
                ts = by_task[tk] = DeploymentStats(f"{key}#{task}", self.half_life_s, self.fast_half_life_s)
            # the router observed this attempt a moment ago: its clock time is the deployment's
            ts.observe(outcome == "success", a.error_type, a.latency_ms * 0.001, st.updated_at or 0.0)
        if record.success:
            if record.ttft_ms is not None:
                st = self.get(record.deployment or f"{record.provider}/{record.model}")
                t = record.ttft_ms / 1000.0
                st.ttft_ewma_s = t if st.ttft_ewma_s is None else st.ttft_ewma_s + 0.1 * (t - st.ttft_ewma_s)
            o = self.output_tokens_ewma
            self.output_tokens_ewma = float(record.output_tokens) if o is None else o + 0.05 * (record.output_tokens - o)
            i = self.input_tokens_ewma
            self.input_tokens_ewma = float(record.input_tokens) if i is None else i + 0.05 * (record.input_tokens - i)

    # -- warm start from the store's rollups --------------------------------------------
    def load_rollups(self, rollups: Iterable[Any], now: float, *, subtract_own: bool = False) -> int:
        """Fold per-minute rollups (``telemetry.rollups.Rollup``) into the slow windows,
        each weighted by its age at ``now``; returns the number folded.

        Attempt-level counts are the deployment's health; latency comes from the attempt
        latency histogram (successes and errors together: an approximation). With
        ``subtract_own`` this instance's own attempts of those minutes (``track_minutes``)
        are taken out first, so refreshes add only what other instances saw.
        """
        from telemetry.histogram import bucket_bounds

        n = 0
        hl = self.half_life_s
        own = self.own_minutes
        for r in rollups:
            minute = r.minute_ts if hasattr(r, "minute_ts") else float(r.minute)
            age = now - (minute + 30.0)
            w = _exp2(-age / hl) if age > 0 else 1.0
            if w < 1e-4:
                continue
            succ = float(r.attempt_successes)
            fail = float(r.attempt_failures)
            errs = {k: float(v) for k, v in r.attempt_errors.items() if k not in ("skipped", "cancelled")}
            if subtract_own:
                mine = own.get((int(minute), r.deployment))
                if mine is not None:
                    frac_s = max(succ - mine[1], 0.0) / succ if succ else 0.0
                    frac_f = max(fail - mine[2], 0.0) / fail if fail else 0.0
                    succ *= frac_s
                    fail *= frac_f
                    errs = {k: v * frac_f for k, v in errs.items()}
                    w_lat = frac_s
                else:
                    w_lat = 1.0
            else:
                w_lat = 1.0
            if succ + fail <= 0 and not r.calls:
                continue
            lat = _hist_log_moments(r.attempt_latency_hist, bucket_bounds)
            if lat is not None:
                k = w * w_lat
                lat = (lat[0] * k, lat[1] * k, lat[2] * k)
            for st in (self.get(r.deployment), self._task_entry(r.deployment, r.task_type)):
                st.add_evidence(
                    successes=succ * w,
                    failures=fail * w,
                    errors={k: v * w for k, v in errs.items()},
                    log_latency=lat,
                    calls=float(r.calls) * w,
                    retries=float(r.retries) * w,
                    now=now,
                )
            n += 1
        if n:
            self.version += 1
        return n

    def _task_entry(self, key: str, task: str) -> DeploymentStats:
        ts = self._by_task.get((key, task))
        if ts is None:
            ts = self._by_task[(key, task)] = DeploymentStats(f"{key}#{task}", self.half_life_s, self.fast_half_life_s)
        return ts

    def prune_own_minutes(self, before: float) -> None:
        """Drop own per-minute counts older than ``before`` (epoch seconds)."""
        for k in [k for k in self.own_minutes if k[0] < before]:
            del self.own_minutes[k]


def _hist_log_moments(hist: Any, bucket_bounds: Any) -> tuple[float, float, float] | None:
    """(count, sum, sum of squares) of log-seconds from a millisecond latency histogram,
    each bucket taken at its geometric middle."""
    n = s1 = s2 = 0.0
    for i, c in enumerate(list(hist)):
        if not c:
            continue
        lo, hi = bucket_bounds(i)
        lo = max(lo, 0.5)
        hi = hi if math.isfinite(hi) else lo * 2
        x = 0.5 * (_log(lo) + _log(hi)) - _log(1000.0)
        n += c
        s1 += c * x
        s2 += c * x * x
    return (n, s1, s2) if n else None
