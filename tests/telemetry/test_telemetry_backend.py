"""Backend features, each run on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from telemetry_testkit import T0, StoreTarget, make_call

from telemetry import (
    AttemptRecord,
    LLMCallRecord,
    SchemaVersionError,
    TelemetryBackend,
    TelemetryClosedError,
    TelemetryStore,
    merge_rollups,
)
from telemetry.histogram import bucket_index


def backend(t: StoreTarget, **kw: object) -> TelemetryBackend:
    return TelemetryBackend(t.url, **t.kwargs(**kw))


async def test_record_flush_query_roundtrip(target: StoreTarget) -> None:
    async with backend(target) as b:
        originals = [make_call(i, fallback=i % 4 == 0, retries=i % 3) for i in range(30)]
        for r in originals:
            await b.record(r)
        await b.flush()
        got = await b.query()
    assert [r.call_id for r in got] == [r.call_id for r in originals]
    for a, b_ in zip(originals, got, strict=True):
        assert b_ == a  # every field, attempts and skipped included


async def test_query_filters_time_range_limit_order(target: StoreTarget) -> None:
    async with backend(target) as b:
        for i in range(20):
            b.submit(make_call(i, provider="openai" if i % 2 else "anthropic", success=i % 5 != 0,
                               error_type=None if i % 5 else "timeout"))  # fmt: skip
        failed_openai = await b.query(success=False, provider="openai")
        assert [r.call_id for r in failed_openai] == ["c5", "c15"]
        assert [r.call_id for r in await b.query(error_type=None, provider="anthropic", limit=3)] == ["c2", "c4", "c6"]
        assert [r.call_id for r in await b.query(error_type=["timeout", None], limit=2, order="desc")] == ["c19", "c18"]
        window = await b.query(since=T0 + timedelta(seconds=3), until=T0 + timedelta(seconds=6))
        assert [r.call_id for r in window] == ["c3", "c4", "c5"]
        assert len(await b.query(since=(T0 + timedelta(seconds=18)).timestamp())) == 2
        assert await b.query(provider=["gemini"]) == []


async def test_unknown_or_mistyped_filter_is_a_clear_error(target: StoreTarget) -> None:
    async with backend(target) as b:
        b.submit(make_call(1))
        with pytest.raises(ValueError, match=r"unknown LLMCallRecord field 'provder'.*valid filters: .*provider"):
            await b.query(provder="openai")
        with pytest.raises(TypeError, match=r"filter 'success' expects bool, got str"):
            await b.query(success="false")
        with pytest.raises(TypeError, match=r"filter 'latency_ms' expects int, got str"):
            await b.query(latency_ms="1; DROP TABLE x")
        with pytest.raises(ValueError, match=r"'fallback_chain' cannot be filtered"):
            await b.query(fallback_chain=["a"])
        with pytest.raises(ValueError, match="order must be"):
            await b.query(order="sideways")
        with pytest.raises(ValueError, match="unknown AttemptRecord field 'status'"):
            await b.query_attempts(status=500)
        # nothing was built from the bad input: the table is intact
        assert len(await b.query()) == 1


async def test_attempt_rows_give_both_success_rates(target: StoreTarget) -> None:
    async with backend(target) as b:
        # 10 calls: 4 fell back after an overloaded primary, 3 retried twice, 1 failed outright
        for i in range(10):
            b.submit(make_call(i, fallback=i < 4, retries=2 if 4 <= i < 7 else 0,
                               success=i != 9, error_type=None if i != 9 else "server_error"))  # fmt: skip
        attempts = await b.query_attempts()
        calls = await b.query()
        errors = await b.query_attempts(outcome="error")
        overloaded = await b.query_attempts(deployment="anthropic/claude", error_type="overloaded")
        first = await b.query_attempts(call_id="c4")
    assert len(attempts) == 4 * 2 + 3 * 3 + 3 * 1 == 20
    assert len(errors) == 4 + 6 + 1
    per_attempt_success = 1 - len(errors) / len(attempts)
    user_success = sum(r.success for r in calls) / len(calls)
    assert per_attempt_success == pytest.approx(9 / 20)
    assert user_success == pytest.approx(0.9)
    assert len(overloaded) == 4 and all(a.http_status == 529 for a in overloaded)
    assert [(a.position, a.retry_number, a.outcome) for a in first] == [(0, 0, "error"), (0, 1, "error"), (0, 2, "success")]


async def test_submit_is_thread_safe_rows_equal_calls(target: StoreTarget) -> None:
    b = backend(target, batch_size=200)
    n_threads, per = 4, 1500

    def work(k: int) -> None:
        for j in range(per):
            b.submit(make_call(k * per + j))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    await b.aclose()
    with target.open_store() as s:
        assert s.count() == n_threads * per
        assert s.count_attempts() == n_threads * per
    st = b.stats
    assert (st.submitted, st.written, st.dropped, st.pending) == (n_threads * per, n_threads * per, 0, 0)


async def test_duplicate_call_ids_are_counted_not_doubled(target: StoreTarget) -> None:
    async with backend(target) as b:
        for i in range(5):
            b.submit(make_call(i))
        b.submit(make_call(2))
        await b.flush()
        b.submit(make_call(3))
        b.submit(make_call(9))
        await b.flush()
        assert len(await b.query()) == 6
        assert b.stats.duplicates == 2
        rollups = await b.load_rollups(T0)
    assert sum(r.calls for r in rollups) == 6


async def test_a_batch_of_several_inserts_keeps_every_row_and_counts_duplicates(target: StoreTarget) -> None:
    """SQLite inserts ``ROWS_PER_INSERT`` rows per statement: a batch of 2.5 statements' worth,
    with stored and repeated call ids among them, writes each call and attempt once."""
    from telemetry._writers import SqliteWriter

    n = SqliteWriter.ROWS_PER_INSERT * 5 // 2
    store = target.open_store()
    try:
        first = store.write_batch([make_call(i, fallback=True) for i in range(0, n, 7)])
        again = store.write_batch([make_call(i, fallback=True) for i in range(n)] + [make_call(3, fallback=True)])
        assert (first.written, again.written, again.duplicates) == (len(range(0, n, 7)), n - len(range(0, n, 7)), len(range(0, n, 7)) + 1)
        assert store.count() == n
        assert sum(len(r.attempts) for r in store.query(limit=n + 10)) == 2 * n  # each fallback call has two attempts
    finally:
        store.close()


def test_sync_surface_and_store_open(target: StoreTarget) -> None:
    with backend(target) as b:
        for i in range(7):
            b.submit(make_call(i, success=i != 3, error_type="timeout" if i == 3 else None))
        b.flush_sync()
        assert [r.call_id for r in b.query_sync(success=False)] == ["c3"]
        assert len(b.load_rollups_sync(T0)) >= 1
    with pytest.raises(TelemetryClosedError):
        b.submit(make_call(99))
    with TelemetryStore.open(target.url, table_prefix=target.prefix) as store:
        assert store.count() == 7
        assert store.count(success=False) == 1
        assert store.query(call_id="c3")[0].error_type == "timeout"
        assert store.schema_version() == 1


async def test_rollups_match_a_hand_count(target: StoreTarget) -> None:
    minute2 = T0 + timedelta(minutes=1)
    recs = [
        make_call(0, latency_ms=100, cost=0.5),
        make_call(1, latency_ms=200, fallback=True, cost=0.25),
        make_call(2, latency_ms=300, retries=2, success=False, error_type="timeout"),
        make_call(3, latency_ms=400, task_type="summarize"),
        make_call(4, latency_ms=500, at=minute2 + timedelta(seconds=5), success=False, error_type="timeout"),
        make_call(5, latency_ms=600, at=minute2 + timedelta(seconds=6), success=False, error_type="rate_limited"),
    ]
    async with backend(target) as b:
        for r in recs:
            b.submit(r)
        await b.flush()
        rollups = await b.load_rollups(T0)
        only = await b.load_rollups(T0, deployment="openai/gpt-4o", task_type="code_review")
    key = {(r.minute, r.deployment, r.task_type): r for r in rollups}
    assert set(key) == {
        (T0, "openai/gpt-4o", "code_review"),
        (T0, "openai/gpt-4o", "summarize"),
        (T0, "anthropic/claude", "code_review"),
        (minute2, "openai/gpt-4o", "code_review"),
    }
    r = key[(T0, "openai/gpt-4o", "code_review")]
    assert (r.calls, r.successes, r.failures, r.errors) == (3, 2, 1, {"timeout": 1})
    assert (r.retries, r.fallbacks, r.input_tokens, r.output_tokens) == (2, 1, 300, 150)
    assert r.cost == pytest.approx(0.5 + 0.25 + 0.01)
    assert (r.provider, r.model) == ("openai", "gpt-4o")
    # attempts at this deployment: c0 1, c1 1, c2 2 retries + 1 failure = 5; successes 2
    assert (r.attempts, r.attempt_successes, r.attempt_failures) == (5, 2, 3)
    assert r.attempt_errors == {"server_error": 2, "timeout": 1}
    assert int(r.latency_hist.sum()) == 3 and r.latency_hist[bucket_index(200)] == 1
    assert int(r.ttft_hist.sum()) == 3
    fallback_target = key[(T0, "anthropic/claude", "code_review")]
    assert (fallback_target.calls, fallback_target.attempts, fallback_target.attempt_failures) == (0, 1, 1)
    assert fallback_target.attempt_errors == {"overloaded": 1}
    late = key[(minute2, "openai/gpt-4o", "code_review")]
    assert late.errors == {"timeout": 1, "rate_limited": 1} and late.successes == 0
    assert [(x.minute, x.task_type) for x in only] == [(T0, "code_review"), (minute2, "code_review")]
    total = merge_rollups(rollups, by="all")["all"]
    assert (total.calls, total.successes, int(total.latency_hist.sum())) == (6, 3, 6)


async def test_fresh_process_and_second_instance_load_rollups(target: StoreTarget) -> None:
    a = backend(target, spool_path=str(target.tmp_path / "a.spool"))
    b = backend(target, spool_path=str(target.tmp_path / "b.spool"))
    for i in range(300):
        (a if i % 2 else b).submit(make_call(i, latency_ms=100 + i))
    await a.flush()
    await b.flush()
    # a second instance sees the rollups the first wrote, and the sum is exact
    seen_by_b = await b.load_rollups(T0)
    await a.aclose()
    await b.aclose()
    fresh = TelemetryStore.open(target.url, table_prefix=target.prefix)
    try:
        rollups = fresh.load_rollups(T0.timestamp())
    finally:
        fresh.close()
    assert sum(r.calls for r in seen_by_b) == 300
    assert sum(r.calls for r in rollups) == 300
    assert sum(int(r.latency_hist.sum()) for r in rollups) == 300
    assert sum(r.attempts for r in rollups) == 300


def test_retention_prunes_raw_rows_keeps_rollups(target: StoreTarget) -> None:
    old = T0 - timedelta(days=40)
    with backend(target) as b:
        for i in range(10):
            b.submit(make_call(i, at=old + timedelta(seconds=i)))
        for i in range(10, 15):
            b.submit(make_call(i))
        b.flush_sync()
        deleted = b.store.prune(timedelta(days=30), now=(T0 + timedelta(hours=1)).timestamp())
        assert deleted == 10
        assert b.store.count() == 5
        assert b.store.count_attempts() == 5
        assert sum(r.calls for r in b.store.load_rollups(old)) == 15
        with pytest.raises(TypeError, match="older_than"):
            b.store.prune("30 days")  # type: ignore[arg-type]


def test_schema_version_mismatch_fails_clearly_and_changes_nothing(target: StoreTarget) -> None:
    with backend(target) as b:
        b.submit(make_call(1))
    store = target.open_store()
    from sqlalchemy import update

    with store.engine.begin() as conn:
        conn.execute(update(store.tables.meta).values(value="0").where(store.tables.meta.c.key == "schema_version"))
    store.close()
    with pytest.raises(SchemaVersionError, match=r"schema version 0; this version of attune expects 1.*older attune"):
        TelemetryStore.open(target.url, table_prefix=target.prefix)
    # a backend on that store keeps the records (spool) and reports the error on flush
    b2 = backend(target)
    b2.submit(make_call(2))
    with pytest.raises(Exception, match="schema version 0"):
        b2.flush_sync(timeout=5)
    b2.close()
    assert b2.stats.dropped == 0 and b2.stats.spooled == 1
    # the store itself is untouched: one row, version still 0
    from sqlalchemy import func, select

    raw = TelemetryStore(target.url, table_prefix=target.prefix)
    tables = __import__("telemetry.schema", fromlist=["build_tables"]).build_tables(target.prefix)
    eng = raw._make_engine()
    with eng.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.calls)).scalar() == 1
        assert conn.execute(select(tables.meta.c.value)).scalar() == "0"
        conn.execute(update(tables.meta).values(value="1"))
        conn.commit()
    eng.dispose()


def test_newer_schema_version_is_refused(target: StoreTarget) -> None:
    store = target.open_store()
    from sqlalchemy import update

    with store.engine.begin() as conn:
        conn.execute(update(store.tables.meta).values(value="7"))
    store.close()
    with pytest.raises(SchemaVersionError, match="newer attune"):
        TelemetryStore.open(target.url, table_prefix=target.prefix)
    with store._make_engine().begin() as conn:
        conn.execute(update(store.tables.meta).values(value="1"))


def test_record_type_is_checked(target: StoreTarget) -> None:
    with backend(target) as b:
        with pytest.raises(TypeError, match="expected an LLMCallRecord"):
            b.submit({"call_id": "x"})  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="expected an LLMCallRecord"):
            b.submit(AttemptRecord("x", 0, 0, "a/b", "a", "b", "success"))  # type: ignore[arg-type]


def test_naive_timestamps_are_utc(target: StoreTarget) -> None:
    naive = LLMCallRecord(call_id="n1", timestamp=T0.replace(tzinfo=None), provider="p", model="m")
    with backend(target) as b:
        b.submit(naive)
        got = b.query_sync()
    assert got[0].timestamp == T0 and got[0].deployment == "p/m"
