"""Columnar analysis of calls on numpy: the seed's queries in a line each.

Strings are encoded once to integer codes, so group-bys are ``np.bincount`` over codes::

    frame = store.frame(since=time.time() - 86400)
    frame.group_by("provider").failure_rate()                                   # per provider
    {t: r for t, r in frame.group_by("task_type").fallback_rate().items() if r > 0.1}
    frame.rolling_mean("latency_ms", window=100)                                # degradation
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._rows import deployment_of, epoch
from .records import LLMCallRecord

__all__ = ["FRAME_COLUMNS", "SEED_COLUMNS", "CallFrame", "GroupBy", "Trend", "check_columns", "paused_gc"]

FRAME_COLUMNS: tuple[str, ...] = (
    "ts", "provider", "model", "deployment", "tier", "task_type", "success", "error_type",
    "fallback_used", "latency_ms", "ttft_ms", "cost", "input_tokens", "output_tokens",
    "retry_count",
)  # fmt: skip
# enough for the seed's three queries (failure rate, fallback rate, rolling latency)
SEED_COLUMNS: tuple[str, ...] = ("ts", "provider", "task_type", "success", "fallback_used", "latency_ms")
STRING_COLUMNS = frozenset({"provider", "model", "deployment", "tier", "task_type", "error_type"})
_BOOL = frozenset({"success", "fallback_used"})
_INT = frozenset({"input_tokens", "output_tokens", "retry_count"})


def check_columns(columns: Sequence[str]) -> None:
    """Raise ``ValueError`` for a column that is not in ``FRAME_COLUMNS``."""
    unknown = [c for c in columns if c not in FRAME_COLUMNS]
    if unknown or not columns:
        raise ValueError(f"unknown frame column(s) {unknown}; columns: {', '.join(FRAME_COLUMNS)}")


def _encode(values: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """Integer codes (in order of first appearance) and the categories; C-speed loops only."""
    categories = list(dict.fromkeys(values))
    index = {v: i for i, v in enumerate(categories)}
    codes = np.fromiter(map(index.__getitem__, values), np.int32, len(values))
    return codes, categories


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic GC while millions of tuples are allocated (none of them cyclic)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass(frozen=True, slots=True)
class Trend:
    """Mean of a column per time bin (``starts`` in epoch seconds) and its least-squares slope
    per hour over the individual calls (NaN with fewer than two calls)."""

    starts: np.ndarray
    means: np.ndarray
    counts: np.ndarray
    slope_per_hour: float


class CallFrame:
    """Calls as numpy columns (see ``FRAME_COLUMNS``); string columns held as int codes.

    ``frame[name]`` returns a column (strings decoded to an object array; ``ttft_ms`` has NaN
    where absent); ``frame.codes(name)`` returns the codes and their categories.
    """

    def __init__(self, columns: dict[str, np.ndarray], categories: dict[str, list[Any]]) -> None:
        self._cols = columns
        self._cats = categories
        self._n = len(next(iter(columns.values()))) if columns else 0

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]], columns: Sequence[str] = FRAME_COLUMNS) -> CallFrame:
        """A frame from rows holding ``columns`` (default ``FRAME_COLUMNS``) in that order."""
        check_columns(columns)
        with paused_gc():
            return cls._from_rows(rows, columns)

    @classmethod
    def _from_rows(cls, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> CallFrame:
        cols: dict[str, np.ndarray] = {}
        cats: dict[str, list[Any]] = {}
        n = len(rows)
        transposed = list(zip(*rows)) if n else [()] * len(columns)
        for name, values in zip(columns, transposed, strict=True):
            if name in STRING_COLUMNS:
                cols[name], cats[name] = _encode(values)
            elif name in _BOOL:
                cols[name] = np.fromiter(values, bool, n)
            elif name in _INT:
                cols[name] = np.fromiter(values, np.int64, n)
            else:
                cols[name] = np.array(values, dtype=np.float64) if n else np.empty(0, np.float64)
        return cls(cols, cats)

    @classmethod
    def from_records(cls, records: Iterable[LLMCallRecord]) -> CallFrame:
        """A frame from records (e.g. a ``MemorySink`` or a ``query`` result), in their order."""
        rows = [
            (epoch(r.timestamp), r.provider, r.model, deployment_of(r), r.tier, r.task_type, r.success,
             r.error_type, r.fallback_used, r.latency_ms, r.ttft_ms, r.cost, r.input_tokens,
             r.output_tokens, r.retry_count)
            for r in records
        ]  # fmt: skip
        return cls.from_rows(rows)

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"CallFrame({self._n} calls)"

    @property
    def columns(self) -> tuple[str, ...]:
        """The loaded columns."""
        return tuple(self._cols)

    def __getitem__(self, name: str) -> np.ndarray:
        col = self._column(name)
        if name in STRING_COLUMNS:
            return np.array(self._cats[name], dtype=object)[col] if self._n else np.empty(0, object)
        return col

    def _column(self, name: str) -> np.ndarray:
        try:
            return self._cols[name]
        except KeyError:
            if name in FRAME_COLUMNS:
                raise KeyError(f"column {name!r} was not loaded; this frame has: {', '.join(self._cols)}") from None
            raise KeyError(f"unknown column {name!r}; columns: {', '.join(FRAME_COLUMNS)}") from None

    def codes(self, name: str) -> tuple[np.ndarray, list[Any]]:
        """Integer codes of a string column and the category of each code."""
        if name not in STRING_COLUMNS:
            raise ValueError(f"{name!r} is not a string column; string columns: {sorted(STRING_COLUMNS)}")
        return self._column(name), self._cats[name]

    def select(self, mask: np.ndarray) -> CallFrame:
        """The calls where the boolean ``mask`` is true (categories are kept)."""
        return CallFrame({k: v[mask] for k, v in self._cols.items()}, self._cats)

    def where(self, **equals: Any) -> CallFrame:
        """The calls whose columns equal the given values, e.g. ``where(provider="openai")``."""
        mask = np.ones(self._n, bool)
        for name, value in equals.items():
            if name in STRING_COLUMNS:
                cats = self._cats[name]
                mask &= self._column(name) == (cats.index(value) if value in cats else -1)
            else:
                mask &= self._column(name) == value
        return self.select(mask)

    # -- whole-frame figures -----------------------------------------------------------------

    def failure_rate(self) -> float:
        """Share of calls that failed (NaN for an empty frame)."""
        return float(1.0 - self._column("success").mean()) if self._n else math.nan

    def fallback_rate(self) -> float:
        """Share of calls that used a fallback deployment."""
        return float(self._column("fallback_used").mean()) if self._n else math.nan

    def cost_per_success(self) -> float:
        """Total cost divided by successful calls (NaN without successes)."""
        s = int(self._column("success").sum())
        return float(self._column("cost").sum()) / s if s else math.nan

    def percentiles(self, column: str = "latency_ms", qs: Sequence[float] = (50, 95, 99)) -> list[float]:
        """Percentiles (0-100) of a numeric column, ignoring NaN."""
        x = self._column(column).astype(np.float64)
        x = x[~np.isnan(x)]
        return [float(v) for v in np.percentile(x, qs)] if len(x) else [math.nan] * len(qs)

    def rolling_mean(self, column: str = "latency_ms", window: int = 100) -> np.ndarray:
        """Mean over the last ``window`` calls at each call (NaN for the first ``window - 1``)."""
        if window < 1:
            raise ValueError("window must be >= 1")
        x = self._column(column).astype(np.float64)
        out = np.full(self._n, np.nan)
        if self._n >= window:
            c = np.cumsum(x)
            out[window - 1 :] = (c[window - 1 :] - np.concatenate(([0.0], c[:-window]))) / window
        return out

    def trend(self, column: str = "latency_ms", every: float = 3600.0) -> Trend:
        """Mean of ``column`` per ``every``-second bin and its slope per hour."""
        ts = self._column("ts")
        x = self._column(column).astype(np.float64)
        ok = ~np.isnan(x)
        ts, x = ts[ok], x[ok]
        if not len(ts):
            e = np.empty(0)
            return Trend(e, e, np.empty(0, np.int64), math.nan)
        t0 = math.floor(ts.min() / every) * every
        b = ((ts - t0) // every).astype(np.int64)
        counts = np.bincount(b)
        sums = np.bincount(b, weights=x)
        keep = counts > 0
        means = sums[keep] / counts[keep]
        starts = t0 + np.nonzero(keep)[0] * every
        slope = math.nan
        if len(ts) > 1 and ts.max() > ts.min():
            tc = (ts - ts.mean()) / 3600.0
            slope = float((tc * (x - x.mean())).sum() / (tc * tc).sum())
        return Trend(starts, means, counts[keep], slope)

    def group_by(self, by: str) -> GroupBy:
        """Groups by a string column (``provider``, ``deployment``, ``task_type``, ...)."""
        codes, cats = self.codes(by)
        return GroupBy(self, codes, cats)

    # -- export ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, np.ndarray]:
        """Decoded columns."""
        return {name: self[name] for name in self._cols}

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame`` (strings as categoricals, ``timestamp`` as UTC datetimes)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(
                "to_pandas() needs pandas, which is not installed: pip install pandas "
                "(or the 'analysis' extra of attune-router)"
            ) from exc
        data: dict[str, Any] = {}
        if "ts" in self._cols:
            data["timestamp"] = pd.to_datetime(self._cols["ts"], unit="s", utc=True)
        for name in self._cols:
            if name == "ts":
                continue
            if name in STRING_COLUMNS:
                data[name] = pd.Categorical.from_codes(self._cols[name], categories=_cats_for_pandas(self._cats[name]))
            else:
                data[name] = self._cols[name]
        return pd.DataFrame(data)

    def to_polars(self) -> Any:
        """A ``polars.DataFrame`` (strings as categoricals)."""
        try:
            import polars as pl
        except ImportError as exc:
            raise ImportError(
                "to_polars() needs polars, which is not installed: pip install polars "
                "(or the 'analysis' extra of attune-router)"
            ) from exc
        data: dict[str, Any] = {}
        for name in self._cols:
            if name == "ts":
                data["timestamp"] = (self._cols["ts"] * 1e6).astype("int64")
            else:
                data[name] = self[name] if name in STRING_COLUMNS else self._cols[name]
        df = pl.DataFrame(data)
        if "timestamp" in data:
            df = df.with_columns(pl.col("timestamp").cast(pl.Datetime("us", "UTC")))
        return df


def _cats_for_pandas(cats: list[Any]) -> list[Any]:
    return ["<none>" if c is None else c for c in cats]


class GroupBy:
    """A frame grouped by one string column; every figure returns ``{group: value}``."""

    def __init__(self, frame: CallFrame, codes: np.ndarray, categories: list[Any]) -> None:
        self.frame = frame
        self._codes = codes
        self._cats = categories
        self._k = len(categories)
        self._counts = np.bincount(codes, minlength=self._k)

    def _out(self, values: np.ndarray) -> dict[Any, float]:
        return {self._cats[i]: float(values[i]) for i in range(self._k) if self._counts[i]}

    def _sum(self, x: np.ndarray) -> np.ndarray:
        return np.bincount(self._codes, weights=x, minlength=self._k)

    def count(self) -> dict[Any, int]:
        """Calls per group."""
        return {self._cats[i]: int(c) for i, c in enumerate(self._counts) if c}

    def sum(self, column: str) -> dict[Any, float]:
        return self._out(self._sum(self.frame._column(column).astype(np.float64)))

    def mean(self, column: str) -> dict[Any, float]:
        """Mean of a numeric column per group (NaN values ignored)."""
        x = self.frame._column(column).astype(np.float64)
        ok = ~np.isnan(x)
        n = np.bincount(self._codes[ok], minlength=self._k)
        s = np.bincount(self._codes[ok], weights=x[ok], minlength=self._k)
        with np.errstate(invalid="ignore", divide="ignore"):
            return self._out(s / n)

    def failure_rate(self) -> dict[Any, float]:
        """Share of failed calls per group."""
        return self._out(1.0 - self._sum(self.frame._column("success")) / np.maximum(self._counts, 1))

    def success_rate(self) -> dict[Any, float]:
        return self._out(self._sum(self.frame._column("success")) / np.maximum(self._counts, 1))

    def fallback_rate(self) -> dict[Any, float]:
        """Share of calls that needed a fallback per group."""
        return self._out(self._sum(self.frame._column("fallback_used")) / np.maximum(self._counts, 1))

    def cost_per_success(self) -> dict[Any, float]:
        """Total cost over successful calls per group (NaN without successes)."""
        cost = self._sum(self.frame._column("cost"))
        succ = self._sum(self.frame._column("success"))
        with np.errstate(invalid="ignore", divide="ignore"):
            return self._out(np.where(succ > 0, cost / np.where(succ > 0, succ, 1), np.nan))

    def percentiles(self, column: str = "latency_ms", qs: Sequence[float] = (50, 95, 99)) -> dict[Any, list[float]]:
        """Percentiles (0-100, linear interpolation as ``numpy.percentile``) per group."""
        x = self.frame._column(column).astype(np.float64)
        ok = ~np.isnan(x)
        codes, x = self._codes[ok], x[ok]
        if self._k <= 32:  # few groups: a selection per group beats one big sort
            out_small: dict[Any, list[float]] = {}
            for i in range(self._k):
                xi = x[codes == i]
                if len(xi):
                    out_small[self._cats[i]] = [float(v) for v in np.percentile(xi, qs)]
            return out_small
        order = np.lexsort((x, codes))
        xs = x[order]
        counts = np.bincount(codes, minlength=self._k)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        out: dict[Any, list[float]] = {}
        for i in range(self._k):
            m = counts[i]
            if not m:
                continue
            pos = np.asarray(qs, np.float64) / 100.0 * (m - 1)
            lo = np.floor(pos).astype(np.int64)
            hi = np.minimum(lo + 1, m - 1)
            frac = pos - lo
            s = starts[i]
            vals = xs[s + lo] * (1 - frac) + xs[s + hi] * frac
            out[self._cats[i]] = [float(v) for v in vals]
        return out

    def agg(self, **funcs: Callable[[CallFrame], Any]) -> dict[Any, dict[str, Any]]:
        """Any figures per group: each function receives the group's ``CallFrame``."""
        out: dict[Any, dict[str, Any]] = {}
        for i in range(self._k):
            if self._counts[i]:
                sub = self.frame.select(self._codes == i)
                out[self._cats[i]] = {name: f(sub) for name, f in funcs.items()}
        return out
