"""The simulator against its own scenario parameters, the bounds, determinism and the
router's resilience on virtual time."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from router.sim import analytic_hindsight_success, load_scenario, parse_scenario, run_scenario
from router.sim.draws import draw
from router.sim.runner import BOUNDS


def _one_deployment(**provider: Any) -> dict[str, Any]:
    return {
        "name": "calibration",
        "seed": 3,
        "duration_s": 1200,
        "router": {"deadline_s": 600, "attempt_timeout_s": 120},
        "traffic": {"rate_per_s": 5},
        "chain": ["openai/gpt-4o"],
        "providers": {"openai/gpt-4o": {"latency_ms": {"median": 1000, "p95": 3000}, **provider}},
    }


def _binom_tol(p: float, n: int, z: float = 4.0) -> float:
    return z * math.sqrt(p * (1 - p) / n) + 1e-9


def test_measured_error_rate_mix_and_latency_match_the_file() -> None:
    sc = parse_scenario(_one_deployment(base_error_rate=0.2, errors={"overloaded": 0.75, "server_error": 0.25}))
    r = run_scenario(sc, "static", seed=1, calls=6000)
    c = r.provider_counts["openai/gpt-4o"]
    n = c["attempts"]
    errors = n - c["successes"]
    assert errors / n == pytest.approx(0.2, abs=_binom_tol(0.2, n))
    assert c["error.overloaded"] / errors == pytest.approx(0.75, abs=_binom_tol(0.75, errors))
    assert set(c) == {"attempts", "successes", "error.overloaded", "error.server_error"}


def test_success_latency_percentiles_match_median_and_p95() -> None:
    from router.sim.provider import SimProvider  # noqa: F401 - the counters live on it

    sc = parse_scenario(_one_deployment())
    r = run_scenario(sc, "static", seed=2, calls=6000)
    assert r.success_rate == 1.0
    # single attempt each: end-to-end latency is the drawn latency
    assert r.p50_ms == pytest.approx(1000, rel=0.05)
    assert r.p95_ms == pytest.approx(3000, rel=0.08)


def test_latency_factor_multiplies_latency_and_long_draws_become_timeouts() -> None:
    sc = parse_scenario(
        {**_one_deployment(phases=[{"start_s": 0, "end_s": 1200, "latency_factor": 4}]), "router": {"deadline_s": 60, "attempt_timeout_s": 4}}
    )
    r = run_scenario(sc, "static", seed=3, calls=4000)
    c = r.provider_counts["openai/gpt-4o"]
    # P(lognormal(median 4 s) > 4 s) = 0.5: half the attempts time out
    assert c["error.timeout"] / c["attempts"] == pytest.approx(0.5, abs=_binom_tol(0.5, c["attempts"]))
    assert set(c) == {"attempts", "successes", "error.timeout"}


def test_rate_limits_answer_429_beyond_the_per_minute_quota() -> None:
    # 5 calls/s = 300 a minute against a quota of 120: every minute accepts exactly 120
    sc = parse_scenario(_one_deployment(rate_limit_rpm=120, retry_after_s=7))
    r = run_scenario(sc, "static", seed=4)  # the scenario's own traffic: no quota scaling
    c = r.provider_counts["openai/gpt-4o"]
    accepted = c["attempts"] - c["error.rate_limited"]
    # 20 saturated minute windows; retries of the last calls spill into a 21st
    assert 120 * 20 <= accepted <= 120 * 21
    assert c["error.rate_limited"] >= 6000 - 120 * 21
    assert c["successes"] == accepted
    assert r.success_rate == pytest.approx(accepted / r.calls)


def test_retry_after_defaults_to_the_time_left_in_the_minute() -> None:
    import asyncio

    from router.errors import RateLimitedError
    from router.sim.loop import VirtualLoop
    from router.sim.provider import CURRENT_CALL, CallDraws, SimProvider

    sc = parse_scenario(_one_deployment(rate_limit_rpm=2))
    loop = VirtualLoop()
    prov = SimProvider("openai/gpt-4o", 0, sc.timeline("openai/gpt-4o"), loop)
    import numpy as np

    numbers = np.array([[0.99] * 5 + [0.5] * 5 + [0.0] * 5 + [0.0] * 5] * 2)  # no error, 1 s latency

    async def main() -> float | None:
        await asyncio.sleep(45.0)
        for _ in range(2):
            CURRENT_CALL.set(CallDraws(0, numbers.item, 5, 10, 5, 1))
            await prov.send(None, timeout=100)  # type: ignore[arg-type]
        start = loop.time()
        CURRENT_CALL.set(CallDraws(1, numbers.item, 5, 10, 5, 1))
        try:
            await prov.send(None, timeout=100)  # type: ignore[arg-type]
        except RateLimitedError as exc:
            assert exc.status == 429
            return exc.retry_after + (loop.time() - start) - (60.0 - start)
        return None

    assert loop.run_until_complete(main()) == pytest.approx(0.0, abs=1e-9)


def test_hindsight_matches_the_analytic_success_rate() -> None:
    sc = parse_scenario({
        "name": "two-flaky", "seed": 5, "duration_s": 3600, "traffic": {"rate_per_s": 10},
        "router": {"attempt_timeout_s": 3},
        "chain": ["a/x", "b/y"],
        "providers": {
            "a/x": {"latency_ms": {"median": 900, "p95": 2500}, "base_error_rate": 0.3,
                    "phases": [{"start_s": 600, "end_s": 1800, "error_rate": 0.9, "error_rate_end": 0.2}]},
            "b/y": {"latency_ms": {"median": 1200, "p95": 3000}, "base_error_rate": 0.2,
                    "phases": [{"start_s": 1200, "end_s": 2400, "error_rate": 0.6}]},
        },
    })  # fmt: skip
    expected = analytic_hindsight_success(sc)
    r = run_scenario(sc, "hindsight", seed=0, calls=40000)
    assert r.success_rate == pytest.approx(expected, abs=_binom_tol(expected, 40000))
    assert expected < 0.9  # timeouts at 3 s and the error phases make it far from trivial


def test_a_run_is_deterministic_for_a_seed_and_draws_do_not_depend_on_the_policy() -> None:
    sc = load_scenario("full-outage")
    a = run_scenario(sc, "static", seed=9, calls=3000)
    b = run_scenario(sc, "static", seed=9, calls=3000)
    c = run_scenario(sc, "static", seed=10, calls=3000)
    assert a.metrics() == b.metrics() and a.provider_counts == b.provider_counts
    assert a.metrics() != c.metrics()
    d1, d2 = draw(sc, 9, 3000), draw(sc, 9, 3000)
    assert np.array_equal(d1.attempt, d2.attempt) and np.array_equal(d1.arrivals, d2.arrivals)


def test_breakers_open_and_close_on_virtual_time_during_a_full_outage() -> None:
    sc = load_scenario("full-outage")
    r = run_scenario(sc, "static", seed=0, calls=20000)
    # the breaker moves first attempts off the dead primary within a minute of virtual time
    assert r.detect_s is not None and r.detect_s < 60
    # and a half-open probe gives it its traffic back once the (doubling, capped at 60 s
    # +/- 20 %) open period ends
    assert r.recover_s is not None and r.recover_s < 75
    assert r.success_rate > 0.999


def test_the_oracle_never_goes_first_to_a_dead_deployment() -> None:
    sc = load_scenario("full-outage")
    r = run_scenario(sc, "oracle", seed=0, calls=5000)
    share = r.series["first_share"]["openai/gpt-4o"]  # type: ignore[index]
    mids = r.series["t_s"]  # type: ignore[index]
    during = [s for t, s in zip(mids, share) if 960 <= t <= 2040 and s is not None]
    assert during and max(during) == 0.0
    assert r.attempts_per_call < 1.05


def test_policy_results_carry_the_contract_metrics() -> None:
    sc = load_scenario("quota-429")
    for p in ("static", "cooldown", *BOUNDS):
        r = run_scenario(sc, p, seed=0, calls=1500)
        m = r.metrics()
        assert {"success_rate", "p50_ms", "p95_ms", "p99_ms", "cost_per_success", "attempts_per_call", "calls"} <= set(m)
        assert m["calls"] == 1500 and 0 < m["success_rate"] <= 1 and m["cost_per_success"] > 0
        assert m["p50_ms"] <= m["p95_ms"] <= m["p99_ms"]


def test_results_do_not_depend_on_the_process_or_its_hash_seed() -> None:
    import json
    import os
    import subprocess
    import sys

    # every registered policy (bandit draws random numbers of its own) and a bound
    code = (
        "import json; from policies import policy_names; from router.sim import run_scenario;"
        "print(json.dumps({p: run_scenario('flapping', p, seed=4, calls=1500, keep_series=False).metrics()"
        " for p in [*policy_names(), 'oracle']}))"
    )
    outs = []
    for hseed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hseed)
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        outs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    assert outs[0] == outs[1]


def test_the_package_exports_what_it_imports_in_a_sorted_list() -> None:
    import ast
    from pathlib import Path

    import router.sim as sim

    tree = ast.parse(Path(sim.__file__).read_text(encoding="utf-8"))
    imported = {a.asname or a.name for node in tree.body if isinstance(node, ast.ImportFrom) for a in node.names}
    (written,) = [ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "__all__"]
    assert written == sorted(written)  # as written in the file, not as computed
    assert set(written) == imported  # every name the package imports is exported, and only those
    assert {"load_scenario", "run_scenario", "run_suite", "PolicyResult", "ScenarioError"} <= set(sim.__all__)
    assert all(hasattr(sim, n) for n in sim.__all__)


def test_scores_are_relative_to_static_and_oracle_and_only_where_the_oracle_is_better() -> None:
    from router.sim.runner import PolicyResult
    from router.sim.suite import aggregate

    def res(policy: str, ok: float, cost: float) -> PolicyResult:
        return PolicyResult("s", policy, 0, 100, ok, 1.0, 2.0, 3.0, cost, 1.0)

    out = aggregate({"static": [res("static", 0.90, 10.0)], "x": [res("x", 0.95, 12.0)], "oracle": [res("oracle", 1.0, 11.0)]})
    assert out["x"]["score"]["success_rate"] == pytest.approx(0.5)
    assert out["oracle"]["score"]["success_rate"] == pytest.approx(1.0)
    assert out["x"]["score"]["cost_per_success"] is None  # the oracle is dearer than static: no gap


def test_thinning_the_traffic_scales_quotas_so_the_429_share_is_kept() -> None:
    sc = parse_scenario(_one_deployment(rate_limit_rpm=120, retry_after_s=7))
    full = run_scenario(sc, "cooldown", seed=4).provider_counts["openai/gpt-4o"]
    half = run_scenario(sc, "cooldown", seed=4, calls=3000).provider_counts["openai/gpt-4o"]
    share = [c["error.rate_limited"] / c["attempts"] for c in (full, half)]
    assert share[0] > 0.3
    assert share[1] == pytest.approx(share[0], abs=0.05)


def test_arrivals_are_poisson_and_calls_overlap_in_virtual_time() -> None:
    sc = load_scenario("steady-state")  # 20 calls/s, ~1 s median latency
    d = draw(sc, 0, 20000)
    gaps = np.diff(d.arrivals)
    mean = sc.duration_s / 20000
    assert gaps.mean() == pytest.approx(mean, rel=0.03)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.05)  # exponential gaps: CV 1
    r = run_scenario(sc, "static", seed=0, calls=6000)
    # Little's law: about rate x mean latency = 1.7 x 1.2 s in flight on average, and more at peaks
    assert r.max_in_flight >= 5


def test_tenacity_and_backoff_follow_the_virtual_clock() -> None:
    import asyncio
    import random

    from tenacity import stop_after_delay, wait_fixed

    from router import Deployment, Router, RouterSettings, RoutingError, Tier
    from router.resilience.retry import RetryPolicy
    from router.sim.clock import VirtualClock
    from router.sim.loop import VirtualLoop
    from router.sim.provider import CURRENT_CALL, CallDraws, SimProvider

    sc = parse_scenario(_one_deployment(base_error_rate=1.0, error_latency_ms={"median": 100, "p95": 101}))
    loop = VirtualLoop()
    prov = SimProvider("openai/gpt-4o", 0, sc.timeline("openai/gpt-4o"), loop)
    router = Router(
        deployments=[Deployment("openai/gpt-4o", prov, "gpt-4o")],
        tiers=[Tier("t", ["openai/gpt-4o"])],
        clock=VirtualClock(loop, 1e9),
        rng=random.Random(0),
        retry=RetryPolicy(stop=stop_after_delay(60), wait=wait_fixed(10)),
        settings=RouterSettings(breakers_enabled=False, retry_budget_enabled=False),
    )
    numbers = np.zeros((1, 20))  # every uniform 0: every attempt fails

    async def main() -> tuple[int, float]:
        CURRENT_CALL.set(CallDraws(0, numbers.item, 5, 10, 5, 1))
        with pytest.raises(RoutingError) as ei:
            await router.acompletion("t", [{"role": "user", "content": "x"}], deadline_s=1000)
        return len(ei.value.attempts), asyncio.get_running_loop().time()

    attempts, elapsed = loop.run_until_complete(main())
    # attempts start at 0, 10.1, ..., 60.6; each fails after 0.1 s; after the 7th, 60.7 s of
    # virtual time have passed since the first and stop_after_delay(60) stops (with a wall
    # clock in the retry state it would stop after the first)
    assert attempts == 7
    assert elapsed == pytest.approx(7 * 0.1 + 6 * 10, abs=0.01)


def test_detect_and_recover_times_on_a_constructed_log() -> None:
    from router.sim.metrics import CallLog, detect_recover

    sc = load_scenario("full-outage")  # primary out from 900 s to 2100 s
    t = np.arange(0.0, 3600.0, 0.5)
    log = CallLog.empty(t)
    log.first[:] = 0
    log.first[(t >= 910.0) & (t < 2130.0)] = 1  # moved off 10 s into the outage, back 30 s after
    detect, recover, n = detect_recover(log, sc)
    assert n == 1
    assert detect == pytest.approx(10.0, abs=0.5)
    assert recover == pytest.approx(30.0, abs=0.5)
    log.first[:] = 0  # never moved: censored at the outage's length, recovery immediate
    detect, recover, _ = detect_recover(log, sc)
    assert detect == pytest.approx(1200.0) and recover == pytest.approx(0.0, abs=0.5)
