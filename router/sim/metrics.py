"""Per-call logs of a run and the metrics computed from them.

Latency percentiles are over successful calls, end to end (failed attempts, backoff and
Retry-After waits before the success included); failed calls count in ``success_rate``.
Cost is what successful calls paid, divided by the number of successes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from router.sim.scenario import Scenario, Timeline

__all__ = ["CallLog", "Outage", "SERIES_BINS", "compute_metrics", "max_in_flight", "outages", "p_success", "p_success_at", "series"]

SHARE_WINDOW = 40  # calls in the rolling window that measures "traffic going first to d"
DETECT_SHARE = 0.05
RECOVER_FRACTION = 0.8  # "fair share back": 80 % of the share it had before the outage
PRE_WINDOW_S = 120.0
OUTAGE_P_SUCCESS = 0.5  # a deployment is "out" while one attempt succeeds with p < 0.5
SERIES_BINS = 120


@dataclass(slots=True)
class CallLog:
    """What happened to each call of a run, indexed by call (arrival order)."""

    arrival_s: np.ndarray  # scenario time of the arrival
    success: np.ndarray  # bool
    latency_s: np.ndarray  # end to end, virtual seconds
    cost: np.ndarray  # dollars (0 for failed calls)
    attempts: np.ndarray  # attempts sent (skips not counted)
    first: np.ndarray  # chain index of the deployment the first sent attempt went to, -1 if none
    served: np.ndarray  # chain index of the deployment that answered, -1 if failed

    @classmethod
    def empty(cls, arrival_s: np.ndarray) -> CallLog:
        n = arrival_s.shape[0]
        return cls(
            arrival_s,
            np.zeros(n, dtype=bool),
            np.zeros(n),
            np.zeros(n),
            np.zeros(n, dtype=np.int64),
            np.full(n, -1, dtype=np.int64),
            np.full(n, -1, dtype=np.int64),
        )


@dataclass(frozen=True, slots=True)
class Outage:
    deployment: int  # chain index
    start_s: float
    end_s: float


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def p_success(tl: Timeline, t: float, attempt_timeout_s: float) -> float:
    """True probability that one attempt at time ``t`` succeeds (quota not counted)."""
    st = tl.at(t)
    lat = tl.spec.latency
    p_fast = _phi((math.log(attempt_timeout_s) - lat.mu - math.log(st.latency_factor)) / lat.sigma)
    return (1.0 - st.error_rate_at(t)) * p_fast


def p_success_at(tl: Timeline, t: np.ndarray, attempt_timeout_s: float) -> np.ndarray:
    """``p_success`` at many instants at once."""
    idx = np.clip(np.searchsorted(np.asarray(tl.edges), t, side="right") - 1, 0, len(tl.states) - 1)
    out = np.empty_like(t, dtype=float)
    lat = tl.spec.latency
    for i, st in enumerate(tl.states):
        m = idx == i
        if not m.any():
            continue
        p_fast = _phi((math.log(attempt_timeout_s) - lat.mu - math.log(st.latency_factor)) / lat.sigma)
        if st.error_rate_end is None:
            er: Any = st.error_rate
        else:
            er = np.interp(t[m], [st.ramp_start, st.ramp_end], [st.error_rate, st.error_rate_end])
        out[m] = (1.0 - er) * p_fast
    return out


def outages(sc: Scenario, step_s: float = 1.0) -> list[Outage]:
    """Intervals where a deployment's single-attempt success probability is under 0.5."""
    out: list[Outage] = []
    grid = np.arange(0.0, sc.duration_s, step_s)
    for j, key in enumerate(sc.chain):
        tl = sc.timeline(key)
        down = p_success_at(tl, grid, sc.attempt_timeout_s) < OUTAGE_P_SUCCESS
        if not down.any():
            continue
        d = np.diff(np.concatenate(([0], down.astype(np.int8), [0])))
        for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
            out.append(Outage(j, float(grid[a]), float(min(grid[b - 1] + step_s, sc.duration_s))))
    return out


def _forward_share(first: np.ndarray, j: int) -> np.ndarray:
    """For each call ``k`` (up to the last full window), the share of calls ``k .. k+M-1``
    (``M = SHARE_WINDOW``) sent first to ``j``: looking forward, so no lag of a window."""
    hit = np.concatenate(([0], np.cumsum(first == j)))
    m = min(SHARE_WINDOW, first.shape[0])
    k = np.arange(first.shape[0] - m + 1)
    return (hit[k + m] - hit[k]) / m


