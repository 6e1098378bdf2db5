"""Degradations over time per deployment, found by the policy engine's own change detection.

The per-minute rollups of each deployment are replayed, in time order, through
``policies.stats.DeploymentStats`` -- the statistics whose change tests demote a deployment in
the adaptive policy -- and every change they report opens or closes an anomaly:

- ``error_rate`` / ``rate_limit``: the failure tests (a run of failures unlikely under the
  baseline, or a z-test of the recent failure count) report ``degraded``; a run of successes
  or a z-test in the other direction reports ``recovered``. The kind is ``rate_limit`` when
  429s are most of the failures in between. Attempts are replayed, not calls, so a deployment
  the router stopped sending to still shows its failed probes.
- ``latency``: the latency shift test reports ``slow`` (and later a shift back).
- ``retries``: the same failure tests on the calls ending at the deployment, a call that needed
  a retry counting as a failure. Reported only where no error anomaly overlaps it: there the
  retries are the errors' echo.

A minute's attempts are spread evenly over the minute (latencies drawn from its histogram at
well-spread quantiles). A busy deployment is thinned to about ``per_minute`` attempts a
minute, with the statistics' half-lives stretched by the same factor, so the windows hold as
many attempts as they do live and the tests keep their power. When the raw attempts are still
in the store, each boundary is then placed on them: the split of the attempts around it that
best separates the two regimes (the most likely single change point).

``size`` is how far the figure moved against the 30 minutes before the anomaly: for
``error_rate`` / ``rate_limit`` the failure share of sent attempts (during minus before), for
``retries`` the retries per call (during minus before), for ``latency`` the ratio of median
attempt latencies (during over before).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from policies.stats import DeploymentStats
from telemetry.histogram import N_BUCKETS, bucket_bounds

from .figures import Columns

__all__ = ["Anomaly", "find_anomalies", "per_deployment"]

KINDS = ("error_rate", "latency", "retries", "rate_limit")
_NOT_SENT = frozenset({"circuit_open", "cancelled", "skipped"})
_PHI = (math.sqrt(5.0) - 1.0) / 2.0
_MAX_STRETCH = 10.0
_BASELINE_S = 1800.0
_LO = np.array([bucket_bounds(i)[0] for i in range(N_BUCKETS)])
_HI = np.array([min(bucket_bounds(i)[1], 2.0 * bucket_bounds(i)[0] or 1.0) for i in range(N_BUCKETS)])


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


def _latencies_s(hist: np.ndarray, n: int, start: int) -> list[float]:
    """``n`` latencies (seconds) at well-spread quantiles of a histogram (ms buckets)."""
    cum = np.cumsum(hist)
    total = cum[-1] if len(cum) else 0
    if n <= 0:
        return []
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


def _events(classes: list[tuple[Any, int]], minute: float) -> Iterator[tuple[float, Any]]:
    """Events of each class spread evenly over the minute, classes interleaved."""
    ev = []
    for c, (label, n) in enumerate(classes):
        for j in range(n):
            ev.append(((j + 0.5) / n + c * 1e-6, label))
    ev.sort(key=lambda e: e[0])
    for pos, label in ev:
        yield minute + pos * 60.0, label


def _detector(k: float) -> DeploymentStats:
    """The policy engine's statistics, their windows stretched ``k`` times."""
    return DeploymentStats("replay", 300.0 * k, 15.0 * k)


def _minute_classes(s: Series, signal: str, j: int) -> list[tuple[str, float]]:
    """(label, count) of one minute's events for a signal; ``ok`` is the good outcome."""
    if signal == "health":  # answers and failures; a 429 says nothing of health
        return [("ok", s.ok[j]), *sorted(s.failure_types[j].items())]
    if signal == "rate_limit":
        return [("ok", s.ok[j] + s.failed[j]), ("rate_limited", s.limited[j])]
    bad = min(s.retries[j], s.calls[j])  # retries: a call that needed one
    return [("ok", s.calls[j] - bad), ("retry", bad)]


def _replay(s: Series, signal: str, per_minute: int, min_stretch: float = 1.0) -> tuple[list[tuple[float, str, str]], float]:
    """Every change the statistics report on one signal of the deployment, and the stretch.

    A minute with more than ``per_minute`` events is thinned to about that many; the windows
    are stretched by the thinning of the busy minutes (at most ``_MAX_STRETCH``, at least
    ``min_stretch``) so they hold about as much evidence as live."""
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
    for j, minute in enumerate(s.minute.tolist()):
        classes = [(label, th.take(label, n, thin[j])) for label, n in rows[j]]
        n_ok = classes[0][1]
        lat = _latencies_s(s.hist[j], n_ok, drawn) if timed else [1.0] * n_ok
        drawn += n_ok
        li = 0
        for t, label in _events(classes, minute):
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


# -- boundaries on the raw attempts -------------------------------------------------------------


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


_LOG_MID = np.log(np.sqrt(np.maximum(_LO, 0.5) * _HI))


def _minute_boundary(s: Series, kind: str, lo: float, hi: float, rising: bool) -> float | None:
    """Start of the first minute of the new regime among the minutes in ``[lo, hi)``."""
    idx = np.flatnonzero((s.minute >= lo) & (s.minute < hi))
    if kind == "latency":
        w = s.hist[idx].sum(axis=1).astype(np.float64)
        x = (s.hist[idx] @ _LOG_MID) / np.maximum(w, 1.0)
        i = _split_mean(x, w)
    else:
        bad = (s.limited if kind == "rate_limit" else s.failed)[idx]
        w = (s.ok + s.failed + s.limited)[idx]
        x = bad / np.maximum(w, 1.0)
        i = _split_binomial(bad, w)
    if i is None or not _shifted(x, w, i, rising):
        return None
    return float(s.minute[idx[i]])


