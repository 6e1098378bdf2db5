"""The seed's analysis queries on our API, checked against hand counts; numpy analysis; rollup reports."""

from __future__ import annotations

import sys
from datetime import timedelta

import numpy as np
import pytest
from telemetry_testkit import T0, StoreTarget, make_call

from telemetry import CallFrame, LLMCallRecord, MemorySink, TelemetryBackend, percentiles_by


def seed_dataset() -> list[LLMCallRecord]:
    """200 calls, 1 s apart. openai: calls 0..99, every 5th fails (20); anthropic: 100..199,
    every 20th fails (5). code_review: i % 5 in 1..3 (120 calls); summarize: the other 80."""
    out = []
    for i in range(200):
        provider = "openai" if i < 100 else "anthropic"
        fails = (i % 5 == 0) if i < 100 else (i % 20 == 0)
        task = "code_review" if i % 5 in (1, 2, 3) else "summarize"
        # code_review needs fallback for i % 10 == 1 (20 of its 120 calls, 16.7 %);
        # summarize for i % 40 == 4 (5 of its 80 calls, 6.25 %)
        fallback = (task == "code_review" and i % 10 == 1) or (task == "summarize" and i % 40 == 4)
        out.append(
            make_call(i, provider=provider, model="m", task_type=task, success=not fails,
                      error_type="timeout" if fails else None, fallback=fallback,
                      latency_ms=1000 + 10 * i, cost=0.01 * (1 + i % 3))  # fmt: skip
        )
    return out


async def test_seed_queries_against_hand_counts(target: StoreTarget) -> None:
    async with TelemetryBackend(target.url, **target.kwargs()) as telemetry:
        for r in seed_dataset():
            await telemetry.record(r)
        frame = await telemetry.frame(since=T0)

        # Find providers with high failure rates
        provider_failures = frame.group_by("provider").failure_rate()
        # Identify tasks that frequently need fallback
        fallback_heavy_tasks = {t: r for t, r in frame.group_by("task_type").fallback_rate().items() if r > 0.1}
        # Detect degrading performance over time
        latency_trend = frame.rolling_mean("latency_ms", window=100)

        # the seed's record-level queries too
        failed_calls = await telemetry.query(success=False, provider="openai")
        records = await telemetry.query()
        fallback_rate = len([r for r in records if r.fallback_used]) / len(records)

    assert provider_failures == {"openai": pytest.approx(20 / 100), "anthropic": pytest.approx(5 / 100)}
    assert fallback_heavy_tasks == {"code_review": pytest.approx(20 / 120)}
    assert len(latency_trend) == 200 and np.isnan(latency_trend[:99]).all()
    # window ending at call k holds latencies of calls k-99..k: mean 1000 + 10 * (k - 49.5)
    assert latency_trend[99] == pytest.approx(1000 + 10 * 49.5)
    assert latency_trend[199] == pytest.approx(1000 + 10 * 149.5)
    assert len(failed_calls) == 20 and all(not r.success for r in failed_calls)
    assert fallback_rate == pytest.approx(25 / 200) == frame.fallback_rate()


def test_frame_figures_match_numpy_and_python() -> None:
    recs = seed_dataset()
    frame = CallFrame.from_records(recs)
    lat = np.array([r.latency_ms for r in recs], float)
    dep = np.array([r.deployment for r in recs], object)
    pct = frame.group_by("deployment").percentiles("latency_ms", (50, 95, 99))
    for d in ("openai/m", "anthropic/m"):
        assert pct[d] == pytest.approx(list(np.percentile(lat[dep == d], [50, 95, 99])))
    cps = frame.group_by("provider").cost_per_success()
    for p in ("openai", "anthropic"):
        mine = [r for r in recs if r.provider == p]
        assert cps[p] == pytest.approx(sum(r.cost for r in mine) / sum(r.success for r in mine))
    assert frame.cost_per_success() == pytest.approx(sum(r.cost for r in recs) / 175)
    assert frame.group_by("task_type").count() == {"code_review": 120, "summarize": 80}
    assert frame.group_by("provider").mean("latency_ms")["openai"] == pytest.approx(1000 + 10 * 49.5)
    assert frame.where(provider="openai", success=False).group_by("provider").count() == {"openai": 20}
    agg = frame.group_by("provider").agg(worst=lambda g: float(g["latency_ms"].max()))
    assert agg == {"openai": {"worst": 1990.0}, "anthropic": {"worst": 2990.0}}
    assert list(frame["provider"][:2]) == ["openai", "openai"]
    with pytest.raises(KeyError, match="unknown column 'latncy'"):
        frame["latncy"]
    with pytest.raises(ValueError, match="not a string column"):
        frame.group_by("latency_ms")


def test_trend_bins_and_slope() -> None:
    recs = [make_call(i, at=T0 + timedelta(minutes=i), latency_ms=1000 + 5 * i) for i in range(180)]
    trend = CallFrame.from_records(recs).trend("latency_ms", every=3600)
    assert list(trend.counts) == [60, 60, 60]
    assert trend.starts[0] == T0.timestamp()
    assert list(trend.means) == pytest.approx([1000 + 5 * 29.5, 1000 + 5 * 89.5, 1000 + 5 * 149.5])
    assert trend.slope_per_hour == pytest.approx(300.0)  # 5 ms per minute


