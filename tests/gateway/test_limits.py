"""One contract for the key-limit backends, run against memory and a real Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from router.gateway.limits import Limiter, MemoryLimiter, RedisLimiter, window_of

T0 = 1_800_000_000.0  # a window boundary (divisible by 60)


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[Limiter]:
    if request.param == "memory":
        lim: Limiter = MemoryLimiter()
    else:
        url = os.environ.get("ATTUNE_TEST_REDIS_URL")
        if not url:
            pytest.skip("ATTUNE_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0); .ci/run sets it")
        lim = RedisLimiter(url, namespace=f"test-{uuid.uuid4().hex[:8]}")
    yield lim
    await lim.aclose()


def test_window_of() -> None:
    assert window_of(T0) == (T0 // 60, 60.0)
    assert window_of(T0 + 59.5) == (T0 // 60, 0.5)


async def test_requests_fit_until_the_window_is_full(limiter: Limiter) -> None:
    for _ in range(3):
        assert await limiter.take_request("k", 3, T0 + 10) is None
    assert await limiter.take_request("k", 3, T0 + 20) == pytest.approx(40.0)
    assert await limiter.take_request("k", 3, T0 + 20) == pytest.approx(40.0)  # refusals do not count
    assert await limiter.take_request("other", 3, T0 + 20) is None  # per key
    assert await limiter.take_request("k", 3, T0 + 60) is None  # the next window


async def test_tokens_add_up_per_window(limiter: Limiter) -> None:
    assert await limiter.tokens_used("k", T0) == 0
    await limiter.add_tokens("k", 700, T0 + 1)
    await limiter.add_tokens("k", 300, T0 + 2)
    assert await limiter.tokens_used("k", T0 + 30) == 1000
    assert await limiter.tokens_used("other", T0 + 30) == 0
    assert await limiter.tokens_used("k", T0 + 61) == 0


async def test_redis_down_falls_back_to_local_counters() -> None:
    lim = RedisLimiter("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        assert await lim.take_request("k", 1, T0) is None
        assert await lim.take_request("k", 1, T0) is not None
        await lim.add_tokens("k", 5, T0)
        assert await lim.tokens_used("k", T0) == 5
    finally:
        await lim.aclose()
