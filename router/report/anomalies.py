"""Degradations over time per deployment, found by the policy engine's own change detection.

The per-minute rollups of each deployment are replayed, in time order, through
``policies.stats.DeploymentStats`` -- the statistics whose change tests demote a deployment in
the adaptive policy -- and every change they report opens or closes an anomaly:

- ``error_rate``: the failure tests (a run of failures unlikely under the baseline, or a
  z-test of the recent failure count) report ``degraded`` on the attempts' non-429 failures;
  a run of successes or a z-test the other way reports ``recovered``. Attempts are replayed,
  not calls, so a deployment the router stopped sending to still shows its failed probes.
- ``rate_limit``: the same tests on the 429s alone, never thinned, windows stretched 20x (a
  router that honours Retry-After sends few attempts into a storm).
- ``latency``: the latency shift test reports ``slow`` (and later a shift back).
- ``retries``: the same failure tests on the calls ending at the deployment, a call that needed
  a retry counting as a failure. Reported only where no error anomaly overlaps it: there the
  retries are the errors' echo.

A bin's events (a minute, or several when the window is longer than ``_MAX_BINS`` minutes)
are spread evenly over it, each class at its own phase, latencies drawn from its histogram at
well-spread quantiles. A busy bin is thinned to about ``per_minute`` (8) events, with the
statistics' half-lives stretched by the thinning so the windows hold about as much evidence as
live. Each detected episode is then placed where the figure changed: the most likely single
change point on the minutes around the detection, then (when the raw rows are still in the
store and the minutes already show a change big enough) on the raw attempts around that
minute. An episode is reported when it is big enough and, but for latency, significant
against the 30 minutes before it (a two-proportion z-test above 3).

``size`` is how far the figure moved against the 30 minutes before the anomaly: for
``error_rate`` / ``rate_limit`` the failure share of sent attempts (during minus before), for
``retries`` the retries per call (during minus before), for ``latency`` the ratio of median
attempt latencies (during over before).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from policies.stats import DeploymentStats

from .boundaries import BASELINE_S, place
from .figures import Columns
from .series import Series, between, coarsen, latencies_s, per_deployment

__all__ = ["KINDS", "Anomaly", "find_anomalies"]

KINDS = ("error_rate", "latency", "retries", "rate_limit")
_LIMITED = "limited"  # the 429s' label in the rate_limit replay
_MAX_STRETCH = 20.0
_MAX_BINS = 300  # replay steps per deployment; longer windows are replayed in wider bins
_PHI = 0.6180339887498949


@dataclass(slots=True)
class Anomaly:
    """One degradation of one deployment; times in epoch seconds."""

    deployment: str
    kind: str
    start: float
    end: float
    size: float

    def to_dict(self) -> dict[str, Any]:
        return {"deployment": self.deployment, "kind": self.kind, "start": round(self.start, 3),
                "end": round(self.end, 3), "size": round(self.size, 4)}  # fmt: skip


class _Thinner:
    """Whole counts of each class after dividing by a factor, carrying the remainders on, so
    the thinned stream keeps every class's share over time."""

    def __init__(self) -> None:
        self.carry: dict[str, float] = {}

    def take(self, name: str, n: float, k: float) -> int:
        x = n / k + self.carry.get(name, 0.0)
        whole = int(x)
        self.carry[name] = x - whole
        return whole


def _events(classes: list[tuple[Any, int]], minute: float, width: float = 60.0) -> Iterator[tuple[float, Any]]:
    """Events of each class spread evenly over the minute, each class at its own phase (so
    classes of equal counts do not line up into runs)."""
    ev = []
    for c, (label, n) in enumerate(classes):
        phase = (0.5 + c * _PHI) % 1.0
        for j in range(n):
            ev.append(((j + phase) / n, label))
    ev.sort(key=lambda e: e[0])
    for pos, label in ev:
        yield minute + pos * width, label


def _detector(k: float) -> DeploymentStats:
    """The policy engine's statistics, their windows stretched ``k`` times."""
    return DeploymentStats("replay", 300.0 * k, 15.0 * k)


def _minute_classes(s: Series, signal: str, j: int) -> list[tuple[str, float]]:
    """(label, count) of one minute's events for a signal; ``ok`` is the good outcome."""
    if signal == "health":  # answers and failures; a 429 says nothing of health
        return [("ok", s.ok[j]), *sorted(s.failure_types[j].items())]
    if signal == "rate_limit":
        # the 429s under a label of their own: to the live statistics a 429 is load, which runs
        # no change test; here the 429s alone are the signal whose changes are wanted
        return [("ok", s.ok[j] + s.failed[j]), (_LIMITED, s.limited[j])]
    bad = min(s.retries[j], s.calls[j])  # retries: a call that needed one
    return [("ok", s.calls[j] - bad), ("retry", bad)]


