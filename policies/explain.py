"""``attune explain --db URL``: what the policies decided lately, and the numbers behind it.

``explain_from_store(url)`` reads the store (no router needed): for each tier and task type,
the latest call's policy, the order it used and what it skipped and why; and per deployment
the recent figures from the per-minute rollups (decayed as the live statistics are: success
probability, latency p50/p95, failed-attempt time, error mix, retries per call).
``attune explain`` prints them (``router.cli_explain.print_explain``). A running router answers the same question live with
``Router.explain(tier, task_type=...)`` (the plan's ``notes``).
"""

from __future__ import annotations

import time
from typing import Any

from policies.stats import StatsRegistry

__all__ = ["explain_from_store"]


def explain_from_store(
    url: str | None = None,
    *,
    tier: str | None = None,
    window_s: float = 900.0,
    now: float | None = None,
    recent_calls: int = 500,
    table_prefix: str = "attune_",
) -> list[dict[str, Any]]:
    """One row per (tier, task type) seen in the last ``window_s`` seconds (newest calls first,
    at most ``recent_calls`` read); see the module docstring for the fields."""
    from telemetry import TelemetryStore

    now = time.time() if now is None else now
    store = TelemetryStore(url, table_prefix=table_prefix)
    try:
        filters: dict[str, Any] = {} if tier is None else {"tier": tier}
        calls = store.query(since=now - window_s, limit=recent_calls, order="desc", **filters)
        rollups = store.load_rollups(now - window_s)
    finally:
        store.close()
    stats = StatsRegistry()
    stats.load_rollups(rollups, now)
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for rec in calls:  # newest first: the first of each (tier, task) is its latest plan
        k = (rec.tier, rec.task_type)
        if k in seen:
            continue
        seen.add(k)
        chain = list(rec.plan_order) + [s.deployment for s in rec.skipped if s.deployment not in rec.plan_order]
        for key in rec.fallback_chain:
            if key not in chain:
                chain.append(key)
        deps = []
        for key in chain:
            st = stats.task_stats(key, rec.task_type) or stats.get(key)
            snap = st.snapshot(now)
            deps.append({"deployment": key, **snap})
        rows.append(
            {
                "tier": rec.tier,
                "task_type": rec.task_type,
                "policy": rec.policy,
                "last_call_at": rec.timestamp.isoformat(),
                "order": list(rec.plan_order),
                "skipped": [{"deployment": s.deployment, "reason": s.reason} for s in rec.skipped],
                "served_by": rec.deployment if rec.success else None,
                "deployments": deps,
            }
        )
    rows.sort(key=lambda r: (r["tier"], r["task_type"]))
    return rows
