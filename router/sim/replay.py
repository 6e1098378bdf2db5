"""Turn a recorded telemetry store into a scenario, so policies can be judged on your own
history: per deployment, the error rate, error mix and latency of each time window.

Calls (with their attempts) are read through the telemetry package's query API. The
scenario's traffic is the recorded arrival rate (with a per-window ``profile``), task mix and
mean token counts; its chain is the order policies planned most often. Each deployment gets
its overall error rate, error mix and success-latency median/p95 as its base, and a phase for
every window that differs from that base by more than sampling noise. Recorded 429s become a
drawn ``rate_limited`` error (the quota that caused them is not known), and timeouts stay
timeouts: they cost the attempt timeout, which is inferred from the recorded timeouts.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from router.sim.scenario import ERROR_KINDS, parse_scenario

__all__ = ["scenario_from_records", "scenario_from_telemetry"]

MIN_ATTEMPTS = 20  # a window needs this many attempts at a deployment to earn a phase
_NOT_SENT = frozenset({"skipped", "cancelled"})


def _ts(x: datetime | float) -> float:
    return x.timestamp() if isinstance(x, datetime) else float(x)


def _lat_spec(values_ms: Sequence[float]) -> dict[str, float] | None:
    if len(values_ms) < 2:
        return None
    med, p95 = np.percentile(values_ms, [50, 95])
    med = max(float(med), 1.0)
    p95 = max(float(p95), med * 1.01)
    return {"median": round(med, 1), "p95": round(p95, 1)}


def _mix(counter: Counter[str]) -> dict[str, float] | None:
    kinds = {k: v for k, v in counter.items() if k in ERROR_KINDS}
    total = sum(kinds.values())
    if not total:
        return None
    return {k: round(v / total, 4) for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])}


def scenario_from_records(records: Iterable[Any], *, name: str, window_s: float = 300.0, source: str = "telemetry") -> dict[str, Any]:
    """A scenario (as a dict ready for YAML) from ``LLMCallRecord``s with their attempts."""
    if window_s < 60 or window_s % 60:
        raise ValueError(f"window_s must be a whole number of minutes >= 60, got {window_s!r}")
    recs = sorted(records, key=lambda r: _ts(r.timestamp))
    if len(recs) < 10:
        raise ValueError(f"{source} holds {len(recs)} calls in the range; at least 10 are needed for a scenario")
    t0 = _ts(recs[0].timestamp)  # scenario second 0 is the first recorded call
    duration = float(max(math.ceil(_ts(recs[-1].timestamp) - t0 + 1e-9), 60))
    n_win = math.ceil(duration / window_s)
    win_len = np.full(n_win, window_s)
    win_len[-1] = duration - window_s * (n_win - 1)

    tasks: Counter[str] = Counter()
    tiers: Counter[str] = Counter()
    chains: Counter[tuple[str, ...]] = Counter()
    in_tok: list[int] = []
    out_tok: list[int] = []
    per_window_calls = np.zeros(n_win)
    # deployment -> window -> [attempts, Counter(errors), success latencies]
    att: dict[str, list[list[Any]]] = defaultdict(lambda: [[0, Counter(), []] for _ in range(n_win)])
    timeouts_ms: list[float] = []
    for r in recs:
        t = _ts(r.timestamp) - t0
        w = min(int(t // window_s), n_win - 1)
        per_window_calls[w] += 1
        tasks[r.task_type or "default"] += 1
        tiers[r.tier or "default"] += 1
        chain = tuple(r.plan_order) or tuple(dict.fromkeys(a.deployment for a in r.attempts))
        if chain:
            chains[chain] += 1
        if r.success:
            in_tok.append(r.input_tokens)
            out_tok.append(r.output_tokens)
        for a in r.attempts:
            if a.outcome in _NOT_SENT:
                continue
            ta = _ts(a.started_at) - t0
            wa = min(max(int(ta // window_s), 0), n_win - 1)
            cell = att[a.deployment][wa]
            cell[0] += 1
            if a.outcome == "success":
                cell[2].append(a.latency_ms)
            else:
                cell[1][a.error_type or "server_error"] += 1
                if a.error_type == "timeout":
                    timeouts_ms.append(a.latency_ms)
    chain = list(chains.most_common(1)[0][0]) if chains else sorted(att)
    for k in att:
        if k not in chain:
            chain.append(k)
    providers: dict[str, Any] = {}
    for key in chain:
        cells = att.get(key)
        if not cells:
            continue
        n = sum(c[0] for c in cells)
        errs: Counter[str] = sum((c[1] for c in cells), Counter())
        lats = [x for c in cells for x in c[2]]
        lat = _lat_spec(lats) or {"median": 1000.0, "p95": 3000.0}
        base = sum(errs.values()) / n if n else 0.0
        prov: dict[str, Any] = {"latency_ms": lat, "base_error_rate": round(base, 4)}
        mix = _mix(errs)
        if mix:
            prov["errors"] = mix
        phases = []
        for w, (na, ce, cl) in enumerate(cells):
            if na < MIN_ATTEMPTS:
                continue
            er = sum(ce.values()) / na
            noise = 3 * math.sqrt(max(base * (1 - base), 1e-4) / na)
            ph: dict[str, Any] = {}
            if abs(er - base) > max(noise, 0.02):
                ph["error_rate"] = round(er, 4)
                wmix = _mix(ce)
                if wmix and wmix != mix:
                    ph["errors"] = wmix
            if len(cl) >= MIN_ATTEMPTS:
                f = float(np.median(cl)) / lat["median"]
                if not 0.8 <= f <= 1.25:
                    ph["latency_factor"] = round(f, 3)
            if ph:
                phases.append({"start_s": w * window_s, "end_s": min((w + 1) * window_s, duration), **ph})
        if phases:
            prov["phases"] = phases
        providers[key] = prov
    chain = [k for k in chain if k in providers]
    rate = len(recs) / duration
    profile = []
    for w, (c, length) in enumerate(zip(per_window_calls, win_len)):
        f = c / length / rate
        if abs(f - 1.0) > 0.1 and length >= 60:
            profile.append({"start_s": w * window_s, "end_s": min((w + 1) * window_s, duration), "factor": round(float(f), 3)})
    total_tasks = sum(tasks.values())
    traffic: dict[str, Any] = {
        "rate_per_s": round(rate, 4),
        "tier": tiers.most_common(1)[0][0],
        "tasks": {k: round(v / total_tasks, 4) for k, v in tasks.most_common()},
        "tokens": {
            "input_mean": round(float(np.mean(in_tok)), 1) if in_tok and np.mean(in_tok) >= 1 else 1000.0,
            "output_mean": round(float(np.mean(out_tok)), 1) if out_tok and np.mean(out_tok) >= 1 else 300.0,
        },
    }
    if profile:
        traffic["profile"] = profile
    start = datetime.fromtimestamp(t0).astimezone().isoformat(timespec="seconds")
    data: dict[str, Any] = {
        "name": name,
        "description": f"Replayed from {len(recs)} recorded calls starting {start}, in {int(window_s)} s windows.",
        "sources": [f"{source} ({len(recs)} calls)"],
        "seed": 0,
        "duration_s": duration,
        "traffic": traffic,
        "chain": chain,
        "providers": providers,
    }
    if timeouts_ms:
        data["router"] = {"deadline_s": 60.0, "attempt_timeout_s": round(float(np.median(timeouts_ms)) / 1000.0, 3)}
    parse_scenario(data, f"<scenario from {source}>")  # what we write must load
    return data


def scenario_from_telemetry(
    url: str, *, name: str = "replay", window_s: float = 300.0, since: float | None = None, until: float | None = None, table_prefix: str = "attune_"
) -> dict[str, Any]:
    """Read calls from the telemetry store at ``url`` and build a scenario from them."""
    from telemetry import TelemetryStore

    store = TelemetryStore.open(url, table_prefix=table_prefix)
    try:
        records = store.query(since=since, until=until)
        where = store.redact(url)
    finally:
        store.close()
    return scenario_from_records(records, name=name, window_s=window_s, source=f"telemetry store {where}")
