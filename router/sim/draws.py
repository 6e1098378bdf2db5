"""Common random numbers: everything random about a run, drawn up front from the seed.

Arrivals, task types, token counts and, per call, deployment and attempt, the uniforms and
normals that decide whether the attempt fails, with which error, and how long it takes. Every
policy run with the same scenario, seed and call count sees exactly these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router.sim.scenario import Scenario

__all__ = ["ATTEMPT_SLOTS", "Draws", "draw"]

# attempts per (call, deployment) with their own numbers; later attempts reuse them cyclically
ATTEMPT_SLOTS = 5
TOKEN_SIGMA = 0.6  # lognormal spread of token counts around their mean


@dataclass(slots=True)
class Draws:
    """Pre-drawn randomness for one run. ``attempt[i]`` has shape ``(4, deployments, slots)``:
    error uniform, error-kind uniform, latency normal, error-latency normal."""

    arrivals: np.ndarray  # (calls,) scenario seconds, sorted
    task: np.ndarray  # (calls,) index into the scenario's task list
    input_tokens: np.ndarray  # (calls,) int
    output_tokens: np.ndarray  # (calls,) int
    attempt: np.ndarray  # (calls, 4, deployments, ATTEMPT_SLOTS)
    traffic_scale: float  # calls drawn / calls the scenario expects

    @property
    def calls(self) -> int:
        return int(self.arrivals.shape[0])


def _arrival_times(sc: Scenario, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` arrivals of the scenario's (piecewise-constant rate) Poisson process, given that
    there are ``n``: order statistics of the normalised intensity."""
    edges = sorted({0.0, sc.duration_s, *(x for s, e, _ in sc.traffic.profile for x in (s, e) if 0 < x < sc.duration_s)})
    a = np.array(edges[:-1])
    b = np.array(edges[1:])
    w = np.array([sc.rate_at((x + y) / 2) for x, y in zip(edges[:-1], edges[1:])]) * (b - a)
    if w.sum() <= 0:
        raise ValueError(f"scenario {sc.name!r} has no traffic (every traffic.profile factor is 0)")
    seg = rng.choice(len(w), size=n, p=w / w.sum())
    t = a[seg] + rng.random(n) * (b - a)[seg]
    t.sort()
    return t


def draw(sc: Scenario, seed: int, calls: int | None = None) -> Draws:
    """Draw a run's randomness from ``(scenario seed, seed)``. ``calls`` thins (or thickens)
    the traffic to that many calls over the same duration."""
    expected = sc.expected_calls()
    n = int(round(expected)) if calls is None else int(calls)
    if n < 1:
        raise ValueError(f"a run needs at least one call, got calls={n}")
    rng = np.random.default_rng([sc.seed, seed])
    arrivals = _arrival_times(sc, n, rng)
    weights = np.array(list(sc.traffic.tasks.values()), dtype=float)
    task = rng.choice(len(weights), size=n, p=weights / weights.sum())
    s = TOKEN_SIGMA
    inp = np.maximum(1, np.rint(rng.lognormal(np.log(sc.traffic.input_mean) - s * s / 2, s, n))).astype(np.int64)
    out = np.maximum(1, np.rint(rng.lognormal(np.log(sc.traffic.output_mean) - s * s / 2, s, n))).astype(np.int64)
    d = len(sc.chain)
    att = np.empty((n, 4, d, ATTEMPT_SLOTS))
    att[:, 0:2] = rng.random((n, 2, d, ATTEMPT_SLOTS))
    att[:, 2:4] = rng.standard_normal((n, 2, d, ATTEMPT_SLOTS))
    return Draws(arrivals, task, inp, out, att, n / expected if expected > 0 else 1.0)
