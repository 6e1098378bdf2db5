"""Issue 13's re-admission, forgetting and latency-relative demotion, on constructed statistics."""

from __future__ import annotations

from policykit import chain, ctx, feed

from policies import AdaptivePolicy, Plan, StatsRegistry
from policies.changes import NORMAL_RUN


def _first(plan: Plan) -> str:
    return plan.order[0].key


def _outage(stats: StatsRegistry, key: str, t: float, n: int = 30) -> float:
    for _ in range(n):
        t += 0.1
        stats.observe(key, False, "server_error", 0.01, t)
    return t


def _shares(pol: AdaptivePolicy, ch: list, stats: StatsRegistry, t: float, seconds: int) -> list[float]:
    """Per second, the share of 20 calls a second whose first choice is "a" (every one answered)."""
    shares = []
    for second in range(seconds):
        n = 0
        for i in range(20):
            now = t + second + i / 20
            first = _first(pol.plan(ch, ctx(now), stats))
            stats.observe(first, True, None, 0.9 if first == "a" else 1.0, now + 0.01)
            n += first == "a"
        shares.append(n / 20)
    return shares


def _outage_behind_a_breaker(stats: StatsRegistry, pol: AdaptivePolicy, ch: list, t: float) -> float:
    t = _outage(stats, "a", t)
    stats.set_breaker("a", "open", t + 5.0)
    t = feed(stats, "b", t, 100, rate=20, latency=1.0)
    assert _first(pol.plan(ch, ctx(t), stats)) == "b"
    assert stats.get("a").p_success() < 0.5
    return t


def test_a_breaker_closing_after_an_outage_ends_the_incident_at_once() -> None:
    """Linkerd: one successful probe after a full outage re-admits the deployment fully."""
    ch = chain("a", "b")
    stats = StatsRegistry()
    pol = AdaptivePolicy(explore_interval_s=1e9, probe_interval_s=1e9)  # no probes
    t = feed(stats, "a", 0.0, 400, rate=20, latency=0.9)
    feed(stats, "b", 0.0, 400, rate=20, latency=1.0)
    t = _outage_behind_a_breaker(stats, pol, ch, t)
    stats.set_breaker("a", "closed")  # its probe succeeded
    st = stats.get("a")
    assert st.regime == "recovered" and st.readmissions == 1 and st.relapses == 0
    assert st.p_success() > 0.97  # its own normal, not the outage's evidence
    assert _shares(pol, ch, stats, t, 2) == [1.0, 1.0]  # the first deployment's share, at once


def test_a_relapse_ramps_the_deployment_back_by_degrees() -> None:
    """An outage that starts again within a minute of the last one's end is a relapse: the
    breaker's probe alone no longer ends it, and traffic returns from a floor (Envoy's slow
    start) instead of all at once."""
    ch = chain("a", "b")
    stats = StatsRegistry()
    pol = AdaptivePolicy(explore_interval_s=1e9, probe_interval_s=1e9)
    t = feed(stats, "a", 0.0, 400, rate=20, latency=0.9)
    feed(stats, "b", 0.0, 400, rate=20, latency=1.0)
    t = _outage_behind_a_breaker(stats, pol, ch, t)
    stats.set_breaker("a", "closed")
    t = _outage_behind_a_breaker(stats, pol, ch, t + 1.0)  # down again 6 s later
    st = stats.get("a")
    assert st.relapses == 1
    stats.set_breaker("a", "closed")  # one lucky probe is not enough after a relapse...
    assert st.regime == "degraded"
    stats.observe("a", True, None, 0.9, t + 0.1)
    stats.observe("a", True, None, 0.9, t + 0.2)  # ...two in a row are
    assert st.regime == "recovered" and st.readmissions == 2
    shares = _shares(pol, ch, stats, t + 0.3, int(pol.ramp_s) + 2)
    assert shares[0] < 0.5  # a floor, rising with time...
    assert shares[0] < shares[2] < shares[4]
    assert shares[-1] == 1.0  # ...to every call once the ramp is over


def test_a_recovered_deployment_forgets_failures_once_it_has_answered_well_since() -> None:
    stats = StatsRegistry()
    t = feed(stats, "b", 0.0, 400, rate=20, latency=1.0)
    t = _outage(stats, "b", t, 6)
    stats.set_breaker("b", "open", t + 1)
    stats.set_breaker("b", "closed")
    for i in range(6):  # the tail of the incident, after the re-admission (never 3 in a row)
        t += 0.2
        stats.observe("b", i % 2 == 1, None if i % 2 else "overloaded", 1.0 if i % 2 else 0.01, t)
    st = stats.get("b")
    low = st.p_success()
    assert low < 0.96
    for _ in range(6):  # sparse probes, all answered, the last failure long ago
        t += 4.0
        stats.observe("b", True, None, 1.0, t)
    assert st.p_success() > low + 0.02
    assert "since its last failure" in (st.regime_reason or "")
    assert st.readmissions == 1  # forgetting is not a new incident: no second ramp


def test_a_slowdown_ends_when_answers_are_back_at_the_baseline() -> None:
    stats = StatsRegistry()
    t = feed(stats, "a", 0.0, 400, rate=2, latency=0.05)
    for _ in range(10):
        t += 0.2
        stats.observe("a", True, None, 2.5, t)
    st = stats.get("a")
    assert st.regime == "slow"
    assert st.latency_quantile_s(0.0) > 0.09  # the baseline took the recent, slower evidence
    for _ in range(6):  # within the old baseline's p95, but slower than three in four of its answers
        t += 0.5
        stats.observe("a", True, None, 0.058, t)
    assert st.regime == "slow"  # a moderate slowdown lands there too: no evidence it is over
    for _ in range(NORMAL_RUN - 1):
        t += 0.5
        stats.observe("a", True, None, 0.05, t)
    assert st.regime == "slow"
    t += 0.5
    stats.observe("a", True, None, 0.05, t)
    assert st.regime == "recovered" and "back to baseline" in (st.regime_reason or "")
    assert st.latency_quantile_s(0.0) < 0.08  # its own baseline, not the slow samples


def test_a_fast_leader_that_goes_silent_is_demoted_within_seconds() -> None:
    """Latency relative to its own baseline: 40 ms answers, then nothing comes back."""
    ch = chain("a", "b")
    stats = StatsRegistry()
    pol = AdaptivePolicy(explore_interval_s=1e9)
    t0 = feed(stats, "a", 0.0, 400, rate=20, latency=0.04)
    feed(stats, "b", 0.0, 100, rate=5, latency=0.06)
    t = t0
    while _first(pol.plan(ch, ctx(t), stats)) == "a":
        t += 0.05
        assert t < t0 + 5.0, "a silent fast leader was not demoted within seconds"
    assert t - t0 <= max(pol.hang_min_s, pol.hang_factor * 0.1) + 0.2
