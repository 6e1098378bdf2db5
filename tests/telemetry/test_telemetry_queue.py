"""The writer's queue: records wait as spool lines the collector does not track, the writer
binds them as they are, writes full batches while records keep coming, and SQLite compiles
a few statements whatever the batch sizes. Each on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import gc
import random
import time
from dataclasses import fields, replace
from typing import Any

from telemetry_testkit import T0, StoreTarget, make_call

from router import Deployment, MemoryProvider, Router, Tier
from router.errors import ServerError
from telemetry import LLMCallRecord, TelemetryBackend, TelemetryStore
from telemetry._queued import queued
from telemetry._rows import decode_line
from telemetry._writers import SqliteWriter


class _Keep:
    def __init__(self) -> None:
        self.records: list[LLMCallRecord] = []

    def submit(self, record: LLMCallRecord) -> None:
        self.records.append(record)


async def _routed_records(n: int) -> list[LLMCallRecord]:
    """Records as the router makes them: a fallback, a retry, a skip, a success."""
    flaky = MemoryProvider("openai", fail_with=[ServerError("boom", status=500) for _ in range(n // 4)])
    keys = ["openai/gpt-4o", "anthropic/claude"]
    deps = [Deployment(keys[0], flaky, "gpt-4o"), Deployment(keys[1], MemoryProvider("anthropic"), "claude")]
    sink = _Keep()
    r = Router(deployments=deps, tiers=[Tier("capable", keys)], telemetry=sink)
    for i in range(n):
        await r.acompletion("capable", [{"role": "user", "content": f"hi {i}"}], tags={"team": "search"})
    return sink.records


def _idle(target: StoreTarget) -> TelemetryBackend:
    """A backend whose writer, once started, waits: nothing wakes it before ``flush``."""
    return TelemetryBackend(target.url, **target.kwargs(batch_size=100_000, flush_interval=60.0))


async def test_router_records_wait_as_lines_the_collector_does_not_track(target: StoreTarget) -> None:
    records = await _routed_records(40)
    assert any(r.attempts and len(r.attempts) > 1 for r in records)  # a retry or a fallback among them
    b = _idle(target)
    try:
        for r in records:
            b.submit(r)
        waiting = list(b._queue)
        assert len(waiting) == len(records)
        assert all(type(item) is bytes and not gc.is_tracked(item) for item in waiting)
        assert [decode_line(item) for item in waiting] == records
        b.flush_sync(timeout=10)
        stored = b.store.query(limit=100)
    finally:
        b.close()
    assert sorted(stored, key=lambda r: r.call_id) == sorted(records, key=lambda r: r.call_id)


async def test_records_outside_the_fast_check_wait_as_objects_and_are_checked_as_before(target: StoreTarget) -> None:
    plain = make_call(1)
    odd = [
        replace(make_call(2), error_message="bad\x00byte", success=False, error_type="server_error"),  # NUL: removed
        replace(make_call(3), tags={"n": 7}),  # type: ignore[dict-item]  # a number for text: made text
        replace(make_call(4), ttft_ms=12.0),  # type: ignore[arg-type]  # an integral float: made an int
    ]
    assert type(queued(plain)) is bytes
    assert all(queued(r) is r for r in odd)
    b = _idle(target)
    try:
        for r in [plain, *odd]:
            b.submit(r)
        b.flush_sync(timeout=10)
        got = {r.call_id: r for r in b.store.query(limit=10)}
    finally:
        b.close()
    assert got["c1"] == plain
    assert got["c2"].error_message == "badbyte"
    assert got["c3"].tags == {"n": "7"}
    assert got["c4"].ttft_ms == 12 and type(got["c4"].ttft_ms) is int


def test_a_line_and_its_record_store_the_same_rows_and_rollups(target: StoreTarget) -> None:
    records = [make_call(i, fallback=i % 3 == 0, retries=i % 2, success=i % 5 != 0, error_type="timeout") for i in range(50)]
    lines = [queued(r) for r in records]
    assert all(type(x) is bytes for x in lines)
    a = target.open_store()
    b = TelemetryStore.open(target.url, table_prefix=f"{target.prefix}b_")  # a second store beside it
    try:
        assert a.write_batch(lines).written == 50
        assert b.write_batch(records).written == 50
        assert a.query(limit=100) == b.query(limit=100) != []
        assert [_values(r) for r in a.load_rollups(T0)] == [_values(r) for r in b.load_rollups(T0)] != []
    finally:
        a.close()
        b.drop_tables()
        b.close()


def _values(rollup: Any) -> list[Any]:
    """A rollup's values, histograms as lists (``updated_at`` is the time of the write)."""
    out = []
    for f in fields(rollup):
        if f.name != "updated_at":
            v = getattr(rollup, f.name)
            out.append(v.tolist() if hasattr(v, "tolist") else v)
    return out


