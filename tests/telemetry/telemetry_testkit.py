"""Helpers shared by the telemetry tests: record factory, store targets, PostgreSQL switch."""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from telemetry import AttemptRecord, LLMCallRecord, SkippedDeployment, TelemetryStore

PG_ENV = "ATTUNE_TEST_POSTGRES_URL"
PG_URL = os.environ.get(PG_ENV)
needs_pg = pytest.mark.skipif(not PG_URL, reason=f"{PG_ENV} is not set (no PostgreSQL to test against)")
T0 = datetime(2026, 1, 5, 12, 0, 0, tzinfo=timezone.utc)


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}_"


class StoreTarget:
    """Where a test's store lives: ``url`` and a table prefix unique to the test."""

    def __init__(self, kind: str, url: str, prefix: str, tmp_path: object) -> None:
        self.kind = kind
        self.url = url
        self.prefix = prefix
        self.tmp_path = tmp_path

    def kwargs(self, **extra: object) -> dict[str, object]:
        out: dict[str, object] = {"table_prefix": self.prefix, "spool_path": os.path.join(str(self.tmp_path), f"{self.prefix}.spool")}
        out.update(extra)
        return out

    def open_store(self) -> TelemetryStore:
        return TelemetryStore.open(self.url, table_prefix=self.prefix)


def make_call(
    i: int,
    *,
    provider: str = "openai",
    model: str = "gpt-4o",
    task_type: str = "code_review",
    success: bool = True,
    error_type: str | None = None,
    latency_ms: int = 1000,
    fallback: bool = False,
    retries: int = 0,
    at: datetime | None = None,
    cost: float = 0.01,
    attempts: int | None = None,
) -> LLMCallRecord:
    """A call; when ``fallback`` the first attempt failed at ``anthropic/claude`` first."""
    ts = at or (T0 + timedelta(seconds=i))
    dep = f"{provider}/{model}"
    tries: list[AttemptRecord] = []
    pos = 0
    if fallback:
        tries.append(AttemptRecord(f"c{i}", 0, 0, "anthropic/claude", "anthropic", "claude", "error", "overloaded", 529, 50.0, ts))
        pos = 1
    for k in range(retries):
        tries.append(AttemptRecord(f"c{i}", pos, k, dep, provider, model, "error", "server_error", 500, 40.0, ts))
    tries.append(
        AttemptRecord(f"c{i}", pos, retries, dep, provider, model, "success" if success else "error",
                      None if success else error_type, None if success else 500, float(latency_ms), ts)
    )  # fmt: skip
    if attempts is not None:
        tries = tries[:attempts]
    return LLMCallRecord(
        call_id=f"c{i}",
        timestamp=ts,
        provider=provider,
        model=model,
        tier="capable",
        task_type=task_type,
        input_tokens=100,
        output_tokens=50,
        cost=cost,
        latency_ms=latency_ms,
        fallback_used=fallback,
        fallback_chain=["anthropic/claude", dep] if fallback else [dep],
        original_provider="anthropic" if fallback else None,
        original_model="claude" if fallback else None,
        retry_count=retries,
        success=success,
        error_type=error_type,
        error_message="upstream said no" if not success else None,
        deployment=dep,
        ttft_ms=latency_ms // 4,
        request_id=f"req-{i}",
        policy="health",
        plan_order=["anthropic/claude", dep],
        skipped=[SkippedDeployment("gemini/gemini-2.5-pro", "circuit open")] if i % 3 == 0 else [],
        tags={"team": "search"} if i % 2 else {},
        attempts=tries,
    )


