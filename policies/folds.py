"""Evidence folded into live statistics from outside the attempt path: the store's per-minute
rollups (the warm start and shared learning of ``policies.warmstart``). Finished call records
are folded by ``StatsRegistry.observe_record`` itself."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Protocol

from policies.evidence import Evidence

__all__ = ["RollupTarget", "fold_rollups", "hist_log_moments"]

_log = math.log


class RollupTarget(Protocol):
    """What rollups are folded into (``StatsRegistry``)."""

    half_life_s: float
    version: int
    own_minutes: dict[tuple[int, str], list[int]]

    def get(self, key: str) -> Evidence: ...

    def task_entry(self, key: str, task: str) -> Evidence: ...


def fold_rollups(stats: RollupTarget, rollups: Iterable[Any], now: float, *, subtract_own: bool = False) -> int:
    """Fold rollups (``telemetry.rollups.Rollup``) into ``stats``' slow windows; returns the
    number folded. See ``StatsRegistry.load_rollups``."""
    from telemetry.histogram import bucket_bounds

    n = 0
    hl = stats.half_life_s
    own = stats.own_minutes
    for r in rollups:
        minute = r.minute_ts if hasattr(r, "minute_ts") else float(r.minute)
        age = now - (minute + 30.0)
        w = math.exp2(-age / hl) if age > 0 else 1.0
        if w < 1e-4:
            continue
        succ = float(r.attempt_successes)
        fail = float(r.attempt_failures)
        errs = {k: float(v) for k, v in r.attempt_errors.items() if k not in ("skipped", "cancelled")}
        w_lat = 1.0
        if subtract_own:
            mine = own.get((int(minute), r.deployment))
            if mine is not None:
                frac_s = max(succ - mine[1], 0.0) / succ if succ else 0.0
                frac_f = max(fail - mine[2], 0.0) / fail if fail else 0.0
                succ *= frac_s
                fail *= frac_f
                errs = {k: v * frac_f for k, v in errs.items()}
                w_lat = frac_s
        if succ + fail <= 0 and not r.calls:
            continue
        lat = hist_log_moments(r.attempt_latency_hist, bucket_bounds)
        if lat is not None:
            k = w * w_lat
            lat = (lat[0] * k, lat[1] * k, lat[2] * k)
        for st in (stats.get(r.deployment), stats.task_entry(r.deployment, r.task_type)):
            st.add_evidence(
                successes=succ * w,
                failures=fail * w,
                errors={k: v * w for k, v in errs.items()},
                log_latency=lat,
                calls=float(r.calls) * w,
                retries=float(r.retries) * w,
                now=now,
            )
        n += 1
    if n:
        stats.version += 1
    return n


def hist_log_moments(hist: Any, bucket_bounds: Any) -> tuple[float, float, float] | None:
    """(count, sum, sum of squares) of log-seconds from a millisecond latency histogram,
    each bucket taken at its geometric middle."""
    n = s1 = s2 = 0.0
    for i, c in enumerate(list(hist)):
        if not c:
            continue
        lo, hi = bucket_bounds(i)
        lo = max(lo, 0.5)
        hi = hi if math.isfinite(hi) else lo * 2
        x = 0.5 * (_log(lo) + _log(hi)) - _log(1000.0)
        n += c
        s1 += c * x
        s2 += c * x * x
    return (n, s1, s2) if n else None
