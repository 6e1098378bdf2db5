"""The router builds its records by assigning every field of a bare instance
(``router.call_outcome``): every record it emits, on every path, has every field set, with the
types the store binds (``clean_record`` returns the record itself only for such records)."""

from __future__ import annotations

from typing import Any

import pytest

from router import Deployment, MemoryProvider, Router, RoutingError, Tier
from router.errors import ServerError
from router.testing import fast_settings, open_breaker
from telemetry._validate import clean_record
from telemetry.records import ATTEMPT_FIELDS, CALL_FIELDS, LLMCallRecord

MSGS = [{"role": "user", "content": "hi"}]


def _router(*providers: MemoryProvider) -> tuple[Router, list[LLMCallRecord]]:
    seen: list[LLMCallRecord] = []
    deps = [Deployment(f"{p.name}/m{i}", p, f"m{i}") for i, p in enumerate(providers)]
    router = Router(deployments=deps, tiers=[Tier("t", [d.key for d in deps], policy="static")], hooks=[seen.append], settings=fast_settings())
    return router, seen


def _check(rec: LLMCallRecord) -> None:
    missing = [f for f in CALL_FIELDS if not hasattr(rec, f)]
    assert not missing, f"record fields never set: {missing}"
    for a in rec.attempts:
        missing = [f for f in ATTEMPT_FIELDS if not hasattr(a, f)]
        assert not missing, f"attempt fields never set: {missing}"
    assert clean_record(rec) is rec  # every field of the type and range the store binds
    assert rec == LLMCallRecord(**{f: getattr(rec, f) for f in CALL_FIELDS})  # the dataclass's own constructor agrees


async def test_a_success_record_has_every_field() -> None:
    router, seen = _router(MemoryProvider("a"))
    await router.acompletion("t", MSGS, tags={"team": "x"})
    (rec,) = seen
    _check(rec)
    assert rec.success and rec.input_tokens == 10 and rec.output_tokens == 5 and rec.tags == {"team": "x"}


async def test_a_fallback_record_has_every_field() -> None:
    router, seen = _router(MemoryProvider("a", fail_with=[ServerError("down", status=503)] * 10), MemoryProvider("b"))
    await router.acompletion("t", MSGS)
    (rec,) = seen
    _check(rec)
    assert rec.fallback_used and rec.original_provider == "a" and rec.provider == "b"
    assert [a.outcome for a in rec.attempts][-1] == "success" and "error" in [a.outcome for a in rec.attempts]


async def test_a_failure_record_has_every_field() -> None:
    router, seen = _router(MemoryProvider("a", fail_with=[ServerError("down", status=503)] * 10))
    with pytest.raises(RoutingError):
        await router.acompletion("t", MSGS)
    (rec,) = seen
    _check(rec)
    assert not rec.success and rec.error_type == "server_error" and rec.request_id is None and rec.ttft_ms is None


async def test_a_record_with_a_skipped_deployment_has_every_field() -> None:
    router, seen = _router(MemoryProvider("a"), MemoryProvider("b"))
    open_breaker(router, "a/m0")
    await router.acompletion("t", MSGS)
    (rec,) = seen
    _check(rec)
    assert rec.attempts[0].outcome == "skipped" and rec.provider == "b"


async def test_a_stream_record_has_every_field() -> None:
    router, seen = _router(MemoryProvider("a", content="streamed"))
    stream: Any = await router.acompletion("t", MSGS, stream=True)
    async for _ in stream:
        pass
    (rec,) = seen
    _check(rec)
    assert rec.ttft_ms is not None
