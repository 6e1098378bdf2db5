"""Sweep the breakers' cap on the open period (``BreakerSettings.max_open_s``) over scenarios:
success, latency, detection and recovery per policy, means over seeds, full scenario traffic.

    .venv/bin/python benchmarks/breaker_cap.py --scenario full-outage --scenario slow-recovery \
        --cap 300 --cap 60 --cap 30 --seeds 5

A policy runs with ``router_settings = {"breaker": BreakerSettings(max_open_s=cap)}``, the hook
the simulator offers for baseline settings. Prints one line per (scenario, policy, cap).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]


def main(argv: list[str] | None = None) -> int:
    from policies import get_policy
    from router.resilience.breaker import BreakerSettings
    from router.sim import load_scenario, run_scenario

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", action="append", required=True, help="packaged name or file (repeatable)")
    ap.add_argument("--cap", action="append", type=float, required=True, help="max_open_s to try (repeatable)")
    ap.add_argument("--policy", action="append", help="default: static and adaptive")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args(argv)
    for name in args.scenario:
        sc = load_scenario(name)
        for pol in args.policy or ["static", "adaptive"]:
            for cap in args.cap:
                runs = []
                for seed in range(args.seeds):
                    p = get_policy(pol)
                    p.router_settings = {"breaker": BreakerSettings(max_open_s=cap)}
                    runs.append(run_scenario(sc, p, seed=seed, keep_series=False))

                def mean(field: str) -> float:
                    xs = [getattr(r, field) for r in runs if getattr(r, field) is not None]
                    return statistics.mean(xs) if xs else float("nan")

                print(
                    f"{sc.name:<20} {pol:<9} cap={cap:>5.0f} success={mean('success_rate') * 100:7.3f}% "
                    f"p95={mean('p95_ms'):6.0f} p99={mean('p99_ms'):6.0f} detect={mean('detect_s'):6.1f} s recover={mean('recover_s'):6.1f} s",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
