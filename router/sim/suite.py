"""Run many (scenario, policy, seed) simulations in parallel processes and aggregate them.

Each task runs one policy on one scenario and seed; tasks are spread over a process pool,
largest first. Aggregation gives, per scenario and policy, the mean over seeds and a 95 %
interval (Student's t), and each policy's score relative to the bounds,
``(policy - static) / (oracle - static)``, on the two metrics the oracle optimises: success
rate and cost per success (1 = as good as the oracle, 0 = no better than static).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router.sim.runner import BOUNDS, PolicyResult, run_scenario
from router.sim.scenario import Scenario, load_scenario

__all__ = ["DEFAULT_MAX_CALLS", "SuiteResult", "Task", "aggregate", "default_policies", "plan_tasks", "run_suite"]

DEFAULT_MAX_CALLS = 10_000  # per run in the default suite: keeps it within 3 minutes on 2 cores
# metrics the oracle bounds: (direction of better, relative gap below which a score means nothing)
SCORED = {"success_rate": (1.0, 1e-3), "cost_per_success": (-1.0, 1e-2)}
METRIC_KEYS = ("success_rate", "p50_ms", "p95_ms", "p99_ms", "cost_per_success", "attempts_per_call", "detect_s", "recover_s")
# two-sided 95 % Student t quantiles by degrees of freedom
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}  # fmt: skip


def _t95(df: int) -> float:
    if df >= 30:
        return 1.96 if df > 60 else 2.0
    keys = [k for k in _T95 if k <= df]
    return _T95[max(keys)]


def default_policies() -> list[str]:
    """``static``, ``cooldown`` and every other registered policy, then the two bounds."""
    from policies import policy_names

    names = ["static", "cooldown"] + [n for n in policy_names() if n not in ("static", "cooldown")]
    return names + list(BOUNDS)


@dataclass(frozen=True, slots=True)
class Task:
    scenario: str  # path or packaged name
    policy: str
    seed: int
    calls: int | None
    telemetry_url: str | None = None  # this run's records also go to this store


def _run_task(task: Task) -> PolicyResult:
    if task.telemetry_url is None:
        return run_scenario(task.scenario, task.policy, seed=task.seed, calls=task.calls)
    from telemetry import TelemetryBackend

    backend = TelemetryBackend(task.telemetry_url)
    try:
        return run_scenario(task.scenario, task.policy, seed=task.seed, calls=task.calls, telemetry=backend)
    finally:
        backend.close()


def plan_tasks(
    scenarios: Sequence[str | Path],
    policies: Sequence[str],
    seeds: Sequence[int],
    calls: int | None,
    max_calls: int | None,
    record: tuple[str, str] | None = None,
) -> tuple[list[Task], dict[str, Scenario]]:
    """Every (scenario, policy, seed) to run, largest first; ``calls`` fixes the call count,
    else each scenario runs ``min(its expected calls, max_calls)``. ``record`` is
    ``(policy, telemetry URL)``: that policy's runs at the first seed write their records there."""
    tasks: list[tuple[float, Task]] = []
    loaded: dict[str, Scenario] = {}
    for s in scenarios:
        sc = load_scenario(s)
        loaded[str(s)] = sc
        n = calls
        if n is None:
            exp = int(round(sc.expected_calls()))
            n = min(exp, max_calls) if max_calls else exp
        for p in policies:
            weight = 0.01 * n if p == "hindsight" else float(n)
            for seed in seeds:
                url = record[1] if record is not None and p == record[0] and seed == seeds[0] else None
                tasks.append((weight, Task(str(s), p, seed, n, url)))
    tasks.sort(key=lambda x: -x[0])
    return [t for _, t in tasks], loaded


