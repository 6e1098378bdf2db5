"""The adaptive policy inside a real Router, and learning through the telemetry store."""

from __future__ import annotations

import io
import time

from router import Deployment, MemoryProvider, Router, Tier
from router.errors import ServerError
from telemetry import MemorySink, TelemetryStore

from policies import AdaptivePolicy, StatsRegistry
from policies.explain import explain_from_store
from router.cli_explain import print_explain
from policies.warmstart import RollupRefresher

MSG = [{"role": "user", "content": "hi"}]


def _router(primary: MemoryProvider, sink: MemorySink | None = None, stats: StatsRegistry | None = None) -> Router:
    deps = [
        Deployment(key="p/a", adapter=primary, model="a", input_price_per_mtok=1, output_price_per_mtok=2),
        Deployment(key="q/b", adapter=MemoryProvider("q"), model="b", input_price_per_mtok=1, output_price_per_mtok=2),
    ]
    return Router(deployments=deps, tiers=[Tier(name="t", chain=["p/a", "q/b"], policy="adaptive")], telemetry=sink, stats=stats)


async def test_router_records_the_policy_order_and_skips_and_explains() -> None:
    sink = MemorySink()
    errors = [ServerError("boom", status=500) for _ in range(12)]
    r = _router(MemoryProvider("p", fail_with=errors), sink)
    for _ in range(30):
        await r.acompletion("t", MSG)
    recs = sink.records
    assert all(rec.success for rec in recs)
    assert recs[0].policy == "adaptive" and recs[0].plan_order == ["p/a", "q/b"]
    last = recs[-1]
    assert last.plan_order[0] == "q/b"  # the failing primary was demoted
    assert any(s.deployment == "p/a" for s in last.skipped)
    ex = r.explain("t")
    assert ex["policy"] == "adaptive" and ex["order"][0] == "q/b"
    row = ex["notes"]["deployments"]["p/a"]
    assert row["decision"] == "skipped" and row["reason"]
    assert {"p_success", "expected_ok_ms", "score"} <= set(row)
    # the policy's record hook fed retries into the statistics
    assert r.stats.get("p/a").retries > 0


async def test_warm_start_and_explain_from_the_store(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/t.db"
    sink = MemorySink()
    errors = [ServerError("boom", status=500) for _ in range(12)]
    r = _router(MemoryProvider("p", fail_with=errors), sink)
    for _ in range(40):
        await r.acompletion("t", MSG, task_type="code")
    store = TelemetryStore(url)
    store.write_batch(sink.records)
    store.close()

    # a fresh instance learns what the first one saw, through the store's rollups
    now = time.time() + 70.0  # the minute of those calls has ended
    fresh = StatsRegistry()
    src = TelemetryStore(url)
    try:
        ref = RollupRefresher(fresh, src, lookback_s=600.0)
        assert await ref.warm_start(now) >= 2
        assert fresh.get("p/a").slow.failures > 1.0 and fresh.get("q/b").slow.successes > 10.0
        assert fresh.get("p/a").p_success() < fresh.get("q/b").p_success()
        assert await ref.refresh(now + 5.0) == 0  # nothing new
    finally:
        src.close()
    plan = AdaptivePolicy().plan(r.chain("t"), _ctx(now), fresh)
    assert plan.order[0].key == "q/b"

    rows = explain_from_store(url, now=now)
    assert [(x["tier"], x["task_type"], x["policy"]) for x in rows] == [("t", "code", "adaptive")]
    deps = {d["deployment"]: d for d in rows[0]["deployments"]}
    assert deps["p/a"]["errors"] == {"server_error": 1.0}
    buf = io.StringIO()
    print_explain(rows, file=buf)
    text = buf.getvalue()
    assert "tier t  task code  policy adaptive" in text and "p/a" in text


def _ctx(now: float):  # type: ignore[no-untyped-def]
    from policies import PlanContext

    return PlanContext("t", "code", now)
