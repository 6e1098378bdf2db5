"""Run one scenario under one policy through the real router on a virtual clock.

Arrivals are spawned one at a time (each arrival schedules the next), each as its own task
that calls ``Router.acompletion`` exactly as an application would; calls overlap in virtual
time. The router gets a ``LoopClock`` on the virtual loop (``VirtualClock``: breakers,
backoff, Retry-After windows and statistics all run on virtual time), ``random.Random(seed)``
for its jitter, and a sink that keeps only what the metrics need. A policy named by the run
that draws random numbers (``bandit``) draws them from the seed too: a run is the same in any
process.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from router.core import Router
from router.deployment import Deployment, Tier
from router.errors import RoutingError
from router.settings import RouterSettings, with_policy_settings
from router.sim.bounds import OraclePolicy, hindsight_log
from router.sim.clock import VirtualClock
from router.sim.draws import ATTEMPT_SLOTS, Draws, draw
from router.sim.loop import VirtualLoop
from router.sim.metrics import CallLog, compute_metrics, series
from router.sim.provider import CURRENT_CALL, CallDraws, SimProvider
from router.sim.scenario import Scenario, load_scenario
from telemetry.records import LLMCallRecord

__all__ = ["BOUNDS", "EPOCH", "PolicyResult", "run_scenario"]

EPOCH = 1_750_000_000.0  # wall time of scenario second 0 (LoopClock epoch)
BOUNDS = ("oracle", "hindsight")


@dataclass(slots=True)
class PolicyResult:
    """One policy on one scenario and seed: the contract metrics and a few more."""

    scenario: str
    policy: str
    seed: int
    calls: int
    success_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    cost_per_success: float | None
    attempts_per_call: float | None
    detect_s: float | None = None
    recover_s: float | None = None
    outages_measured: int = 0
    max_in_flight: int = 0  # most calls in flight at once
    wall_s: float = 0.0  # real seconds the run took
    sim_calls_per_s: float | None = None  # calls simulated per real second (None for hindsight)
    series: dict[str, Any] | None = field(default=None, repr=False)
    provider_counts: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)

    METRICS = ("success_rate", "p50_ms", "p95_ms", "p99_ms", "cost_per_success", "attempts_per_call", "calls")

    def metrics(self) -> dict[str, Any]:
        """The contract fields of ``attune bench --json`` plus detection and recovery."""
        out = {k: getattr(self, k) for k in self.METRICS}
        out["detect_s"] = self.detect_s
        out["recover_s"] = self.recover_s
        return out

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


class _Collector:
    """Router sink: writes the fields the metrics need into the run's ``CallLog``."""

    __slots__ = ("log", "index", "forward")

    def __init__(self, log: CallLog, index: Mapping[str, int], forward: Any = None) -> None:
        self.log = log
        self.index = index
        self.forward = forward

    def submit(self, rec: LLMCallRecord) -> None:
        i = CURRENT_CALL.get().index
        log = self.log
        sent = 0
        first = -1
        for a in rec.attempts:
            if a.outcome == "success" or a.outcome == "error":
                if first < 0:
                    first = self.index[a.deployment]
                sent += 1
        log.attempts[i] = sent
        log.first[i] = first
        if rec.success:
            log.success[i] = True
            log.cost[i] = rec.cost
            log.served[i] = self.index[rec.deployment]
        if self.forward is not None:
            self.forward.submit(rec)


def _resolve(policy: Any, seed: int) -> tuple[str, Any]:
    """The policy's name and object; a policy built here from its name that draws random
    numbers (its ``rng``, as ``bandit`` does) draws them from the run's seed."""
    if isinstance(policy, str):
        if policy in BOUNDS:
            return policy, None
        from policies.registry import policy_from_spec

        obj = policy_from_spec(policy)  # a name, or NAME:OPTION=VALUE,...
        rng = getattr(obj, "rng", None)
        if isinstance(rng, random.Random):
            rng.seed(f"policy-{seed}")  # apart from the router's own random.Random(seed)
        return policy, obj
    return str(getattr(policy, "name", type(policy).__name__)), policy


def _prices(sc: Scenario) -> dict[str, tuple[float, float]]:
    from router.prices import lookup_price

    out = {}
    for key in sc.chain:
        p = sc.providers[key].price
        if p is None:
            prov, _, model = key.partition("/")
            p = lookup_price(prov, model or key) or (0.0, 0.0)
        out[key] = p
    return out


def _settings(sc: Scenario, policy: Any) -> RouterSettings:
    base = RouterSettings(deadline_s=sc.deadline_s, attempt_timeout_s=sc.attempt_timeout_s)
    return with_policy_settings(base, [("policy", policy)], source=sc.source)


