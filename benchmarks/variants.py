"""Unseen-pattern probe: 19 variants of the library's failure patterns, built in code, each run
under ``static``, ``cooldown`` and ``adaptive`` (10,000 calls, means over seeds).

    .venv/bin/python benchmarks/variants.py [--seeds 3] [--only NAME ...]

The library's scenarios are what the policies were tuned on; these vary the patterns (which
deployment fails, how, how many at once, traffic, deadlines) to catch a policy or a resilience
default that only works on the files it was measured with. One line per variant: success rate,
p50, p95 and p99 latency of successful calls, attempts per call and (where a deployment
that had traffic goes down) the mean time to recover, per policy; ``--json FILE`` keeps the means.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

POLICIES = ("static", "cooldown", "adaptive")
_BASE = {
    "a/fast": {"latency_ms": {"median": 800, "p95": 2000}, "base_error_rate": 0.01},
    "b/mid": {"latency_ms": {"median": 1100, "p95": 2800}, "base_error_rate": 0.01},
    "c/slow": {"latency_ms": {"median": 1600, "p95": 4200}, "base_error_rate": 0.01},
}
_ALL = tuple(_BASE)


def _scenario(
    name: str,
    phases: dict[str, list[dict[str, Any]]] | None = None,
    *,
    rate: float = 10.0,
    duration_s: float = 3600.0,
    chain: tuple[str, ...] = _ALL,
    router: dict[str, float] | None = None,
) -> dict[str, Any]:
    providers = copy.deepcopy({k: _BASE[k] for k in chain})
    for key, ph in (phases or {}).items():
        providers[key]["phases"] = ph
    out: dict[str, Any] = {
        "name": name,
        "seed": 3,
        "duration_s": duration_s,
        "traffic": {"rate_per_s": rate, "tier": "t", "tasks": {"chat": 0.7, "code": 0.3}, "tokens": {"input_mean": 1000, "output_mean": 400}},
        "chain": list(chain),
        "providers": providers,
    }
    if router:
        out["router"] = router
    return out


def _errors(start: float, end: float, rate: float, kinds: dict[str, float]) -> list[dict[str, Any]]:
    return [{"start_s": start, "end_s": end, "error_rate": rate, "errors": kinds}]


VARIANTS = [
    _scenario("outage-secondary-while-primary-browns", {"a/fast": _errors(600, 2400, 0.3, {"server_error": 1.0}), "b/mid": _errors(900, 1800, 1.0, {"connection": 1.0})}),
    _scenario("fast-flap-10s", {"a/fast": [{"start_s": s, "end_s": s + 10, "error_rate": 1.0, "errors": {"overloaded": 1.0}} for s in range(600, 3000, 40)]}),
    _scenario("latency-x2.5-primary", {"a/fast": [{"start_s": 600, "end_s": 3000, "latency_factor": 2.5}]}),
    _scenario("hang-outage-primary", {"a/fast": _errors(900, 1500, 1.0, {"timeout": 1.0})}),
    _scenario("two-down", {"a/fast": _errors(900, 2100, 1.0, {"server_error": 0.5, "connection": 0.5}), "b/mid": _errors(900, 2100, 1.0, {"overloaded": 1.0})}),
    _scenario("quota-primary-retry-after", {"a/fast": [{"start_s": 300, "end_s": 3300, "rate_limit_rpm": 360, "retry_after_s": 10}]}),
    _scenario("quota-primary-no-header", {"a/fast": [{"start_s": 300, "end_s": 3300, "rate_limit_rpm": 360}]}),
    _scenario("low-traffic-outage", {"a/fast": _errors(900, 2100, 1.0, {"server_error": 1.0})}, rate=0.5),
    _scenario("partial-20pct-timeouts", {"a/fast": _errors(600, 3000, 0.2, {"timeout": 1.0})}),
    _scenario("two-deployment-chain-outage", {"a/fast": _errors(900, 1800, 1.0, {"overloaded": 1.0})}, chain=("a/fast", "c/slow")),
    _scenario("secondary-flaky-only", {"b/mid": _errors(0, 3600, 0.5, {"server_error": 1.0})}),
    _scenario("all-brownout-40pct", {k: _errors(900, 1800, 0.4, {"overloaded": 1.0}) for k in _ALL}),
    _scenario("all-quota-retry-after", {k: [{"start_s": 600, "end_s": 3000, "rate_limit_rpm": 250, "retry_after_s": 15}] for k in _ALL}),
    _scenario("primary-429-long-retry-after", {"a/fast": [{"start_s": 600, "end_s": 3000, "rate_limit_rpm": 300, "retry_after_s": 120}]}),
    _scenario("tight-deadline-hangs", {"a/fast": _errors(600, 2400, 0.3, {"timeout": 1.0})}, router={"deadline_s": 10, "attempt_timeout_s": 5}),
    _scenario("all-hang-brownout", {k: _errors(900, 1800, 0.25, {"timeout": 1.0}) for k in _ALL}),
    _scenario("high-traffic-outage", {"a/fast": _errors(900, 1500, 1.0, {"server_error": 1.0})}, rate=50, duration_s=1800),
    _scenario("connection-errors-half", {"a/fast": _errors(600, 2400, 0.5, {"connection": 1.0})}),
    _scenario(
        "secondary-slow-while-primary-down",
        {"b/mid": [{"start_s": 600, "end_s": 2400, "latency_factor": 6}], "a/fast": _errors(900, 1500, 1.0, {"overloaded": 1.0})},
    ),
]


_FIELDS = ("success_rate", "p50_ms", "p95_ms", "p99_ms", "attempts_per_call", "recover_s")


def _run(job: tuple[dict[str, Any], str, int]) -> tuple[str, str, dict[str, float | None]]:
    from router.sim import load_scenario, run_scenario

    spec, policy, seed = job
    r = run_scenario(load_scenario(spec), policy, seed=seed, keep_series=False, calls=10000)
    return spec["name"], policy, {f: getattr(r, f) for f in _FIELDS}


def _mean(rows: list[dict[str, float | None]], f: str) -> float | None:
    xs = [r[f] for r in rows if r[f] is not None]
    return statistics.mean(xs) if xs else None  # type: ignore[type-var]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--only", action="append", metavar="NAME", help="run only these variants (repeatable)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", metavar="FILE", help="also write the means per variant and policy to FILE")
    args = ap.parse_args(argv)
    names = [v["name"] for v in VARIANTS]
    for name in args.only or ():
        if name not in names:
            ap.error(f"--only {name!r}: no such variant; known: {', '.join(names)}")
    chosen = [v for v in VARIANTS if not args.only or v["name"] in args.only]
    jobs = [(v, p, s) for v in chosen for p in POLICIES for s in range(args.seeds)]
    with ProcessPoolExecutor(args.workers) as ex:
        results = list(ex.map(_run, jobs))
    by: dict[tuple[str, str], list[dict[str, float | None]]] = {}
    for name, policy, row in results:
        by.setdefault((name, policy), []).append(row)
    means: dict[str, dict[str, dict[str, float | None]]] = {}
    for v in chosen:
        cells = []
        for p in POLICIES:
            m = means.setdefault(v["name"], {})[p] = {f: _mean(by[(v["name"], p)], f) for f in _FIELDS}
            rec = "" if m["recover_s"] is None else f" rec {m['recover_s']:5.0f}"
            cells.append(
                f"{p} {(m['success_rate'] or 0) * 100:6.2f}% p50 {m['p50_ms'] or 0:5.0f} p95 {m['p95_ms'] or 0:6.0f} "
                f"p99 {m['p99_ms'] or 0:6.0f} att {m['attempts_per_call'] or 0:.2f}{rec}"
            )
        print(f"{v['name']:<36} | " + " | ".join(cells), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"seeds": args.seeds, "variants": means}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
