"""The report's per-group figures, summed from the store's per-minute rollups.

One ``Groups`` holds every rollup of the window as numpy columns (histograms as 2-D arrays),
so a day of minutes for a dozen deployments and task types sums in a few milliseconds:
``group_figures(cols, by)`` returns the contract's figures per group.

Call-level figures (``calls``, success, fallback, retries, latency, TTFT, cost) count the
calls whose final deployment (the one that served, or the last one tried) falls in the group;
attempt-level ones (``attempts``, ``attempt_success_rate``) every attempt sent to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from telemetry.histogram import quantiles
from telemetry.rollups import Rollup

__all__ = ["BY", "FIGURES", "Columns", "breaker_trips", "columns_of", "fallback_heavy_tasks", "group_figures"]

BY = ("deployment", "provider", "model", "task_type", "tier")
FIGURES = (
    "calls", "success_rate", "attempts", "attempt_success_rate", "fallback_rate", "mean_retries",
    "p50_ms", "p95_ms", "p99_ms", "ttft_p50_ms", "cost", "cost_per_success", "unknown_price_calls",
)  # fmt: skip
FALLBACK_HEAVY = 0.10  # a task type needing a fallback more often than this is listed
_SCALARS = (
    "calls", "successes", "retries", "fallbacks", "input_tokens", "output_tokens", "cost",
    "attempt_successes", "attempt_failures",
)  # fmt: skip


@dataclass(slots=True)
class Columns:
    """The window's rollups as columns: one entry per (minute, deployment, task type)."""

    minute: np.ndarray  # epoch seconds of the minute's start
    deployment: list[str]
    task_type: list[str]
    provider: list[str]
    model: list[str]
    scalars: dict[str, np.ndarray]
    cancelled: np.ndarray  # attempts cut by the caller (sent, but neither answer nor error)
    circuit_open: np.ndarray  # attempts skipped because the breaker was open
    rate_limited: np.ndarray  # attempts answered 429 (or held back by a Retry-After)
    attempt_errors: list[dict[str, int]]
    errors: list[dict[str, int]]
    latency_hist: np.ndarray  # (rows, N_BUCKETS) call latency
    ttft_hist: np.ndarray
    attempt_latency_hist: np.ndarray

    def __len__(self) -> int:
        return len(self.minute)

    def key(self, by: str) -> list[str]:
        """Each row's group under ``by`` (one of ``BY`` except ``tier``)."""
        return getattr(self, by)


def columns_of(rollups: Sequence[Rollup]) -> Columns:
    """Columns of ``rollups`` (as ``TelemetryStore.load_rollups`` returns them)."""
    from telemetry.histogram import N_BUCKETS

    n = len(rollups)

    def col(name: str, dtype: Any = np.float64) -> np.ndarray:
        return np.fromiter((getattr(r, name) for r in rollups), dtype, n)

    def hists(name: str) -> np.ndarray:
        if not n:
            return np.zeros((0, N_BUCKETS), np.int64)
        return np.stack([getattr(r, name) for r in rollups]).astype(np.int64, copy=False)

    aerr = [r.attempt_errors for r in rollups]
    return Columns(
        minute=np.fromiter((r.minute_ts for r in rollups), np.float64, n),
        deployment=[r.deployment for r in rollups],
        task_type=[r.task_type for r in rollups],
        provider=[r.provider for r in rollups],
        model=[r.model for r in rollups],
        scalars={s: col(s) for s in _SCALARS},
        cancelled=np.fromiter((e.get("cancelled", 0) for e in aerr), np.float64, n),
        circuit_open=np.fromiter((e.get("circuit_open", 0) for e in aerr), np.float64, n),
        rate_limited=np.fromiter((e.get("rate_limited", 0) for e in aerr), np.float64, n),
        attempt_errors=aerr,
        errors=[r.errors for r in rollups],
        latency_hist=hists("latency_hist"),
        ttft_hist=hists("ttft_hist"),
        attempt_latency_hist=hists("attempt_latency_hist"),
    )