def detect_recover(log: CallLog, sc: Scenario) -> tuple[float | None, float | None, int]:
    """Mean time to detect and to recover over the scenario's outages.

    Detect: from the outage's start to the first call that does not go first to the
    deployment and from which under 5 % of the next 40 calls do. Recover: from its end to the
    first call that goes first to it and from which the next 40 give it back 80 % of the share
    it had in the 120 s before the outage. Outages of a
    deployment that had under 5 % of first attempts before them are not measured (``None``
    when none is); outages never detected (or never recovered from) count with their
    censored length.
    """
    t = log.arrival_s
    detects: list[float] = []
    recovers: list[float] = []
    for o in outages(sc):
        pre = (t >= o.start_s - PRE_WINDOW_S) & (t < o.start_s)
        if pre.sum() < SHARE_WINDOW:
            continue
        pre_share = float((log.first[pre] == o.deployment).mean())
        if pre_share < DETECT_SHARE:
            continue
        share = _forward_share(log.first, o.deployment)
        i0 = int(np.searchsorted(t, o.start_s))
        i1 = int(np.searchsorted(t, o.end_s))
        goes = log.first[: share.shape[0]] == o.deployment
        # the switch itself: a call that does not (detect) / does (recover) go first to it,
        # from which on the next calls agree
        under = np.flatnonzero((share[i0:i1] < DETECT_SHARE) & ~goes[i0:i1])
        detects.append(float(t[i0 + under[0]] - o.start_s) if under.size else o.end_s - o.start_s)
        if i1 >= t.shape[0]:
            continue  # the run ends with the outage: nothing to recover into
        ok = np.flatnonzero((share[i1:] >= RECOVER_FRACTION * pre_share) & goes[i1:])
        recovers.append(float(t[i1 + ok[0]] - o.end_s) if ok.size else float(t[-1] - o.end_s))
    n = len(detects)
    return (float(np.mean(detects)) if detects else None, float(np.mean(recovers)) if recovers else None, n)


def max_in_flight(log: CallLog) -> int:
    """Most calls in flight at once (calls overlap in virtual time as in production)."""
    n = log.arrival_s.shape[0]
    if n == 0:
        return 0
    t = np.concatenate((log.arrival_s, log.arrival_s + log.latency_s))
    step = np.concatenate((np.ones(n, dtype=np.int64), -np.ones(n, dtype=np.int64)))
    order = np.lexsort((step, t))  # at equal times an end comes before a start
    return int(np.cumsum(step[order]).max())


def _q(x: np.ndarray, q: float) -> float | None:
    return float(np.percentile(x, q)) if x.size else None


def compute_metrics(log: CallLog, sc: Scenario) -> dict[str, Any]:
    """The contract metrics (and detection/recovery times) of one run."""
    n = int(log.success.shape[0])
    ok = log.success
    lat_ms = log.latency_s[ok] * 1000.0
    succ = int(ok.sum())
    detect, recover, n_out = detect_recover(log, sc)
    return {
        "calls": n,
        "success_rate": succ / n if n else None,
        "p50_ms": _q(lat_ms, 50),
        "p95_ms": _q(lat_ms, 95),
        "p99_ms": _q(lat_ms, 99),
        "cost_per_success": float(log.cost[ok].sum()) / succ if succ else None,
        "attempts_per_call": float(log.attempts.sum()) / n if n else None,
        "detect_s": detect,
        "recover_s": recover,
        "outages_measured": n_out,
        "max_in_flight": max_in_flight(log),
    }


def series(log: CallLog, sc: Scenario, bins: int = SERIES_BINS) -> dict[str, list[Any]]:
    """Success rate, median latency and first-attempt share per deployment over time."""
    edges = np.linspace(0.0, sc.duration_s, bins + 1)
    b = np.clip(np.searchsorted(edges, log.arrival_s, side="right") - 1, 0, bins - 1)
    count = np.bincount(b, minlength=bins)
    succ = np.bincount(b, weights=log.success.astype(float), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(count > 0, succ / np.maximum(count, 1), np.nan)
    p50 = np.full(bins, np.nan)
    ok = log.success
    order = np.argsort(b[ok], kind="stable")
    lat = log.latency_s[ok][order] * 1000.0
    bb = b[ok][order]
    starts = np.searchsorted(bb, np.arange(bins))
    ends = np.searchsorted(bb, np.arange(bins), side="right")
    for i in range(bins):
        if ends[i] > starts[i]:
            p50[i] = np.median(lat[starts[i] : ends[i]])
    share = {}
    for j, key in enumerate(sc.chain):
        f = np.bincount(b, weights=(log.first == j).astype(float), minlength=bins)
        share[key] = [None if c == 0 else float(x / c) for x, c in zip(f, count)]
    mid = (edges[:-1] + edges[1:]) / 2
    return {
        "t_s": mid.tolist(),
        "calls": count.tolist(),
        "success_rate": [None if math.isnan(x) else float(x) for x in rate],
        "p50_ms": [None if math.isnan(x) else float(x) for x in p50],
        "first_share": share,  # type: ignore[dict-item]
    }
