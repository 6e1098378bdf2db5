"""Expected cost per success of each deployment, from live statistics and the tier's objective.

For each candidate: ``p`` (probability an attempt succeeds), the time a success takes
(``t_ok``: 0.7 x mean + 0.3 x p95, so a heavy tail counts), the time a failed attempt
costs (``t_fail``: a timeout costs the attempt timeout, a 503 a tenth of a second) and the
price of a successful call. The objective blends them into ``cost``; the rank is
``score = cost / p`` (ascending), which for a sequence of independent tries is the order that
minimises the expected cost to the first success.

=============  =========  ==========  ===================
objective      price w.   time w.     failed-time factor
=============  =========  ==========  ===================
reliability    0          1           1.5
latency        0          1           1.25
cost           1          0.1         1
=============  =========  ==========  ===================

Price and time are normalised by their chain means, so the weights are unit-free. Estimates
lean pessimistic where evidence is thin (a lower confidence bound of ``p``, an upper one of
latency, a failed attempt's time shrunk towards a quick error), so a deployment seen twice
does not take the lead from one seen a thousand times on luck.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from policies.base import PlanContext
from policies.stats import DeploymentStats, StatsRegistry

__all__ = ["OBJECTIVE_WEIGHTS", "Estimate", "estimate_chain", "price_of"]

OBJECTIVE_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "reliability": (0.0, 1.0, 1.5),
    "latency": (0.0, 1.0, 1.25),
    "cost": (1.0, 0.1, 1.0),
}
TAIL_MEAN_W = 0.7  # a success's time: 0.7 x mean + 0.3 x p95 (the tail counts, its noise less)
FAIL_PRIOR_N = 2.0  # weight of the prior of a failed attempt's time
RETRY_OVERHEAD_S = 0.3  # backoff the router waits after a failed attempt, on average
_Z95 = 1.645


@dataclass(slots=True)
class Estimate:
    """One candidate's numbers; ``score`` ranks (lower is better)."""

    cand: Any
    st: DeploymentStats
    p: float
    t_ok: float
    t_fail: float
    price: float
    known_latency: bool
    cost: float = 0.0
    score: float = 0.0
    score_opt: float = 0.0
    t_ok_opt: float = 0.0

    def cost_at(self, p: float, price_n: float, time_mean: float, weights: tuple[float, float, float]) -> float:
        wp, wt, wf = weights
        t = p * self.t_ok + (1.0 - p) * (wf * self.t_fail + RETRY_OVERHEAD_S)
        return wp * price_n + wt * t / time_mean

    def as_dict(self) -> dict[str, Any]:
        return {
            "p_success": round(self.p, 4),
            "expected_ok_ms": round(self.t_ok * 1000, 1),
            "failed_attempt_ms": round(self.t_fail * 1000, 1),
            "price_per_call": round(self.price, 6),
            "latency_known": self.known_latency,
            "cost": round(self.cost, 4),
            "score": round(self.score, 4),
        }


def price_of(cand: Any, ctx: PlanContext, stats: StatsRegistry) -> float:
    """Dollars a successful call is expected to cost at ``cand``."""
    tin = ctx.input_tokens or stats.input_tokens_ewma or 1000.0
    tout = ctx.output_tokens or stats.output_tokens_ewma or 500.0
    return (tin * (cand.input_price_per_mtok or 0.0) + tout * (cand.output_price_per_mtok or 0.0)) / 1e6


def estimate_chain(
    chain: Sequence[Any],
    ctx: PlanContext,
    stats: StatsRegistry,
    *,
    prior_p: float = 0.95,
    per_task: bool = False,
) -> list[Estimate]:
    """An ``Estimate`` per candidate with ``cost`` and ``score`` filled in."""
    out: list[Estimate] = []
    now = ctx.now
    known: list[float] = []
    for cand in chain:
        st = stats.for_task(cand.key, ctx.task_type) if per_task else stats.get(cand.key)
        st.decay_to(now)
        p = st.p_success(prior_p)
        m = st.latency_log_moments()
        if m is None:
            t_ok = -1.0
        else:
            n, mu, sd = m
            u = sd / math.sqrt(n + 1.0)  # pessimism (and optimism) under little evidence
            t_ok = TAIL_MEAN_W * math.exp(mu + u + 0.5 * sd * sd) + (1.0 - TAIL_MEAN_W) * math.exp(mu + u + _Z95 * sd)
            known.append(t_ok)
        est = Estimate(cand, st, p, t_ok, -1.0, price_of(cand, ctx, stats), m is not None)
        if m is not None:
            est.t_ok_opt = t_ok * math.exp(-2.5 * u)  # 1.5 standard errors below the mean
        out.append(est)
    default_t = max(known) if known else 1.0
    for e in out:
        if e.t_ok < 0:
            e.t_ok = default_t
            e.t_ok_opt = min(known) if known else default_t
        st = e.st
        # mean time of a failed attempt, shrunk towards a quick error (a quarter of a success)
        e.t_fail = (st.slow.fail_lat_sum + FAIL_PRIOR_N * 0.25 * e.t_ok) / (st.slow.failures + FAIL_PRIOR_N)
    weights = OBJECTIVE_WEIGHTS.get(ctx.objective, OBJECTIVE_WEIGHTS["reliability"])
    price_mean = sum(e.price for e in out) / len(out) if out else 0.0
    time_mean = sum(e.t_ok for e in out) / len(out) if out else 1.0
    for e in out:
        price_n = e.price / price_mean if price_mean > 0 else 0.0
        # score at a lower confidence bound of p: sparse evidence does not win the lead
        half = math.sqrt(e.p * (1.0 - e.p) / (e.st.slow.attempts + 2.0))
        p = e.p - half
        p = p if p > 1e-3 else 1e-3
        e.cost = e.cost_at(p, price_n, time_mean or 1.0, weights)
        e.score = e.cost / p
        # the optimistic score (upper bound of p, lower of latency) decides what is worth a probe
        p_hi = min(e.p + 1.5 * half, 1.0)
        t_ok = e.t_ok
        e.t_ok = e.t_ok_opt
        e.score_opt = e.cost_at(p_hi, price_n, time_mean or 1.0, weights) / p_hi
        e.t_ok = t_ok
    return out
