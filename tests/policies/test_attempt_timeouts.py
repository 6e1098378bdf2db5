"""Latency-relative attempt timeouts (``policies.timeouts``): the rule, its guards, and how a
plan carries it to the router (``Plan.attempt_timeouts``)."""

from __future__ import annotations

import math
import random

import pytest

from policies import AdaptivePolicy, CooldownPolicy, Plan, PlanContext, StaticPolicy, StatsRegistry, as_policy, chain_policies
from policies.timeouts import Z_P999, AttemptTimeoutRule
from router import Deployment, MemoryProvider, Router, Tier
from router.errors import ServerError
from router.testing import fast_settings, open_breaker
from telemetry import MemorySink

from policykit import Cand

MSG = [{"role": "user", "content": "hi"}]


def _feed(
    stats: StatsRegistry, key: str, n: int, *, median_s: float, sd: float, t0: float = 0.0, seed: int = 1, hang_every: int = 40
) -> float:
    """``n`` attempts 0.1 s apart: successes with log-normal latency, every ``hang_every``-th
    a 20 s timeout (0: none); returns the time after the last."""
    rng = random.Random(seed)
    t = t0
    for i in range(n):
        if hang_every and i % hang_every == hang_every - 1:
            stats.observe(key, False, "timeout", 20.0, t)
        else:
            stats.observe(key, True, None, median_s * math.exp(sd * rng.gauss(0.0, 1.0)), t)
        t += 0.1
    return t


def test_no_cut_before_enough_samples_then_a_multiple_of_its_own_p999() -> None:
    rule = AttemptTimeoutRule(multiple=1.5, floor_s=3.0, min_samples=50)
    stats = StatsRegistry()
    _feed(stats, "a", 40, median_s=1.0, sd=0.6)
    assert rule.cap(stats.get("a")) is None  # 40 answers: not yet characterised
    _feed(stats, "a", 2000, median_s=1.0, sd=0.6, t0=4.0, seed=2)
    cap = rule.cap(stats.get("a"))
    assert cap is not None
    # 1.5 x exp(3.09 x 0.6) = 9.6 s for a deployment with a 1 s median; the slow window clips
    # answers past 3 sd, so its spread reads a little narrower
    assert 1.5 * math.exp(Z_P999 * 0.5) < cap < 1.5 * math.exp(Z_P999 * 0.65)


def test_a_deployment_that_does_not_time_out_is_never_cut() -> None:
    """Its rare long answers (a long report among short classifications, past its fit's
    tail) are not hangs: without a hang tail (0.3 % of its attempts timing out) no limit."""
    rule = AttemptTimeoutRule(multiple=1.5, floor_s=3.0, min_samples=50)
    stats = StatsRegistry()
    t = _feed(stats, "a", 3000, median_s=0.5, sd=0.4, hang_every=0)
    for i in range(30):  # 1 % of its answers take 60 s
        stats.observe("a", True, None, 60.0, t + i)
    assert rule.cap(stats.get("a")) is None
    _feed(stats, "a", 2000, median_s=0.5, sd=0.4, t0=t + 30, hang_every=50)  # now 2 % hang
    assert rule.cap(stats.get("a")) is not None
    assert AttemptTimeoutRule(hang_share=0.0).cap(stats.get("a")) is not None


def test_the_floor_holds_for_a_fast_deployment() -> None:
    rule = AttemptTimeoutRule(multiple=1.5, floor_s=3.0, min_samples=50)
    stats = StatsRegistry()
    _feed(stats, "fast", 500, median_s=0.04, sd=0.3)
    assert rule.cap(stats.get("fast")) == 3.0


def test_a_slowing_deployment_raises_its_limit_and_a_detected_slowdown_lifts_it() -> None:
    rule = AttemptTimeoutRule(multiple=1.5, floor_s=1.0, min_samples=50)
    stats = StatsRegistry()
    t = _feed(stats, "a", 1000, median_s=1.0, sd=0.5)
    st = stats.get("a")
    before = rule.cap(st)
    assert before is not None
    # answers 3 x slower: the recent window's quantile raises the limit before the latency
    # shift test has judged them ...
    t += 60.0
    caps = []
    for i in range(20):
        stats.observe("a", True, None, 3.0 * math.exp(0.5 * ((i % 7) - 3) / 3), t)
        t += 0.5
        if st.regime == "slow":
            break
        caps.append(rule.cap(st))
    assert len(caps) >= 4 and caps[3] > 1.3 * before
    # ... and once the latency shift test calls it slow, no cut at all: it is slow, not hanging
    assert st.regime == "slow"
    assert rule.cap(st) is None


def test_settings_are_validated_and_zero_turns_the_rule_off() -> None:
    assert AdaptivePolicy().timeouts == AttemptTimeoutRule(1.5, 3.0, 50.0, 0.003)
    assert AdaptivePolicy(timeout_multiple=0).timeouts is None
    for bad in ({"timeout_multiple": 0.5}, {"timeout_multiple": math.nan}, {"timeout_floor_s": 0}, {"timeout_min_samples": 5},
                {"timeout_hang_share": 1.0}, {"timeout_multiple": 0, "timeout_floor_s": -1}):  # fmt: skip
        with pytest.raises(ValueError, match="timeout_"):
            AdaptivePolicy(**bad)  # type: ignore[arg-type]


