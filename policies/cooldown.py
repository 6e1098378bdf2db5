"""``cooldown``: a baseline in the manner of LiteLLM 1.110.2's router defaults.

- A deployment is cooled down for ``cooldown_s`` (5 s) after a 429 when its chain has other
  deployments, after a 401, or when more than half (``failure_threshold``) of at least
  ``min_requests`` (5) attempts in the current calendar minute failed.
- No half-open probe: when the cooldown ends the deployment simply rejoins.
- Connection errors never cool a deployment down and are not counted; client errors (400,
  404, 422, context length) are not counted either.
- Retries: 2 per deployment with 0.5 s doubling backoff capped at 8 s; no circuit breakers,
  no retry budget, Retry-After not honoured, timeouts retried whatever time is left
  (``router_settings``, which the simulator applies).

Cooled deployments are put at the end of the order rather than skipped: LiteLLM calls a
cooled deployment only when every deployment is cooled; the router tries them only after
every deployment that is not cooled has failed, which is the nearest the plan seam allows.

The policy learns from finished call records (``observe_record``), so it reacts when a call
ends, using each attempt's own time; LiteLLM reacts per attempt, a few seconds earlier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from policies.base import Plan, PlanContext
from policies.static import StaticPolicy

__all__ = ["CooldownPolicy"]

_NOT_COUNTED = frozenset({"connection", "bad_request", "context_length", "circuit_open", "cancelled"})


class CooldownPolicy:
    """LiteLLM-style cooldowns; see the module docstring for the rules."""

    name = "cooldown"

    def __init__(
        self,
        *,
        cooldown_s: float = 5.0,
        failure_threshold: float = 0.5,
        min_requests: int = 5,
        retries: int = 2,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 8.0,
    ) -> None:
        if cooldown_s <= 0 or not 0 < failure_threshold <= 1 or min_requests < 1 or retries < 0:
            raise ValueError("cooldown_s > 0, 0 < failure_threshold <= 1, min_requests >= 1 and retries >= 0 are required")
        self.cooldown_s = cooldown_s
        self.failure_threshold = failure_threshold
        self.min_requests = min_requests
        self.router_settings: dict[str, Any] = {
            "breakers_enabled": False,
            "retry_budget_enabled": False,
            "honour_retry_after": False,
            "keep_time_to_fall_back": False,
            "max_attempts_per_deployment": retries + 1,
            "backoff_initial_s": backoff_initial_s,
            "backoff_max_s": backoff_max_s,
        }
        self.cooled: dict[str, float] = {}  # deployment -> wall time its cooldown ends
        self._minute: dict[str, list[int]] = {}  # deployment -> [minute, successes, failures]
        self._as_written = StaticPolicy(self.name)  # the plan while nothing is cooled down

    # -- learning --------------------------------------------------------------------------
    def _count(self, key: str, t: float, failed: bool) -> tuple[int, int]:
        minute = int(t // 60.0)
        c = self._minute.get(key)
        if c is None or c[0] != minute:
            if c is not None and c[0] > minute:
                return 0, 0  # a late report from a minute already closed
            c = self._minute[key] = [minute, 0, 0]
        c[2 if failed else 1] += 1
        return c[1], c[2]

    def _cool(self, key: str, until: float) -> None:
        if until > self.cooled.get(key, 0.0):
            self.cooled[key] = until

    def observe_record(self, record: Any) -> None:
        """Count every attempt of a finished call in its minute and cool deployments down."""
        group = len(record.plan_order) > 1
        for a in record.attempts:
            outcome = a.outcome
            if outcome == "success":
                if len(record.attempts) == 1:
                    t = record.timestamp.timestamp() + a.latency_ms / 1000.0
                else:
                    t = a.started_at.timestamp() + a.latency_ms / 1000.0
                self._count(a.deployment, t, False)
                continue
            if outcome != "error" or a.error_type in _NOT_COUNTED:
                continue
            t = a.started_at.timestamp() + a.latency_ms / 1000.0
            ok, failed = self._count(a.deployment, t, True)
            etype = a.error_type
            total = ok + failed
            if (
                (etype == "rate_limited" and group)
                or etype == "auth"
                or (total >= self.min_requests and failed / total > self.failure_threshold)
            ):
                self._cool(a.deployment, t + self.cooldown_s)

    # -- planning --------------------------------------------------------------------------
    def plan(self, chain: Sequence[Any], ctx: PlanContext, stats: Any) -> Plan:
        cooled = self.cooled
        if cooled:
            now = ctx.now
            for k in [k for k, until in cooled.items() if until <= now]:
                del cooled[k]
        if not cooled:
            return self._as_written.plan(chain, ctx, stats)
        warm = [c for c in chain if c.key not in cooled]
        cold = sorted((c for c in chain if c.key in cooled), key=lambda c: cooled[c.key])
        notes = {"cooled_down": {c.key: round(cooled[c.key] - ctx.now, 3) for c in cold}}
        return Plan(order=tuple(warm + cold), policy=self.name, notes=notes)
