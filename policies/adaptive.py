"""``adaptive`` (the default): ``health`` plus early warnings, hysteresis and bounded probes.

On top of ``health`` (see ``policies.health``) it adds:

- early warnings: the statistics' change tests (``policies.stats``) demote a deployment after a
  few attempts of a rising error rate or a latency shift, long before a breaker trips; and a
  leader that stops answering (``hang_min_calls`` calls sent, none finished for ``hang_factor`` x
  its p95 latency, at least ``hang_min_s``) is suspected of hanging and demoted before its timeouts come back;
- hysteresis: the current first choice keeps its place unless another scores ``margin`` better;
- bounded probes: a demoted deployment (or one with no recent evidence) is put first for one
  call once its last attempt is ``probe_interval_s`` old, at most one probe per
  ``probe_min_calls`` calls of a (tier, task type); a failed (or still unanswered) probe
  doubles that deployment's interval (up to ``2**max_backoff`` times, and never past the
  longest open period its breaker has had: never sparser than a plain breaker's probes);
  ``degraded_probe_level`` raises the first interval while it is degraded and failing.
  Probes are paced per deployment across tiers and task types. A healthy deployment that is
  not first is looked at once per ``explore_interval_s`` (and ``explore_min_calls`` calls), to
  keep its numbers fresh, unless its optimistic score
  (upper bound of success, lower bound of latency) beats the leader's: then it is probed like a
  demoted one until the evidence settles it. The statistics re-admit a deployment after a run of
  probe successes that the failure rate since its degradation makes unlikely (one after a
  full outage), so a recovered deployment wins its traffic back within a bounded number of probes;
- latency-relative attempt timeouts: a deployment with ``timeout_min_samples`` of success
  latency and ``timeout_hang_share`` of its attempts timing out gets an attempt timeout of
  ``timeout_multiple`` x the p99.9 of its own successes (at least ``timeout_floor_s``, at most
  the configured one; ``timeout_multiple=0`` turns it off), so a hang is cut short and the
  call falls back while the deployment keeps its share (``policies.timeouts``,
  ``Plan.attempt_timeouts``);
- a ramp after a relapse: a deployment re-admitted after an incident that began soon after
  the previous one ended leads a share of calls rising from ``ramp_floor`` to all of them
  over ``ramp_s`` (Envoy's slow start); after a first incident it is re-admitted fully.

Like every built-in policy it never skips every deployment, and the router still tries the
skipped ones last before failing a caller.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Sequence
from typing import Any

from policies.base import Plan, PlanContext
from policies.health import ScoredPolicy, _Entry, recent_p
from policies.scoring import Estimate
from policies.stats import StatsRegistry
from policies.timeouts import rule_from

__all__ = ["AdaptivePolicy"]

_INF = float("inf")


class AdaptivePolicy(ScoredPolicy):
    """The default policy: see the module docstring."""

    name = "adaptive"

    def __init__(
        self,
        *,
        margin: float = 0.1,
        probe_interval_s: float = 2.0,
        probe_min_calls: int = 10,
        explore_interval_s: float = 120.0,
        explore_min_calls: int = 50,
        max_backoff: int = 3,
        degraded_probe_level: int = 0,
        hang_factor: float = 4.0,
        hang_min_s: float = 0.25,
        hang_min_calls: int = 3,
        ramp_s: float = 5.0,
        ramp_floor: float = 0.1,
        alike_p: float = 0.1,
        timeout_multiple: float = 1.5,
        timeout_floor_s: float = 3.0,
        timeout_min_samples: float = 50.0,
        timeout_hang_share: float = 0.003,
        **health_options: Any,
    ) -> None:
        # failures, breakers, holds and detected changes replan at once (the statistics'
        # version), and a suspected hang has its own deadline: time alone replans rarely
        health_options.setdefault("refresh_s", 2.0)
        super().__init__(**health_options)
        if not (ramp_s >= 0 and 0 < ramp_floor <= 1):
            raise ValueError(f"ramp_s must be >= 0 and ramp_floor in (0, 1]; got {ramp_s!r}, {ramp_floor!r}")
        if probe_interval_s <= 0 or probe_min_calls < 1 or max_backoff < 0 or degraded_probe_level < 0:
            raise ValueError(
                "probe_interval_s must be > 0, probe_min_calls >= 1, max_backoff >= 0 and degraded_probe_level >= 0; "
                f"got {probe_interval_s!r}, {probe_min_calls!r}, {max_backoff!r}, {degraded_probe_level!r}"
            )
        self.margin = margin
        self.probe_interval_s = probe_interval_s
        self.probe_min_calls = probe_min_calls
        self.explore_interval_s = explore_interval_s
        self.explore_min_calls = explore_min_calls
        self.max_backoff = max_backoff
        self.degraded_probe_level = min(degraded_probe_level, max_backoff)
        self.hang_factor = hang_factor
        self.hang_min_s = hang_min_s
        self.hang_min_calls = hang_min_calls
        self.ramp_s = ramp_s
        self.ramp_floor = ramp_floor
        self.alike_p = alike_p
        self.timeouts = rule_from(timeout_multiple, timeout_floor_s, timeout_min_samples, timeout_hang_share)
        self._ramps: dict[str, float] = {}  # deployment -> when its ramp after an incident began
        self._readmissions: dict[str, int] = {}  # deployment -> incidents ended, as last seen
        self._stats: StatsRegistry | None = None
        self._suspects: dict[str, tuple[float, str]] = {}
        self._probe_at: dict[str, float] = {}
        self._backoff: dict[str, int] = {}
        self._judged: dict[str, float] = {}
        self._eligible: dict[tuple[str, str, str, float | None], list[tuple[float, Any, int]]] = {}

    # -- the hot path -------------------------------------------------------------------
    def plan(self, chain: Sequence[Any], ctx: PlanContext, stats: StatsRegistry) -> Plan:
        key = (ctx.tier, ctx.task_type, ctx.objective, ctx.cost_cap)
        e = self._cache.get(key)
        if e is not None and e.chain is chain and e.version == stats.version and ctx.now < e.expires:
            e.hits += 1
            lst = e.leader_st
            if e.unanswered < 0.0 or (lst is not None and lst.last_answer_at >= e.unanswered):
                e.unanswered = ctx.now  # the leader answered: this call opens a new silence window
                e.unanswered_hits = e.hits
            if ctx.now < e.probe_due or e.hits - e.probe_hits < self.probe_min_calls:
                if e.ramp_until > ctx.now:
                    return self._ramped(e, ctx.now)
                return e.plan  # type: ignore[return-value]
            return self._probe(e, key, ctx)
        self._stats = stats
        if e is None or e.chain is not chain:
            e = self._cache[key] = _Entry(chain)
        e.hits += 1
        e.version = stats.version
        e.plan = self._compute(e, chain, ctx, stats)
        self._eligible[key] = elig = self._probe_candidates(e, ctx)
        e.probe_due = min((x[0] for x in elig), default=_INF)
        if ctx.now >= e.probe_due and e.hits - e.probe_hits >= self.probe_min_calls:
            return self._probe(e, key, ctx)
        if e.ramp_until > ctx.now:
            return self._ramped(e, ctx.now)
        return e.plan

    def _ramped(self, e: _Entry, now: float) -> Plan:
        """While the leader's traffic ramps back after an incident (Envoy's slow start): it
        leads a share of calls rising from ``ramp_floor`` to all of them over ``ramp_s``."""
        share = self.ramp_floor + (1.0 - self.ramp_floor) * (now - e.ramp_start) / self.ramp_s
        e.ramp_acc += share
        if e.ramp_acc >= 1.0:
            e.ramp_acc -= 1.0
            return e.plan  # type: ignore[return-value]
        e.unanswered_hits += 1  # a call the ramp sends elsewhere is not one sent to the leader
        return e.ramp_alt  # type: ignore[return-value]

    def observe_record(self, record: Any) -> None:
        """Router hook: fold finished records into the statistics this policy reads."""
        st = self._stats
        if st is not None:
            st.observe_record(record)

    # -- recomputation ------------------------------------------------------------------
    def _compute(self, e: _Entry, chain: Sequence[Any], ctx: PlanContext, stats: StatsRegistry) -> Plan:
        now = ctx.now
        self._watch_leader(e, now, stats)
        kept, skipped, notes = self.rank(e, chain, ctx, stats)
        # a suspected hang demotes the deployment until it answers again
        if self._suspects and len(kept) > 1:
            still: list[Estimate] = []
            for i, est in enumerate(kept):
                sus = self._suspects.get(est.cand.key)
                if sus is not None and (est.st.last_success_at or 0.0) > sus[0] and not self._slow_answer(est.st):
                    del self._suspects[est.cand.key]
                    sus = None
                if sus is not None and (still or i < len(kept) - 1):  # keep at least one
                    skipped.insert(0, (est, sus[1]))
                else:
                    still.append(est)
            if still:
                kept = still
        kept, skipped = self._alike_by_latency(kept, skipped, chain, ctx)
        # hysteresis: keep the current first choice unless another is clearly better, or
        # comes before it in the chain as written (a recovered first choice takes its place back)
        lead = e.leader
        if lead is not None and len(kept) > 1 and kept[0].cand.key != lead:
            written = [c.key for c in chain]
            for i, est in enumerate(kept):
                if est.cand.key == lead:
                    if est.score <= kept[0].score * (1.0 + self.margin) and written.index(lead) < written.index(kept[0].cand.key):
                        kept.insert(0, kept.pop(i))
                    break
        if kept and kept[0].cand.key != lead:
            e.leader = kept[0].cand.key
            e.leader_st = stats.get(e.leader)
            e.lead_since = now
            self._backoff.pop(e.leader, None)
            e.unanswered = now
            e.unanswered_hits = e.hits
        hang_at = self._hang_deadline(e, stats)
        if now < hang_at < e.expires:
            e.expires = hang_at  # replan when the leader's silence would become a suspected hang
        plan = self.build(kept, skipped, notes, ctx)
        self._start_ramp(e, kept, plan, now)
        return plan

    def _start_ramp(self, e: _Entry, kept: list[Estimate], plan: Plan, now: float) -> None:
        """Ramp a leader whose incident just ended back in, where that incident was a relapse
        (it began soon after the one before ended); the next one takes the rest. After a
        first incident the probe that ended it re-admits fully (Linkerd)."""
        for est in e.ests:
            k, n = est.cand.key, est.st.readmissions
            if self._readmissions.get(k, 0) != n:
                self._readmissions[k] = n
                if self.ramp_s > 0 and est.st.relapses > 0:  # flapping: back by degrees
                    self._ramps[k] = now
        e.ramp_until = -1.0
        start = self._ramps.get(kept[0].cand.key) if len(kept) > 1 else None
        if start is None or now >= start + self.ramp_s:
            return
        e.ramp_start, e.ramp_until = start, start + self.ramp_s
        e.ramp_alt = Plan(
            order=(plan.order[1], plan.order[0], *plan.order[2:]),
            skipped=plan.skipped,
            policy=self.name,
            notes=ChainMap({"ramp": kept[0].cand.key}, plan.notes),  # type: ignore[arg-type]
            degraded_everywhere=plan.degraded_everywhere,
            attempt_timeouts=plan.attempt_timeouts,
        )
        if e.ramp_until < e.expires:
            e.expires = e.ramp_until

    def _alike_by_latency(
        self, kept: list[Estimate], skipped: list[tuple[Estimate, str]], chain: Sequence[Any], ctx: PlanContext
    ) -> tuple[list[Estimate], list[tuple[Estimate, str]]]:
        """When every deployment is degraded, those about as healthy as the healthiest (recent
        success within ``alike_p``) are ordered by latency and the chain as written, a soft
        skip of one of them undone: their success estimates differ by luck, not by health."""
        open_ = kept + [est for est, _ in skipped if self.hard_reason(est.cand, est.st, ctx, est.price) is None]
        if len(open_) < 2:
            return kept, skipped
        recent = [recent_p(est) for est in open_]
        best = max(recent)
        if best >= self.degraded_below:
            return kept, skipped
        written = {c.key: i for i, c in enumerate(chain)}
        alike = [est for est, p in zip(open_, recent) if p >= best - self.alike_p]
        alike.sort(key=lambda est: est.t_ok * (1.0 + self.position_bias * written.get(est.cand.key, 0)))
        return alike + [est for est in kept if est not in alike], [x for x in skipped if x[0] not in alike]

    def _watch_leader(self, e: _Entry, now: float, stats: StatsRegistry) -> None:
        """Suspect a hang when calls went to the leader and none came back for too long."""
        lead = e.leader
        if lead is not None and lead not in self._suspects and e.unanswered >= 0.0:
            st = stats.get(lead)
            if st.last_answer_at >= e.unanswered:
                e.unanswered = -1.0  # it answered since: start again with the next call
            else:
                wait, p95 = self._hang_wait(st)
                silent = now - e.unanswered
                if silent > wait and e.hits - e.unanswered_hits >= self.hang_min_calls - 1:
                    self._suspects[lead] = (now, f"no answer for {silent:.1f}s (p95 {1000 * (p95 or 0):.0f} ms): hanging?")
                    e.unanswered = -1.0
        if e.unanswered < 0.0:
            e.unanswered = now
            e.unanswered_hits = e.hits

    def _slow_answer(self, st: Any) -> bool:
        """Its last success took longer than its hang threshold: a slow answer does not clear
        a suspicion (the latency tests judge it once a few are in)."""
        return st.last_latency_s > self._hang_wait(st)[0]

    def _hang_deadline(self, e: _Entry, stats: StatsRegistry) -> float:
        """When the leader's current silence would exceed its hang threshold (inf if unwatched)."""
        lead = e.leader
        if lead is None or lead in self._suspects or e.unanswered < 0.0:
            return _INF
        return e.unanswered + self._hang_wait(stats.get(lead))[0] + 1e-3

    def _hang_wait(self, st: Any) -> tuple[float, float | None]:
        """How long the leader may stay silent before it is suspected, and its p95 latency."""
        p95 = st.latency_quantile_s(1.645)
        return max(self.hang_factor * (p95 or 2.0), self.hang_min_s), p95

    # -- probes -------------------------------------------------------------------------
    def _probe_candidates(self, e: _Entry, ctx: PlanContext) -> list[tuple[float, Any, int]]:
        plan = e.plan
        if plan is None or not plan.order:
            return []
        now = ctx.now
        out: list[tuple[float, Any, int]] = []
        leader = plan.order[0]
        demoted = [c for c, _ in plan.skipped]
        by_key = {est.cand.key: est for est in e.ests}
        lead_est = by_key.get(leader.key)
        lead_score = lead_est.score if lead_est is not None else _INF
        for cand in (*demoted, *plan.order[1:]):
            est = by_key.get(cand.key)
            if est is None or cand is leader:
                continue
            st = est.st
            if self.hard_reason(cand, st, ctx, est.price) is not None:
                continue
            last = max(st.last_success_at or -_INF, st.last_failure_at or -_INF, self._probe_at.get(cand.key, -_INF))
            min_calls = self.probe_min_calls
            settled = st.regime not in ("degraded", "slow") and not (
                st.regime == "recovered" and now - (st.regime_at or 0.0) < self.explore_interval_s
            )
            if cand in plan.order and settled:
                # healthy but not first: look again rarely, to keep its numbers fresh, or sooner
                # while its optimistic score beats the leader's
                if est.score_opt >= lead_score:
                    due = last + self.explore_interval_s
                else:
                    due = last + self.probe_interval_s
                min_calls = self.explore_min_calls
            elif st.holds.breaker_state == "open":
                # the breaker's open period is already a backoff: probe as soon as it ends
                self._judge_probe(cand.key, st)
                due = max(st.holds.breaker_open_until, self._probe_at.get(cand.key, -_INF) + self.probe_interval_s)
            else:
                due = last + self._interval(st, self._probe_level(cand.key, st))
            out.append((due if due > now - 1e9 else now, cand, min_calls))
        return out

    def _breaker_paced(self, k: str) -> bool:
        """Its breaker is not closed: the breaker's open period paces the probes (Linkerd's
        backoff), and the probe that closes it ends the incident."""
        stats = self._stats
        return stats is not None and stats.get(k).holds.breaker_state != "closed"

    def _next_probe_at(self, k: str) -> float:
        """The earliest time ``k`` may be probed again: its interval after the last probe, one
        level longer while that probe has not answered (a probe into a hang is not doubled up)."""
        pa = self._probe_at.get(k)
        if pa is None:
            return -_INF
        stats = self._stats
        if stats is None:
            return pa + self.probe_interval_s * (1 << self._backoff.get(k, 0))
        st = stats.get(k)
        level = self._probe_level(k, st)
        if st.last_answer_at < pa:
            level = min(level + 1, self.max_backoff)
        return pa + self._interval(st, level)

    def _interval(self, st: Any, level: int) -> float:
        """Seconds between probes at backoff ``level``, never longer than the longest open
        period its breaker has had: a demoted deployment is probed at least as often as a
        plain breaker would let a probe through."""
        t = self.probe_interval_s * (1 << level)
        cap = st.holds.open_s
        if cap > 0.0 and t > cap:
            return cap if cap > self.probe_interval_s else self.probe_interval_s
        return t

    def _probe_level(self, k: str, st: Any) -> int:
        """The backoff exponent of ``k``'s probes: from its probes' outcomes, and at least
        ``degraded_probe_level`` while it is degraded and its last answer was a failure (a
        deployment just demoted for failing is not probed every ``probe_interval_s``)."""
        level = self._judge_probe(k, st)
        if st.regime == "degraded" and st.consecutive_failures > 0 and level < self.degraded_probe_level:
            return self.degraded_probe_level
        return level

    def _judge_probe(self, k: str, st: Any) -> int:
        """The backoff exponent of ``k`` once its last probe's outcome is known: a failure
        doubles the interval, a success resets it (so a confirming probe follows soon)."""
        pa = self._probe_at.get(k)
        if pa is not None and self._judged.get(k) != pa:
            if (st.last_success_at or -_INF) >= pa:
                self._backoff[k] = 0
                self._judged[k] = pa
            elif (st.last_failure_at or -_INF) >= pa:
                self._backoff[k] = min(self._backoff.get(k, 0) + 1, self.max_backoff)
                self._judged[k] = pa
        return self._backoff.get(k, 0)

    def _probe(self, e: _Entry, key: tuple[str, str, str, float | None], ctx: PlanContext) -> Plan:
        now = ctx.now
        since = e.hits - e.probe_hits
        # probes are paced per deployment across every (tier, task type) entry, not per entry
        elig = [(d if self._breaker_paced(c.key) else max(d, self._next_probe_at(c.key)), c, m) for d, c, m in self._eligible.get(key) or ()]
        self._eligible[key] = elig
        e.probe_due = min((x[0] for x in elig), default=_INF)
        due = [x for x in elig if x[0] <= now and since >= x[2]]
        plan = e.plan
        assert plan is not None
        if not due:
            return plan
        due.sort(key=lambda x: x[0])
        cand = due[0][1]
        k = cand.key
        self._probe_at[k] = now
        e.unanswered_hits += 1  # a probe is not a call sent to the leader
        e.probe_hits = e.hits
        stats = self._stats
        nxt = now + (self._interval(stats.get(k), self._backoff.get(k, 0)) if stats is not None else self.probe_interval_s)
        self._eligible[key] = elig = [(nxt, c, m) if c is cand else (d, c, m) for d, c, m in elig]
        e.probe_due = min(x[0] for x in elig)
        order = (cand, *(c for c in plan.order if c is not cand))
        skipped = tuple(x for x in plan.skipped if x[0] is not cand)
        notes = ChainMap({"probe": k}, plan.notes)  # type: ignore[arg-type]
        return Plan(
            order=order,
            skipped=skipped,
            policy=self.name,
            notes=notes,
            degraded_everywhere=plan.degraded_everywhere,
            attempt_timeouts=plan.attempt_timeouts,
        )
