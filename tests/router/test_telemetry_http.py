"""Telemetry over real HTTP (the default transport): the writer drains while calls go on, and
every call is a row after close. How fast it keeps up is a benchmark (benchmarks/telemetry.py),
not a timed test."""

from __future__ import annotations

import asyncio
from pathlib import Path

from router import Deployment, OpenAIProvider, Router, Tier
from tests.router.test_wire import _Counting, counting  # noqa: F401 - the counting server fixture

async def test_telemetry_drains_while_calls_go_on_over_real_http(counting: type[_Counting], tmp_path: Path) -> None:
    """2,000 calls by 32 callers: rows are written before the router closes, and rows == calls after."""
    from telemetry import TelemetryBackend, TelemetryStore

    url = f"sqlite:///{tmp_path / 't.db'}"
    telemetry = TelemetryBackend(url)
    adapter = OpenAIProvider(base_url=counting.url)  # type: ignore[attr-defined]
    router = Router(deployments=[Deployment("openai/m", adapter, "m")], tiers=[Tier("t", ["openai/m"])], telemetry=telemetry)

    async def calls(n: int) -> None:
        left = n

        async def caller() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await router.acompletion("t", [{"role": "user", "content": "hi"}])

        await asyncio.gather(*(caller() for _ in range(32)))

    await calls(1000)
    for _ in range(500):  # the writer works beside an open router, not only on close
        if telemetry.stats.written > 0:
            break
        await asyncio.sleep(0.02)
    written_while_open = telemetry.stats.written
    await calls(1000)
    await router.aclose()
    telemetry.close()
    store = TelemetryStore(url)
    rows = store.count()
    store.close()
    assert written_while_open > 0
    assert rows == 2000
