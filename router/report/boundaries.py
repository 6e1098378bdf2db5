"""Where a regime changed: the most likely single change point, first on the minutes, then on
the raw attempts around that minute when the store still has them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .series import LOG_MID, Series, between

__all__ = ["BASELINE_S", "place"]

BASELINE_S = 1800.0  # the stretch before an anomaly it is compared with


def _split_binomial(bad: np.ndarray, n: np.ndarray) -> int | None:
    """The split ``i`` (items ``[:i]`` / ``[i:]``) that makes the two failure shares most likely."""
    if len(n) < 2:
        return None
    b1, n1 = np.cumsum(bad)[:-1], np.cumsum(n)[:-1]
    b2, n2 = bad.sum() - b1, n.sum() - n1

    def ll(b: np.ndarray, m: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            p = b / m
            return np.nan_to_num(b * np.log(p)) + np.nan_to_num((m - b) * np.log(1.0 - p))

    score = np.where((n1 > 0) & (n2 > 0), ll(b1, n1) + ll(b2, n2), -np.inf)
    return int(np.argmax(score)) + 1 if np.isfinite(score).any() else None


def _split_mean(x: np.ndarray, w: np.ndarray) -> int | None:
    """The split that best separates two means of ``x`` (weights ``w``; least squares)."""
    if len(x) < 2:
        return None
    s1, w1 = np.cumsum(w * x)[:-1], np.cumsum(w)[:-1]
    s2, w2 = (w * x).sum() - s1, w.sum() - w1
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where((w1 > 0) & (w2 > 0), s1 * s1 / w1 + s2 * s2 / w2, -np.inf)
    return int(np.argmax(score)) + 1 if np.isfinite(score).any() else None


def _shifted(x: np.ndarray, w: np.ndarray, i: int, rising: bool) -> bool:
    before = (x[:i] * w[:i]).sum() / max(w[:i].sum(), 1e-12)
    after = (x[i:] * w[i:]).sum() / max(w[i:].sum(), 1e-12)
    return (after > before) == rising


def _minute_boundary(s: Series, kind: str, lo: float, hi: float, rising: bool) -> float | None:
    """Start of the first minute of the new regime among the minutes in ``[lo, hi)``."""
    idx = np.flatnonzero((s.minute >= lo) & (s.minute < hi))
    if kind == "latency":
        w = s.hist[idx].sum(axis=1).astype(np.float64)
        x = (s.hist[idx] @ LOG_MID) / np.maximum(w, 1.0)
        i = _split_mean(x, w)
    else:
        bad = (s.limited if kind == "rate_limit" else s.failed)[idx]
        w = (s.ok + s.failed + s.limited)[idx]
        x = bad / np.maximum(w, 1.0)
        i = _split_binomial(bad, w)
    if i is None or not _shifted(x, w, i, rising):
        return None
    return float(s.minute[idx[i]])


def _raw_attempts(store: Any, dep: str, lo: float, hi: float) -> list[tuple[float, float, str, str | None]]:
    """(start, latency ms, outcome, error type) of the attempts sent to ``dep`` that started in
    ``[lo, hi)``: four columns over the attempts' time index, no record objects."""
    from sqlalchemy import select

    t = store.tables.attempts
    stmt = select(t.c.started_at, t.c.latency_ms, t.c.outcome, t.c.error_type).where(
        t.c.started_at >= lo, t.c.started_at < hi, t.c.deployment == dep, t.c.outcome.in_(("success", "error"))
    )
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(stmt)]


def _raw_boundary(store: Any, dep: str, kind: str, lo: float, hi: float, rising: bool) -> float | None:
    """The boundary placed on the raw attempts ending in ``[lo, hi)``: halfway between the last
    attempt of the old regime and the first of the new, at the most likely split."""
    rows = _raw_attempts(store, dep, lo - 120.0, hi)
    if len(rows) < 2:
        return None
    start, lat_ms, outcome, etype = (np.array(c, dtype=object) for c in zip(*rows))
    lat = lat_ms.astype(np.float64)
    ends = start.astype(np.float64) + lat / 1000.0
    keep = (ends >= lo) & (ends < hi)
    if kind == "latency":
        keep &= outcome == "success"
        x = np.log(np.maximum(lat, 0.1))
    else:
        limited = etype == "rate_limited"
        x = ((limited if kind == "rate_limit" else (outcome == "error") & ~limited)).astype(np.float64)
    order = np.argsort(ends[keep], kind="stable")
    ends, x = ends[keep][order], x[keep][order]
    w = np.ones(len(x))
    i = _split_mean(x, w) if kind == "latency" else _split_binomial(x, w)
    if i is None or not _shifted(x, w, i, rising):
        return None
    return float((ends[i - 1] + ends[i]) / 2.0)


def _boundary(s: Series, store: Any, dep: str, kind: str, lo: float, hi: float, rising: bool) -> float | None:
    """Where the regime changed between ``lo`` and ``hi``: the minute first, then the raw
    attempts around it when the store still has them."""
    m = _minute_boundary(s, kind, lo, hi, rising)
    if m is None or store is None:
        return m
    r = _raw_boundary(store, dep, kind, max(lo, m - 90.0), min(hi, m + 150.0), rising)
    return m if r is None else r


def place(s: Series, store: Any, dep: str, kind: str, det: tuple[float, float], bounds: tuple[float, float], open_end: bool, k: float) -> tuple[float, float]:
    """Start and end of an episode the replay detected at ``det``, searched in the stretches
    around each detection (the replay reacts late, and may call a mild degradation over
    while it lasts), within ``bounds`` (the neighbouring episodes)."""
    reach = max(1800.0, 60.0 * 15.0 * k)
    start = _boundary(s, store, dep, kind, max(bounds[0], det[0] - reach), det[0] + 60.0, True)
    start = det[0] if start is None else start
    end = det[1]
    if not open_end:
        e = _boundary(s, store, dep, kind, max(start, det[1] - reach), min(bounds[1], det[1] + reach), False)
        end = det[1] if e is None else e
    else:  # the replay saw no recovery (a demoted deployment sees little traffic): did it return?
        e = _boundary(s, store, dep, kind, start, det[1], False)
        if e is not None and _returned(s, kind, start, e, det[1]):
            end = e
    return start, max(end, start)


def _level(s: Series, kind: str, a: float, b: float) -> float:
    m = between(s, a, b)
    if kind == "latency":
        w = s.hist[m].sum(axis=0)
        return float((w @ LOG_MID) / w.sum()) if w.sum() else math.nan
    bad = (s.limited if kind == "rate_limit" else s.failed)[m].sum()
    sent = (s.ok + s.failed + s.limited)[m].sum()
    return float(bad / sent) if sent else math.nan


def _returned(s: Series, kind: str, start: float, end: float, end_of_data: float) -> bool:
    """Whether the figure after ``end`` is back nearer its level before ``start`` than its level
    in between."""
    before = _level(s, kind, start - BASELINE_S, start)
    during = _level(s, kind, start, end)
    after = _level(s, kind, end, end_of_data)
    if math.isnan(before) or math.isnan(during) or math.isnan(after):
        return False
    return abs(after - before) < abs(during - before) / 2.0

