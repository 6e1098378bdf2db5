"""Live statistics per deployment, read by policies and updated by the router in O(1).

The router calls ``observe`` once per attempt and ``set_breaker`` / ``set_cooldown`` /
``flag_misconfigured`` when those change; a policy may also pass finished call records to
``observe_record`` (retries, time to first token, per-task-type figures).

Each deployment's ``Evidence`` (``policies.evidence``) keeps two ``Window``s
(``policies.windows``) decaying in the router's clock time: a slow one (half-life
``half_life_s``, the baseline; its latency keeps ``latency_half_life_s``, five times longer by
default) and a fast one (``fast_half_life_s``, the recent past). After each attempt the change
tests of ``policies.changes`` compare them; on a detected change the slow window forgets the
old regime. What holds a deployment back (breaker, Retry-After, a rejected key) is kept apart,
in ``Holds`` (``policies.holds``).
``version`` rises on every event a cached plan should react to (a failure, a first success
after failures, a regime change, a breaker, cooldown or misconfiguration change).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from policies.changes import after_failure, after_success, note_baseline, readmit, success_run_ends
from policies.evidence import HISTORY_MASK, Evidence
from policies.folds import fold_rollups
from policies.windows import log_latency

__all__ = ["DeploymentStats", "StatsRegistry"]

_sqrt = math.sqrt
_PRIOR_SD = 0.6  # log-seconds: a typical LLM latency spread (p95 about 2.7 x the median)
_PRIOR_VAR_N = 10.0
_IGNORED_ERRORS = frozenset({"bad_request", "context_length", "cancelled"})  # caller's fault, not health


class DeploymentStats(Evidence):
    """The statistics of one deployment (or one deployment x task): ``Evidence`` with the
    attempt path (``observe``, which runs the change tests) and the reads policies use."""

    __slots__ = ()

    # -- updates ------------------------------------------------------------------------
    def observe(self, ok: bool, error_type: str | None, latency_s: float, now: float) -> bool:
        """Fold one attempt in; returns whether a cached plan should be recomputed.

        Counts age at most once per ``tick_s``, and the change tests after a success run once
        per tick too (or after failures, or while degraded): a burst costs one update. A 429
        (``rate_limited``) counts against the success odds but is no evidence of an incident:
        it runs no change test and breaks no run of successes.
        """
        aged = self._decay(now)
        if ok:
            x = log_latency(latency_s)
            self.slow.add_success_clipped(x)
            self.fast.add_success(x)
            self.last_success_at = now
            self.last_answer_at = now
            self.last_latency_s = latency_s
            self.history = (self.history << 1) & HISTORY_MASK
            self.history_n += 1
            had_failures = self.consecutive_failures > 0
            self.consecutive_failures = 0
            self.consecutive_successes += 1
            if aged or had_failures or self.regime == "degraded" or self.regime == "slow":
                return after_success(self, now, x) or had_failures
            return False
        if error_type in _IGNORED_ERRORS:
            return False
        self.slow.add_failure(latency_s)
        self.fast.add_failure(latency_s)
        if error_type is not None:
            self.errors[error_type] = self.errors.get(error_type, 0.0) + 1.0
        self.last_answer_at = now
        if error_type == "rate_limited":
            return True  # load, not ill health: it counts against its odds, not as an incident
        self.history = ((self.history << 1) | 1) & HISTORY_MASK
        self.history_n += 1
        self.consecutive_failures += 1
        self.consecutive_successes = 0
        self.last_failure_at = now
        after_failure(self, now)
        return True

    # -- reads --------------------------------------------------------------------------
    @property
    def misconfigured(self) -> str | None:
        """Why its key was rejected (``holds.misconfigured``), or ``None``."""
        return self.holds.misconfigured

    @property
    def breaker_state(self) -> str:
        """Its breaker's state as the router last reported it (``holds.breaker_state``)."""
        return self.holds.breaker_state

    def p_success(self, prior_p: float = 0.95, prior_n: float | None = None) -> float:
        """Attempt success probability: the slow window shrunk towards ``prior_p`` with weight
        ``prior_n`` (default 10, or 2 after a detected degradation, whose evidence then
        speaks). A change test replaces the slow window by the recent evidence, so this
        follows a regime change within a few attempts without chasing noise."""
        if prior_n is None:
            prior_n = 2.0 if self.regime == "degraded" else 10.0
        slow = self.slow
        return (slow.successes + prior_n * prior_p) / (slow.attempts + prior_n)

    def latency_log_moments(self) -> tuple[float, float, float] | None:
        """(weight, mean, sd) of log success latency (seconds) in the slow window; ``None``
        with no evidence. The spread is shrunk towards a typical LLM one (sd 0.6 of log
        seconds, worth ``10`` samples), so a few draws do not make a heavy tail."""
        slow = self.slow
        n = slow.lat_n
        if n < 0.3:
            return None
        mu, var = slow.lat_mean_var()
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
        if self.fast.failures >= 1.0:
            return self.fast.fail_lat_sum / self.fast.failures
        if self.slow.failures >= 0.2:
            return self.slow.fail_lat_sum / self.slow.failures
        return None

    def failure_rate_fast(self) -> float:
        return self.fast.failure_rate()

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
        fail = self.fail_latency_s()
        return {
            "p_success": round(self.p_success(), 4),
            "attempts_weight": round(self.slow.attempts, 2),
            "recent_failure_rate": round(self.failure_rate_fast(), 4),
            "latency_p50_ms": None if m is None else round(math.exp(m[1]) * 1000, 1),
            "latency_p95_ms": None if m is None else round(math.exp(m[1] + 1.645 * m[2]) * 1000, 1),
            "failed_attempt_ms": None if fail is None else round(fail * 1000, 1),
            "retry_rate": round(self.retry_rate(), 3),
            "errors": {k: round(v, 3) for k, v in self.error_shares().items()},
            "ttft_ms": None if self.ttft_ewma_s is None else round(self.ttft_ewma_s * 1000, 1),
            "regime": self.regime,
            "regime_reason": self.regime_reason,
            "breaker": self.holds.breaker_state,
            "misconfigured": self.holds.misconfigured,
        }

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
        if st is not None and st.slow.attempts >= self.per_task_min_weight:
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
        """The router's breaker of ``key`` moved to ``state``; closing after an open period
        (its probe succeeded) ends the incident, where the failures before were a full outage
        (``changes.success_run_ends``): the deployment restarts from its own normal rather
        than from the outage's evidence. Opening keeps its failure rate until then as that
        normal."""
        st = self.get(key)
        h = st.holds
        if state == "closed" and h.breaker_state != "closed":
            # the probe's own success is not observed yet: it is one more of the run
            if st.regime != "degraded" or success_run_ends(st, st.consecutive_successes + 1, st.consecutive_successes) is not None:
                readmit(st, self._now(st), "its breaker's probe succeeded")
        elif state == "open" and h.breaker_state == "closed":
            note_baseline(st, self._now(st))
        if state == "open":
            h.open_s = max(h.open_s, open_until - self._now(st))
        h.breaker_state = state
        h.breaker_open_until = open_until
        self.version += 1

    @staticmethod
    def _now(st: DeploymentStats) -> float:
        return st.updated_at if st.updated_at is not None else 0.0

    def set_cooldown(self, key: str, until: float, reason: str) -> None:
        h = self.get(key).holds
        if until > h.cooldown_until:
            h.cooldown_until = until
            h.cooldown_reason = reason
            self.version += 1

    def flag_misconfigured(self, key: str, reason: str) -> None:
        h = self.get(key).holds
        if h.misconfigured != reason:
            h.misconfigured = reason
            self.version += 1

    def clear_misconfigured(self, key: str) -> None:
        """Forget a misconfiguration flag (after the key was fixed)."""
        h = self.get(key).holds
        if h.misconfigured is not None:
            h.misconfigured = None
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
        by_task = self.track_tasks
        for a in record.attempts:
            outcome = a.outcome
            if outcome == "skipped" or outcome == "cancelled":
                continue
            key = a.deployment
            st = self.get(key)
            if a.retry_number:
                st.retries += 1.0
            elif key != seen:
                st.calls += 1.0
            seen = key
            if by_task:
                # the router observed this attempt a moment ago: its clock time is the deployment's
                ts = self.task_entry(key, task)
                ts.observe(outcome == "success", a.error_type, a.latency_ms * 0.001, st.updated_at or 0.0)
        if record.success:
            self._fold_answer(record)

    def _fold_answer(self, record: Any) -> None:
        """Time to first token and token sizes of a successful call."""
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
        return fold_rollups(self, rollups, now, subtract_own=subtract_own)

    def task_entry(self, key: str, task: str) -> DeploymentStats:
        """The per-task statistics of ``key`` for ``task``, created on first use."""
        ts = self._by_task.get((key, task))
        if ts is None:
            ts = self._by_task[(key, task)] = DeploymentStats(f"{key}#{task}", self.half_life_s, self.fast_half_life_s)
        return ts

    def prune_own_minutes(self, before: float) -> None:
        """Drop own per-minute counts older than ``before`` (epoch seconds)."""
        for k in [k for k in self.own_minutes if k[0] < before]:
            del self.own_minutes[k]
