"""Each built-in policy's decisions on constructed statistics."""

from __future__ import annotations

from typing import Any

import pytest
from policykit import chain, ctx, feed

from policies import AdaptivePolicy, BanditPolicy, HealthPolicy, Plan, StaticPolicy, StatsRegistry, get_policy, policy_names


def _keys(plan: Plan) -> list[str]:
    return [c.key for c in plan.order]


def _skipped(plan: Plan) -> dict[str, str]:
    return {c.key: r for c, r in plan.skipped}


def test_registry_knows_the_builtins() -> None:
    assert {"static", "health", "bandit", "adaptive", "cooldown"} <= set(policy_names())
    assert isinstance(get_policy("adaptive"), AdaptivePolicy)
    with pytest.raises(ValueError, match="unknown policy"):
        get_policy("nope")


def test_static_keeps_the_chain() -> None:
    ch = chain("a", "b")
    stats = StatsRegistry()
    stats.set_breaker("a", "open", 1e9)
    assert _keys(StaticPolicy().plan(ch, ctx(0.0), stats)) == ["a", "b"]


def test_health_orders_by_expected_cost_per_success() -> None:
    ch = chain("slow", "fast")
    stats = StatsRegistry()
    feed(stats, "slow", 0.0, 200, latency=3.0)
    feed(stats, "fast", 0.0, 200, latency=1.0)
    assert _keys(HealthPolicy().plan(ch, ctx(20.0), stats)) == ["fast", "slow"]


def test_cost_objective_prefers_the_cheaper_and_honours_the_cap() -> None:
    ch = chain("dear", "cheap", prices={"dear": 10.0, "cheap": 1.0})
    stats = StatsRegistry()
    feed(stats, "dear", 0.0, 200, latency=1.0)
    feed(stats, "cheap", 0.0, 200, latency=1.5)
    pol = HealthPolicy()
    assert _keys(pol.plan(ch, ctx(20.0, objective="reliability"), stats))[0] == "dear"
    assert _keys(pol.plan(ch, ctx(20.0, objective="cost"), stats))[0] == "cheap"
    # 1000 input + 500 output tokens at $10/$40 per Mtok is $0.03 a call: over a $0.01 cap
    plan = pol.plan(ch, ctx(20.0, objective="cost", cost_cap=0.01, tokens=1000), stats)
    assert "over the cost cap" in _skipped(plan)["dear"]


def test_health_skips_for_hard_reasons_with_reasons() -> None:
    ch = chain("a", "b", "c", "d")
    stats = StatsRegistry()
    stats.set_breaker("a", "open", 100.0)
    stats.set_cooldown("b", 50.0, "retry_after")
    stats.flag_misconfigured("c", "auth failed (HTTP 401)")
    pol = HealthPolicy()
    plan = pol.plan(ch, ctx(10.0, tokens=4000), stats)
    why = _skipped(plan)
    assert _keys(plan) == ["d"]
    assert why["a"].startswith("circuit open (90.0s left)")
    assert why["b"].startswith("retry_after (40.0s left)")
    assert why["c"] == "misconfigured: auth failed (HTTP 401)"
    # the last one cannot take the request either: none is skipped, all are ordered
    ch[3].context_window = 1000
    plan = pol.plan(ch, ctx(10.5, task="other", tokens=4000), stats)
    assert sorted(_keys(plan)) == ["a", "b", "c", "d"] and not plan.skipped
    assert any("context window 1000" in s for s in plan.notes["all_unhealthy"])


@pytest.mark.parametrize("held_back", [True, False], ids=["breakers-open", "all-failing"])
@pytest.mark.parametrize("make", [HealthPolicy, AdaptivePolicy, lambda: BanditPolicy(seed=1)], ids=["health", "adaptive", "bandit"])
def test_nothing_is_ever_skipped_entirely(make: Any, held_back: bool) -> None:
    """When every deployment has a reason to be skipped, none is: all are ordered, and the
    notes say why each was unwell."""
    ch = chain("a", "b", "c")
    stats = StatsRegistry()
    t = 0.0
    for key in ("a", "b", "c"):
        t = feed(stats, key, t, 50, fail_every=1)  # every attempt fails
        if held_back:
            stats.set_breaker(key, "open", 1e9)
    plan = make().plan(ch, ctx(t), stats)
    assert sorted(_keys(plan)) == ["a", "b", "c"]
    assert plan.skipped == ()
    assert len(plan.notes["all_unhealthy"]) == 3


