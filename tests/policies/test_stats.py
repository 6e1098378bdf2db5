"""Live statistics: decay, change tests, reads, finished records and the rollup warm start."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest
from policykit import chain, ctx, feed

from policies import AdaptivePolicy, DeploymentStats, StatsRegistry
from telemetry.records import AttemptRecord, LLMCallRecord


def test_counts_halve_after_a_half_life() -> None:
    st = DeploymentStats("a", half_life_s=60.0, fast_half_life_s=15.0)
    for i in range(10):
        st.observe(True, None, 1.0, 100.0)
    st.decay_to(160.0)
    assert st.slow.attempts == pytest.approx(5.0)
    assert st.fast.attempts == pytest.approx(10 * 2**-4)


def test_success_latency_moments_and_quantiles() -> None:
    st = DeploymentStats("a")
    t = 0.0
    for x in (0.5, 1.0, 2.0) * 20:
        t += 0.1
        st.observe(True, None, x, t)
    n, mu, sd = st.latency_log_moments()  # type: ignore[misc]
    assert n == pytest.approx(60, rel=0.05)
    assert math.exp(mu) == pytest.approx(1.0, rel=0.05)
    assert st.latency_quantile_s(1.645) > 2.0  # the p95 sits above the largest common value


def test_caller_errors_do_not_count_against_health() -> None:
    st = DeploymentStats("a")
    for i in range(5):
        st.observe(False, "bad_request", 0.1, float(i))
    assert st.slow.attempts == 0 and st.slow.failures == 0


def test_a_run_of_failures_is_a_degradation_and_bumps_the_version() -> None:
    stats = StatsRegistry()
    t = feed(stats, "a", 0.0, 300, fail_every=100)  # 1 % failures for 30 s
    st = stats.get("a")
    assert st.regime == "normal"
    v = stats.version
    for i in range(3):
        t += 0.1
        stats.observe("a", False, "overloaded", 0.1, t)
    assert st.regime == "degraded"
    assert "in a row" in (st.regime_reason or "")
    assert stats.version > v
    assert st.p_success() < 0.5  # the run is the new regime's evidence


def test_an_excess_of_scattered_failures_is_caught_by_the_dense_test() -> None:
    stats = StatsRegistry()
    t = feed(stats, "a", 0.0, 600, rate=20, fail_every=100)
    st = stats.get("a")
    # 30 % failures, never two in a row: only the z-test can see it
    feed(stats, "a", t, 40, rate=20, fail_every=3)
    assert st.regime == "degraded"
    assert "error rate" in (st.regime_reason or "")
    assert st.consecutive_failures < 2


def test_recovery_needs_a_bounded_run_of_successes() -> None:
    stats = StatsRegistry()
    t = feed(stats, "a", 0.0, 200, fail_every=100)
    for i in range(6):
        t += 0.1
        stats.observe("a", False, "server_error", 0.1, t)
    st = stats.get("a")
    assert st.regime == "degraded"
    probes = 0
    while st.regime == "degraded":
        t += 5.0  # sparse probes
        stats.observe("a", True, None, 1.0, t)
        probes += 1
        assert probes <= 8
    assert st.regime == "recovered"
    assert st.p_success() > 0.6


def test_latency_shift_is_detected_and_replaces_the_baseline() -> None:
    stats = StatsRegistry()
    t = feed(stats, "a", 0.0, 600, rate=10, latency=1.0)
    st = stats.get("a")
    base = st.latency_mean_s()
    feed(stats, "a", t, 100, rate=10, latency=5.0)  # 10 s of a 5x slowdown
    assert st.regime == "slow"
    assert st.latency_mean_s() > 2 * base  # type: ignore[operator]


def test_breaker_cooldown_and_misconfiguration_bump_the_version() -> None:
    stats = StatsRegistry()
    v = stats.version
    stats.set_breaker("a", "open", 50.0)
    stats.set_cooldown("a", 30.0, "retry_after")
    stats.set_cooldown("a", 20.0, "retry_after")  # an earlier end does not shorten it
    stats.flag_misconfigured("a", "auth failed")
    st = stats.get("a")
    h = st.holds
    assert (h.breaker_state, h.breaker_open_until, h.cooldown_until, h.misconfigured) == ("open", 50.0, 30.0, "auth failed")
    assert stats.version == v + 3


def _record(call_id: str, task: str, attempts: list[tuple[str, int, str, str | None]], *, ttft: int | None = None) -> LLMCallRecord:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    atts = [
        AttemptRecord(call_id, pos, rn, dep, dep.split("/")[0], dep.split("/")[1], outcome, err, None, 100.0, now)
        for pos, (dep, rn, outcome, err) in enumerate(attempts)
    ]
    last = attempts[-1]
    return LLMCallRecord(
        call_id=call_id,
        task_type=task,
        deployment=last[0],
        provider=last[0].split("/")[0],
        model=last[0].split("/")[1],
        success=last[2] == "success",
        ttft_ms=ttft,
        output_tokens=300,
        input_tokens=900,
        attempts=atts,
    )


def test_records_feed_retries_ttft_and_per_task_stats() -> None:
    stats = StatsRegistry(per_task_min_weight=3, track_tasks=True)
    stats.observe("a/x", True, None, 0.1, 10.0)
    rec = _record("c1", "code", [("a/x", 0, "error", "overloaded"), ("a/x", 1, "success", None)], ttft=200)
    stats.observe_record(rec)
    stats.observe_record(rec)  # the same record twice (two policies of one router) counts once
    st = stats.get("a/x")
    assert st.calls == 1 and st.retries == 1
    assert st.retry_rate() == pytest.approx(1.0)
    assert st.ttft_ewma_s == pytest.approx(0.2)
    assert stats.output_tokens_ewma == 300
    for i in range(3):
        stats.observe_record(_record(f"c{i + 2}", "code", [("a/x", 0, "success", None)]))
    assert stats.for_task("a/x", "code") is stats.task_stats("a/x", "code")
    assert stats.for_task("a/x", "chat") is st  # no evidence for that task: the deployment's


def test_per_task_statistics_are_kept_only_when_a_policy_reads_them() -> None:
    stats = StatsRegistry(per_task_min_weight=1)
    rec = _record("c1", "code", [("p/a", 0, "success", None)])
    stats.observe("p/a", True, None, 0.1, 10.0)
    stats.observe_record(rec)
    assert stats.task_stats("p/a", "code") is None and stats.get("p/a").calls == 1
    AdaptivePolicy(per_task=True).plan(chain("p/a", "p/b"), ctx(10.0), stats)
    assert stats.track_tasks
    stats.observe_record(_record("c2", "code", [("p/a", 0, "success", None)]))
    assert stats.task_stats("p/a", "code") is not None


def _rollup(minute: float, dep: str, ok: int, fail: int, task: str = "default", latency_ms: float = 1000.0):  # type: ignore[no-untyped-def]
    from telemetry.histogram import N_BUCKETS, bucket_index
    from telemetry.rollups import Rollup

    h = [0] * N_BUCKETS
    h[bucket_index(latency_ms)] = ok + fail
    return Rollup(
        minute=datetime.fromtimestamp(minute, timezone.utc),
        deployment=dep,
        task_type=task,
        provider=dep.split("/")[0],
        model=dep.split("/")[1],
        calls=ok + fail,
        successes=ok,
        attempts=ok + fail,
        attempt_successes=ok,
        attempt_failures=fail,
        attempt_errors={"server_error": fail} if fail else {},
        attempt_latency_hist=h,
    )


def test_rollups_warm_start_decayed_by_age() -> None:
    stats = StatsRegistry(half_life_s=60.0)
    now = 6000.0
    n = stats.load_rollups([_rollup(5880.0, "a/x", 60, 40), _rollup(0.0, "a/x", 1000, 0)], now)
    assert n == 1  # the hour-old minute has decayed to nothing
    st = stats.get("a/x")
    assert st.slow.attempts == pytest.approx(100 * 2 ** (-90 / 60), rel=1e-6)
    assert st.p_success() < 0.75
    assert math.exp(st.latency_log_moments()[1]) == pytest.approx(1.0, rel=0.1)  # type: ignore[index]
    assert st.error_shares() == {"server_error": 1.0}


def test_rollups_minus_own_attempts_count_only_other_instances() -> None:
    stats = StatsRegistry(half_life_s=60.0)
    stats.track_minutes = True
    for i in range(10):
        stats.observe("a/x", True, None, 1.0, 6000.0 + i)
    before = stats.get("a/x").slow.successes
    stats.load_rollups([_rollup(6000.0, "a/x", 30, 0)], 6020.0, subtract_own=True)
    added = stats.get("a/x").slow.successes - before * 2 ** (-(6020.0 - 6009.0) / 60)
    assert added == pytest.approx(20, rel=0.05)
