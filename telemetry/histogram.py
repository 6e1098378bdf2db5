"""Fixed log-spaced latency histograms: mergeable by addition, quantiles within a few percent.

Bucket 0 holds values below 1 ms; bucket ``k`` (1 ≤ k ≤ 120) holds
``[2**((k-1)/6), 2**(k/6))`` ms, six buckets per doubling from 1 ms to 2**20 ms (about 17
minutes); the last bucket holds everything above. A bucket spans 12.2 %, so a quantile read
with log interpolation inside its bucket is within about ±6 % of the exact value, and usually
within 1-2 %. Histograms of any set of rollups add element-wise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "BUCKETS_PER_DOUBLING",
    "N_BUCKETS",
    "bucket_bounds",
    "bucket_index",
    "histogram_of",
    "quantile",
    "quantiles",
]

BUCKETS_PER_DOUBLING = 6
_MAX_EXP = 20
N_BUCKETS = BUCKETS_PER_DOUBLING * _MAX_EXP + 2  # underflow + 120 log buckets + overflow
_LAST = N_BUCKETS - 1
_log2 = math.log2


def bucket_index(ms: float) -> int:
    """The bucket holding a latency of ``ms`` milliseconds."""
    if ms < 1.0:
        return 0
    i = int(_log2(ms) * BUCKETS_PER_DOUBLING) + 1
    return i if i < _LAST else _LAST


def bucket_bounds(i: int) -> tuple[float, float]:
    """Lower and upper bound (ms) of bucket ``i``; the last bucket's upper bound is infinite."""
    if i <= 0:
        return 0.0, 1.0
    if i >= _LAST:
        return 2.0**_MAX_EXP, math.inf
    return 2.0 ** ((i - 1) / BUCKETS_PER_DOUBLING), 2.0 ** (i / BUCKETS_PER_DOUBLING)


def histogram_of(values_ms: Iterable[float]) -> list[int]:
    """A histogram (list of ``N_BUCKETS`` counts) of the given latencies."""
    h = [0] * N_BUCKETS
    for v in values_ms:
        h[bucket_index(v)] += 1
    return h


def quantile(counts: Sequence[int] | Any, q: float) -> float:
    """The ``q``-quantile (0 ≤ q ≤ 1) in ms of a histogram; NaN when it is empty.

    The rank is located in its bucket and interpolated geometrically between the bucket's
    bounds (linearly in the first bucket; the overflow bucket returns its lower bound).
    """
    return quantiles(counts, (q,))[0]


def quantiles(counts: Sequence[int] | Any, qs: Sequence[float]) -> list[float]:
    """Several quantiles of one histogram, in the order of ``qs``."""
    total = 0
    cum: list[int] = []
    for c in counts:
        total += int(c)
        cum.append(total)
    out: list[float] = []
    for q in qs:
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be within [0, 1], got {q}")
        if total == 0:
            out.append(math.nan)
            continue
        rank = q * total
        i = 0
        while i < len(cum) - 1 and cum[i] < rank:
            i += 1
        before = cum[i - 1] if i else 0
        inside = cum[i] - before
        frac = (rank - before) / inside if inside else 0.0
        frac = min(max(frac, 0.0), 1.0)
        lo, hi = bucket_bounds(i)
        if i == 0:
            out.append(lo + (hi - lo) * frac)
        elif math.isinf(hi):
            out.append(lo)
        else:
            out.append(lo * (hi / lo) ** frac)
    return out