def test_plan_is_cached_until_stats_change_or_refresh() -> None:
    ch = chain("a", "b")
    stats = StatsRegistry()
    feed(stats, "a", 0.0, 50)
    pol = AdaptivePolicy(explore_interval_s=1e9)
    p1 = pol.plan(ch, ctx(10.0), stats)
    assert pol.plan(ch, ctx(10.1), stats) is p1
    stats.observe("a", False, "server_error", 0.1, 10.2)
    assert pol.plan(ch, ctx(10.2), stats) is not p1
    p2 = pol.plan(ch, ctx(10.3), stats)
    assert pol.plan(ch, ctx(10.2 + pol.refresh_s - 0.01), stats) is p2
    assert pol.plan(ch, ctx(10.2 + pol.refresh_s + 0.01), stats) is not p2  # refresh_s passed


def test_adaptive_demotes_a_provider_turning_unstable_before_its_breaker_trips() -> None:
    """A brownout: 1 in 3 attempts times out after 3 s, never 2 in a row, so a breaker
    counting 5 consecutive failures (or half of a window) never trips; the policy moves away
    anyway. (Quick failures at that rate are cheaper to retry than a 1.3x slower backup.)"""
    ch = chain("primary", "backup")
    stats = StatsRegistry()
    pol = AdaptivePolicy()
    t = feed(stats, "primary", 0.0, 600, rate=20, latency=0.9, fail_every=100)
    feed(stats, "backup", 0.0, 60, rate=2, latency=1.2)
    assert _keys(pol.plan(ch, ctx(t), stats))[0] == "primary"
    demoted_after = None
    for i in range(200):
        t += 0.05
        ok = i % 3 != 2
        stats.observe("primary", ok, None if ok else "timeout", 0.9 if ok else 3.0, t)
        assert stats.get("primary").consecutive_failures < 2
        plan = pol.plan(ch, ctx(t), stats)
        if _keys(plan)[0] == "backup" and "probe" not in plan.notes:
            demoted_after = i + 1
            break
    assert demoted_after is not None and demoted_after <= 60
    assert stats.get("primary").holds.breaker_state == "closed"
    assert "primary" in _skipped(plan) or _keys(plan)[-1] == "primary"


def test_adaptive_readmits_a_recovered_provider_within_a_bounded_number_of_probes() -> None:
    ch = chain("primary", "backup")
    stats = StatsRegistry()
    pol = AdaptivePolicy()
    t = feed(stats, "primary", 0.0, 600, rate=20, latency=0.9, fail_every=100)
    t = feed(stats, "backup", 0.0, 200, rate=20, latency=1.3)
    for i in range(8):  # the outage
        t += 0.05
        stats.observe("primary", False, "server_error", 0.1, t)
    assert "primary" in _skipped(pol.plan(ch, ctx(t), stats))
    # calls keep coming at 20/s; the backup answers; the primary has recovered
    probes = 0
    for i in range(4000):
        t += 0.05
        plan = pol.plan(ch, ctx(t), stats)
        first = _keys(plan)[0]
        if plan.notes.get("probe") == "primary":
            probes += 1
            stats.observe("primary", True, None, 0.9, t + 0.9)
        elif first == "primary":
            break
        else:
            stats.observe(first, True, None, 1.3, t + 1.3)
    else:
        pytest.fail("the recovered primary never got its traffic back")
    assert 1 <= probes <= 8
    assert stats.get("primary").regime == "recovered"


def _failed_probes(pol: AdaptivePolicy, ch: Any, stats: StatsRegistry, t: float, calls: int, *, served_by: str | None = None) -> list[float]:
    """Plan ``calls`` calls 50 ms apart from ``t``: each probe of ``primary`` fails, every
    other call succeeds where the plan sends it (at ``served_by``, when given); the probes' times."""
    probe_times = []
    for _ in range(calls):
        t += 0.05
        plan = pol.plan(ch, ctx(t), stats)
        if plan.notes.get("probe") == "primary":
            probe_times.append(t)
            stats.observe("primary", False, "server_error", 0.1, t + 0.1)
        else:
            first = _keys(plan)[0]
            assert served_by is None or first == served_by
            stats.observe(first, True, None, 1.0, t + 1.0)
    return probe_times