def _replay(s: Series, signal: str, per_minute: int, min_stretch: float = 1.0, whole: str | None = None, width: float = 60.0) -> tuple[list[tuple[float, str, str]], float]:
    """Every change the statistics report on one signal of the deployment, and the stretch.

    A minute with more than ``per_minute`` events is thinned to about that many; the windows
    are stretched by the thinning of the busy minutes (at most ``_MAX_STRETCH``, at least
    ``min_stretch``) so they hold about as much evidence as live. The ``whole`` class is never
    thinned (429s: a few of them are the whole evidence of a storm; the episode's significance
    is then tested on the true counts)."""
    rows = [_minute_classes(s, signal, j) for j in range(len(s.minute))]
    totals = np.array([sum(n for _, n in r) for r in rows], np.float64)
    thin = np.maximum(1.0, totals / per_minute)
    busy = thin[totals > 0]
    k = float(np.clip(np.percentile(busy, 90) if len(busy) else 1.0, min_stretch, max(min_stretch, _MAX_STRETCH)))
    st = _detector(k)
    th = _Thinner()
    log: list[tuple[float, str, str]] = []
    seen = drawn = 0
    timed = signal == "health"
    cum = np.cumsum(s.hist, axis=1) if timed else None
    for j, minute in enumerate(s.minute.tolist()):
        classes = [(label, int(n) if label == whole else th.take(label, n, thin[j])) for label, n in rows[j]]
        n_ok = classes[0][1]
        lat = latencies_s(cum[j], n_ok, drawn) if cum is not None else [1.0] * n_ok
        drawn += n_ok
        li = 0
        for t, label in _events(classes, minute, width):
            if label == "ok":
                st.observe(True, None, lat[li], t)
                li += 1
            else:
                st.observe(False, label, 0.0, t)
            if st.changes != seen:
                seen = st.changes
                log.append((t, st.regime, st.regime_reason or ""))
    return log, k


def _episodes(log: list[tuple[float, str, str]], latency: bool, end_of_data: float) -> list[tuple[float, float]]:
    """(detected start, detected end) of each episode in a change log."""
    out = []
    open_at: float | None = None
    for t, regime, reason in log:
        if reason.startswith("latency") != latency:
            continue
        if regime == ("slow" if latency else "degraded"):
            if open_at is None:
                open_at = t
        elif regime == "recovered" and open_at is not None:
            out.append((open_at, t))
            open_at = None
    if open_at is not None:
        out.append((open_at, end_of_data))
    return out


def _merged(eps: list[tuple[float, float]], gap: float = 600.0) -> list[tuple[float, float]]:
    """Episodes less than ``gap`` seconds apart as one (a detector flapping on one degradation)."""
    out: list[tuple[float, float]] = []
    for a, b in eps:
        if out and a - out[-1][1] < gap:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _size(s: Series, kind: str, start: float, end: float) -> float:
    during = (s.minute >= start) & (s.minute + 60.0 <= end)  # whole minutes inside, if any
    if not during.any():
        during = between(s, start, end)
    before = between(s, start - BASELINE_S, start)
    if kind == "latency":
        from telemetry.histogram import quantile

        d, b = quantile(s.hist[during].sum(axis=0), 0.5), quantile(s.hist[before].sum(axis=0), 0.5)
        return d / b if b and not math.isnan(b) and not math.isnan(d) else math.nan
    if kind == "retries":
        def rate(m: np.ndarray) -> float:
            c = s.calls[m].sum()
            return s.retries[m].sum() / c if c else 0.0
    else:
        bad = s.limited if kind == "rate_limit" else s.failed

        def rate(m: np.ndarray) -> float:
            sent = (s.ok + s.failed + s.limited)[m].sum()
            return bad[m].sum() / sent if sent else 0.0

    return rate(during) - rate(before)


def _overlaps(a: tuple[float, float], b: tuple[float, float], slack: float = 120.0) -> bool:
    return a[0] < b[1] + slack and b[0] < a[1] + slack


_MIN_SIZE = {"error_rate": 0.02, "rate_limit": 0.02, "retries": 0.05, "latency": 1.5}


def _counts(s: Series, kind: str, m: np.ndarray) -> tuple[float, float]:
    """(bad, total) of a kind's figure over the minutes in ``m``."""
    if kind == "retries":
        return float(np.minimum(s.retries, s.calls)[m].sum()), float(s.calls[m].sum())
    bad = (s.limited if kind == "rate_limit" else s.failed)[m].sum()
    return float(bad), float((s.ok + s.failed + s.limited)[m].sum())


