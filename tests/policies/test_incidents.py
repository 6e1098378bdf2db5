"""Issue 13: what an incident's statistics say while it lasts and after it ends, on
constructed statistics (no router, no simulator)."""

from __future__ import annotations

from policykit import chain, ctx, feed

from policies import AdaptivePolicy, StatsRegistry
from policies.changes import change_point


def _brownout(stats: StatsRegistry, key: str, t: float, n: int, every: int, *, error: str = "server_error") -> float:
    """``n`` attempts at 20 a second, one in ``every`` failing (never two in a row)."""
    for i in range(n):
        t += 0.05
        ok = i % every != every - 1
        stats.observe(key, ok, None if ok else error, 0.9 if ok else 0.1, t)
    return t


def test_a_brownout_is_estimated_at_its_own_failure_rate() -> None:
    """The degradation test fires on a 40 % brownout; the estimate it leaves is about 40 %,
    not a fixed rate (a 50 % estimate made a third of the chain's brownouts look like outages)."""
    stats = StatsRegistry()
    t = feed(stats, "a", 0.0, 600, rate=20, latency=0.9, fail_every=200)
    st = stats.get("a")
    for i in range(40):  # fails, succeeds, fails, succeeds, succeeds: 40 %
        t += 0.05
        ok = i % 5 in (1, 3, 4)
        stats.observe("a", ok, None if ok else "overloaded", 0.9 if ok else 0.1, t)
        if st.regime == "degraded":
            break
    assert st.regime == "degraded"
    assert 0.25 <= st.regime_q <= 0.6, st.regime_q


def test_the_change_point_is_the_run_of_outcomes_least_like_the_old_rate() -> None:
    stats = StatsRegistry()
    feed(stats, "a", 0.0, 40, rate=20)
    st = stats.get("a")
    for _ in range(3):
        st.observe(False, "server_error", 0.1, 10.0)
    assert change_point(st, 0.01) == (3.0, 3.0)  # the run, not the 40 answers before it
    feed(stats, "b", 0.0, 40, rate=20)
    assert change_point(stats.get("b"), 0.01) == (0.0, 0.0)  # nothing fails more often than that


def test_a_readmitted_deployment_restarts_from_its_own_normal_not_a_generic_one() -> None:
    """A deployment that normally fails 15 % of attempts: after an outage it is back at 15 %,
    so its usual failures do not look like a new incident the moment it returns."""
    stats = StatsRegistry()
    t = feed(stats, "a", 0.0, 1200, rate=20, latency=0.6, fail_every=7)  # about 14 %
    for _ in range(10):
        t += 0.05
        stats.observe("a", False, "server_error", 0.1, t)
    st = stats.get("a")
    assert st.regime == "degraded"
    stats.set_breaker("a", "open", t + 1.0)
    stats.set_breaker("a", "closed")
    assert st.regime == "recovered"
    assert 0.8 < st.p_success() < 0.9  # its normal, not the 99 % of a generic neutral start
    _brownout(stats, "a", t, 200, 7)  # its usual failures
    assert st.regime == "recovered"


def test_a_429_counts_against_the_odds_but_is_no_incident() -> None:
    stats = StatsRegistry()
    t = feed(stats, "a", 0.0, 400, rate=20)
    st = stats.get("a")
    before = st.p_success()
    for _ in range(10):
        t += 0.05
        stats.observe("a", False, "rate_limited", 0.05, t)
    assert st.regime == "normal" and st.consecutive_failures == 0
    assert st.p_success() < before


def test_a_probe_that_ends_an_outage_slowly_leaves_the_deployment_slow() -> None:
    """The outage is over, the slowdown is not: a probe answered in 2.5 s by a deployment
    whose baseline is 40 ms does not hand it its traffic back."""
    ch = chain("a", "b")
    stats = StatsRegistry()
    pol = AdaptivePolicy(explore_interval_s=1e9, probe_interval_s=1e9)
    t = feed(stats, "a", 0.0, 400, rate=20, latency=0.04)
    feed(stats, "b", 0.0, 400, rate=20, latency=0.06)
    for _ in range(10):
        t += 0.05
        stats.observe("a", False, "server_error", 0.002, t)
    stats.set_breaker("a", "open", t + 1.0)
    stats.set_breaker("a", "closed")  # the probe succeeded...
    stats.observe("a", True, None, 2.5, t + 3.5)  # ...after 2.5 s
    st = stats.get("a")
    assert st.regime == "slow", st.regime_reason
    assert pol.plan(ch, ctx(t + 3.6), stats).order[0].key == "b"


