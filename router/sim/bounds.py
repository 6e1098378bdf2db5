"""The two reference bounds of docs/design.md ("Scenario files").

``oracle``: a policy that reads each deployment's true state at the call's instant (error
rate, latency distribution, quota left in the current minute) and orders the chain by
single-attempt success probability (in 1 % buckets), then by expected cost per success. It
runs through the real router like any policy: the fair bound.

``hindsight``: no router at all. It knows every sampled outcome (the first attempt's draws at
each deployment, at the call's arrival) and takes the fastest deployment whose draw succeeds,
within the quota its own earlier choices left: the loose bound no causal policy can beat. Its
success rate is the mean over calls of 1 - prod(per-deployment failure probability).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from policies.base import Plan, PlanContext
from router.sim.draws import Draws
from router.sim.metrics import CallLog, _phi
from router.sim.provider import SimProvider
from router.sim.scenario import Scenario, Timeline

__all__ = ["OraclePolicy", "analytic_hindsight_success", "hindsight_log"]


class OraclePolicy:
    """Orders by the true success probability at ``ctx.now``, then by cost per success."""

    name = "oracle"

    def __init__(self, scenario: Scenario, providers: Mapping[str, SimProvider], epoch: float, prices: Mapping[str, float]) -> None:
        self.scenario = scenario
        self.providers = providers
        self.epoch = epoch
        self.prices = prices  # expected dollars per call at each deployment
        self._p_fast: dict[tuple[str, float], float] = {}

    def _p_fast_for(self, key: str, factor: float) -> float:
        hit = self._p_fast.get((key, factor))
        if hit is None:
            lat = self.scenario.providers[key].latency
            z = (math.log(self.scenario.attempt_timeout_s) - lat.mu - math.log(factor)) / lat.sigma
            hit = self._p_fast[(key, factor)] = _phi(z)
        return hit

    def p_success(self, key: str, t: float) -> float:
        prov = self.providers[key]
        st = prov.state(t)
        if prov.quota_left(t) < 1:
            return 0.0
        er = st.error_rate if st.error_rate_end is None else st.error_rate_at(t)
        return (1.0 - er) * self._p_fast_for(key, st.latency_factor)

    def plan(self, chain: Sequence[Any], ctx: PlanContext, stats: Any) -> Plan:
        t = ctx.now - self.epoch
        scored = []
        for pos, c in enumerate(chain):
            p = self.p_success(c.key, t)
            cps = self.prices[c.key] / p if p > 0 else math.inf
            scored.append((-math.floor(p * 100.0), cps, pos, c))
        scored.sort(key=lambda x: x[:3])
        return Plan(order=tuple(x[3] for x in scored), policy=self.name)


def _rates_at(tl: Timeline, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Error rate and latency factor of a timeline at many instants."""
    idx = np.clip(np.searchsorted(np.asarray(tl.edges), t, side="right") - 1, 0, len(tl.states) - 1)
    er = np.empty_like(t)
    lf = np.empty_like(t)
    for i, st in enumerate(tl.states):
        m = idx == i
        if not m.any():
            continue
        lf[m] = st.latency_factor
        if st.error_rate_end is None:
            er[m] = st.error_rate
        else:
            er[m] = np.interp(t[m], [st.ramp_start, st.ramp_end], [st.error_rate, st.error_rate_end])
    return er, lf


def hindsight_log(sc: Scenario, draws: Draws, prices: Mapping[str, tuple[float, float]], quota_scale: float = 1.0) -> CallLog:
    """The ``hindsight`` bound's per-call outcomes."""
    t = draws.arrivals
    n = t.shape[0]
    d = len(sc.chain)
    T = sc.attempt_timeout_s
    ok = np.zeros((n, d), dtype=bool)
    lat = np.full((n, d), np.inf)
    rpm = np.full((n, d), np.inf)
    for j, key in enumerate(sc.chain):
        tl = sc.timeline(key)
        spec = tl.spec
        er, lf = _rates_at(tl, t)
        x = np.exp(spec.latency.mu + spec.latency.sigma * draws.attempt[:, 2, j, 0]) * lf
        good = (draws.attempt[:, 0, j, 0] >= er) & (x <= T)
        ok[:, j] = good
        lat[:, j] = np.where(good, x, np.inf)
        idx = np.clip(np.searchsorted(np.asarray(tl.edges), t, side="right") - 1, 0, len(tl.states) - 1)
        limits = np.array([np.inf if s.rate_limit_rpm is None else s.rate_limit_rpm * quota_scale for s in tl.states])
        rpm[:, j] = limits[idx]
    log = CallLog.empty(t)
    if np.isinf(rpm).all():
        best = np.argmin(lat, axis=1)
        any_ok = ok.any(axis=1)
        log.success[:] = any_ok
        log.served[:] = np.where(any_ok, best, -1)
    else:  # quotas: greedy in arrival order, counting only the bound's own requests
        window = (t // 60.0).astype(np.int64)
        used = [dict() for _ in range(d)]  # type: list[dict[int, int]]
        order = np.argsort(lat, axis=1)
        for i in range(n):
            w = int(window[i])
            for j in order[i]:
                if not ok[i, j]:
                    break
                u = used[j].get(w, 0)
                if u < rpm[i, j]:
                    used[j][w] = u + 1
                    log.success[i] = True
                    log.served[i] = j
                    break
    s = log.success
    log.first[:] = log.served
    log.attempts[:] = 1
    rows = np.flatnonzero(s)
    log.latency_s[rows] = lat[rows, log.served[rows]]
    pin = np.array([prices[k][0] for k in sc.chain])
    pout = np.array([prices[k][1] for k in sc.chain])
    sv = log.served[rows]
    log.cost[rows] = (draws.input_tokens[rows] * pin[sv] + draws.output_tokens[rows] * pout[sv]) / 1e6
    return log


def analytic_hindsight_success(sc: Scenario, step_s: float = 1.0) -> float:
    """Traffic-weighted mean over time of 1 - prod over deployments of the single-attempt
    failure probability (no quotas): what ``hindsight`` converges to."""
    grid = np.arange(step_s / 2, sc.duration_s, step_s)
    fail = np.ones_like(grid)
    T = sc.attempt_timeout_s
    for key in sc.chain:
        tl = sc.timeline(key)
        er, lf = _rates_at(tl, grid)
        lat = tl.spec.latency
        p_fast = np.array([_phi((math.log(T) - lat.mu - math.log(f)) / lat.sigma) for f in lf])
        fail *= 1.0 - (1.0 - er) * p_fast
    w = np.array([sc.rate_at(x) for x in grid])
    return float(np.sum(w * (1.0 - fail)) / np.sum(w))
