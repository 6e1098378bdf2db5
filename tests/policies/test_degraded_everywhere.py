"""A plan marked ``degraded_everywhere`` lets retries past the per-deployment budget, open
breakers and the one-attempt last resort, within the router's chain-wide budget."""

from __future__ import annotations

import pytest
from policykit import chain, ctx, feed

from policies import AdaptivePolicy, HealthPolicy, Plan, StatsRegistry
from router import Deployment, MemoryProvider, Router, RouterSettings, Tier
from router.errors import OverloadedError, RoutingError

MSG = [{"role": "user", "content": "hi"}]


def _router(flag: bool, per_call: float = 4.0, failures: int = 60) -> tuple[Router, list[MemoryProvider]]:
    provs = [MemoryProvider(n, fail_with=[OverloadedError("busy", status=529) for _ in range(failures)]) for n in ("p", "q")]
    deps = [Deployment(key=f"{p.name}/m", adapter=p, model="m") for p in provs]

    def degraded(ch, c, stats):  # type: ignore[no-untyped-def]
        return Plan(order=tuple(ch), policy="degraded", degraded_everywhere=flag)

    s = RouterSettings(backoff_initial_s=0.0005, backoff_max_s=0.001, degraded_retries_per_call=per_call)
    return Router(deployments=deps, tiers=[Tier(name="t", chain=["p/m", "q/m"], policy=degraded)], settings=s), provs


async def _attempts_until_success(r: Router, provs: list[MemoryProvider], calls: int = 40) -> tuple[int, int]:
    ok = 0
    for _ in range(calls):
        try:
            await r.acompletion("t", MSG)
            ok += 1
        except RoutingError:
            pass
    return ok, sum(p.calls for p in provs)


async def test_degraded_plans_retry_past_the_budget_and_the_breakers_within_the_chain_budget() -> None:
    plain, pp = _router(False)
    ok_plain, att_plain = await _attempts_until_success(plain, pp)
    deg, dp = _router(True)
    ok_deg, att_deg = await _attempts_until_success(deg, dp)
    # the same 60 failures per deployment are worked through sooner: more calls served
    assert ok_deg > ok_plain
    b = deg.degraded_budget
    assert b.earned == 40 and 0 < b.spent <= 4 * 40
    assert att_deg <= att_plain + b.spent  # every extra attempt took a token
    assert plain.degraded_budget.spent == 0


async def test_the_chain_budget_bounds_the_amplification() -> None:
    off, op = _router(True, per_call=0.0)
    plain, pp = _router(False)
    assert await _attempts_until_success(off, op) == await _attempts_until_success(plain, pp)
    tight, tp = _router(True, per_call=0.5, failures=10_000)  # never recovers
    _, att = await _attempts_until_success(tight, tp, calls=20)
    assert tight.degraded_budget.spent <= 0.5 * 20
    loose, lp = _router(True, per_call=4.0, failures=10_000)
    _, att_loose = await _attempts_until_success(loose, lp, calls=20)
    assert att < att_loose <= att + 4 * 20


def test_the_settings_reject_a_negative_chain_budget() -> None:
    with pytest.raises(ValueError, match=r"degraded_retries_per_call: must be greater than or equal to 0 \(got -1\)"):
        RouterSettings(degraded_retries_per_call=-1)


@pytest.mark.parametrize("make", [HealthPolicy, AdaptivePolicy])
def test_a_plan_is_degraded_everywhere_only_when_no_deployment_is_healthier(make: type) -> None:
    ch = chain("a", "b", "c")
    stats = StatsRegistry()
    t = 0.0
    for key in ("a", "b", "c"):
        t = feed(stats, key, t, 300, rate=20, fail_every=100)
    pol = make()
    assert not pol.plan(ch, ctx(t), stats).degraded_everywhere
    for key in ("a", "b"):  # two of three fail half their attempts: c is healthier
        t = feed(stats, key, t, 60, rate=20, fail_every=2)
    assert not pol.plan(ch, ctx(t), stats).degraded_everywhere
    t = feed(stats, "c", t, 60, rate=20, fail_every=2)  # now every one does
    assert pol.plan(ch, ctx(t), stats).degraded_everywhere


