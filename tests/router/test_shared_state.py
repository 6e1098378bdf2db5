"""One contract suite for every shared-state backend (the pybreaker storage pattern): the
in-process ``MemorySharedStore`` and the real Redis. Breaker openings and Retry-After windows
seen by one router reach another; later deadlines win; a failing store degrades to local state."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import pytest

from router import Deployment, LocalSharedState, MemoryProvider, RedisSharedState, Router, RouterSettings, Tier
from router.errors import OverloadedError, RateLimitedError
from router.resilience.breaker import BreakerSettings
from router.resilience.shared import COOLDOWN, OPEN, MemorySharedStore, SharedState, SharedStore

MSGS = [{"role": "user", "content": "hi"}]
Pair = Callable[[], SharedState]


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> tuple[Callable[[], SharedState], Callable[[], SharedStore]]:
    """(a factory of shared states over one store, a factory of bare stores over it)."""
    if request.param == "memory":
        store = MemorySharedStore()
        return (lambda: LocalSharedState(store, poll_interval_s=0.05)), (lambda: store)
    url = request.getfixturevalue("redis_url")
    ns = f"attune-test-{os.urandom(4).hex()}"
    from router.resilience.shared_redis import RedisSharedStore

    return (lambda: RedisSharedState(url, namespace=ns, poll_interval_s=0.05)), (lambda: RedisSharedStore(url, namespace=ns))


def make_router(shared: SharedState, primary: MemoryProvider) -> Router:
    deps = [Deployment("openai/gpt-4o", primary, "gpt-4o"), Deployment("anthropic/claude-sonnet-4", MemoryProvider("anthropic"), "claude-sonnet-4")]
    settings = RouterSettings(
        max_attempts_per_deployment=1, breaker=BreakerSettings(fail_max=2, reset_timeout_s=30.0), backoff_initial_s=0.0
    )
    return Router(deployments=deps, tiers=[Tier("capable", [d.key for d in deps], policy="static")], settings=settings, shared_state=shared)


async def wait_for(cond, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    end = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_the_store_keeps_the_later_deadline_and_forgets_on_delete(backend) -> None:  # type: ignore[no-untyped-def]
    _, make_store = backend
    store = make_store()
    try:
        await store.max_set(OPEN, "d", 100.0)
        await store.max_set(OPEN, "d", 50.0)  # never shortened
        await store.max_set(COOLDOWN, "d", 7.5)
        assert await store.read(OPEN) == {"d": 100.0} and await store.read(COOLDOWN) == {"d": 7.5}
        await store.max_set(OPEN, "d", 150.0)
        assert await store.read(OPEN) == {"d": 150.0}
        await store.delete(OPEN, "d")
        assert await store.read(OPEN) == {} and await store.read(COOLDOWN) == {"d": 7.5}
    finally:
        await store.aclose()


async def test_an_outage_seen_by_one_router_opens_the_breaker_of_another(backend) -> None:  # type: ignore[no-untyped-def]
    make, _ = backend
    failing = MemoryProvider("openai", fail_with=[OverloadedError("down", status=503)] * 2)
    a = make_router(make(), failing)
    b_primary = MemoryProvider("openai")
    b = make_router(make(), b_primary)
    try:
        await b.acompletion("capable", MSGS)  # starts b's poller
        for _ in range(2):
            await a.acompletion("capable", MSGS)
        assert a.breaker("openai/gpt-4o").state == "open"
        await wait_for(lambda: b.breaker("openai/gpt-4o").state == "open")
        calls_before = b_primary.calls
        resp = await b.acompletion("capable", MSGS)
        assert resp.deployment == "anthropic/claude-sonnet-4"
        assert b_primary.calls == calls_before  # skipped without a request
        assert abs(b.breaker("openai/gpt-4o").open_until - a.breaker("openai/gpt-4o").open_until) < 1e-3
    finally:
        await a.aclose()
        await b.aclose()


async def test_retry_after_windows_are_shared(backend) -> None:  # type: ignore[no-untyped-def]
    make, _ = backend
    limited = MemoryProvider("openai", fail_with=[RateLimitedError("slow down", status=429, retry_after=20.0)])
    a = make_router(make(), limited)
    b = make_router(make(), MemoryProvider("openai"))
    try:
        await b.acompletion("capable", MSGS)
        resp = await a.acompletion("capable", MSGS)
        assert resp.deployment == "anthropic/claude-sonnet-4"  # fell back at once instead of waiting 20 s
        await wait_for(lambda: b.cooldown_until("openai/gpt-4o") > b.clock.time() + 15)
        assert (await b.acompletion("capable", MSGS)).deployment == "anthropic/claude-sonnet-4"
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_closed_breaker_clears_the_shared_entry(backend) -> None:  # type: ignore[no-untyped-def]
    make, make_store = backend
    shared = make()
    r = make_router(shared, MemoryProvider("openai"))
    try:
        r.breaker("openai/gpt-4o").apply_remote_open(r.clock.time() + 30)  # opens, and publishes
        await shared.sync()
        assert "openai/gpt-4o" in await make_store().read(OPEN)
        r.breaker("openai/gpt-4o").reset()  # closes: the entry goes
        await shared.sync()
        assert await make_store().read(OPEN) == {}
    finally:
        await r.aclose()


class _DownStore(MemorySharedStore):
    async def read(self, table: str) -> dict[str, float]:
        raise ConnectionError("store down")


async def test_a_failing_store_degrades_to_local_state(caplog: pytest.LogCaptureFixture) -> None:
    for shared in (LocalSharedState(_DownStore(), poll_interval_s=0.01), RedisSharedState("redis://127.0.0.1:1/0", poll_interval_s=0.01)):
        r = make_router(shared, MemoryProvider("openai", fail_with=[OverloadedError("down", status=503)] * 2))
        try:
            for _ in range(3):
                await r.acompletion("capable", MSGS)
            assert r.breaker("openai/gpt-4o").state == "open"  # local breaking still works
            await wait_for(lambda: shared.errors > 0)
            assert shared.available is False
            assert any("shared state unavailable" in rec.message for rec in caplog.records)
        finally:
            await r.aclose()


def test_the_redis_password_is_never_shown() -> None:
    assert "s3cret" not in repr(RedisSharedState("redis://:s3cret@127.0.0.1:6379/0"))


async def test_a_started_router_knows_the_open_breakers_before_its_first_call(backend) -> None:  # type: ignore[no-untyped-def]
    """A new process (a gateway worker) must not send its first call to a deployment another
    router opened: ``astart()`` waits for the first exchange with the store."""
    make, make_store = backend
    store = make_store()
    primary = MemoryProvider("openai")
    r = make_router(make(), primary)
    try:
        await store.max_set(OPEN, "openai/gpt-4o", r.clock.time() + 30)
        await r.astart()
        assert r.breaker("openai/gpt-4o").state == "open"
        assert (await r.acompletion("capable", MSGS)).deployment == "anthropic/claude-sonnet-4"
        assert primary.calls == 0
    finally:
        await r.aclose()
        await store.aclose()
