"""Per-minute rollups: what the policy engine and reports read instead of raw rows.

One ``Rollup`` per minute x deployment x task type. Call-level figures (``calls``,
``successes``, ``errors``, ``retries``, ``fallbacks``, tokens, cost, ``latency_hist``,
``ttft_hist``) count the calls whose final deployment (the one that served, or the last one
tried) is this deployment. Attempt-level figures (``attempts``, ``attempt_successes``,
``attempt_failures``, ``attempt_errors``, ``attempt_latency_hist``) count every attempt sent to
this deployment, including failed attempts of calls that another deployment then served: they
are the deployment's own health.

Histograms use the fixed buckets of ``telemetry.histogram``, so any set of rollups merges by
adding counts; ``Rollup.merge`` and ``merge_rollups`` do that.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .histogram import BUCKETS_PER_DOUBLING, N_BUCKETS, quantiles
from .records import LLMCallRecord

__all__ = ["Rollup", "RollupDelta", "accumulate", "accumulate_rows", "merge_rollups", "percentiles_by"]

_LITTLE = sys.byteorder == "little"
INT64_MAX = (1 << 63) - 1


def hist_to_bytes(h: Sequence[int]) -> bytes:
    """A histogram as little-endian int64 bytes (the stored form)."""
    a = array("q", h)
    if not _LITTLE:  # pragma: no cover - big-endian hosts
        a.byteswap()
    return a.tobytes()


def hist_from_bytes(b: bytes | memoryview) -> list[int]:
    """The counts of a stored histogram."""
    a = array("q")
    a.frombytes(bytes(b))
    if not _LITTLE:  # pragma: no cover
        a.byteswap()
    return a.tolist()


class RollupDelta:
    """Counts one batch adds to one rollup row (mutable, used by the writer)."""

    __slots__ = (
        "provider", "model", "calls", "successes", "errors", "retries", "fallbacks",
        "input_tokens", "output_tokens", "cost", "latency_sum_ms", "latency_hist", "ttft_hist",
        "attempts", "attempt_successes", "attempt_failures", "attempt_errors",
        "attempt_latency_hist",
    )  # fmt: skip

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self.calls = self.successes = self.retries = self.fallbacks = 0
        self.input_tokens = self.output_tokens = 0
        self.cost = self.latency_sum_ms = 0.0
        self.errors: dict[str, int] = {}
        self.latency_hist = [0] * N_BUCKETS
        self.ttft_hist = [0] * N_BUCKETS
        self.attempts = self.attempt_successes = self.attempt_failures = 0
        self.attempt_errors: dict[str, int] = {}
        self.attempt_latency_hist = [0] * N_BUCKETS


Key = tuple[int, str, str]


def accumulate(records: Iterable[LLMCallRecord]) -> dict[Key, RollupDelta]:
    """The rollup deltas of a batch of records, keyed by (minute epoch, deployment, task type)."""
    from ._rows import attempt_rows, call_row

    recs = list(records)
    return accumulate_rows([call_row(r) for r in recs], [a for r in recs for a in attempt_rows(r)])


def _buckets(ms: Any) -> Any:
    """Vectorised ``histogram.bucket_index`` over a float array."""
    import numpy as np

    idx = np.floor(np.log2(np.maximum(ms, 1.0)) * BUCKETS_PER_DOUBLING).astype(np.int64) + 1
    idx[ms < 1.0] = 0
    np.minimum(idx, N_BUCKETS - 1, out=idx)
    return idx


def _group(keys: list[Key]) -> tuple[list[Key], Any, Any]:
    """Distinct keys (first-seen order), the code of each row, and each key's first row."""
    import numpy as np

    distinct = list(dict.fromkeys(keys))
    index = {k: i for i, k in enumerate(distinct)}
    codes = np.fromiter(map(index.__getitem__, keys), np.intp, len(keys))
    first = np.unique(codes, return_index=True)[1]
    return distinct, codes, first


def accumulate_rows(rows: Sequence[Sequence[Any]], attempt_rows: Sequence[Sequence[Any]]) -> dict[Key, RollupDelta]:
    """The rollup deltas of calls-table and attempts-table rows (``_rows`` column order)."""
    return accumulate_columns(list(zip(*rows)), list(zip(*attempt_rows)))


