"""Chaos run: many calls through one router over three fake providers with random faults.

Each provider is a real fake-provider process on 127.0.0.1. Every ``--period`` seconds the
chaos controller draws a new state per provider: ``up`` (2 % errors), ``brownout`` (40 %
errors: 503, 529, 500, resets, truncated bodies, hangs) or ``down`` (every request fails,
as refused resets, 503s or hangs). A call is *achievable* when at least one provider was not
down when it started. Telemetry goes to a real SQLite store; rows are counted after close.

    python benchmarks/chaos.py [--calls 100000] [--concurrency 64] [--period 2.0] [--seed 1]

Last line: one JSON object with success_rate, achievable_rate, attempts_per_call, records,
calls (and more).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from typing import Any

# benchmarks/telemetry.py is named like the package: keep this directory off the import path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import httpx  # noqa: E402

from router import Deployment, OpenAIProvider, Router, RouterSettings, RoutingError, Tier  # noqa: E402
from router.resilience.breaker import BreakerSettings  # noqa: E402
from telemetry import TelemetryBackend  # noqa: E402

KEYS = ["openai/gpt-4o", "anthropic/claude-sonnet-4", "gemini/gemini-2.5-pro"]
STATES = {
    "up": {"kind": "error_rate", "rate": 0.02, "faults": [503]},
    "brownout": {
        "kind": "error_rate",
        "rate": 0.4,
        "faults": [503, 529, 500, "reset", "truncate", "hang"],
        "weights": [4, 2, 2, 1, 1, 1],
    },
    "down": {"kind": "error_rate", "rate": 1.0, "faults": [503, "reset", "hang"], "weights": [3, 1, 1]},
}


def start_provider() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-m", "router.testing.fake_cli", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for _ in range(20):
        m = re.search(r"listening on (http://[0-9.]+:\d+)", proc.stdout.readline())
        if m:
            return proc, m.group(1)
    proc.kill()
    raise RuntimeError("fake provider did not start")


async def chaos(bases: list[str], period: float, rng: random.Random, timeline: list[tuple[float, bool]], stop: asyncio.Event) -> None:
    """Redraw each provider's state every ``period``; log (time, any provider not down)."""
    async with httpx.AsyncClient() as control:
        while not stop.is_set():
            states = [rng.choices(list(STATES), weights=[0.55, 0.2, 0.25])[0] for _ in bases]
            for base, state in zip(bases, states, strict=True):
                fault = dict(STATES[state], seed=rng.randrange(1 << 30))
                await control.post(f"{base}/_control/faults", json={"route": "*", "default": fault})
            timeline.append((time.perf_counter(), any(s != "down" for s in states)))
            try:
                await asyncio.wait_for(stop.wait(), timeout=period)
            except TimeoutError:
                pass


async def run(args: argparse.Namespace, bases: list[str], db_url: str) -> dict[str, Any]:
    telemetry = TelemetryBackend(db_url)
    deps = [Deployment(k, OpenAIProvider(base_url=f"{b}/v1", name=k.split("/")[0]), k.split("/")[1]) for k, b in zip(KEYS, bases, strict=True)]
    settings = RouterSettings(
        deadline_s=args.deadline,
        attempt_timeout_s=args.attempt_timeout,
        backoff_initial_s=0.05,
        backoff_max_s=0.5,
        breaker=BreakerSettings(fail_max=5, reset_timeout_s=1.0, max_open_s=4.0),
    )
    router = Router(deployments=deps, tiers=[Tier("capable", KEYS, policy=args.policy)], telemetry=telemetry, settings=settings)
    rng = random.Random(args.seed)
    timeline: list[tuple[float, bool]] = []
    stop = asyncio.Event()
    chaos_task = asyncio.create_task(chaos(bases, args.period, rng, timeline, stop))
    while not timeline:
        await asyncio.sleep(0.01)
    msgs = [{"role": "user", "content": "Summarize: the quick brown fox jumps over the lazy dog."}]
    starts: list[float] = []
    ok = 0
    attempts = 0
    issued = 0
    t0 = time.perf_counter()
    last_report = t0

    async def worker() -> None:
        nonlocal ok, attempts, issued, last_report
        while issued < args.calls:
            issued += 1
            starts.append(time.perf_counter())
            try:
                await router.acompletion("capable", msgs, task_type="summarize")
                ok += 1
            except RoutingError:
                pass
            now = time.perf_counter()
            if now - last_report > 10:
                last_report = now
                print(f"  {issued} calls, {issued / (now - t0):.0f}/s", file=sys.stderr)

    failures: dict[str, int] = {}

    def count_attempts(rec: Any) -> None:
        nonlocal attempts
        attempts += sum(1 for a in rec.attempts if a.outcome != "skipped")
        if not rec.success:
            failures[rec.error_type] = failures.get(rec.error_type, 0) + 1

    router.hooks.append(count_attempts)
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - t0
    stop.set()
    await chaos_task
    await router.aclose()
    await telemetry.aclose()
    times = [t for t, _ in timeline]
    achievable = sum(timeline[max(bisect.bisect_right(times, s) - 1, 0)][1] for s in starts)
    store = TelemetryBackend(db_url)
    records = len(await store.query())
    dropped = store.dropped
    await store.aclose()
    calls = len(starts)
    return {
        "success_rate": round(ok / calls, 4),
        "achievable_rate": round(achievable / calls, 4),
        "success_over_achievable": round(ok / max(achievable, 1), 4),
        "attempts_per_call": round(attempts / calls, 3),
        "records": records,
        "calls": calls,
        "dropped": dropped,
        "calls_per_s": round(calls / elapsed, 1),
        "elapsed_s": round(elapsed, 1),
        "policy": args.policy,
        "seed": args.seed,
        "failures_by_error_type": failures,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--period", type=float, default=5.0, help="seconds between chaos redraws")
    ap.add_argument("--deadline", type=float, default=10.0)
    ap.add_argument("--attempt-timeout", type=float, default=2.0)
    ap.add_argument("--policy", default="adaptive")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    procs = [start_provider() for _ in KEYS]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            res = asyncio.run(run(args, [b for _, b in procs], f"sqlite:///{os.path.join(tmp, 'chaos.db')}"))
    finally:
        for p, _ in procs:
            p.terminate()
            p.wait(timeout=10)
    print(json.dumps(res))
    return 0 if res["records"] == res["calls"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