def test_adaptive_keeps_a_demoted_provider_out_while_probes_fail_and_backs_off() -> None:
    ch = chain("primary", "backup")
    stats = StatsRegistry()
    pol = AdaptivePolicy()
    t = feed(stats, "primary", 0.0, 600, rate=20, fail_every=100)
    t = feed(stats, "backup", 0.0, 200, rate=20)
    for i in range(8):
        t += 0.05
        stats.observe("primary", False, "server_error", 0.1, t)
    demoted_at = t
    probe_times = _failed_probes(pol, ch, stats, t, 2400, served_by="backup")  # two minutes at 20 calls/s
    gaps = [b - a for a, b in zip(probe_times, probe_times[1:])]
    assert len(probe_times) <= 15  # 2 s doubling to 16 s: bounded
    assert probe_times[0] - demoted_at >= pol.probe_interval_s - 0.1
    assert all(b >= a - 0.2 for a, b in zip(gaps, gaps[1:]))  # each failed probe backs off
    assert gaps[-1] >= 15.0 and gaps[0] >= 3.9


def test_a_demoted_provider_is_probed_at_least_as_often_as_its_breaker_would_allow() -> None:
    """A breaker whose open period never exceeded 4 s would let a probe through every 4 s;
    the policy's own probes of a demoted deployment (its breaker closed) are no sparser."""
    ch = chain("primary", "backup")
    stats = StatsRegistry()
    pol = AdaptivePolicy()
    t = feed(stats, "primary", 0.0, 600, rate=20, fail_every=100)
    feed(stats, "backup", 0.0, 200, rate=20)
    stats.set_breaker("primary", "open", t + 4.0)
    stats.set_breaker("primary", "half-open", t + 4.0)
    stats.set_breaker("primary", "open", t + 4.0)  # an open period of 4 s
    for i in range(8):
        t += 0.05
        stats.observe("primary", False, "server_error", 0.1, t)
    stats.get("primary").holds.breaker_state = "closed"  # closed again by a probe, still failing
    probe_times = _failed_probes(pol, ch, stats, t, 1200)  # a minute at 20 calls/s
    gaps = [b - a for a, b in zip(probe_times, probe_times[1:])]
    assert len(gaps) >= 10 and max(gaps) <= 4.5, gaps


def test_probes_are_paced_per_deployment_across_task_types_and_wait_for_an_answer() -> None:
    ch = chain("primary", "backup")
    stats = StatsRegistry()
    pol = AdaptivePolicy(degraded_probe_level=0)  # 2 s between probes, to see the pacing itself
    tasks = ("chat", "code", "summarize")
    t = feed(stats, "primary", 0.0, 600, rate=20, fail_every=100)
    t = feed(stats, "backup", 0.0, 200, rate=20)
    for i in range(8):
        t += 0.05
        stats.observe("primary", False, "server_error", 0.1, t)
    probe_times = []
    for i in range(600):  # 30 s at 20 calls/s, the task types taking turns
        t += 0.05
        plan = pol.plan(ch, ctx(t, task=tasks[i % 3]), stats)
        if plan.notes.get("probe") == "primary":
            probe_times.append(t)  # hangs: no answer ever comes back
        else:
            stats.observe("backup", True, None, 1.0, t + 1.0)
    gaps = [b - a for a, b in zip(probe_times, probe_times[1:])]
    # one probe per interval for the deployment, not one per task type; and an unanswered
    # probe counts as a failed one for the pacing (2 s -> 4 s, 8 s, 16 s), so none doubles up
    assert gaps and min(gaps) >= 3.9
    assert len(probe_times) <= 4


def test_adaptive_suspects_a_leader_that_stops_answering() -> None:
    ch = chain("primary", "backup")
    stats = StatsRegistry()
    pol = AdaptivePolicy()
    t = feed(stats, "primary", 0.0, 400, rate=20, latency=0.9)
    feed(stats, "backup", 0.0, 100, rate=5, latency=1.2)
    assert _keys(pol.plan(ch, ctx(t), stats))[0] == "primary"
    # calls keep going to the primary; nothing comes back (a hang: timeouts come at 20 s)
    for i in range(400):
        t += 0.05
        plan = pol.plan(ch, ctx(t), stats)
        if _keys(plan)[0] == "backup":
            break
    else:
        pytest.fail("a silent leader was never suspected")
    assert t < 400 / 20 + 15  # well before a 20 s attempt timeout would tell
    assert "no answer" in _skipped(plan)["primary"]