def test_rollup_percentiles_within_a_few_percent_of_exact(target: StoreTarget) -> None:
    rng = np.random.default_rng(3)
    lat = rng.lognormal(np.log(900), 0.6, 4000).astype(int) + 1
    deps = np.where(np.arange(4000) % 3 == 0, "anthropic", "openai")
    with TelemetryBackend(target.url, **target.kwargs()) as b:
        for i in range(4000):
            b.submit(make_call(i, provider=str(deps[i]), latency_ms=int(lat[i]), at=T0 + timedelta(seconds=i / 2)))
        b.flush_sync()
        rollups = b.load_rollups_sync(T0)
    assert len({r.minute for r in rollups}) == 34  # 2000 s of traffic
    report = percentiles_by(rollups, "deployment", (50, 95, 99))
    for d in ("openai", "anthropic"):
        exact = np.percentile(lat[deps == d], [50, 95, 99])
        assert report[f"{d}/gpt-4o"] == pytest.approx(list(exact), rel=0.06)


def test_memory_sink_surface() -> None:
    sink = MemorySink()
    for r in seed_dataset()[:10]:
        sink.submit(r)
    assert len(sink) == 10
    assert [r.call_id for r in sink.query_sync(success=False)] == ["c0", "c5"]
    with pytest.raises(ValueError, match="unknown LLMCallRecord field"):
        sink.query_sync(colour="red")
    assert sink.frame().group_by("provider").failure_rate() == {"openai": pytest.approx(0.2)}
    sink.close()
    with pytest.raises(Exception, match="closed"):
        sink.submit(seed_dataset()[0])


async def test_memory_sink_async_surface() -> None:
    async with MemorySink() as sink:
        await sink.record(seed_dataset()[3])
        await sink.flush()
        assert [r.call_id for r in await sink.query(since=T0, limit=1)] == ["c3"]


def _frame_with_none_error_type() -> CallFrame:
    return CallFrame.from_records(seed_dataset()[:40])


def test_to_pandas_holds_every_column_and_value() -> None:
    pd = pytest.importorskip("pandas")  # in the dev extra: skipped only outside it
    frame = _frame_with_none_error_type()
    df = frame.to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == len(frame) == 40
    assert list(df.columns) == ["timestamp", *[c for c in frame.columns if c != "ts"]]
    assert str(df["timestamp"].dt.tz) == "UTC"
    assert [t.timestamp() for t in df["timestamp"]] == pytest.approx(list(frame["ts"]))
    assert isinstance(df["provider"].dtype, pd.CategoricalDtype)
    assert list(df["provider"]) == list(frame["provider"])
    assert list(df["error_type"]) == ["<none>" if e is None else e for e in frame["error_type"]]
    assert df["latency_ms"].tolist() == frame["latency_ms"].tolist()
    assert df["success"].dtype == bool and df["success"].tolist() == frame["success"].tolist()
    # the seed's failure rate per provider, computed by pandas, equals the frame's
    by_pandas = (1 - df.groupby("provider", observed=True)["success"].mean()).to_dict()
    assert by_pandas == pytest.approx(frame.group_by("provider").failure_rate())


def test_to_polars_holds_every_column_and_value() -> None:
    pl = pytest.importorskip("polars")
    frame = _frame_with_none_error_type()
    df = frame.to_polars()
    assert isinstance(df, pl.DataFrame) and df.height == 40
    assert df.columns == ["timestamp", *[c for c in frame.columns if c != "ts"]]
    assert df.schema["timestamp"] == pl.Datetime("us", "UTC")
    assert [t.timestamp() for t in df["timestamp"].to_list()] == pytest.approx(list(frame["ts"]))
    assert df["provider"].to_list() == list(frame["provider"])
    assert df["error_type"].to_list() == list(frame["error_type"])  # None stays null
    assert df["latency_ms"].to_list() == frame["latency_ms"].tolist()
    by_polars = {r["provider"]: r["fr"] for r in df.group_by("provider").agg((1 - pl.col("success").mean()).alias("fr")).to_dicts()}
    assert by_polars == pytest.approx(frame.group_by("provider").failure_rate())


@pytest.mark.parametrize(("method", "module"), [("to_pandas", "pandas"), ("to_polars", "polars")])
def test_export_without_the_library_names_the_extra(method: str, module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # ``import pandas`` now raises ImportError
    with pytest.raises(ImportError, match=rf"pip install {module} \(or the 'analysis' extra"):
        getattr(_frame_with_none_error_type(), method)()


def test_frame_with_seed_columns_only(target: StoreTarget) -> None:
    from telemetry.analysis import SEED_COLUMNS

    with TelemetryBackend(target.url, **target.kwargs()) as b:
        for r in seed_dataset():
            b.submit(r)
        b.flush_sync()
        frame = b.store.frame(columns=SEED_COLUMNS, success=True)
        assert len(frame) == 175 and frame.columns == SEED_COLUMNS
        assert frame.group_by("provider").failure_rate() == {"openai": 0.0, "anthropic": 0.0}
        with pytest.raises(KeyError, match="column 'cost' was not loaded"):
            frame.cost_per_success()
        with pytest.raises(ValueError, match="unknown frame column"):
            b.store.frame(columns=["prompt"])
