"""Simulator benchmark: simulated calls per second through the real router, the cost split
between the simulator and the router, and the default suite's wall time.

    .venv/bin/python benchmarks/simulator.py                 # everything (about 3-5 minutes)
    .venv/bin/python benchmarks/simulator.py --no-suite      # speed only
    .venv/bin/python benchmarks/simulator.py --results benchmarks/RESULTS.md
    .venv/bin/python benchmarks/simulator.py --no-suite --instructions   # + callgrind counts

The last line printed is one JSON object with at least ``calls_per_s`` and ``suite_s``.
``calls_per_s`` is per core: simulated calls divided by the process's CPU time, so other
processes on the machine do not count against it; ``wall_calls_per_s`` is per wall second.
``--instructions`` also counts CPU instructions per simulated call with valgrind's callgrind
(a run of N calls minus a run of 1 call, divided by N - 1): unlike seconds, the count does not
depend on how fast or how loaded the machine is, so it is the figure to compare across machines.

``--results FILE`` rewrites the ``## Simulator`` and ``## Policy results`` sections of FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# this directory holds scripts named like our packages (benchmarks/telemetry.py): keep it off
# the import path so ``import telemetry`` finds the package
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]


# the headline (calls_per_s) is the first; the default policy (adaptive) is measured as well
SPEED_RUNS = (("steady-state", "static"), ("steady-state", "adaptive"), ("full-outage", "static"), ("full-outage", "adaptive"), ("steady-state", "cooldown"))


def _speed(scenario: str, policy: str, calls: int, repeats: int) -> dict[str, float]:
    from router.sim import load_scenario, run_scenario

    sc = load_scenario(scenario)
    run_scenario(sc, policy, seed=0, calls=min(calls, 2000), keep_series=False)  # warm up imports and caches
    best_cpu, best_wall = 0.0, 0.0
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        run_scenario(sc, policy, seed=0, calls=calls, keep_series=False)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        best_cpu = max(best_cpu, calls / cpu)
        best_wall = max(best_wall, calls / wall)
    return {"cpu": best_cpu, "wall": best_wall}


_ONE_RUN = "import sys; from router.sim import load_scenario, run_scenario; run_scenario(load_scenario(sys.argv[1]), sys.argv[2], seed=0, calls=int(sys.argv[3]), keep_series=False)"


def _instructions_per_call(scenario: str, policy: str, n: int = 5000) -> float | None:
    """CPU instructions per simulated call, counted by callgrind (None without valgrind)."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    refs = []
    for calls in (1, n + 1):
        p = subprocess.run(
            [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", _ONE_RUN, scenario, policy, str(calls)],
            capture_output=True,
            text=True,
            check=True,
        )
        m = re.search(r"refs:\s+([\d,]+)", p.stderr)
        if m is None:
            raise RuntimeError(f"no instruction count in callgrind's output: {p.stderr[-300:]}")
        refs.append(int(m.group(1).replace(",", "")))
    return (refs[1] - refs[0]) / n


def _router_us_per_call(n: int = 30000) -> float:
    """CPU microseconds of one routed call with nothing simulated (in-memory provider,
    sequential calls, virtual loop): the router's own share."""
    from router import Deployment, LoopClock, MemoryProvider, Router, Tier
    from router.sim.loop import VirtualLoop

    class Sink:
        def submit(self, r: object) -> None:
            pass

    async def main() -> float:
        r = Router(
            deployments=[Deployment("a/x", MemoryProvider("a"), "x", input_price_per_mtok=1, output_price_per_mtok=1)],
            tiers=[Tier("t", ["a/x"])],
            telemetry=Sink(),
            clock=LoopClock(),
            rng=random.Random(0),
        )
        msgs = [{"role": "user", "content": "hi"}]
        for _ in range(1000):
            await r.acompletion("t", msgs)
        c0 = time.process_time()
        for _ in range(n):
            await r.acompletion("t", msgs)
        return (time.process_time() - c0) / n * 1e6

    return VirtualLoop().run_until_complete(main())


def _sim_us_per_call(n: int = 50000) -> float:
    """CPU microseconds per call of the simulator alone: arrivals, tasks, the virtual loop and
    a simulated provider, with a stand-in for the router that sends one attempt."""
    from router.errors import ProviderError
    from router.sim import load_scenario
    from router.sim.draws import draw
    from router.sim.loop import VirtualLoop
    from router.sim.metrics import CallLog
    from router.sim.provider import SimProvider
    from router.sim.runner import _drive

    sc = load_scenario("steady-state")
    dr = draw(sc, 0, n)
    loop = VirtualLoop()
    prov = SimProvider(sc.chain[0], 0, sc.timeline(sc.chain[0]), loop)

    class OneAttempt:
        async def acompletion(self, tier: str, messages: Any, task_type: str) -> Any:
            try:
                return await prov.send(None, timeout=20.0)  # type: ignore[arg-type]
            except ProviderError:
                return None

    c0 = time.process_time()
    loop.run_until_complete(_drive(loop, OneAttempt(), sc, dr, CallLog.empty(dr.arrivals)))  # type: ignore[arg-type]
    return (time.process_time() - c0) / n * 1e6


def _suite(workers: int) -> tuple[Any, float]:
    from router.sim.library import scenario_paths
    from router.sim.suite import default_policies, run_suite

    t0 = time.perf_counter()
    suite = run_suite([str(p) for p in scenario_paths()], default_policies(), workers=workers)
    return suite, time.perf_counter() - t0


def _replace_section(text: str, title: str, body: str) -> str:
    block = f"## {title}\n\n{body.strip()}\n"
    pat = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pat.search(text):
        return pat.sub(lambda m: block + "\n", text, count=1)
    return text.rstrip() + "\n\n" + block


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=30000, help="calls per speed run (default 30000)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-suite", action="store_true", help="skip the default suite")
    ap.add_argument("--instructions", action="store_true", help="also count instructions per call with callgrind (about 2 minutes)")
    ap.add_argument("--results", metavar="FILE", help="rewrite the Simulator and Policy results sections of FILE")
    args = ap.parse_args(argv)

    load0 = os.getloadavg()[0]
    out: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count(), "loadavg_1m_start": round(load0, 2)}
    speeds = {}
    for scenario, policy in SPEED_RUNS:
        s = _speed(scenario, policy, args.calls, args.repeats)
        speeds[f"{scenario}/{policy}"] = s
        print(f"{scenario:<14} {policy:<9} {s['cpu']:>9,.0f} calls per CPU-second  {s['wall']:>9,.0f} per wall second", flush=True)
    out["calls_per_s"] = round(speeds["steady-state/static"]["cpu"])
    out["wall_calls_per_s"] = round(speeds["steady-state/static"]["wall"])
    out["speeds"] = {k: {kk: round(vv) for kk, vv in v.items()} for k, v in speeds.items()}
    out["default_policy_calls_per_s"] = round(speeds["steady-state/adaptive"]["cpu"])
    if args.instructions:
        out["instructions_per_call"] = {f"{sc}/{pol}": round(_instructions_per_call(sc, pol) or 0) for sc, pol in (("steady-state", "static"), ("steady-state", "adaptive"))}
        print(f"instructions per simulated call (callgrind): {out['instructions_per_call']}", flush=True)
    out["router_us_per_call"] = round(_router_us_per_call(), 1)
    out["sim_us_per_call"] = round(_sim_us_per_call(), 1)
    print(f"router alone: {out['router_us_per_call']} us CPU per call; simulator alone: {out['sim_us_per_call']} us CPU per call", flush=True)

    suite = None
    if not args.no_suite:
        suite, suite_s = _suite(args.workers)
        out["suite_s"] = round(suite_s, 1)
        out["suite_calls"] = sum(r.calls for by_p in suite.runs.values() for runs in by_p.values() for r in runs if r.policy != "hindsight")
        out["suite_workers"] = args.workers
        print(f"default suite: {out['suite_calls']:,} routed calls, {len(suite.runs)} scenarios, {len(suite.order)} rows each, in {suite_s:.1f} s on {args.workers} processes", flush=True)
    else:
        out["suite_s"] = None
    out["loadavg_1m_end"] = round(os.getloadavg()[0], 2)

    if args.results:
        _write_results(Path(args.results), out, suite, " ".join(["benchmarks/simulator.py", *(argv if argv is not None else sys.argv[1:])]))
    print(json.dumps(out))
    return 0