def _codes(keys: list[str]) -> tuple[np.ndarray, list[str]]:
    cats = sorted(set(keys))
    index = {k: i for i, k in enumerate(cats)}
    return np.fromiter(map(index.__getitem__, keys), np.intp, len(keys)), cats


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _q(hist: np.ndarray, qs: Sequence[float]) -> list[float | None]:
    return [None if math.isnan(v) else v for v in quantiles(hist.tolist(), qs)]


def group_figures(cols: Columns, by: str) -> dict[str, dict[str, Any]]:
    """The contract's figures per group (``None`` where a figure has no denominator)."""
    if not len(cols):
        return {}
    codes, cats = _codes(cols.key(by))
    k = len(cats)
    s = {name: np.bincount(codes, weights=v, minlength=k) for name, v in cols.scalars.items()}
    cancelled = np.bincount(codes, weights=cols.cancelled, minlength=k)
    # a deployment without a price costs nothing whatever it answers: its successes that used
    # tokens in such a minute are the calls whose cost is unknown
    sc = cols.scalars
    unpriced_rows = (sc["cost"] == 0) & ((sc["input_tokens"] + sc["output_tokens"]) > 0)
    unpriced = np.bincount(codes, weights=np.where(unpriced_rows, sc["successes"], 0.0), minlength=k)
    out: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(cats):
        mask = codes == i
        calls, succ = int(s["calls"][i]), int(s["successes"][i])
        a_ok, a_err = int(s["attempt_successes"][i]), int(s["attempt_failures"][i])
        if not calls and not (a_ok + a_err):
            continue
        p50, p95, p99 = _q(cols.latency_hist[mask].sum(axis=0), (0.5, 0.95, 0.99))
        cost = float(s["cost"][i])
        out[name] = {
            "calls": calls,
            "success_rate": _ratio(succ, calls),
            "attempts": a_ok + a_err + int(cancelled[i]),
            "attempt_success_rate": _ratio(a_ok, a_ok + a_err),
            "fallback_rate": _ratio(float(s["fallbacks"][i]), calls),
            "mean_retries": _ratio(float(s["retries"][i]), calls),
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
            "ttft_p50_ms": _q(cols.ttft_hist[mask].sum(axis=0), (0.5,))[0],
            "cost": cost,
            "cost_per_success": _ratio(cost, succ),
            "unknown_price_calls": int(unpriced[i]),
        }
    return out


def fallback_heavy_tasks(cols: Columns, threshold: float = FALLBACK_HEAVY) -> dict[str, float]:
    """Task types whose calls needed a fallback more than ``threshold`` of the time."""
    if not len(cols):
        return {}
    codes, cats = _codes(cols.task_type)
    calls = np.bincount(codes, weights=cols.scalars["calls"], minlength=len(cats))
    fb = np.bincount(codes, weights=cols.scalars["fallbacks"], minlength=len(cats))
    return {t: float(fb[i] / calls[i]) for i, t in enumerate(cats) if calls[i] and fb[i] / calls[i] > threshold}


def breaker_trips(cols: Columns) -> dict[str, int]:
    """Times each deployment's breaker opened, read as open episodes: a minute in which calls
    skipped the deployment because its breaker was open, after a minute in which none did
    (re-opening after a failed probe inside one episode is the same trip). Deployments that
    never tripped are listed with 0."""
    out: dict[str, int] = {}
    last_open: dict[str, float] = {}
    per: dict[tuple[str, float], float] = {}
    for dep, minute, n in zip(cols.deployment, cols.minute.tolist(), cols.circuit_open.tolist()):
        per[(dep, minute)] = per.get((dep, minute), 0.0) + n
        out.setdefault(dep, 0)
    for (dep, minute), n in sorted(per.items(), key=lambda kv: kv[0][1]):
        if n <= 0:
            continue
        if last_open.get(dep) != minute - 60.0:
            out[dep] += 1
        last_open[dep] = minute
    return out