def run_scenario(
    scenario: Scenario | str | Any,
    policy: Any,
    seed: int = 0,
    calls: int | None = None,
    *,
    draws: Draws | None = None,
    keep_series: bool = True,
    telemetry: Any = None,
) -> PolicyResult:
    """Simulate ``scenario`` under ``policy`` (a registered name or a ``NAME:OPTION=VALUE,...``
    spec, ``"oracle"``, ``"hindsight"``, or a policy object) and return its metrics.

    ``calls`` thins the traffic to that many calls over the scenario's duration (per-minute
    quotas are scaled by the same factor); ``draws`` reuses pre-drawn randomness;
    ``telemetry`` (a sink with ``submit(record)``, e.g. a ``TelemetryBackend``) also receives
    every call record, stamped with virtual wall time.
    A policy object may carry ``router_settings`` (a mapping of ``RouterSettings`` fields)
    to run with baseline settings (``cooldown`` turns breakers off, for instance).
    """
    sc = load_scenario(scenario)
    name, pol = _resolve(policy, seed)
    dr = draws if draws is not None else draw(sc, seed, calls)
    prices = _prices(sc)
    t_wall = time.perf_counter()
    if name == "hindsight" and pol is None:
        log = hindsight_log(sc, dr, prices, dr.traffic_scale)
        return _result(sc, name, seed, log, time.perf_counter() - t_wall, None, keep_series, {})

    loop = VirtualLoop()
    index = {k: j for j, k in enumerate(sc.chain)}
    providers = {k: SimProvider(k, j, sc.timeline(k), loop, quota_scale=dr.traffic_scale) for k, j in index.items()}
    if name == "oracle" and pol is None:
        tin, tout = sc.traffic.input_mean, sc.traffic.output_mean
        per_call = {k: (tin * p[0] + tout * p[1]) / 1e6 for k, p in prices.items()}
        pol = OraclePolicy(sc, providers, EPOCH, per_call)
    deployments = [
        Deployment(
            key=k,
            adapter=providers[k],
            model=k.partition("/")[2] or k,
            provider=k.partition("/")[0],
            input_price_per_mtok=prices[k][0],
            output_price_per_mtok=prices[k][1],
        )
        for k in sc.chain
    ]
    log = CallLog.empty(dr.arrivals)
    router = Router(
        deployments=deployments,
        tiers=[Tier(name=sc.traffic.tier, chain=list(sc.chain), policy=pol)],
        telemetry=_Collector(log, index, telemetry),
        settings=_settings(sc, pol),
        clock=VirtualClock(loop, EPOCH),
        rng=random.Random(seed),
        id_prefix=f"sim-{sc.name}-{seed}",
    )
    loop.run_until_complete(_drive(loop, router, sc, dr, log))
    loop.close()
    wall = time.perf_counter() - t_wall
    counts = {
        k: {"attempts": p.attempts, "successes": p.successes, **{f"error.{e}": c for e, c in sorted(p.by_kind.items())}}
        for k, p in providers.items()
    }
    return _result(sc, name, seed, log, wall, dr.calls / wall if wall > 0 else None, keep_series, counts)


async def _drive(loop: VirtualLoop, router: Router, sc: Scenario, dr: Draws, log: CallLog) -> None:
    n = dr.calls
    arrivals = dr.arrivals.tolist()
    tasks = list(sc.traffic.tasks)
    task_of = dr.task.tolist()
    inp = dr.input_tokens.tolist()
    out = dr.output_tokens.tolist()
    d = len(sc.chain)
    stride = d * ATTEMPT_SLOTS
    item = dr.attempt.reshape(n, 4 * stride).item
    tier = sc.traffic.tier
    messages = {t: [{"role": "user", "content": f"simulated {t} request"}] for t in tasks}
    latency = log.latency_s
    done = loop.create_future()
    remaining = [n]
    acompletion = router.acompletion

    async def one(i: int) -> None:
        CURRENT_CALL.set(CallDraws(i, item, stride, inp[i], out[i], d))
        t0 = loop._now
        task = tasks[task_of[i]]
        try:
            await acompletion(tier, messages[task], task_type=task)
        except RoutingError:
            pass
        except BaseException as exc:  # a bug in a policy or the router: stop the run, loudly
            if not done.done():
                done.set_exception(exc)
            return
        latency[i] = loop._now - t0
        remaining[0] -= 1
        if remaining[0] == 0 and not done.done():
            done.set_result(None)

    create_task = loop.create_task
    call_at = loop.call_at

    def arrive(i: int) -> None:
        create_task(one(i))
        if i + 1 < n:
            call_at(arrivals[i + 1], arrive, i + 1)

    call_at(arrivals[0], arrive, 0)
    await done


def _result(
    sc: Scenario,
    name: str,
    seed: int,
    log: CallLog,
    wall: float,
    cps: float | None,
    keep_series: bool,
    counts: dict[str, dict[str, int]],
) -> PolicyResult:
    m = compute_metrics(log, sc)
    return PolicyResult(
        scenario=sc.name,
        policy=name,
        seed=seed,
        calls=m["calls"],
        success_rate=m["success_rate"],
        p50_ms=m["p50_ms"],
        p95_ms=m["p95_ms"],
        p99_ms=m["p99_ms"],
        cost_per_success=m["cost_per_success"],
        attempts_per_call=m["attempts_per_call"],
        detect_s=m["detect_s"],
        recover_s=m["recover_s"],
        outages_measured=m["outages_measured"],
        max_in_flight=m["max_in_flight"],
        wall_s=wall,
        sim_calls_per_s=cps,
        series=series(log, sc) if keep_series else None,
        provider_counts=counts,
    )