def test_while_records_keep_coming_the_writer_writes_full_batches(target: StoreTarget) -> None:
    """Woken by a full batch, the writer writes full batches and leaves the rest for the next one
    (each batch costs a transaction and a rollup upsert); a flush writes everything."""
    b = TelemetryBackend(target.url, **target.kwargs(batch_size=10, flush_interval=60.0))
    try:
        for i in range(15):
            b.submit(make_call(i))
        deadline = time.monotonic() + 10
        while b.stats.written < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # a writer that drained the rest would have written it by now
        assert (b.stats.written, b.stats.pending) == (10, 5)
        b.flush_sync(timeout=10)
        assert (b.stats.written, b.stats.pending) == (15, 0)
    finally:
        b.close()


def test_sqlite_compiles_a_few_statements_whatever_the_batch_sizes(tmp_path: object) -> None:
    """A statement per batch size would be compiled afresh for nearly every batch; rows go in
    power-of-two statements instead, so a connection keeps a few per table."""
    store = TelemetryStore.open(f"sqlite:///{tmp_path}/t.db")
    rnd = random.Random(7)
    i = 0
    try:
        for _ in range(60):
            n = rnd.randint(1, 300)
            assert store.write_batch([make_call(k) for k in range(i, i + n)]).written == n
            i += n
        assert store.count() == i
        writer = store._writer
        assert isinstance(writer, SqliteWriter)
        sizes = {n for _, n in writer._multi}
        assert sizes <= {1 << k for k in range(9)}  # 1 .. 256
    finally:
        store.close()


def test_an_unreadable_line_is_refused_with_a_reason_and_named_as_unknown(tmp_path: object) -> None:
    from telemetry._queued import call_id_of

    store = TelemetryStore.open(f"sqlite:///{tmp_path}/t.db")
    try:
        line = queued(make_call(3, fallback=True))
        assert isinstance(line, bytes)
        short = line.replace(b',"anthropic/claude",', b',', 1)  # an attempt row one value short
        assert short != line
        res = store.write_batch([b"not json\n", queued(make_call(1)), b"[1, 2]\n", short])
        assert res.written == 1
        assert [cid for cid, _ in res.rejected] == ["?", "?", "?"]
        assert sum(len(r.attempts) for r in store.query(limit=10)) == 1  # nothing of the short line went in
        assert all(why.startswith("unreadable queued line") for _, why in res.rejected)
        assert call_id_of(b"not json\n") == "?" and call_id_of(queued(make_call(2))) == "c2"
    finally:
        store.close()


def test_a_queued_line_holds_the_rows_the_record_would_give() -> None:
    """``queue_line`` writes the list and tags columns as JSON arrays and objects; made text
    again, its row is ``call_row``'s and its attempts ``attempt_values``'s; ``decode_line`` reads
    it back to the record; a spool line (JSON text in those columns) still reads the same."""
    from telemetry import SkippedDeployment
    from telemetry._rows import _loads, attempt_values, call_row, encode_line, queue_line, text_columns

    full = replace(make_call(7, fallback=True, retries=1), tags={"team": "search", "env": "prod"}, plan_order=["a/x", "b/y"],
                   skipped=[SkippedDeployment("c/z", "circuit_open")], ttft_ms=120, request_id="req-7")  # fmt: skip
    for r in (full, make_call(8), replace(make_call(9), timestamp=make_call(9).timestamp.replace(tzinfo=None))):
        row = _loads(queue_line(r))
        attempts = row.pop()
        text_columns(row)
        assert tuple(row) == call_row(r)
        assert [tuple(a) for a in attempts] == attempt_values(r)
        assert decode_line(queue_line(r)) == decode_line(encode_line(r))
    assert decode_line(queue_line(full)) == full
