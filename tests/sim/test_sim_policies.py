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
    assert r.p95_ms < 0.95 * s.p95_ms, (r.p95_ms, s.p95_ms)
