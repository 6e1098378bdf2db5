"""Incident replay over real HTTP: timed phases of faults on three fake providers, per policy.

    .venv/bin/python benchmarks/incident_replay.py [--phase-s 12] [--rate 20] [--policy adaptive ...] [--markdown]

One ``router.testing.FakeProviderServer`` on 127.0.0.1 serves three routes (the chain
``a`` -> ``b`` -> ``c``, answering in 40, 60 and 80 ms when healthy); the replay drives its
fault API (``set_default``) through timed phases while calls arrive at ``--rate`` per second
(open loop: each call is its own task, started on schedule whatever the others do):

==================  ===========================================================================
warm-up             all healthy
primary-outage      ``a`` answers 503 or resets every request
recovery            all healthy again: ``a`` should get its traffic back (twice as long)
outage+brownout     ``a`` down again and ``b`` fails 40 % of requests (503/529/500): ``c`` serves
gray-slowness       ``a`` answers every request in 2.5 s, no errors (``b`` healthy again)
429-storm           ``a`` answers 429 with ``Retry-After: 3``
flapping            ``a`` alternates 1 s down / 1 s up
two-down            ``a`` and ``b`` down (503 / resets)
final-recovery      all healthy (twice as long)
==================  ===========================================================================

Per phase and policy: success rate, p50 and p95 latency of successful calls (ms), attempts
per call, and the share of calls whose first attempt went to ``a``. "best" is the fastest
deployment that is healthy in the phase: its configured latency plus the HTTP round trip
measured in the warm-up (``static``'s warm-up p50 minus 40 ms). LiteLLM's Router is run too
when ``litellm`` is installed (it is not a dependency; without it the row says so).
Timing is wall-clock over real sockets: on a shared machine the figures move with the load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from router import Deployment, OpenAIProvider, Router, RouterSettings, RoutingError, Tier  # noqa: E402
from router.resilience.breaker import BreakerSettings  # noqa: E402
from router.testing import FakeProviderServer  # noqa: E402
from router.testing.faults import Fault  # noqa: E402

ROUTES = ("a", "b", "c")
LATENCY_S = {"a": 0.040, "b": 0.060, "c": 0.080}
POLICIES = ("static", "cooldown", "adaptive")


def _healthy(r: str) -> Fault:
    return Fault.delay(LATENCY_S[r])


def _down(r: str) -> Fault:
    return Fault.error_rate(1.0, [Fault.status(503), Fault.reset()], weights=[3, 1], seed=7).with_delay(0.002)


def _brownout(r: str) -> Fault:
    return Fault.error_rate(0.4, [Fault.status(503), Fault.status(529), Fault.status(500)], seed=11).with_delay(LATENCY_S[r])


@dataclass
class Phase:
    name: str
    faults: dict[str, Any]  # route -> fault factory (default: healthy), or "flap"
    healthy: tuple[str, ...]  # the deployments that are healthy in this phase
    length: float = 1.0  # in units of --phase-s


PHASES = [
    Phase("warm-up", {}, ROUTES),
    Phase("primary-outage", {"a": _down}, ("b", "c")),
    Phase("recovery", {}, ROUTES, 2.0),
    Phase("outage+brownout", {"a": _down, "b": _brownout}, ("c",)),
    Phase("gray-slowness", {"a": lambda r: Fault.delay(2.5)}, ("b", "c")),
    Phase("429-storm", {"a": lambda r: Fault.status(429, retry_after="3")}, ("b", "c")),
    Phase("flapping", {"a": "flap"}, ("b", "c")),
    Phase("two-down", {"a": _down, "b": _down}, ("c",)),
    Phase("final-recovery", {}, ROUTES, 2.0),
]


@dataclass
class Call:
    phase: int
    ok: bool = False
    latency_s: float = 0.0
    attempts: int = 0
    first: str | None = None


@dataclass
class Replay:
    server: FakeProviderServer
    phase_s: float
    rate: float
    calls: list[Call] = field(default_factory=list)

    def apply(self, i: int, flap_up: bool = False) -> None:
        for r in ROUTES:
            f = PHASES[i].faults.get(r)
            if f == "flap":
                fault = _healthy(r) if flap_up else _down(r)
            else:
                fault = f(r) if f is not None else _healthy(r)
            self.server.set_default(r, fault)


def _router(policy: str, server: FakeProviderServer) -> Router:
    deps = [Deployment(f"{r}/m", OpenAIProvider(base_url=f"{server.base_for(r)}/v1", api_key="sk-replay", name=r), "m") for r in ROUTES]
    settings = RouterSettings(
        deadline_s=10.0,
        attempt_timeout_s=3.0,
        backoff_initial_s=0.05,
        backoff_max_s=0.5,
        breaker=BreakerSettings(fail_max=5, reset_timeout_s=1.0, max_open_s=4.0),
    )
    from policies import get_policy

    pol = get_policy(policy)
    over = getattr(pol, "router_settings", None)
    if over:
        import dataclasses

        settings = dataclasses.replace(settings, **dict(over))
    return Router(deployments=deps, tiers=[Tier("capable", [d.key for d in deps], policy=pol)], settings=settings, telemetry=None)


async def _replay(policy: str, server: FakeProviderServer, phase_s: float, rate: float) -> list[Call]:
    router = _router(policy, server)
    rp = Replay(server, phase_s, rate)
    msgs = [{"role": "user", "content": "Summarize: the quick brown fox jumps over the lazy dog."}]
    by_id: dict[str, Call] = {}

    def on_record(rec: Any) -> None:
        call = by_id.get(rec.tags.get("replay_id", ""))
        if call is None:
            return
        sent = [a for a in rec.attempts if a.outcome in ("success", "error")]
        call.attempts = len(sent)
        call.first = sent[0].deployment.split("/")[0] if sent else None

    router.hooks.append(on_record)

    async def one(call: Call, cid: str) -> None:
        t0 = time.perf_counter()
        try:
            await router.acompletion("capable", msgs, tags={"replay_id": cid})
            call.ok = True
        except RoutingError:
            pass
        call.latency_s = time.perf_counter() - t0

    tasks: list[asyncio.Task[None]] = []
    phase_t0 = time.perf_counter()
    for i, ph in enumerate(PHASES):
        rp.apply(i)
        if i:
            phase_t0 += PHASES[i - 1].length * phase_s
        for k in range(int(ph.length * phase_s * rate)):
            at = phase_t0 + k / rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if PHASES[i].faults.get("a") == "flap":
                rp.apply(i, flap_up=int((at - phase_t0) // 1.0) % 2 == 1)
            call = Call(i)
            cid = f"{i}-{k}"
            by_id[cid] = call
            rp.calls.append(call)
            tasks.append(asyncio.create_task(one(call, cid)))
    await asyncio.gather(*tasks)
    await router.aclose()
    return rp.calls


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(int(q * len(xs)), len(xs) - 1)]


def summarise(calls: list[Call]) -> list[dict[str, Any]]:
    out = []
    for i, ph in enumerate(PHASES):
        cs = [c for c in calls if c.phase == i]
        ok = [c.latency_s * 1000 for c in cs if c.ok]
        out.append(
            {
                "phase": ph.name,
                "calls": len(cs),
                "success": sum(c.ok for c in cs) / len(cs),
                "p50_ms": _pct(ok, 0.5),
                "p95_ms": _pct(ok, 0.95),
                "attempts_per_call": sum(c.attempts for c in cs) / len(cs),
                "share_a": sum(c.first == "a" for c in cs) / len(cs),
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phase-s", type=float, default=12.0, help="seconds per phase (default 12)")
    ap.add_argument("--rate", type=float, default=20.0, help="calls per second (default 20)")
    ap.add_argument("--policy", action="append", help="policies to replay (repeatable; default static, cooldown, adaptive)")
    ap.add_argument("--markdown", action="store_true", help="print RESULTS.md tables")
    args = ap.parse_args(argv)
    if args.phase_s <= 0 or args.rate <= 0:
        ap.error(f"--phase-s and --rate must be > 0, got {args.phase_s!r} and {args.rate!r}")
    policies = args.policy or list(POLICIES)
    results: dict[str, list[dict[str, Any]]] = {}
    with FakeProviderServer() as server:
        for pol in policies:
            server.reset()
            print(f"replaying {pol} ({len(PHASES)} phases, {sum(p.length for p in PHASES) * args.phase_s:g} s)", file=sys.stderr, flush=True)
            results[pol] = summarise(asyncio.run(_replay(pol, server, args.phase_s, args.rate)))
    try:
        import litellm  # noqa: F401
    except ImportError:
        litellm_note = "LiteLLM's Router: not run (litellm is not installed; it is no dependency of attune-router)"
    else:
        litellm_note = "LiteLLM's Router: installed, but its replay is not wired up in this benchmark yet"
    ref = results.get("static") or next(iter(results.values()))
    rtt_ms = max(ref[0]["p50_ms"] - LATENCY_S["a"] * 1000, 0.0)
    for pol, rows in results.items():
        for ph, row in zip(PHASES, rows, strict=True):
            best = min(LATENCY_S[r] for r in ph.healthy) * 1000 + rtt_ms
            row["best_ms"] = best
            row["checks"] = {
                "success_100": row["success"] == 1.0,
                "p50_le_1.5x": row["p50_ms"] <= 1.5 * best,
                "p95_le_3x": row["p95_ms"] <= 3.0 * best,
                "attempts_le_1.2": row["attempts_per_call"] <= 1.2,
            }
    if args.markdown:
        for pol, rows in results.items():
            print(f"\n**{pol}**\n")
            print("| phase | calls | success | p50 ms | p95 ms | best ms | att/call | first to a | checks |")
            print("|---|---|---|---|---|---|---|---|---|")
            for row in rows:
                failed = [k for k, v in row["checks"].items() if not v]
                print(
                    f"| {row['phase']} | {row['calls']} | {row['success'] * 100:.2f} % | {row['p50_ms']:.0f} | {row['p95_ms']:.0f} "
                    f"| {row['best_ms']:.0f} | {row['attempts_per_call']:.2f} | {row['share_a'] * 100:.0f} % | {'ok' if not failed else 'FAIL ' + ', '.join(failed)} |"
                )
        print(f"\n{litellm_note}; HTTP round trip {rtt_ms:.1f} ms (static's warm-up p50 minus 40 ms).")
    else:
        for pol, rows in results.items():
            for row in rows:
                failed = [k for k, v in row["checks"].items() if not v]
                print(
                    f"{pol:9} {row['phase']:16} sr {row['success'] * 100:6.2f}% p50 {row['p50_ms']:6.0f} p95 {row['p95_ms']:6.0f} "
                    f"best {row['best_ms']:4.0f} att {row['attempts_per_call']:.2f} a {row['share_a'] * 100:3.0f}% {'' if not failed else 'FAIL ' + ','.join(failed)}",
                    flush=True,
                )
        print(litellm_note)
    print(json.dumps({"rtt_ms": round(rtt_ms, 2), "phase_s": args.phase_s, "rate": args.rate, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