def _alone(flag: bool, fail_first: int, *, trips: int = 2, quota: bool = False, q_down: bool = True) -> tuple[Router, MemoryProvider, MemoryProvider]:
    """``p`` fails its first ``fail_first`` attempts; ``q``'s breaker is open for a minute after
    ``trips`` trips in a row (2: its probe failed, it is down, and ``p`` is the one deployment
    that can answer; 1: it may be as degraded as ``p``), or (``quota``) a Retry-After window
    holds it. ``q`` fails every attempt unless ``q_down`` is False."""
    p = MemoryProvider("p", fail_with=[OverloadedError("busy", status=529) for _ in range(fail_first)])
    q = MemoryProvider("q", fail_with=[OverloadedError("down", status=503) for _ in range(1000 if q_down else 0)])
    deps = [Deployment(key="p/m", adapter=p, model="m"), Deployment(key="q/m", adapter=q, model="m")]

    def degraded(ch, c, stats):  # type: ignore[no-untyped-def]
        return Plan(order=tuple(ch), policy="degraded", degraded_everywhere=flag)

    s = RouterSettings(backoff_initial_s=0.0005, backoff_max_s=0.001, max_attempts_per_deployment=3, max_retry_after_s=0.0)
    r = Router(deployments=deps, tiers=[Tier(name="t", chain=["p/m", "q/m"], policy=degraded)], settings=s)
    if quota:
        r.set_cooldown("q/m", r.clock.time() + 600.0)
        return r, p, q
    br = r.breaker("q/m")
    while br.state != "open":
        br.on_failure(OverloadedError("busy", status=529), False)
    br.trips, br.open_until = trips, r.clock.time() + 60.0
    return r, p, q


async def test_at_the_one_deployment_that_can_answer_a_degraded_plan_retries_past_the_attempt_cap() -> None:
    plain, pp, pq = _alone(False, fail_first=5)
    with pytest.raises(RoutingError):
        await plain.acompletion("t", MSG)
    assert pp.calls == 3 and pq.calls == 1  # the cap, then the last resort's one attempt at q
    deg, dp, dq = _alone(True, fail_first=5)
    resp = await deg.acompletion("t", MSG)
    assert resp.deployment == "p/m" and dp.calls == 6 and dq.calls == 0
    assert deg.degraded_budget.spent == 3  # each retry past the cap took a token of the chain budget


async def test_past_the_attempt_cap_the_chain_budget_and_the_callers_max_retries_stay_firm() -> None:
    deg, dp, _ = _alone(True, fail_first=100)
    with pytest.raises(RoutingError):
        await deg.acompletion("t", MSG)
    assert dp.calls == 3 + 4  # one call earns 4 tokens: 4 retries past the cap, no more
    own, op, _ = _alone(True, fail_first=5)
    with pytest.raises(RoutingError):
        await own.acompletion("t", MSG, max_retries=1)
    assert op.calls == 2


async def test_the_attempt_cap_holds_while_another_deployment_may_be_as_good_a_place() -> None:
    r, p, q = _alone(True, fail_first=5, trips=1, q_down=False)  # a first trip: the last resort tries q at once
    assert (await r.acompletion("t", MSG)).deployment == "q/m" and p.calls == 3 and q.calls == 1
    r, p, q = _alone(True, fail_first=5, quota=True)  # a quota window is no sign of ill health
    with pytest.raises(RoutingError):
        await r.acompletion("t", MSG)
    assert p.calls == 3 and q.calls == 0
    r, provs = _router(True, failures=5)  # q open to the call: p's cap moves the call on
    with pytest.raises(RoutingError):  # and q's cap holds too, p being open (tried, but as good a place)
        await r.acompletion("t", MSG)
    assert [x.calls for x in provs] == [3, 3]


def test_a_tripped_breaker_is_no_alternative_whatever_its_recent_window_says() -> None:
    """Chaos seed 2's state: two providers go down after a long healthy stretch, their breakers
    trip (a half-open probe is out, or the open window ran out with no probe yet), and the one
    left fails 40 % of attempts. The tripped ones' recent windows are still full of the answers
    from before: they must not make the plan look as if falling back could help."""
    ch = chain("a", "b", "c")
    stats = StatsRegistry()
    t = 0.0
    for key in ("a", "c"):
        t = feed(stats, key, t, 3000, rate=500)
    t = feed(stats, "b", t, 3000, rate=100, fail_every=2)  # b: a brownout, half its attempts fail
    for key in ("a", "c"):
        t = feed(stats, key, t, 5, rate=500, fail_every=1)
    stats.set_breaker("a", "half-open", t + 3.0)  # a panic attempt put it half-open early
    stats.set_breaker("c", "open", t - 0.1)  # open window over, no probe sent yet
    for pol in (HealthPolicy(), AdaptivePolicy()):
        assert pol.plan(ch, ctx(t), stats).degraded_everywhere
    stats.set_breaker("b", "open", t + 1.0)  # every one held back: still degraded everywhere
    for pol in (HealthPolicy(), AdaptivePolicy()):
        assert pol.plan(ch, ctx(t), stats).degraded_everywhere