def test_calls_a_ramp_sends_elsewhere_do_not_make_the_leader_look_silent() -> None:
    """During a ramp most calls go to the next deployment; the leader answering its share
    must not be suspected of hanging for the calls it never got."""
    ch = chain("a", "b")
    stats = StatsRegistry()
    pol = AdaptivePolicy(explore_interval_s=1e9, probe_interval_s=1e9, hang_min_s=0.25)
    t = feed(stats, "a", 0.0, 400, rate=20, latency=0.04)
    feed(stats, "b", 0.0, 400, rate=20, latency=0.06)
    for outage in range(2):  # an outage, then a relapse: the second re-admission ramps
        for _ in range(10):
            t += 0.05
            stats.observe("a", False, "server_error", 0.002, t)
        stats.set_breaker("a", "open", t + 1.0)
        stats.set_breaker("a", "closed")
        for _ in range(2):
            t += 0.05
            stats.observe("a", True, None, 0.04, t)
    assert stats.get("a").relapses == 1
    suspected = []
    for i in range(100):  # 5 s at 20 calls/s; a answers 40 ms after each call it gets
        t += 0.05
        plan = pol.plan(ch, ctx(t), stats)
        first = plan.order[0].key
        stats.observe(first, True, None, 0.04 if first == "a" else 0.06, t + 0.04)
        suspected += [why for c, why in plan.skipped if c.key == "a" and "hanging" in why]
    assert not suspected, suspected[:1]


def test_degraded_everywhere_ignores_a_healthy_deployment_held_back() -> None:
    """The one healthy deployment is held by a Retry-After: for the call now no alternative
    is healthier than the degraded ones, so retries are worth their budget."""
    ch = chain("a", "b")
    stats = StatsRegistry()
    pol = AdaptivePolicy()
    t = _brownout(stats, "a", 0.0, 400, 2)  # half of a's attempts fail
    feed(stats, "b", 0.0, 400, rate=20)
    assert not pol.plan(ch, ctx(t), stats).degraded_everywhere
    stats.set_cooldown("b", t + 10.0, "retry_after")
    assert pol.plan(ch, ctx(t + 0.1), stats).degraded_everywhere
    stats.set_breaker("a", "open", t + 10.0)  # every one held back: they all count again
    assert not pol.plan(ch, ctx(t + 0.2), stats).degraded_everywhere
    both = StatsRegistry()  # two degraded deployments, both breakers open: degraded everywhere
    for k in ("a", "b"):
        _brownout(both, k, 0.0, 400, 2)
        both.set_breaker(k, "open", t + 10.0)
    assert AdaptivePolicy().plan(ch, ctx(t + 0.2), both).degraded_everywhere


def _pattern(stats: StatsRegistry, key: str, t: float, n: int, pattern: str) -> float:
    """``n`` attempts at 20 a second, failing where ``pattern`` (repeated) has an x."""
    for i in range(n):
        t += 0.05
        ok = pattern[i % len(pattern)] != "x"
        stats.observe(key, ok, None if ok else "overloaded", 0.9 if ok else 0.1, t)
    return t


def test_degraded_everywhere_takes_back_a_soft_skip_that_is_only_bad_luck() -> None:
    """Every deployment fails 40 % of attempts or so; the chain's first one, just under the
    skip threshold (45 %), is about as healthy as the second (36 %): it is ordered (by
    latency and the chain as written), not skipped."""
    ch = chain("a", "b")
    stats = StatsRegistry()
    t = _pattern(stats, "a", 0.0, 440, "x.x.x.x..x.")  # 5 of 11
    _pattern(stats, "b", 0.0, 440, "x.x..x.x...")  # 4 of 11
    pol = AdaptivePolicy()
    plan = pol.plan(ch, ctx(t), stats)
    assert plan.degraded_everywhere
    assert [c.key for c in plan.order] == ["a", "b"] and not plan.skipped, plan.skipped