@dataclass(slots=True)
class SuiteResult:
    """Every run, grouped: ``runs[scenario name][policy]`` is the list over seeds."""

    runs: dict[str, dict[str, list[PolicyResult]]]
    scenarios: dict[str, Scenario]  # by name
    suite_s: float
    workers: int
    order: list[str] = field(default_factory=list)  # policy display order

    def summary(self, scenario: str) -> dict[str, dict[str, Any]]:
        return aggregate(self.runs[scenario])

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` contract: one scenario gives ``{"scenario", "results"}``; several
        give ``{"scenarios": [that, ...]}``. Both carry ``suite_s``."""
        objs = []
        for name, by_policy in self.runs.items():
            summ = aggregate(by_policy)
            results = {p: summ[p] for p in self.order if p in summ}
            seeds = sorted({r.seed for runs in by_policy.values() for r in runs})
            objs.append({"scenario": name, "seeds": seeds, "results": results})
        if len(objs) == 1:
            return {**objs[0], "suite_s": round(self.suite_s, 3)}
        return {"scenarios": objs, "suite_s": round(self.suite_s, 3)}


def _mean_ci(values: Sequence[float | None]) -> tuple[float | None, list[float] | None]:
    xs = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not xs:
        return None, None
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, None
    var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1)
    h = _t95(len(xs) - 1) * math.sqrt(var / len(xs))
    return m, [m - h, m + h]


def aggregate(by_policy: dict[str, list[PolicyResult]]) -> dict[str, dict[str, Any]]:
    """Mean and 95 % interval per metric over seeds, and the score on success rate."""
    out: dict[str, dict[str, Any]] = {}
    for p, runs in by_policy.items():
        row: dict[str, Any] = {}
        cis: dict[str, list[float]] = {}
        for k in METRIC_KEYS:
            m, ci = _mean_ci([getattr(r, k) for r in runs])
            row[k] = m
            if ci is not None:
                cis[k] = ci
        row["calls"] = int(sum(r.calls for r in runs) / len(runs))
        row["runs"] = len(runs)
        if cis:
            row["ci95"] = cis
        sim = [r.sim_calls_per_s for r in runs if r.sim_calls_per_s]
        row["sim_calls_per_s"] = sum(sim) / len(sim) if sim else None
        out[p] = row
    for row in out.values():
        row["score"] = {
            k: _score(row.get(k), out.get("static", {}).get(k), out.get("oracle", {}).get(k), sign, tol)
            for k, (sign, tol) in SCORED.items()
        }
    return out


def _score(v: float | None, static: float | None, oracle: float | None, sign: float, tol: float) -> float | None:
    """``(v - static) / (oracle - static)``; ``None`` unless the oracle beats static (in the
    direction ``sign``) by more than ``tol`` relative: otherwise there is no gap to close."""
    if v is None or static is None or oracle is None or sign * (oracle - static) < tol * max(abs(static), 1e-12):
        return None
    return (v - static) / (oracle - static)


def run_suite(
    scenarios: Sequence[str | Path],
    policies: Sequence[str],
    *,
    seeds: Iterable[int] = (0,),
    calls: int | None = None,
    max_calls: int | None = DEFAULT_MAX_CALLS,
    workers: int | None = None,
    on_result: Callable[[PolicyResult, int, int], None] | None = None,
    record: tuple[str, str] | None = None,
) -> SuiteResult:
    """Run every scenario under every policy and seed; ``workers`` processes (default: the
    CPU count, 1 runs in this process). ``on_result(result, done, total)`` reports progress;
    ``record=(policy, url)`` stores that policy's records of the first seed (see ``plan_tasks``)."""
    seeds = list(seeds)
    tasks, loaded = plan_tasks(scenarios, policies, seeds, calls, max_calls, record)
    names = {str(k): sc.name for k, sc in loaded.items()}
    if len({sc.name for sc in loaded.values()}) != len(loaded):
        raise ValueError("two scenario files share a name: " + ", ".join(sorted(sc.name for sc in loaded.values())))
    runs: dict[str, dict[str, list[PolicyResult]]] = {names[str(s)]: {p: [] for p in policies} for s in scenarios}
    n_workers = workers if workers is not None else min(os.cpu_count() or 1, len(tasks))
    t0 = time.perf_counter()
    done = 0
    if n_workers <= 1:
        for t in tasks:
            r = _run_task(t)
            runs[r.scenario][t.policy].append(r)
            done += 1
            if on_result:
                on_result(r, done, len(tasks))
    else:
        with ProcessPoolExecutor(max_workers=n_workers) as pool:
            futs = {pool.submit(_run_task, t): t for t in tasks}
            for f in as_completed(futs):
                t = futs[f]
                r = f.result()
                runs[r.scenario][t.policy].append(r)
                done += 1
                if on_result:
                    on_result(r, done, len(tasks))
    for by_p in runs.values():
        for lst in by_p.values():
            lst.sort(key=lambda r: r.seed)
    return SuiteResult(runs, {sc.name: sc for sc in loaded.values()}, time.perf_counter() - t0, n_workers, list(policies))
