"""Telemetry keeps up with the router over real HTTP (the default transport): the writer drains
while calls go on, and every call is a row after close."""

from __future__ import annotations

import asyncio
from pathlib import Path

from router import Deployment, OpenAIProvider, Router, Tier
from tests.router.test_wire import _Counting, counting  # noqa: F401 - the counting server fixture

async def test_telemetry_keeps_up_over_real_http(counting: type[_Counting], tmp_path: Path) -> None:
    """2,000 calls by 32 callers: the writer drains as it goes, and rows == calls after close."""
    from telemetry import TelemetryBackend, TelemetryStore

    url = f"sqlite:///{tmp_path / 't.db'}"
    telemetry = TelemetryBackend(url)
    adapter = OpenAIProvider(base_url=counting.url)  # type: ignore[attr-defined]
    router = Router(deployments=[Deployment("openai/m", adapter, "m")], tiers=[Tier("t", ["openai/m"])], telemetry=telemetry)
    most = 0
    left = 2000

    async def caller() -> None:
        nonlocal left, most
        while left > 0:
            left -= 1
            await router.acompletion("t", [{"role": "user", "content": "hi"}])
            most = max(most, telemetry.stats.pending)

    await asyncio.gather(*(caller() for _ in range(32)))
    await router.aclose()
    telemetry.close()
    store = TelemetryStore(url)
    rows = store.count()
    store.close()
    assert rows == 2000
    assert most < 1000, most  # the writer kept up: at most half the calls were ever waiting
