"""The router's own attempt timer, end to end on virtual time: an adapter that never looks at
its ``timeout`` (``enforces_timeout = False``) is cut by the router at the attempt timeout and at
the call's deadline, to the virtual millisecond. (Were the router to leave timing to adapters,
these calls would wait the provider's 3 s out.)"""

from __future__ import annotations

import asyncio

import pytest

from router import Deployment, LoopClock, MemoryProvider, Router, RoutingError, Tier
from router.testing import fast_settings, run_virtual
from telemetry import MemorySink

MSGS = [{"role": "user", "content": "hi"}]
A, B = "m/a", "m/b"


def build(sink: MemorySink, slow_a: float, slow_b: float, **settings: float) -> Router:
    deps = [Deployment(A, MemoryProvider("a", latency_s=slow_a), "m"), Deployment(B, MemoryProvider("b", latency_s=slow_b), "m")]
    return Router(deployments=deps, tiers=[Tier("t", [A, B], policy="static")], telemetry=sink, clock=LoopClock(), settings=fast_settings(**settings))


def test_a_slow_answer_is_cut_at_the_attempt_timeout_and_the_call_falls_back() -> None:
    sink = MemorySink()

    async def main() -> tuple[str, float]:
        router = build(sink, 3.0, 0.1, attempt_timeout_s=0.2, max_attempts_per_deployment=1)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        resp = await router.acompletion("t", MSGS)
        return resp.deployment, loop.time() - t0

    served, took = run_virtual(main())
    assert served == B and took == pytest.approx(0.3, abs=1e-6)
    (first, second) = sink.records[-1].attempts
    assert first.error_type == "timeout" and first.latency_ms == pytest.approx(200.0, abs=1e-3) and second.outcome == "success"


def test_slow_answers_everywhere_end_at_the_deadline() -> None:
    sink = MemorySink()

    async def main() -> tuple[BaseException | None, float]:
        router = build(sink, 3.0, 3.0, attempt_timeout_s=0.3, deadline_s=0.5)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            await router.acompletion("t", MSGS)
        except RoutingError as exc:
            return exc, loop.time() - t0
        return None, loop.time() - t0

    err, took = run_virtual(main())
    assert isinstance(err, RoutingError) and err.error_type == "timeout"
    assert [a.error_type for a in err.attempts] == ["timeout", "timeout"]
    assert 0.49 <= took <= 0.5  # the last attempt is cut just before the deadline, to record and raise
    assert sink.records[-1].latency_ms <= 500
