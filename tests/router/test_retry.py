"""Retries: tenacity strategies per call and deployment, and the shared retry budget."""

from __future__ import annotations

import random

from tenacity import stop_after_attempt, wait_none

from router import Deployment, MemoryProvider, Router, RouterSettings, Tier
from router.errors import OverloadedError
from router.resilience import RetryBudget, RetryPolicy
from router.resilience.retry import wait_jittered_backoff
from router.resilience.breaker import BreakerSettings
from telemetry import MemorySink

MSGS = [{"role": "user", "content": "hi"}]
A, B = "openai/gpt-4o", "anthropic/claude-sonnet-4"
NO_TRIP = BreakerSettings(fail_max=10_000, failure_rate=1.0, min_volume=10_000, window=10_000)


def test_budget_drains_on_failures_and_refills_on_successes() -> None:
    b = RetryBudget(max_tokens=10, token_ratio=0.5)
    assert b.allows_retry()
    for _ in range(5):
        b.on_failure()
    assert not b.allows_retry()  # 5 tokens left: not above half
    b.on_success()
    assert b.allows_retry()
    for _ in range(100):
        b.on_success()
    assert b.tokens == 10


def test_the_default_budget_throttles_once_more_than_half_the_attempts_fail() -> None:
    s = RouterSettings()

    def run(fail_every: int, fails: int, n: int = 2000) -> bool:
        b = RetryBudget(s.retry_budget_tokens, s.retry_budget_ratio)
        throttled = 0
        for i in range(n):
            if i % fail_every < fails:
                b.on_failure()
            else:
                b.on_success()
            throttled += not b.allows_retry()
        return throttled > n // 10

    assert not run(5, 2)  # 40 % of attempts fail (a brownout): retries go on
    assert run(5, 3)  # 60 % fail: retries stop
    assert run(1, 1)  # an outage: retries stop after a few failures


def failing(n: int) -> MemoryProvider:
    return MemoryProvider("openai", fail_with=[OverloadedError("busy", status=503)] * n)


async def test_a_tenacity_stop_strategy_bounds_attempts_per_deployment() -> None:
    sink = MemorySink()
    deps = [Deployment(A, failing(100), "gpt-4o"), Deployment(B, MemoryProvider("anthropic"), "claude-sonnet-4")]
    router = Router(
        deployments=deps,
        tiers=[Tier("t", [A, B], policy="static")],
        telemetry=sink,
        retry=RetryPolicy(stop=stop_after_attempt(2), wait=wait_none()),
        settings=RouterSettings(breaker=NO_TRIP),
    )
    resp = await router.acompletion("t", MSGS)
    assert resp.deployment == B
    assert [(a.deployment, a.retry_number) for a in sink.records[-1].attempts] == [(A, 0), (A, 1), (B, 0)]


async def test_the_retry_budget_stops_retries_when_failures_spike() -> None:
    sink = MemorySink()
    deps = [Deployment(A, failing(1000), "gpt-4o"), Deployment(B, MemoryProvider("anthropic"), "claude-sonnet-4")]
    settings = RouterSettings(breaker=NO_TRIP, backoff_initial_s=0.0, backoff_max_s=0.0)
    router = Router(deployments=deps, tiers=[Tier("t", [A, B], policy="static")], telemetry=sink, settings=settings)
    for _ in range(20):
        await router.acompletion("t", MSGS)
    attempts_at_a = [sum(1 for a in r.attempts if a.deployment == A) for r in sink.records]
    assert attempts_at_a[0] == 3  # full retries while the bucket is full
    assert attempts_at_a[-1] == 1  # no retries into the spike once it drained
    assert sum(attempts_at_a) < 3 * 20
    # without the budget every call retries in full
    sink2 = MemorySink()
    deps2 = [Deployment(A, failing(1000), "gpt-4o"), Deployment(B, MemoryProvider("anthropic"), "claude-sonnet-4")]
    router2 = Router(
        deployments=deps2,
        tiers=[Tier("t", [A, B], policy="static")],
        telemetry=sink2,
        settings=RouterSettings(breaker=NO_TRIP, backoff_initial_s=0.0, backoff_max_s=0.0, retry_budget_enabled=False),
    )
    for _ in range(20):
        await router2.acompletion("t", MSGS)
    assert all(sum(1 for a in r.attempts if a.deployment == A) == 3 for r in sink2.records)


async def test_where_the_attempt_cap_holds_the_seeded_wait_draws_nothing_more() -> None:
    """The wait of a retry past the cap is drawn only when one goes ahead: a seeded run
    (the simulator) keeps its draws where the cap is kept."""
    rng = random.Random(7)
    wait = wait_jittered_backoff(initial=0.0001, max=0.0002, rng=rng)
    deps = [Deployment(A, failing(100), "gpt-4o"), Deployment(B, MemoryProvider("anthropic"), "claude-sonnet-4")]
    router = Router(
        deployments=deps,
        tiers=[Tier("t", [A, B], policy="static")],
        retry=RetryPolicy(stop=stop_after_attempt(3), wait=wait),
        settings=RouterSettings(breaker=NO_TRIP, retry_budget_enabled=False),
    )
    assert (await router.acompletion("t", MSGS)).deployment == B
    twin = random.Random(7)
    for _ in range(2):  # the two retries at A
        twin.uniform(0, 1)
    assert rng.random() == twin.random()
