"""Evidence folded into live statistics from outside the attempt path: finished call records
(retries, time to first token, token sizes, per-task figures) and the store's per-minute
rollups (the warm start and shared learning of ``policies.warmstart``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policies.stats import StatsRegistry

__all__ = ["fold_record", "fold_rollups", "hist_log_moments"]

_log = math.log


def fold_record(stats: StatsRegistry, record: Any) -> None:
    """Fold one finished ``LLMCallRecord`` into ``stats`` (see ``StatsRegistry.observe_record``)."""
    task = record.task_type
    seen: str | None = None
    by_task = stats.track_tasks
    for a in record.attempts:
        outcome = a.outcome
        if outcome == "skipped" or outcome == "cancelled":
            continue
        key = a.deployment
        st = stats.get(key)
        if a.retry_number:
            st.retries += 1.0
        elif key != seen:
            st.calls += 1.0
        seen = key
        if by_task:
            # the router observed this attempt a moment ago: its clock time is the deployment's
            ts = stats.task_entry(key, task)
            ts.observe(outcome == "success", a.error_type, a.latency_ms * 0.001, st.updated_at or 0.0)
    if record.success:
        if record.ttft_ms is not None:
            st = stats.get(record.deployment or f"{record.provider}/{record.model}")
            t = record.ttft_ms / 1000.0
            st.ttft_ewma_s = t if st.ttft_ewma_s is None else st.ttft_ewma_s + 0.1 * (t - st.ttft_ewma_s)
        o = stats.output_tokens_ewma
        stats.output_tokens_ewma = float(record.output_tokens) if o is None else o + 0.05 * (record.output_tokens - o)
        i = stats.input_tokens_ewma
        stats.input_tokens_ewma = float(record.input_tokens) if i is None else i + 0.05 * (record.input_tokens - i)


def fold_rollups(stats: StatsRegistry, rollups: Iterable[Any], now: float, *, subtract_own: bool = False) -> int:
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
