"""One deployment's minutes, summed over task types from the report's rollup columns, and
latencies drawn from a minute's histogram."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from telemetry.histogram import N_BUCKETS, bucket_bounds

from .figures import Columns

__all__ = ["LOG_MID", "Series", "between", "coarsen", "latencies_s", "per_deployment"]

_NOT_SENT = frozenset({"circuit_open", "cancelled", "skipped"})
_PHI = (math.sqrt(5.0) - 1.0) / 2.0
_LO = np.array([bucket_bounds(i)[0] for i in range(N_BUCKETS)])
_HI = np.array([min(bucket_bounds(i)[1], 2.0 * bucket_bounds(i)[0] or 1.0) for i in range(N_BUCKETS)])
LOG_MID = np.log(np.sqrt(np.maximum(_LO, 0.5) * _HI))  # log-ms middle of each bucket


@dataclass(slots=True)
class Series:
    """One deployment's minutes (all task types summed), in time order."""

    minute: np.ndarray
    ok: np.ndarray  # sent attempts that succeeded
    failed: np.ndarray  # sent attempts that failed, 429s excepted
    limited: np.ndarray  # sent attempts answered 429
    calls: np.ndarray
    retries: np.ndarray
    hist: np.ndarray  # attempt latency histogram per minute
    failure_types: list[dict[str, float]] = field(default_factory=list)


def per_deployment(cols: Columns) -> dict[str, Series]:
    """The window's rollups summed per deployment and minute."""
    out: dict[str, Series] = {}
    deps = np.array(cols.deployment, dtype=object)
    sc = cols.scalars
    for dep in sorted(set(cols.deployment)):
        idx = np.flatnonzero(deps == dep)
        minutes, inv = np.unique(cols.minute[idx], return_inverse=True)
        k = len(minutes)

        def total(x: np.ndarray) -> np.ndarray:
            return np.bincount(inv, weights=x[idx], minlength=k)

        types: list[dict[str, float]] = [{} for _ in range(k)]
        for j, i in zip(inv.tolist(), idx.tolist()):
            for t, n in cols.attempt_errors[i].items():
                if t not in _NOT_SENT and t != "rate_limited":
                    types[j][t] = types[j].get(t, 0.0) + n
        failed = np.array([sum(t.values()) for t in types], np.float64)
        sent_failures = total(sc["attempt_failures"])
        hist = np.zeros((k, N_BUCKETS), np.int64)
        np.add.at(hist, inv, cols.attempt_latency_hist[idx])
        out[dep] = Series(
            minute=minutes,
            ok=total(sc["attempt_successes"]),
            failed=failed,
            limited=np.maximum(sent_failures - failed, 0.0),
            calls=total(sc["calls"]),
            retries=total(sc["retries"]),
            hist=hist,
            failure_types=types,
        )
    return out


def latencies_s(cum: np.ndarray, n: int, start: int) -> list[float]:
    """``n`` latencies (seconds) at well-spread quantiles of a histogram given as its
    cumulative counts (ms buckets)."""
    if n <= 0:
        return []
    total = cum[-1]
    if total <= 0:
        return [1.0] * n
    p = ((start + np.arange(n)) * _PHI + 0.5) % 1.0
    rank = p * total
    i = np.minimum(np.searchsorted(cum, rank, side="left"), N_BUCKETS - 1)
    before = np.where(i > 0, cum[np.maximum(i - 1, 0)], 0)
    inside = np.maximum(cum[i] - before, 1)
    frac = np.clip((rank - before) / inside, 0.0, 1.0)
    lo, hi = _LO[i], _HI[i]
    ms = np.where(i == 0, hi * frac, lo * (hi / np.maximum(lo, 1e-9)) ** frac)
    return (np.maximum(ms, 0.1) / 1000.0).tolist()


def coarsen(s: Series, minutes: int) -> Series:
    """The series summed into bins of ``minutes`` (aligned on its first minute)."""
    if minutes <= 1 or not len(s.minute):
        return s
    width = 60.0 * minutes
    b = ((s.minute - s.minute[0]) // width).astype(np.int64)
    starts, inv = np.unique(b, return_inverse=True)
    k = len(starts)

    def total(x: np.ndarray) -> np.ndarray:
        return np.bincount(inv, weights=x, minlength=k)

    hist = np.zeros((k, s.hist.shape[1]), np.int64)
    np.add.at(hist, inv, s.hist)
    types: list[dict[str, float]] = [{} for _ in range(k)]
    for j, t in zip(inv.tolist(), s.failure_types):
        for name, n in t.items():
            types[j][name] = types[j].get(name, 0.0) + n
    return Series(s.minute[0] + starts * width, total(s.ok), total(s.failed), total(s.limited), total(s.calls), total(s.retries), hist, types)


def between(s: Series, a: float, b: float) -> np.ndarray:
    return (s.minute + 60.0 > a) & (s.minute < b)


