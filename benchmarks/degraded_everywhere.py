"""Degraded everywhere: every deployment behind one upstream failing 20, 40, 60 or 80 % of
attempts for 20 minutes, under ``static``, ``cooldown`` and ``adaptive`` in the simulator.

    .venv/bin/python benchmarks/degraded_everywhere.py [--seeds 5] [--rate 0.2 ...] [--markdown]

Falling back cannot help here (every alternative fails as often); what serves callers is
trying again, and what it costs is the attempts per call. One line per failure rate: success
rate, p95 latency of successful calls and attempts per call, per policy (means over seeds,
10,000 calls per run; deterministic: the seeds fix every draw).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

POLICIES = ("static", "cooldown", "adaptive")
RATES = (0.2, 0.4, 0.6, 0.8)
_PROVIDERS = {
    "openai/gpt-4o": {"median": 900, "p95": 2500},
    "anthropic/claude-sonnet-4": {"median": 1200, "p95": 3000},
    "gemini/gemini-2.5-pro": {"median": 1500, "p95": 4000},
}


def scenario(rate: float) -> dict[str, Any]:
    """Every deployment behind one upstream failing ``rate`` of attempts from 20 to 40 min."""
    return {
        "name": f"degraded-everywhere-{round(rate * 100)}pct",
        "seed": 41,
        "duration_s": 3600,
        "traffic": {"rate_per_s": 10, "tier": "capable", "tasks": {"chat": 0.6, "code_review": 0.4}, "tokens": {"input_mean": 1200, "output_mean": 500}},
        "chain": list(_PROVIDERS),
        "upstreams": {"shared": {"phases": [{"start_s": 1200, "end_s": 2400, "error_rate": rate, "errors": {"overloaded": 0.7, "server_error": 0.3}}]}},
        "providers": {k: {"upstream": "shared", "latency_ms": lat, "base_error_rate": 0.01} for k, lat in _PROVIDERS.items()},
    }


def _run(job: tuple[float, str, int]) -> tuple[float, str, tuple[float, float, float]]:
    from router.sim import load_scenario, run_scenario

    rate, policy, seed = job
    r = run_scenario(load_scenario(scenario(rate)), policy, seed=seed, keep_series=False, calls=10000)
    return rate, policy, (r.success_rate or 0.0, r.p95_ms or 0.0, r.attempts_per_call or 0.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rate", type=float, action="append", help="failure rates to run (repeatable; default 0.2 0.4 0.6 0.8)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--markdown", action="store_true", help="print a RESULTS.md table")
    args = ap.parse_args(argv)
    rates = tuple(args.rate or RATES)
    for r in rates:
        if not 0.0 <= r <= 1.0:
            ap.error(f"--rate {r!r}: a failure rate must be in [0, 1]")
    jobs = [(r, p, s) for r in rates for p in POLICIES for s in range(args.seeds)]
    with ProcessPoolExecutor(args.workers) as ex:
        results = list(ex.map(_run, jobs))
    by: dict[tuple[float, str], list[tuple[float, float, float]]] = {}
    for rate, policy, row in results:
        by.setdefault((rate, policy), []).append(row)
    if args.markdown:
        print("| errors everywhere | " + " | ".join(f"{p} sr / p95 / att" for p in POLICIES) + " | adaptive - cooldown |")
        print("|---|" + "---|" * (len(POLICIES) + 1))
    for rate in rates:
        means = {p: tuple(statistics.mean(x[i] for x in by[(rate, p)]) for i in range(3)) for p in POLICIES}
        if args.markdown:
            cells = [f"{m[0] * 100:.2f} % / {m[1]:.0f} / {m[2]:.2f}" for m in means.values()]
            gap = (means["adaptive"][0] - means["cooldown"][0]) * 100
            print(f"| {rate:.0%} | " + " | ".join(cells) + f" | {gap:+.2f} pp |")
        else:
            cells = [f"{p} {m[0] * 100:6.2f}% p95 {m[1]:6.0f} att {m[2]:.2f}" for p, m in means.items()]
            print(f"{rate:4.0%} | " + " | ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