def _significant(s: Series, kind: str, start: float, end: float, end_of_data: float) -> bool:
    """Whether the episode's share differs from the 30 minutes before it (or, at the start of
    the window, the 30 after it) by a two-proportion z-test at 3 standard errors: the replay
    looks after every event, so a chance run must not become an anomaly."""
    during = (s.minute >= start) & (s.minute + 60.0 <= end)
    if not during.any():
        during = between(s, start, end)
    ref = between(s, start - BASELINE_S, start) & ~during
    if not ref.any():
        ref = between(s, end, min(end + BASELINE_S, end_of_data)) & ~during
    (b1, n1), (b0, n0) = _counts(s, kind, during), _counts(s, kind, ref)
    if not n0:
        return True
    if not n1:
        return False
    p = (b1 + b0) / (n1 + n0)
    se = math.sqrt(max(p * (1.0 - p), 1e-12) * (1.0 / n1 + 1.0 / n0))
    return (b1 / n1 - b0 / n0) / se > 3.0


def _big_enough(kind: str, size: float) -> bool:
    """Changes smaller than these are noise to a reader (the latency one is the detector's own
    1.5x threshold)."""
    return not math.isnan(size) and size >= _MIN_SIZE[kind]


def _kept(s: Series, kind: str, span: tuple[float, float], end_of_data: float, *, rough: bool = False) -> float | None:
    """The episode's size when it is big and significant enough to report, else None.
    ``rough``: a span placed on whole minutes only, which dilutes the figure -- half the
    threshold, no significance test (it only decides whether to place it on raw attempts)."""
    size = _size(s, kind, *span)
    if math.isnan(size):
        return None
    if rough:
        floor = _MIN_SIZE[kind]
        return size if size >= (1.0 + (floor - 1.0) / 2.0 if kind == "latency" else floor / 2.0) else None
    if _big_enough(kind, size) and (kind == "latency" or _significant(s, kind, *span, end_of_data)):
        return size
    return None


def _spans(s: Series, store: Any, dep: str, kind: str, log: list[tuple[float, str, str]], k: float, end_of_data: float) -> list[Anomaly]:
    """The reported anomalies of one kind: episodes placed on the minutes, tested, and only
    then placed on the raw attempts (the costly part)."""
    out = []
    last_end = -math.inf
    eps = _merged(_episodes(log, kind == "latency", end_of_data))
    for i, det in enumerate(eps):
        bounds = (last_end, eps[i + 1][0] if i + 1 < len(eps) else end_of_data)
        open_end = det[1] >= end_of_data
        span = place(s, None, dep, kind, det, bounds, open_end, k)
        if store is not None and _kept(s, kind, span, end_of_data, rough=True) is None:
            continue
        if store is not None:
            span = place(s, store, dep, kind, det, bounds, open_end, k)
        size = _kept(s, kind, span, end_of_data)
        if size is not None:
            last_end = span[1]
            out.append(Anomaly(dep, kind, span[0], span[1], size))
    return out


def find_anomalies(cols: Columns, store: Any = None, *, per_minute: int = 8) -> list[dict[str, Any]]:
    """The anomalies of the window in ``cols`` (see the module docstring), by start time.

    ``store`` (a ``TelemetryStore``) places boundaries on the raw attempts; without it they
    are placed on the minutes."""
    found: list[Anomaly] = []
    retries: list[Anomaly] = []
    for dep, s in per_deployment(cols).items():
        end_of_data = float(s.minute[-1]) + 60.0
        # a long window is replayed in bins of a few minutes (at most _MAX_BINS of them); the
        # boundaries are then placed on the minutes and the raw attempts all the same
        b = max(1, math.ceil((end_of_data - float(s.minute[0])) / 60.0 / _MAX_BINS))
        c, width = coarsen(s, b), 60.0 * b
        log, k = _replay(c, "health", per_minute, width=width)
        errors = _spans(s, store, dep, "error_rate", log, k, end_of_data)
        slow = _spans(s, store, dep, "latency", log, k, end_of_data)
        log, k = _replay(c, "rate_limit", per_minute, min_stretch=_MAX_STRETCH, whole=_LIMITED, width=width)
        errors += _spans(s, store, dep, "rate_limit", log, k, end_of_data)
        found += errors
        # failed attempts' latencies during an error episode are not a slowdown of answers
        found += [a for a in slow if not any(_overlaps((a.start, a.end), (e.start, e.end)) for e in errors)]
        log, k = _replay(c, "retries", per_minute, width=width)
        retries += _spans(s, None, dep, "retries", log, k, end_of_data)
    errors_all = [(a.start, a.end) for a in found if a.kind != "latency"]
    found += [a for a in retries if not any(_overlaps((a.start, a.end), e) for e in errors_all)]
    found.sort(key=lambda a: (a.start, a.deployment, a.kind))
    return [a.to_dict() for a in found]
