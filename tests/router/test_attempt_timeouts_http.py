"""Latency-relative attempt timeouts over real HTTP: once the default policy knows a
deployment's latency, a hang there is cut at the policy's limit, not the
configured timeout, and the next deployment answers within the call's deadline (on both HTTP
transports)."""

from __future__ import annotations

import asyncio
import time

from policies import AdaptivePolicy
from router import Deployment, OpenAIProvider, Router, Tier
from router.testing import FakeProviderServer, Fault, fast_settings
from telemetry import MemorySink

MSGS = [{"role": "user", "content": "Summarize the incident report."}]
A, B = "openai/gpt-4o", "anthropic/claude-sonnet-4"
CONFIGURED_S = 1.5
FLOOR_S = 0.3  # the fake server answers in about a millisecond: its limit is the floor


def _router(server: FakeProviderServer, policy: AdaptivePolicy) -> tuple[Router, MemorySink]:
    sink = MemorySink()
    deps = [
        Deployment(A, OpenAIProvider(base_url=server.url_for("a"), name="openai"), "gpt-4o"),
        Deployment(B, OpenAIProvider(base_url=server.url_for("b"), name="anthropic"), "claude-sonnet-4"),
    ]
    settings = fast_settings(attempt_timeout_s=CONFIGURED_S, deadline_s=10.0, max_attempts_per_deployment=1)
    return Router(deployments=deps, tiers=[Tier("capable", [A, B], policy=policy)], telemetry=sink, settings=settings), sink


async def test_a_hang_is_cut_at_the_policys_limit_and_the_fallback_answers(server: FakeProviderServer) -> None:
    # any hang share (the default asks 0.3 % of attempts timing out, tests/policies cover it)
    policy = AdaptivePolicy(timeout_floor_s=FLOOR_S, timeout_min_samples=20, timeout_hang_share=0.0, refresh_s=0.05)
    router, sink = _router(server, policy)
    for _ in range(30):  # the primary's latency becomes known
        assert (await router.acompletion("capable", MSGS)).deployment == A
    await asyncio.sleep(0.06)  # the plan is recomputed every refresh_s (2 s by default)
    assert router.plan("capable").attempt_timeouts.get(A) == FLOOR_S
    server.script("a", [Fault.hang()])
    t0 = time.perf_counter()
    resp = await router.acompletion("capable", MSGS)
    took = time.perf_counter() - t0
    assert resp.deployment == B
    first, second = sink.records[-1].attempts
    assert (first.deployment, first.outcome, first.error_type) == (A, "error", "timeout")
    # cut at the floor, well before the configured timeout (the bound leaves a loaded machine slack)
    assert FLOOR_S * 1000 - 10 <= first.latency_ms < 1000 * CONFIGURED_S * 0.8, first.latency_ms
    assert (second.deployment, second.outcome) == (B, "success")
    assert took < CONFIGURED_S, took
    await router.aclose()


async def test_with_the_rule_off_the_configured_timeout_stands(server: FakeProviderServer) -> None:
    policy = AdaptivePolicy(timeout_multiple=0, timeout_floor_s=FLOOR_S, timeout_min_samples=20, timeout_hang_share=0.0, refresh_s=0.05)
    router, sink = _router(server, policy)
    for _ in range(30):
        await router.acompletion("capable", MSGS)
    await asyncio.sleep(0.06)
    assert router.plan("capable").attempt_timeouts == {}
    server.script("a", [Fault.hang()])
    resp = await router.acompletion("capable", MSGS)
    assert resp.deployment == B
    first = sink.records[-1].attempts[0]
    assert first.error_type == "timeout" and first.latency_ms >= 1000 * CONFIGURED_S - 50, first.latency_ms
    await router.aclose()