def test_a_silent_leader_is_suspected_on_its_own_deadline_not_at_the_next_refresh() -> None:
    ch = chain("primary", "backup")
    stats = StatsRegistry()
    pol = AdaptivePolicy(refresh_s=1e6, explore_interval_s=1e9)  # time alone never replans
    t0 = feed(stats, "primary", 0.0, 400, rate=20, latency=0.9)
    feed(stats, "backup", 0.0, 100, rate=5, latency=1.2)
    assert _keys(pol.plan(ch, ctx(t0), stats))[0] == "primary"
    t = t0
    while _keys(pol.plan(ch, ctx(t), stats))[0] == "primary":
        t += 0.05
        assert t < t0 + 60, "a silent leader was never suspected"
    # the threshold is relative to its own latency: hang_factor x its p95 (about 1.2 s), from
    # the first call after the last answer (t0 + 0.05), seen at the next call after it
    p95 = stats.get("primary").latency_quantile_s(1.645)
    wait = pol.hang_factor * p95
    assert wait > pol.hang_min_s
    assert t0 + wait <= t <= t0 + wait + 0.15


def test_adaptive_hysteresis_keeps_the_leader_on_a_small_difference() -> None:
    ch = chain("a", "b")
    stats = StatsRegistry()
    feed(stats, "a", 0.0, 400, rate=20, latency=1.0)
    feed(stats, "b", 0.0, 400, rate=20, latency=1.0)
    pol = AdaptivePolicy(explore_interval_s=1e9)
    assert _keys(pol.plan(ch, ctx(20.0), stats))[0] == "a"
    feed(stats, "b", 20.0, 20, rate=20, latency=0.95)  # b slightly faster
    assert _keys(pol.plan(ch, ctx(21.0), stats))[0] == "a"


def test_explanations_carry_numbers_and_reasons() -> None:
    ch = chain("a", "b")
    stats = StatsRegistry()
    feed(stats, "a", 0.0, 100, latency=1.0)
    stats.set_breaker("b", "open", 100.0)
    plan = AdaptivePolicy().plan(ch, ctx(10.0), stats)
    rows = plan.notes["deployments"]
    assert rows["a"]["decision"] == "ordered" and rows["a"]["p_success"] > 0.9
    assert rows["a"]["expected_ok_ms"] > 900
    assert rows["b"]["decision"] == "skipped" and rows["b"]["reason"].startswith("circuit open")
    assert plan.notes["objective"] == "reliability"


def test_bandit_explores_an_idle_deployment_again_as_its_evidence_decays() -> None:
    ch = chain("a", "b")
    stats = StatsRegistry(half_life_s=60.0)
    feed(stats, "a", 0.0, 300, rate=10, latency=1.0)
    feed(stats, "b", 0.0, 300, rate=10, latency=1.0, fail_every=2)  # b was bad half a minute ago
    pol = BanditPolicy(seed=7)
    firsts = [_keys(pol.plan(ch, ctx(30.0 + i * 1e-3), stats))[0] for i in range(200)]
    assert firsts.count("b") < 10
    # ten minutes idle: b's counts faded towards the prior, so it is tried first again at times
    firsts = [_keys(pol.plan(ch, ctx(630.0 + i * 1e-3), stats))[0] for i in range(400)]
    assert 20 < firsts.count("b") < 380


def test_policies_compose_and_plain_functions_are_policies() -> None:
    ch = chain("a", "b", "c")
    stats = StatsRegistry()
    stats.set_breaker("a", "open", 100.0)

    def reverse(chain, ctx, stats):  # type: ignore[no-untyped-def]
        return Plan(order=tuple(reversed(chain)), policy="reverse")

    combo = HealthPolicy() | reverse
    plan = combo.plan(ch, ctx(1.0), stats)
    assert _keys(plan) == ["c", "b"]
    assert "a" in _skipped(plan)
    assert plan.policy == "health|reverse"


def test_a_registered_policy_can_be_removed_and_builtins_cannot(registered_policy: Any) -> None:
    from policies import CooldownPolicy, unregister_policy

    registered_policy("static-copy-test", StaticPolicy)
    assert "static-copy-test" in policy_names()
    unregister_policy("static-copy-test")
    assert "static-copy-test" not in policy_names()
    registered_policy("static-copy-test", StaticPolicy)  # the fixture removes it after the test
    with pytest.raises(ValueError, match="built-in"):
        unregister_policy("adaptive")
    with pytest.raises(ValueError, match="no policy registered as 'nope'"):
        unregister_policy("nope")
    assert isinstance(get_policy("cooldown"), CooldownPolicy)


def test_no_test_left_a_policy_registered() -> None:
    """Runs after the tests above (file order): whatever they registered is gone."""
    assert not [n for n in policy_names() if n.endswith("-test")]
