"""Records with known contents for the report tests (imported by the test modules)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from telemetry import AttemptRecord, LLMCallRecord

T0 = datetime(2026, 3, 2, 8, 0, 0, tzinfo=timezone.utc)
DEPS = {  # key -> (provider, model, price per call or 0 for "no price known")
    "openai/gpt-4o": ("openai", "gpt-4o", 0.01),
    "anthropic/claude": ("anthropic", "claude", 0.02),
    "local/llama": ("local", "llama", 0.0),
}
TASKS = ("chat", "extract", "code_review")


def _attempt(cid: str, pos: int, retry: int, dep: str, outcome: str, err: str | None, lat: float, at: datetime) -> AttemptRecord:
    prov, model, _ = DEPS[dep]
    return AttemptRecord(cid, pos, retry, dep, prov, model, outcome, err, 500 if err and outcome == "error" else None, lat, at)


def known_records(n: int = 900, seed: int = 3) -> list[LLMCallRecord]:
    """Calls over 30 minutes: fallbacks, retries, failures, breaker skips, streaming TTFTs and a
    deployment without a price."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        at = T0 + timedelta(seconds=i * 2.0)
        cid = f"k{i}"
        task = TASKS[i % 3]
        chain = ["openai/gpt-4o", "anthropic/claude"] if i % 4 else ["local/llama", "openai/gpt-4o"]
        tier = "capable" if i % 4 else "cheap"
        attempts: list[AttemptRecord] = []
        pos = 0
        # minutes 10-12: the primary's breaker is open and calls skip it
        breaker_open = chain[0] == "openai/gpt-4o" and 600 <= i * 2.0 < 780
        if breaker_open:
            attempts.append(_attempt(cid, 0, 0, chain[0], "skipped", "circuit_open", 0.0, at))
            pos = 1
            final = chain[1]
        else:
            final = chain[0]
            if task == "code_review" and rng.random() < 0.4:  # the primary fails, the fallback serves
                attempts.append(_attempt(cid, 0, 0, chain[0], "error", "overloaded", 300.0, at))
                pos = 1
                final = chain[1]
        retries = 1 if rng.random() < 0.15 else 0
        for r in range(retries):
            attempts.append(_attempt(cid, pos, r, final, "error", "server_error", 200.0, at))
        ok = rng.random() > 0.08
        lat = float(rng.lognormvariate(6.5, 0.6))
        attempts.append(_attempt(cid, pos, retries, final, "success" if ok else "error", None if ok else "timeout", lat, at))
        prov, model, price = DEPS[final]
        tokens_in, tokens_out = (rng.randint(50, 500), rng.randint(10, 300)) if ok else (0, 0)
        out.append(
            LLMCallRecord(
                call_id=cid, timestamp=at, provider=prov, model=model, tier=tier, task_type=task,
                input_tokens=tokens_in, output_tokens=tokens_out, cost=price if ok else 0.0,
                latency_ms=int(sum(a.latency_ms for a in attempts)), fallback_used=final != chain[0],
                fallback_chain=[a.deployment for a in attempts if a.outcome != "skipped"],
                retry_count=retries, success=ok, error_type=None if ok else "timeout", deployment=final,
                ttft_ms=int(lat / 3) if i % 2 else None, policy="adaptive", attempts=attempts,
            )
        )  # fmt: skip
    return out