def _plan(policy: object, stats: StatsRegistry, chain: list[Cand], now: float) -> Plan:
    return policy.plan(chain, PlanContext(tier="t", task_type="chat", now=now), stats)  # type: ignore[attr-defined, no-any-return]


def test_adaptive_plans_carry_the_limits_static_and_cooldown_never_do() -> None:
    stats = StatsRegistry()
    chain = [Cand("a/x"), Cand("b/y")]
    t = _feed(stats, "a/x", 500, median_s=1.0, sd=0.6)
    t = _feed(stats, "b/y", 20, median_s=1.0, sd=0.6, t0=t)
    plan = _plan(AdaptivePolicy(), stats, chain, t)
    assert set(plan.attempt_timeouts) == {"a/x"}  # b/y: 20 answers, not enough
    assert 5.0 < plan.attempt_timeouts["a/x"] < 15.0
    assert plan.notes["deployments"]["a/x"]["attempt_timeout_s"] == round(plan.attempt_timeouts["a/x"], 3)
    assert _plan(AdaptivePolicy(timeout_multiple=0), stats, chain, t).attempt_timeouts == {}
    assert _plan(StaticPolicy(), stats, chain, t).attempt_timeouts == {}
    assert _plan(CooldownPolicy(), stats, chain, t).attempt_timeouts == {}


def test_composed_policies_keep_the_shorter_limit() -> None:
    chain = [Cand("a/x"), Cand("b/y"), Cand("c/z")]

    def first(ch, ctx, stats):  # type: ignore[no-untyped-def]
        return Plan(order=tuple(ch), attempt_timeouts={"a/x": 4.0, "b/y": 9.0})

    def second(ch, ctx, stats):  # type: ignore[no-untyped-def]
        return Plan(order=tuple(ch), attempt_timeouts={"a/x": 6.0, "c/z": 2.0})

    plan = _plan(chain_policies(as_policy(first), as_policy(second)), StatsRegistry(), chain, 0.0)
    assert dict(plan.attempt_timeouts) == {"a/x": 4.0, "b/y": 9.0, "c/z": 2.0}


def _hanging_router(cap: float, configured: float) -> tuple[Router, MemorySink, MemoryProvider]:
    """A router whose first deployment hangs, under a policy that asks for ``cap``."""

    def policy(chain, ctx, stats):  # type: ignore[no-untyped-def]
        return Plan(order=tuple(chain), policy="capped", attempt_timeouts={"p/a": cap})

    hang = MemoryProvider("p", latency_s=60.0)
    deps = [Deployment("p/a", hang, "a"), Deployment("q/b", MemoryProvider("q"), "b")]
    sink = MemorySink()
    settings = fast_settings(attempt_timeout_s=configured, deadline_s=10.0, max_attempts_per_deployment=1)
    return Router(deployments=deps, tiers=[Tier("t", ["p/a", "q/b"], policy=policy)], telemetry=sink, settings=settings), sink, hang


async def test_the_router_honours_a_shorter_limit_and_never_a_longer_one() -> None:
    router, sink, _ = _hanging_router(cap=0.15, configured=1.0)
    resp = await router.acompletion("t", MSG)
    assert resp.deployment == "q/b"
    first = sink.records[-1].attempts[0]
    assert (first.deployment, first.error_type) == ("p/a", "timeout")
    assert 140 <= first.latency_ms < 600  # the policy's 0.15 s, not the configured 1 s
    await router.aclose()

    router, sink, _ = _hanging_router(cap=5.0, configured=0.2)  # the ceiling: the configured timeout
    await router.acompletion("t", MSG)
    first = sink.records[-1].attempts[0]
    assert first.error_type == "timeout" and 190 <= first.latency_ms < 800
    await router.aclose()


async def test_a_panic_attempt_keeps_the_configured_timeout() -> None:
    """The last resort at a held-back deployment (its breaker open, everything else failed)
    is not cut: a slow answer there is the call's only answer."""

    def policy(chain, ctx, stats):  # type: ignore[no-untyped-def]
        return Plan(order=tuple(chain), policy="capped", attempt_timeouts={"p/a": 0.05, "q/b": 0.05})

    deps = [
        Deployment("p/a", MemoryProvider("p", latency_s=0.2), "a"),
        Deployment("q/b", MemoryProvider("q", fail_with=[ServerError("down", status=500)]), "b"),
    ]
    sink = MemorySink()
    settings = fast_settings(attempt_timeout_s=1.0, deadline_s=5.0, max_attempts_per_deployment=1)
    router = Router(deployments=deps, tiers=[Tier("t", ["p/a", "q/b"], policy=policy)], telemetry=sink, settings=settings)
    open_breaker(router, "p/a", for_s=60.0)
    resp = await router.acompletion("t", MSG)
    assert resp.deployment == "p/a"  # the panic attempt waited its 0.2 s, past the plan's 0.05
    outcomes = [(a.deployment, a.outcome) for a in sink.records[-1].attempts]
    assert outcomes[-2:] == [("q/b", "error"), ("p/a", "success")], outcomes
    await router.aclose()