def _raw_boundary(store: Any, dep: str, kind: str, lo: float, hi: float, rising: bool) -> float | None:
    """The boundary placed on the raw attempts ending in ``[lo, hi)``: halfway between the last
    attempt of the old regime and the first of the new, at the most likely split."""
    rows = store.query_attempts(since=lo - 120.0, until=hi, deployment=dep, outcome=["success", "error"])
    ends = np.array([a.started_at.timestamp() + a.latency_ms / 1000.0 for a in rows])
    keep = (ends >= lo) & (ends < hi)
    if kind == "latency":
        keep &= np.array([a.outcome == "success" for a in rows], bool)
        x = np.log(np.maximum(np.array([a.latency_ms for a in rows], np.float64), 0.1))
    else:
        limited = np.array([a.error_type == "rate_limited" for a in rows], bool)
        failed = np.array([a.outcome == "error" for a in rows], bool) & ~limited
        x = (limited if kind == "rate_limit" else failed).astype(np.float64)
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
    r = _raw_boundary(store, dep, kind, max(lo, m - 120.0), min(hi, m + 180.0), rising)
    return m if r is None else r


# -- kinds and sizes --------------------------------------------------------------------------


def _between(s: Series, a: float, b: float) -> np.ndarray:
    return (s.minute + 60.0 > a) & (s.minute < b)


def _size(s: Series, kind: str, start: float, end: float) -> float:
    during = (s.minute >= start) & (s.minute + 60.0 <= end)  # whole minutes inside, if any
    if not during.any():
        during = _between(s, start, end)
    before = _between(s, start - _BASELINE_S, start)
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


def _place(s: Series, store: Any, dep: str, kind: str, det: tuple[float, float], bounds: tuple[float, float], open_end: bool, k: float) -> tuple[float, float]:
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
    m = _between(s, a, b)
    if kind == "latency":
        w = s.hist[m].sum(axis=0)
        return float((w @ _LOG_MID) / w.sum()) if w.sum() else math.nan
    bad = (s.limited if kind == "rate_limit" else s.failed)[m].sum()
    sent = (s.ok + s.failed + s.limited)[m].sum()
    return float(bad / sent) if sent else math.nan


def _returned(s: Series, kind: str, start: float, end: float, end_of_data: float) -> bool:
    """Whether the figure after ``end`` is back nearer its level before ``start`` than its level
    in between."""
    before = _level(s, kind, start - _BASELINE_S, start)
    during = _level(s, kind, start, end)
    after = _level(s, kind, end, end_of_data)
    if math.isnan(before) or math.isnan(during) or math.isnan(after):
        return False
    return abs(after - before) < abs(during - before) / 2.0


def _merged(eps: list[tuple[float, float]], gap: float = 600.0) -> list[tuple[float, float]]:
    """Episodes less than ``gap`` seconds apart as one (a detector flapping on one degradation)."""
    out: list[tuple[float, float]] = []
    for a, b in eps:
        if out and a - out[-1][1] < gap:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


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
        during = _between(s, start, end)
    ref = _between(s, start - _BASELINE_S, start) & ~during
    if not ref.any():
        ref = _between(s, end, min(end + _BASELINE_S, end_of_data)) & ~during
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


def _spans(s: Series, store: Any, dep: str, kind: str, log: list[tuple[float, str, str]], k: float, end_of_data: float) -> list[Anomaly]:
    out = []
    last_end = -math.inf
    eps = _merged(_episodes(log, kind == "latency", end_of_data))
    for i, det in enumerate(eps):
        nxt = eps[i + 1][0] if i + 1 < len(eps) else end_of_data
        span = _place(s, store, dep, kind, det, (last_end, nxt), det[1] >= end_of_data, k)
        last_end = span[1]
        size = _size(s, kind, *span)
        if _big_enough(kind, size) and (kind == "latency" or _significant(s, kind, *span, end_of_data)):
            out.append(Anomaly(dep, kind, span[0], span[1], size))
    return out


def find_anomalies(cols: Columns, store: Any = None, *, per_minute: int = 30) -> list[dict[str, Any]]:
    """The anomalies of the window in ``cols`` (see the module docstring), by start time.

    ``store`` (a ``TelemetryStore``) places boundaries on the raw attempts; without it they
    are placed on the minutes."""
    found: list[Anomaly] = []
    retries: list[Anomaly] = []
    for dep, s in per_deployment(cols).items():
        end_of_data = float(s.minute[-1]) + 60.0
        log, k = _replay(s, "health", per_minute)
        errors = _spans(s, store, dep, "error_rate", log, k, end_of_data)
        slow = _spans(s, store, dep, "latency", log, k, end_of_data)
        log, k = _replay(s, "rate_limit", per_minute, min_stretch=_MAX_STRETCH)
        errors += _spans(s, store, dep, "rate_limit", log, k, end_of_data)
        found += errors
        # failed attempts' latencies during an error episode are not a slowdown of answers
        found += [a for a in slow if not any(_overlaps((a.start, a.end), (e.start, e.end)) for e in errors)]
        log, k = _replay(s, "retries", per_minute)
        retries += _spans(s, None, dep, "retries", log, k, end_of_data)
    errors_all = [(a.start, a.end) for a in found if a.kind != "latency"]
    found += [a for a in retries if not any(_overlaps((a.start, a.end), e) for e in errors_all)]
    found.sort(key=lambda a: (a.start, a.deployment, a.kind))
    return [a.to_dict() for a in found]
