"""A router opened on a store that already holds calls starts informed (rollups), and keeps
learning from other instances through the same store."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from pathlib import Path

from router import Deployment, MemoryProvider, Router, Tier
from telemetry import AttemptRecord, LLMCallRecord, TelemetryBackend

A, B = "openai/gpt-4o", "anthropic/claude-sonnet-4"


def past_call(i: int, ok: bool, at: float) -> LLMCallRecord:
    ts = datetime.fromtimestamp(at, timezone.utc)
    cid = f"old-{i}"
    attempt = AttemptRecord(cid, 0, 0, A, "openai", "gpt-4o", "success" if ok else "error",
                            None if ok else "overloaded", 200 if ok else 503, 800.0, ts)
    return LLMCallRecord(call_id=cid, timestamp=ts, provider="openai", model="gpt-4o", tier="capable",
                         task_type="review", success=ok, error_type=None if ok else "overloaded",
                         latency_ms=800, deployment=A, attempts=[attempt])


async def test_a_new_router_warm_starts_from_the_stores_rollups(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    earlier = time.time() - 300  # five minutes ago: complete minutes
    async with TelemetryBackend(url) as backend:
        for i in range(40):
            await backend.record(past_call(i, ok=i % 4 == 0, at=earlier + i))  # 75 % failures

    backend = TelemetryBackend(url)
    deps = [Deployment(A, MemoryProvider("openai"), "gpt-4o"), Deployment(B, MemoryProvider("anthropic"), "claude-sonnet-4")]
    router = Router(deployments=deps, tiers=[Tier("capable", [A, B], policy="static")], telemetry=backend)
    assert router.refresher is not None
    cold = router.stats.get(A).p_success()
    await router.acompletion("capable", [{"role": "user", "content": "hi"}], task_type="review")
    for _ in range(100):  # the warm start runs in the background, off the caller's path
        if router.refresher.folded:
            break
        await asyncio.sleep(0.02)
    assert router.refresher.folded >= 1
    assert router.stats.get(A).p_success() < cold - 0.2  # it learned that A failed a lot
    await router.aclose()
    await backend.aclose()


async def test_learning_from_the_store_can_be_turned_off(tmp_path: Path) -> None:
    backend = TelemetryBackend(f"sqlite:///{tmp_path / 't.db'}")
    router = Router(deployments=[Deployment(A, MemoryProvider("openai"), "gpt-4o")], telemetry=backend, learn_from_telemetry=False)
    assert router.refresher is None
    await router.acompletion(A, [{"role": "user", "content": "hi"}])
    await router.aclose()
    await backend.aclose()
