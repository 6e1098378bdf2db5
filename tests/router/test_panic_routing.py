"""Panic routing: before failing a caller, the router tries the deployments it held back."""

from __future__ import annotations

import pytest

from router import Deployment, MemoryProvider, Router, RouterSettings, RoutingError, Tier
from router.errors import OverloadedError
from router.resilience.breaker import BreakerSettings
from router.testing import open_breaker
from telemetry import MemorySink

MSGS = [{"role": "user", "content": "hi"}]
A, B, C = "p/a", "p/b", "p/c"


def build(fail: dict[str, int], **settings: object) -> tuple[Router, MemorySink]:
    sink = MemorySink()
    deps = [
        Deployment(k, MemoryProvider("p", fail_with=[OverloadedError("busy", status=529)] * fail.get(k, 0)), k.split("/")[1])
        for k in (A, B, C)
    ]
    # no jitter: breakers opened one after the other end in that order (the panic order)
    base: dict[str, object] = {"max_attempts_per_deployment": 1, "breaker": BreakerSettings(jitter=0.0)}
    base.update(settings)
    router = Router(deployments=deps, tiers=[Tier("t", [A, B, C], policy="static")], telemetry=sink, settings=RouterSettings(**base))  # type: ignore[arg-type]
    return router, sink


def trail(sink: MemorySink) -> list[tuple[str, str]]:
    return [(a.deployment, a.outcome) for a in sink.records[-1].attempts]


async def test_when_every_deployment_is_held_back_each_gets_one_attempt_before_failing() -> None:
    router, sink = build({A: 1, B: 1})
    for k in (A, B, C):
        open_breaker(router, k)
    resp = await router.acompletion("t", MSGS)
    assert resp.deployment == C
    skipped = [(k, "skipped") for k in (A, B, C)]
    assert trail(sink) == [*skipped, (A, "error"), (B, "error"), (C, "success")]


async def test_when_what_was_open_failed_the_held_back_ones_are_tried_too() -> None:
    # A is open to the call and fails; B and C are held back by open breakers, and C answers
    router, sink = build({A: 1, B: 1})
    open_breaker(router, B)
    open_breaker(router, C)
    resp = await router.acompletion("t", MSGS)
    assert resp.deployment == C
    assert trail(sink) == [(A, "error"), (B, "skipped"), (C, "skipped"), (B, "error"), (C, "success")]


async def test_without_panic_routing_the_call_fails_after_what_was_open() -> None:
    router, sink = build({A: 1}, panic_routing=False)
    open_breaker(router, B)
    open_breaker(router, C)
    with pytest.raises(RoutingError):
        await router.acompletion("t", MSGS)
    assert trail(sink) == [(A, "error"), (B, "skipped"), (C, "skipped")]
