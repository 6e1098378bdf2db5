"""Constructed statistics for policy tests (no router, no simulator)."""

from __future__ import annotations

from dataclasses import dataclass

from policies import PlanContext, StatsRegistry


@dataclass(eq=False)
class Cand:
    key: str
    provider: str = "p"
    model: str = "m"
    input_price_per_mtok: float = 1.0
    output_price_per_mtok: float = 4.0
    context_window: int | None = None


def chain(*keys: str, prices: dict[str, float] | None = None) -> list[Cand]:
    prices = prices or {}
    return [Cand(k, input_price_per_mtok=prices.get(k, 1.0), output_price_per_mtok=4 * prices.get(k, 1.0)) for k in keys]


def ctx(now: float, *, tier: str = "t", task: str = "default", objective: str = "reliability", cost_cap: float | None = None, tokens: int = 0) -> PlanContext:
    return PlanContext(tier, task, now, objective, cost_cap, tokens)


def feed(stats: StatsRegistry, key: str, t0: float, n: int, *, rate: float = 10.0, latency: float = 1.0, fail_every: int = 0, error: str = "server_error", fail_latency: float = 0.1) -> float:
    """``n`` attempts at ``rate`` per second from ``t0``; every ``fail_every``-th fails.
    Returns the time after the last one."""
    t = t0
    for i in range(n):
        t += 1.0 / rate
        if fail_every and i % fail_every == fail_every - 1:
            stats.observe(key, False, error, fail_latency, t)
        else:
            stats.observe(key, True, None, latency * (0.8 + 0.4 * ((i * 7919) % 101) / 100), t)
    return t