def accumulate_columns(c: Sequence[Sequence[Any]], a: Sequence[Sequence[Any]]) -> dict[Key, RollupDelta]:
    """The rollup deltas of the calls-table columns ``c`` and the attempts-table columns ``a``
    (``_columns`` order; empty when there are no rows).

    The writer calls this on the rows it is about to insert; the sums are numpy bincounts over
    the batch, so the cost per row is a small fraction of inserting it.
    """
    import numpy as np

    out: dict[Key, RollupDelta] = {}
    nb = N_BUCKETS
    if c:
        minutes = ((np.array(c[1], np.float64) // 60) * 60).astype(np.int64).tolist()
        keys, codes, first = _group(list(zip(minutes, c[19], c[5])))
        k = len(keys)

        def total(col: Any) -> Any:
            return np.bincount(codes, weights=np.asarray(col, np.float64), minlength=k)

        success = np.array(c[16], bool)
        calls = np.bincount(codes, minlength=k)
        successes = np.bincount(codes, weights=success, minlength=k)
        retries, fallbacks = total(c[14]), total(np.array(c[10], bool))
        in_tok, out_tok, cost = total(c[6]), total(c[7]), total(c[8])
        lat = np.array(c[9], np.float64)
        lat_sum = np.bincount(codes, weights=lat, minlength=k)
        lat_hist = np.bincount(codes * nb + _buckets(lat), minlength=k * nb).reshape(k, nb)
        ttft = np.array(c[20], np.float64)  # None -> NaN
        has = ~np.isnan(ttft)
        ttft_hist = np.bincount(codes[has] * nb + _buckets(ttft[has]), minlength=k * nb).reshape(k, nb)
        for i, key in enumerate(keys):
            j = first[i]
            d = out[key] = RollupDelta(c[2][j], c[3][j])
            d.calls = int(calls[i])
            d.successes = int(successes[i])
            d.retries = int(retries[i])
            d.fallbacks = int(fallbacks[i])
            d.input_tokens = saturated(int(in_tok[i]))
            d.output_tokens = saturated(int(out_tok[i]))
            d.cost = float(cost[i])
            d.latency_sum_ms = float(lat_sum[i])
            d.latency_hist = lat_hist[i]
            d.ttft_hist = ttft_hist[i]
        errors = c[17]
        for j in np.flatnonzero(~success).tolist():
            d = out[keys[codes[j]]]
            et = errors[j] or "unknown"
            d.errors[et] = d.errors.get(et, 0) + 1
    if a:
        minutes = ((np.array(a[10], np.float64) // 60) * 60).astype(np.int64).tolist()
        keys, codes, first = _group(list(zip(minutes, a[3], a[11])))
        k = len(keys)
        outcome = np.array(a[6], object)
        ok = outcome == "success"
        err = outcome == "error"
        sent = ok | err
        lat = np.array(a[9], np.float64)
        attempts = np.bincount(codes, minlength=k)
        oks = np.bincount(codes, weights=ok, minlength=k)
        errs = np.bincount(codes, weights=err, minlength=k)
        hist = np.bincount(codes[sent] * nb + _buckets(lat[sent]), minlength=k * nb).reshape(k, nb)
        for i, key in enumerate(keys):
            d = out.get(key)
            if d is None:
                j = first[i]
                d = out[key] = RollupDelta(a[4][j], a[5][j])
            d.attempts = int(attempts[i])
            d.attempt_successes = int(oks[i])
            d.attempt_failures = int(errs[i])
            d.attempt_latency_hist = hist[i]
        etypes = a[7]
        for j in np.flatnonzero(~ok).tolist():
            d = out[keys[codes[j]]]
            et = etypes[j] or outcome[j]
            d.attempt_errors[et] = d.attempt_errors.get(et, 0) + 1
    return out


def saturated(n: int) -> int:
    """``n`` held within the stored 64-bit range (token sums saturate instead of overflowing)."""
    return INT64_MAX if n > INT64_MAX else -INT64_MAX - 1 if n < -INT64_MAX - 1 else n


def _add_dict(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


@dataclass(slots=True)
class Rollup:
    """One minute of one deployment and task type, as stored.

    ``minute`` is the UTC start of the minute. Histograms are numpy int64 arrays of
    ``histogram.N_BUCKETS`` counts: ``latency_hist`` of call latency (calls ending here),
    ``ttft_hist`` of time to first token (calls that reported one), ``attempt_latency_hist`` of
    sent attempts (successes and errors). ``errors`` counts failed calls by ``error_type``;
    ``attempt_errors`` counts non-successful attempts by ``error_type`` (or by outcome,
    ``skipped``/``cancelled``, when an attempt has none).
    """

    minute: datetime
    deployment: str
    task_type: str
    provider: str
    model: str
    calls: int = 0
    successes: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    fallbacks: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    latency_sum_ms: float = 0.0
    latency_hist: Any = None
    ttft_hist: Any = None
    attempts: int = 0
    attempt_successes: int = 0
    attempt_failures: int = 0
    attempt_errors: dict[str, int] = field(default_factory=dict)
    attempt_latency_hist: Any = None

    def __post_init__(self) -> None:
        import numpy as np

        for name in ("latency_hist", "ttft_hist", "attempt_latency_hist"):
            h = getattr(self, name)
            setattr(self, name, np.zeros(N_BUCKETS, np.int64) if h is None else np.asarray(h, np.int64))

    @property
    def failures(self) -> int:
        """Calls that failed."""
        return self.calls - self.successes

    @property
    def minute_ts(self) -> float:
        """``minute`` as epoch seconds."""
        return self.minute.timestamp()

    @property
    def success_rate(self) -> float:
        """User-facing success rate of the calls ending at this deployment (NaN if none)."""
        return self.successes / self.calls if self.calls else math.nan

    @property
    def attempt_success_rate(self) -> float:
        """Share of sent attempts that succeeded (NaN if none were sent)."""
        sent = self.attempt_successes + self.attempt_failures
        return self.attempt_successes / sent if sent else math.nan

    @property
    def mean_latency_ms(self) -> float:
        """Mean call latency (NaN if no calls)."""
        return self.latency_sum_ms / self.calls if self.calls else math.nan

    def latency_quantiles(self, qs: Sequence[float] = (0.5, 0.95, 0.99)) -> list[float]:
        """Quantiles (ms) of call latency from the histogram."""
        return quantiles(self.latency_hist, qs)

    def merge(self, other: Rollup) -> Rollup:
        """A new rollup summing this one and ``other`` (keys taken from this one)."""
        return Rollup(
            minute=min(self.minute, other.minute),
            deployment=self.deployment,
            task_type=self.task_type,
            provider=self.provider,
            model=self.model,
            calls=self.calls + other.calls,
            successes=self.successes + other.successes,
            errors=_add_dict(self.errors, other.errors),
            retries=self.retries + other.retries,
            fallbacks=self.fallbacks + other.fallbacks,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost=self.cost + other.cost,
            latency_sum_ms=self.latency_sum_ms + other.latency_sum_ms,
            latency_hist=self.latency_hist + other.latency_hist,
            ttft_hist=self.ttft_hist + other.ttft_hist,
            attempts=self.attempts + other.attempts,
            attempt_successes=self.attempt_successes + other.attempt_successes,
            attempt_failures=self.attempt_failures + other.attempt_failures,
            attempt_errors=_add_dict(self.attempt_errors, other.attempt_errors),
            attempt_latency_hist=self.attempt_latency_hist + other.attempt_latency_hist,
        )


_BY: dict[str, Callable[[Rollup], Any]] = {
    "deployment": lambda r: r.deployment,
    "provider": lambda r: r.provider,
    "model": lambda r: r.model,
    "task_type": lambda r: r.task_type,
    "minute": lambda r: r.minute,
    "all": lambda r: "all",
}


def merge_rollups(rollups: Iterable[Rollup], by: str | Callable[[Rollup], Any] = "deployment") -> dict[Any, Rollup]:
    """Rollups summed per group: ``by`` is a field name (``deployment``, ``provider``,
    ``model``, ``task_type``, ``minute``, ``all``) or a function of a rollup."""
    key = _BY.get(by) if isinstance(by, str) else by
    if key is None:
        raise ValueError(f"unknown grouping {by!r}; use one of {sorted(_BY)} or a function")
    out: dict[Any, Rollup] = {}
    for r in rollups:
        k = key(r)
        cur = out.get(k)
        out[k] = r if cur is None else cur.merge(r)
    return out


def percentiles_by(
    rollups: Iterable[Rollup],
    by: str | Callable[[Rollup], Any] = "deployment",
    qs: Sequence[float] = (50, 95, 99),
    hist: str = "latency_hist",
) -> dict[Any, list[float]]:
    """Latency percentiles (``qs`` in 0-100, ms) per group from summed histograms (``hist``
    names which one: ``latency_hist``, ``ttft_hist`` or ``attempt_latency_hist``)."""
    import numpy as np

    key = _BY.get(by) if isinstance(by, str) else by
    if key is None:
        raise ValueError(f"unknown grouping {by!r}; use one of {sorted(_BY)} or a function")
    sums: dict[Any, Any] = {}
    for r in rollups:
        k = key(r)
        h = getattr(r, hist)
        cur = sums.get(k)
        sums[k] = h.copy() if cur is None else np.add(cur, h, out=cur)
    fr = [q / 100.0 for q in qs]
    return {k: quantiles(h.tolist(), fr) for k, h in sums.items()}
