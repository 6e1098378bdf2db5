"""The learning policies (the default, ``health``, ``bandit``) against ``static`` in the
simulator, on packaged scenarios where routing around a bad deployment pays: these fail if
the default policy were replaced by ``static``."""

from __future__ import annotations

import pytest

from router.deployment import Tier
from router.sim import run_scenario

DEFAULT = Tier("t", ["a/b"]).policy  # the policy a tier gets when none is named
CALLS = 2500


def _run(scenario: str, policy: str, seed: int = 0) -> object:
    return run_scenario(scenario, policy, seed=seed, calls=CALLS, keep_series=False)


@pytest.fixture(scope="module")
def static_runs() -> dict[str, object]:
    return {sc: _run(sc, "static") for sc in ("latency-degradation", "long-tail-hangs", "brownout")}


def test_the_default_is_a_learning_policy() -> None:
    assert DEFAULT == "adaptive"


@pytest.mark.parametrize("policy", [DEFAULT, "health", "bandit"])
def test_a_slow_primary_is_routed_around(policy: str, static_runs: dict[str, object]) -> None:
    """latency-degradation: the primary turns 4x slower without errors; static keeps it first."""
    s = static_runs["latency-degradation"]
    r = _run("latency-degradation", policy)
    assert r.success_rate >= s.success_rate - 0.001
    assert r.p95_ms < 0.75 * s.p95_ms, (r.p95_ms, s.p95_ms)


@pytest.mark.parametrize("policy", [DEFAULT, "health", "bandit"])
def test_a_primary_whose_failures_are_timeouts_is_demoted(policy: str, static_runs: dict[str, object]) -> None:
    """long-tail-hangs: a few per cent of the primary's attempts hang to the 20 s timeout."""
    s = static_runs["long-tail-hangs"]
    r = _run("long-tail-hangs", policy)
    assert r.success_rate >= s.success_rate - 0.001
    assert r.p95_ms < 0.5 * s.p95_ms, (r.p95_ms, s.p95_ms)


def test_the_default_leaves_a_browned_out_primary_before_a_breaker_would(static_runs: dict[str, object]) -> None:
    """brownout: the primary fails a third of its attempts, never enough in a row to trip a
    breaker: static keeps paying for retries there, the default moves away."""
    s = static_runs["brownout"]
    r = _run("brownout", DEFAULT)
    assert r.success_rate >= s.success_rate - 0.001
    assert r.attempts_per_call < s.attempts_per_call - 0.05, (r.attempts_per_call, s.attempts_per_call)
    assert r.p95_ms <= s.p95_ms, (r.p95_ms, s.p95_ms)  # the retries it saves are no slower answers


def _everywhere(rate: float) -> dict[str, object]:
    """Every deployment behind one upstream failing ``rate`` of attempts from minute 20 to 40."""
    lat = {"a/fast": (900, 2500), "b/mid": (1200, 3000), "c/slow": (1500, 4000)}
    return {
        "name": f"everywhere-{rate}",
        "seed": 41,
        "duration_s": 3600,
        "traffic": {"rate_per_s": 10, "tier": "t", "tasks": {"chat": 1.0}, "tokens": {"input_mean": 1000, "output_mean": 400}},
        "chain": list(lat),
        "upstreams": {"shared": {"phases": [{"start_s": 1200, "end_s": 2400, "error_rate": rate, "errors": {"overloaded": 1.0}}]}},
        "providers": {k: {"upstream": "shared", "latency_ms": {"median": m, "p95": p}, "base_error_rate": 0.01} for k, (m, p) in lat.items()},
    }


def test_the_default_retries_through_a_degradation_everywhere() -> None:
    """Every deployment fails 60 % of attempts for 20 minutes: falling back cannot help and
    static's breakers and budgets stop the retries that would serve the caller; the default
    spends them, within its chain-wide budget (at most 4 more per such call on average)."""
    from router.sim import load_scenario

    sc = load_scenario(_everywhere(0.6))
    s = run_scenario(sc, "static", seed=0, calls=CALLS, keep_series=False)
    r = run_scenario(sc, DEFAULT, seed=0, calls=CALLS, keep_series=False)
    assert r.success_rate >= s.success_rate + 0.03, (r.success_rate, s.success_rate)
    assert r.attempts_per_call <= s.attempts_per_call + 0.5, (r.attempts_per_call, s.attempts_per_call)

