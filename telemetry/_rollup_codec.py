"""Rollup rows to ``Rollup`` objects and back, by the column order of ``_columns.ROLLUPS``:
the one place a stored rollup row is unpacked (``decode``) and built (``zero_row``,
``updated_row``)."""

from __future__ import annotations

from typing import Any

from ._columns import ROLLUP_COLUMNS, ROLLUP_VALUE_COLUMNS
from ._rows import _dumps, _loads, from_epoch
from .histogram import N_BUCKETS
from .rollups import Key, Rollup, RollupDelta, hist_to_bytes, saturated

__all__ = ["decode", "rollup_from_row", "updated_row", "zero_row"]

_HISTS = frozenset({"latency_hist", "ttft_hist", "attempt_latency_hist"})
_COUNTS = frozenset({"errors", "attempt_errors"})  # JSON {error: count}
_LABELS = frozenset({"provider", "model"})
_SATURATE = frozenset({"input_tokens", "output_tokens"})
_ZERO_HIST = hist_to_bytes([0] * N_BUCKETS)


def decode(row: Any) -> dict[str, Any]:
    """A stored row as ``{column: value}``: counts as dicts, histograms as int64 arrays."""
    import numpy as np

    out = dict(zip(ROLLUP_COLUMNS, row, strict=True))
    for c in _COUNTS:
        out[c] = _loads(out[c])
    for c in _HISTS:
        out[c] = np.frombuffer(out[c], "<i8")
    out["minute"] = int(out["minute"])
    return out


def rollup_from_row(row: Any) -> Rollup:
    """The ``Rollup`` of a stored row."""
    d = decode(row)
    d.pop("updated_at")
    return Rollup(minute=from_epoch(d.pop("minute")), **d)


def zero_row(key: Key, delta: RollupDelta, now: float) -> tuple[Any, ...]:
    """An empty row for ``key`` (inserted first, then updated with the delta)."""
    values: list[Any] = list(key)
    for c in ROLLUP_VALUE_COLUMNS:
        if c in _LABELS:
            values.append(getattr(delta, c))
        elif c == "updated_at":
            values.append(now)
        elif c in _HISTS:
            values.append(_ZERO_HIST)
        elif c in _COUNTS:
            values.append("{}")
        else:
            values.append(0.0 if isinstance(getattr(delta, c), float) else 0)
    return tuple(values)


def updated_row(row: Any, delta: RollupDelta, now: float) -> tuple[Any, ...]:
    """The values of ``ROLLUP_VALUE_COLUMNS`` for stored ``row`` plus ``delta``, then the key
    (the order of ``UPDATE ... SET <values> WHERE <key>``)."""
    import numpy as np

    stored = decode(row)
    values: list[Any] = []
    for c in ROLLUP_VALUE_COLUMNS:
        if c == "updated_at":
            values.append(now)
            continue
        old, add = stored[c], getattr(delta, c)
        if c in _LABELS:
            values.append(add or old)
        elif c in _HISTS:
            values.append((old + np.asarray(add, np.int64)).astype("<i8").tobytes())
        elif c in _COUNTS:
            merged = dict(old)
            for k, v in add.items():
                merged[k] = merged.get(k, 0) + v
            values.append(_dumps(merged))
        elif c in _SATURATE:
            values.append(saturated(old + add))
        else:
            values.append(old + add)
    return (*values, stored["minute"], stored["deployment"], stored["task_type"])