def _write_results(path: Path, out: dict[str, Any], suite: Any, command: str) -> None:
    from router.sim.cli_bench import markdown_table

    text = path.read_text() if path.exists() else "# Benchmark results\n"
    sp = out["speeds"]
    sim = f"""
Command: `.venv/bin/python {command}`, run {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())} (machine: {out['cpus']} CPUs, Python {out['python']}; 1-minute load
average {out['loadavg_1m_start']} at the start and {out['loadavg_1m_end']} at the end).

Simulated calls per second through the real router (`Router.acompletion` with its policy,
breakers, retries, deadlines and records), per core = calls / CPU seconds of the process, best
of {3} runs of 30,000 calls:

| scenario / policy | calls per CPU-second | calls per wall second |
|---|---|---|
""" + "\n".join(f"| {k} | {v['cpu']:,} | {v['wall']:,} |" for k, v in sp.items()) + f"""

Where the time goes, per call (CPU): the router alone (in-memory provider, sequential calls)
{out['router_us_per_call']} µs; the simulator alone (arrival, task, virtual loop, simulated provider,
one attempt) {out['sim_us_per_call']} µs.
"""
    ins = out.get("instructions_per_call")
    if ins:
        sim += "\nCPU instructions per simulated call, counted by callgrind (5,000 calls minus 1; the same on any\nmachine, however fast or loaded, so compare these across machines rather than seconds): " + "; ".join(
            f"{k} {v:,}" for k, v in ins.items()
        ) + ".\n"
    if out.get("suite_s") is not None:
        sim += f"""
Default suite (`attune bench`, every packaged scenario, {len(suite.order)} rows each, at most 10,000
calls per run): {out['suite_calls']:,} routed calls in **{out['suite_s']} s** on {out['suite_workers']} processes.
"""
    text = _replace_section(text, "Simulator", sim)
    if suite is not None:
        parts = ["Command: `.venv/bin/attune bench` (the default suite; seed 0; same run as above). Columns: success rate, "
                 "latency of successful calls (failed attempts and backoff included), dollars per 1,000 successes, "
                 "attempts sent per call, time to detect / recover from outages (s), and the score "
                 "`(policy - static) / (oracle - static)` on success rate and on cost per success."]
        for name in suite.runs:
            sc = suite.scenarios[name]
            n = next(iter(suite.runs[name].values()))[0].calls
            parts.append(f"### {name}\n\n{n:,} calls over {sc.duration_s / 3600:g} h of virtual time.\n\n{markdown_table(suite, name)}")
        text = _replace_section(text, "Policy results", "\n\n".join(parts))
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
