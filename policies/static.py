"""``static``: the chain exactly as written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from policies.base import Plan, PlanContext
from policies.stats import StatsRegistry

__all__ = ["StaticPolicy"]


class StaticPolicy:
    """Try deployments in the configured order; breakers and Retry-After windows are still
    honoured by the router's gate. The plan is built once per chain and reused. ``name`` labels
    the plans (a policy that falls back on the chain as written passes its own)."""

    name = "static"

    def __init__(self, name: str = "static") -> None:
        self.name = name
        self._cache: dict[int, tuple[Sequence[Any], Plan]] = {}

    def plan(self, chain: Sequence[Any], ctx: PlanContext, stats: StatsRegistry) -> Plan:
        hit = self._cache.get(id(chain))
        if hit is not None and hit[0] is chain:
            return hit[1]
        plan = Plan(order=tuple(chain), policy=self.name)
        self._cache[id(chain)] = (chain, plan)
        return plan
