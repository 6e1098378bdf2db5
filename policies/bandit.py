"""``bandit``: discounted Thompson sampling over the chain.

Each call draws a success probability for every deployment from Beta(successes + a,
failures + b), where the counts are the statistics' slow window, which decays in clock time:
an idle deployment's counts fade, its Beta widens back to the prior and it gets re-explored.
Deployments are ordered by ``cost(p) / p`` at the drawn ``p`` (``policies.scoring``), so
price and latency still count by the tier's objective. Hard reasons (misconfigured, open
breaker, Retry-After, context window, cost cap) skip a deployment as in ``health``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from policies.base import Plan, PlanContext
from policies.health import ScoredPolicy, _Entry
from policies.scoring import OBJECTIVE_WEIGHTS
from policies.stats import StatsRegistry

__all__ = ["BanditPolicy"]


class BanditPolicy(ScoredPolicy):
    """Thompson sampling with clock-time discounting; see the module docstring."""

    name = "bandit"

    def __init__(
        self,
        *,
        prior_p: float = 0.9,
        prior_n: float = 2.0,
        rng: random.Random | None = None,
        seed: int | None = None,
        refresh_s: float = 0.5,
    ) -> None:
        super().__init__(refresh_s=refresh_s, prior_p=prior_p)
        if not 0 < prior_p < 1 or prior_n <= 0:
            raise ValueError("prior_p must be in (0, 1) and prior_n > 0")
        self.prior_n = prior_n
        self.rng = rng or random.Random(seed)

    def plan(self, chain: Sequence[Any], ctx: PlanContext, stats: StatsRegistry) -> Plan:
        key = (ctx.tier, ctx.task_type, ctx.objective, ctx.cost_cap)
        e = self._cache.get(key)
        if e is None or e.chain is not chain or e.version != stats.version or ctx.now >= e.expires:
            if e is None or e.chain is not chain:
                e = self._cache[key] = _Entry(chain)
            e.version = stats.version
            e.plan = self._compute(e, chain, ctx, stats)
        e.hits += 1
        base = e.plan
        assert base is not None
        arms = e.extra
        if len(arms) < 2:
            return base
        w_p, w_t, w_f = OBJECTIVE_WEIGHTS.get(ctx.objective, OBJECTIVE_WEIGHTS["reliability"])
        beta = self.rng.betavariate
        drawn = []
        for cand, a, b, price_n, t_ok, t_fail in arms:
            p = beta(a, b)
            cost = w_p * price_n + w_t * (p * t_ok + (1.0 - p) * t_fail)
            drawn.append((cost / max(p, 1e-3), cand))
        drawn.sort(key=lambda x: x[0])
        order = tuple(c for _, c in drawn)
        return Plan(
            order=order,
            skipped=base.skipped,
            policy=self.name,
            notes=base.notes,
            degraded_everywhere=base.degraded_everywhere,
            attempt_timeouts=base.attempt_timeouts,
        )

    def _compute(self, e: _Entry, chain: Sequence[Any], ctx: PlanContext, stats: StatsRegistry) -> Plan:
        kept, skipped, notes = self.rank(e, chain, ctx, stats)
        # the bandit skips only for hard reasons: soft ones are what sampling is for
        hard_keys = {id(x[0]) for x in skipped if self.hard_reason(x[0].cand, x[0].st, ctx, x[0].price) is not None}
        kept = kept + [x[0] for x in skipped if id(x[0]) not in hard_keys]
        skipped = [x for x in skipped if id(x[0]) in hard_keys]
        ests = e.ests
        price_mean = sum(x.price for x in ests) / len(ests) if ests else 0.0
        time_mean = (sum(x.t_ok for x in ests) / len(ests)) if ests else 1.0
        _, _, w_f = OBJECTIVE_WEIGHTS.get(ctx.objective, OBJECTIVE_WEIGHTS["reliability"])
        arms = []
        for x in kept:
            st = x.st
            a = st.slow.successes + self.prior_n * self.prior_p
            b = st.slow.failures + self.prior_n * (1.0 - self.prior_p)
            arms.append(
                (
                    x.cand,
                    a,
                    b,
                    x.price / price_mean if price_mean > 0 else 0.0,
                    x.t_ok / (time_mean or 1.0),
                    (w_f * x.t_fail + 0.3) / (time_mean or 1.0),
                )
            )
        e.extra = arms
        return self.build(kept, skipped, notes, ctx)
