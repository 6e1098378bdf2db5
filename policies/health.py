"""``health``: skip deployments that are down or turning unstable, order the rest by expected
cost per success.

A deployment is skipped (the router still tries it last, before failing a caller) when:

- hard reasons: its key was rejected (misconfigured), its breaker is open, a Retry-After or
  spend-limit window holds it, the request is too large for its context window, or (objective
  ``cost``) its price is over the tier's cost cap;
- soft reasons: its success probability is under ``min_success``, its retries per call are over
  ``max_retry_rate``, its latency shifted up and is ``latency_factor`` times the best, or its
  expected cost per success is ``skip_ratio`` times the best.

The plan is cached per (tier, task type) and recomputed when the statistics' ``version``
changes (a failure, a recovery, a breaker or cooldown change), when a hold expires, or every
``refresh_s`` seconds of clock time. If every deployment would be skipped, none is: the plan
orders them all by score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from policies.base import LazyNotes, Plan, PlanContext
from policies.scoring import Estimate, estimate_chain
from policies.stats import StatsRegistry
from policies.timeouts import NO_CAPS, AttemptTimeoutRule

__all__ = ["HealthPolicy", "ScoredPolicy", "flag_p", "recent_p"]


class _Entry:
    """A cached plan for one (tier, task type) and the state the adaptive policy keeps."""

    __slots__ = (
        "chain",
        "version",
        "expires",
        "plan",
        "hits",
        "leader",
        "leader_st",
        "lead_since",
        "unanswered",
        "unanswered_hits",
        "probe_due",
        "probe_hits",
        "ests",
        "extra",
        "ramp_until",
        "ramp_start",
        "ramp_alt",
        "ramp_acc",
    )

    def __init__(self, chain: Sequence[Any]) -> None:
        self.chain = chain
        self.version = -1
        self.expires = -1.0
        self.plan: Plan | None = None
        self.hits = 0
        self.leader: str | None = None
        self.leader_st: Any = None  # the leader's DeploymentStats (the hang watch reads it per call)
        self.lead_since = 0.0
        self.unanswered = -1.0  # time of the first call sent after the leader last answered
        self.unanswered_hits = 0
        self.probe_due = float("inf")
        self.probe_hits = 0
        self.ests: list[Estimate] = []
        self.extra: Any = None
        self.ramp_until = -1.0  # while the leader's traffic ramps back after an incident
        self.ramp_start = 0.0
        self.ramp_alt: Plan | None = None  # the plan with the next deployment first
        self.ramp_acc = 0.0


class ScoredPolicy:
    """Shared machinery of the score-based policies: estimates, reasons, the plan cache."""

    name = "scored"
    timeouts: AttemptTimeoutRule | None = None  # latency-relative attempt timeouts (``adaptive`` sets one)

    def __init__(
        self,
        *,
        min_success: float = 0.6,
        max_retry_rate: float = 1.0,
        latency_factor: float = 2.5,
        skip_ratio: float = 3.0,
        refresh_s: float = 0.5,
        prior_p: float = 0.95,
        per_task: bool = False,
        position_bias: float = 0.3,
        degraded_below: float = 0.9,
    ) -> None:
        if not 0.0 <= min_success < 1.0:
            raise ValueError(f"min_success must be in [0, 1), got {min_success!r}")
        if refresh_s <= 0:
            raise ValueError(f"refresh_s must be > 0, got {refresh_s!r}")
        if skip_ratio <= 1.0:
            raise ValueError(f"skip_ratio must be > 1, got {skip_ratio!r}")
        self.min_success = min_success
        self.max_retry_rate = max_retry_rate
        self.latency_factor = latency_factor
        self.skip_ratio = skip_ratio
        self.refresh_s = refresh_s
        self.prior_p = prior_p
        self.per_task = per_task
        self.position_bias = position_bias
        self.degraded_below = degraded_below
        self._cache: dict[tuple[str, str, str, float | None], _Entry] = {}

    # -- the hot path -------------------------------------------------------------------
    def plan(self, chain: Sequence[Any], ctx: PlanContext, stats: StatsRegistry) -> Plan:
        key = (ctx.tier, ctx.task_type, ctx.objective, ctx.cost_cap)
        e = self._cache.get(key)
        if e is not None and e.chain is chain and e.version == stats.version and ctx.now < e.expires:
            e.hits += 1
            return e.plan  # type: ignore[return-value]
        if e is None or e.chain is not chain:
            e = self._cache[key] = _Entry(chain)
        e.hits += 1
        e.version = stats.version
        e.plan = self._compute(e, chain, ctx, stats)
        return e.plan

    # -- recomputation ------------------------------------------------------------------
    def hard_reason(self, cand: Any, st: Any, ctx: PlanContext, price: float) -> str | None:
        why = st.holds.reason(ctx.now)
        if why is not None:
            return why
        cw = getattr(cand, "context_window", None)
        need = ctx.input_tokens + ctx.output_tokens
        if cw and need > cw:
            return f"context window {cw} < {need} tokens"
        if ctx.objective == "cost" and ctx.cost_cap is not None and price > ctx.cost_cap:
            return f"price ${price:.4f}/call over the cost cap ${ctx.cost_cap:.4f}"
        return None

    def soft_reason(self, e: Estimate, best: Estimate, ctx: PlanContext) -> str | None:
        st = e.st
        if e.p < self.min_success:
            return f"failure rate {1 - e.p:.0%} (recent {st.failure_rate_fast():.0%}{_regime(st)})"
        rr = st.retry_rate()
        if rr > self.max_retry_rate:
            return f"retry rate {rr:.2f} per call"
        if e is not best and st.regime == "slow" and e.t_ok > self.latency_factor * best.t_ok:
            return f"latency {e.t_ok * 1000:.0f} ms, {e.t_ok / best.t_ok:.1f}x the best ({st.regime_reason})"
        if e is not best and e.score > self.skip_ratio * best.score and _unwell(e):
            return f"expected cost per success {e.score / best.score:.1f}x the best"
        return None

    def expiry(self, ests: list[Estimate], now: float) -> float:
        exp = now + self.refresh_s
        for e in ests:
            h = e.st.holds
            for t in (h.cooldown_until, h.breaker_open_until):
                if now < t < exp:
                    exp = t
        return exp

    def rank(
        self, e: _Entry, chain: Sequence[Any], ctx: PlanContext, stats: StatsRegistry
    ) -> tuple[list[Estimate], list[tuple[Estimate, str]], dict[str, Any]]:
        """Estimates split into kept (ordered by score) and skipped (with reasons)."""
        if self.per_task and not stats.track_tasks:
            stats.track_tasks = True  # per-task evidence accrues from here on
        ests = estimate_chain(chain, ctx, stats, prior_p=self.prior_p, per_task=self.per_task)
        e.ests = ests
        e.expires = self.expiry(ests, ctx.now)
        hard: list[tuple[Estimate, str]] = []
        rest: list[Estimate] = []
        for est in ests:
            why = self.hard_reason(est.cand, est.st, ctx, est.price)
            if why is None:
                rest.append(est)
            else:
                hard.append((est, why))
        # with thin evidence the configured order stands: each later position needs a
        # ``position_bias`` better score to move ahead
        bias = self.position_bias
        if bias:
            for i, est in enumerate(rest):
                est.score *= 1.0 + bias * i
                est.score_opt *= 1.0 + bias * i
        rest.sort(key=_score)
        kept: list[Estimate] = []
        soft: list[tuple[Estimate, str]] = []
        if rest:
            best = rest[0]
            for est in rest:
                why = self.soft_reason(est, best, ctx)
                if why is None:
                    kept.append(est)
                else:
                    soft.append((est, why))
        skipped = soft + sorted(hard, key=lambda x: x[0].score)
        notes: dict[str, Any] = {}
        if not kept:
            # never skip everything: order them all, the likeliest to work first
            kept = [x[0] for x in skipped]
            kept.sort(key=_score)
            notes["all_unhealthy"] = [f"{x[0].cand.key}: {x[1]}" for x in skipped]
            skipped = []
        return kept, skipped, notes

    def _compute(self, e: _Entry, chain: Sequence[Any], ctx: PlanContext, stats: StatsRegistry) -> Plan:
        kept, skipped, notes = self.rank(e, chain, ctx, stats)
        return self.build(kept, skipped, notes, ctx)

    def build(
        self, kept: list[Estimate], skipped: list[tuple[Estimate, str]], notes: dict[str, Any], ctx: PlanContext
    ) -> Plan:
        # the notes are formatted only if someone reads them (explain); estimates are not
        # changed after this, but regimes are, so those are captured now
        rows = [(est, "ordered", None, est.st.regime) for est in kept]
        rows += [(est, "skipped", why, est.st.regime) for est, why in skipped]
        objective, now = ctx.objective, ctx.now
        rule = self.timeouts
        caps = NO_CAPS if rule is None else rule.caps((est.cand.key, est.st) for est, _, _, _ in rows)

        def format_notes() -> dict[str, Any]:
            by_key: dict[str, Any] = {}
            for est, decision, why, regime in rows:
                row = {**est.as_dict(), "decision": decision}
                if why is not None:
                    row["reason"] = why
                row["regime"] = regime
                if est.cand.key in caps:
                    row["attempt_timeout_s"] = round(caps[est.cand.key], 3)
                by_key[est.cand.key] = row
            return {"objective": objective, "computed_at": now, **notes, "deployments": by_key}

        # no deployment open to the call healthier than a degraded one (one held back by a
        # breaker, a Retry-After or the request's size is no alternative now; when every one
        # is held back, they all count): retrying pays, falling back does not. One whose
        # breaker tripped and has not closed since counts at ``flag_p``
        open_p = [flag_p(est) for est, _, _, _ in rows if self.hard_reason(est.cand, est.st, ctx, est.price) is None]
        best_p = max(open_p or [flag_p(est) for est, _, _, _ in rows] or [1.0])  # every one held back: all
        return Plan(
            order=tuple(x.cand for x in kept),
            skipped=tuple((x[0].cand, x[1]) for x in skipped),
            policy=self.name,
            notes=LazyNotes(format_notes),
            degraded_everywhere=best_p < self.degraded_below,
            attempt_timeouts=caps,
        )

    def __or__(self, other: Any) -> Any:
        from policies.base import as_policy, chain_policies

        return chain_policies(self, as_policy(other))


class HealthPolicy(ScoredPolicy):
    """Skip what is down or turning unstable; order the rest by expected cost per success."""

    name = "health"


def _score(e: Estimate) -> float:
    return e.score


def _regime(st: Any) -> str:
    return f"; {st.regime_reason}" if st.regime == "degraded" and st.regime_reason else ""


def recent_p(e: Estimate) -> float:
    """Success probability of the recent past: the fast window, shrunk towards the estimate
    (worth 2 attempts), so a run of luck does not make a deployment look recovered. One
    re-admitted a moment ago, with next to no answers since, is not yet evidence of health."""
    st = e.st
    fast = st.fast
    if fast.attempts < 3.0 and st.updated_at is not None and st.updated_at - st.readmitted_at < st.fast_half_life_s:
        return 0.0
    return (fast.successes + 2.0 * e.p) / (fast.attempts + 2.0)


def flag_p(e: Estimate) -> float:
    """The success rate ``degraded_everywhere`` reads: ``recent_p``, but no higher than the
    estimate for a deployment whose breaker tripped and has not closed since (open, open past
    its window, half-open with its probe out). Such a one gets next to no attempts, so its
    recent window still holds the answers from before the trip (chaos seed 2: ~38,000 of
    them, recent_p 0.98, estimate 0.07)."""
    r = recent_p(e)
    return r if e.st.holds.breaker_state == "closed" or r < e.p else e.p


def _unwell(e: Estimate) -> bool:
    """Some sign of ill health (a score alone does not skip a healthy deployment)."""
    st = e.st
    return st.regime in ("degraded", "slow") or e.p < 0.9 or st.failure_rate_fast() > 0.1
