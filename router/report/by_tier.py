"""``--by tier`` from the raw calls: the rollups are keyed by deployment and task type, not by
tier, so this grouping reads the calls table (numpy columns) and one aggregate over attempts.
Slower than the rollups (seconds on millions of calls) and exact: percentiles are computed
from the calls' latencies, not from histograms."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["tier_figures"]

_COLUMNS = ("ts", "tier", "success", "fallback_used", "retry_count", "latency_ms", "ttft_ms", "cost", "input_tokens", "output_tokens")


def _pct(x: np.ndarray, qs: tuple[float, ...]) -> list[float | None]:
    x = x[~np.isnan(x)]
    return [float(v) for v in np.percentile(x, qs)] if len(x) else [None] * len(qs)


def _attempts_by_tier(store: Any, lo: float | None, hi: float | None) -> dict[str, tuple[int, int, int]]:
    """(successes, errors, cancelled) of the attempts of each tier's calls."""
    from sqlalchemy import case, func, select

    c, a = store.tables.calls, store.tables.attempts

    def count(outcome: str) -> Any:
        return func.sum(case((a.c.outcome == outcome, 1), else_=0))

    stmt = select(c.c.tier, count("success"), count("error"), count("cancelled")).join(c, c.c.call_id == a.c.call_id)
    if lo is not None:
        stmt = stmt.where(c.c.ts >= lo)
    if hi is not None:
        stmt = stmt.where(c.c.ts < hi)
    stmt = stmt.group_by(c.c.tier)
    with store.engine.connect() as conn:
        return {t: (int(ok or 0), int(err or 0), int(cn or 0)) for t, ok, err, cn in conn.execute(stmt)}


def tier_figures(store: Any, lo: float | None, hi: float | None) -> dict[str, dict[str, Any]]:
    """The contract's figures per tier for the calls with ``lo <= ts < hi``."""
    frame = store.frame(since=lo, until=hi, columns=_COLUMNS)
    attempts = _attempts_by_tier(store, lo, hi)
    out: dict[str, dict[str, Any]] = {}
    if not len(frame):
        return out
    codes, cats = frame.codes("tier")
    succ_all = frame["success"]
    tokens = frame["input_tokens"] + frame["output_tokens"]
    unpriced_all = succ_all & (frame["cost"] == 0) & (tokens > 0)
    for i, tier in enumerate(cats):
        m = codes == i
        n = int(m.sum())
        if not n:
            continue
        succ = int(succ_all[m].sum())
        cost = float(frame["cost"][m].sum())
        ok, err, cancelled = attempts.get(tier, (0, 0, 0))
        p50, p95, p99 = _pct(frame["latency_ms"][m].astype(np.float64), (50, 95, 99))
        out[tier] = {
            "calls": n,
            "success_rate": succ / n,
            "attempts": ok + err + cancelled,
            "attempt_success_rate": ok / (ok + err) if ok + err else None,
            "fallback_rate": float(frame["fallback_used"][m].mean()),
            "mean_retries": float(frame["retry_count"][m].mean()),
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
            "ttft_p50_ms": _pct(frame["ttft_ms"][m].astype(np.float64), (50,))[0],
            "cost": cost,
            "cost_per_success": cost / succ if succ else None,
            "unknown_price_calls": int(unpriced_all[m].sum()),
        }
    return out
