"""Issue 12 finding 1: one unbindable record must not stop the writer (SQLite and PostgreSQL).

Each bad value is either stored (coerced where that keeps its meaning) or dropped once with a
reason naming the field, and every other record of the batch is written.
"""

from __future__ import annotations

import logging
import sqlite3
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from telemetry_testkit import StoreTarget, make_call

from telemetry import LLMCallRecord, TelemetryBackend, TelemetryDropWarning, TelemetryStore
from telemetry._queued import call_id_of
from telemetry._rows import encode_line

# (field, bad value, what is stored for it, or None when the record is dropped)
CASES: list[tuple[str, Any, Any]] = [
    ("task_type", 123, "123"),  # made the rollup upsert raise KeyError, forever
    ("task_type", ["a"], None),  # sqlite3 "Error binding parameter", forever
    ("request_id", {"id": {"nested": 1}}, None),  # a provider answering "id": {...}
    ("tags", {1: "a"}, {"1": "a"}),
    ("task_type", None, ""),
    ("input_tokens", 1e30, None),
    ("output_tokens", float("nan"), None),
    ("cost", float("inf"), None),
    ("latency_ms", 12.0, 12),
    ("fallback_chain", ["a", 7], ["a", "7"]),
    ("provider", "open\x00ai", "openai"),
]


def backend(t: StoreTarget, **kw: Any) -> TelemetryBackend:
    return TelemetryBackend(t.url, **t.kwargs(flush_interval=0.02, **kw))


def _batch() -> tuple[list[LLMCallRecord], dict[str, Any], set[str]]:
    records = [make_call(i) for i in range(2 * len(CASES) + 1)]
    stored: dict[str, Any] = {}
    dropped: set[str] = set()
    for k, (name, bad, want) in enumerate(CASES):
        i = 2 * k + 1
        records[i] = replace(records[i], **{name: bad})
        if want is None:
            dropped.add(f"c{i}")
        else:
            stored[f"c{i}"] = (name, want)
    return records, stored, dropped


async def test_each_bad_value_is_stored_coerced_or_dropped_once(target: StoreTarget) -> None:
    records, coerced, dropped = _batch()
    b = backend(target)
    with pytest.warns(TelemetryDropWarning) as seen:
        for r in records:
            b.submit(r)
        await b.flush(timeout=10)
    st = b.stats
    assert (st.submitted, st.written, st.dropped, st.pending) == (len(records), len(records) - len(dropped), len(dropped), 0)
    assert st.write_failures == 0 and st.db_available
    text = " ".join(str(w.message) for w in seen)
    for cid in dropped:
        assert f"'{cid}'" in text  # each named with its reason
    assert "task_type must be text, got list" in text and "input_tokens=1e+30 is outside" in text
    got = {r.call_id: r for r in await b.query()}
    assert set(got) == {r.call_id for r in records} - dropped
    for cid, (name, want) in coerced.items():
        assert getattr(got[cid], name) == want, cid
    # the rollups count exactly the stored calls, under the coerced task type
    rollups = await b.load_rollups(0)
    assert sum(r.calls for r in rollups) == len(got)
    assert {r.task_type for r in rollups} == {"code_review", "123", ""}
    # and the writer is alive: a later record is written
    b.submit(make_call(1000))
    await b.flush(timeout=10)
    assert b.stats.written == len(got) + 1
    await b.aclose()


def test_poison_batch_left_in_the_spool_does_not_stall_the_next_backend(target: StoreTarget) -> None:
    records, coerced, dropped = _batch()
    records = [r for r in records if r.call_id in dropped or r.call_id not in coerced]  # all JSON can hold
    spool = Path(str(target.kwargs()["spool_path"]))
    spool.write_bytes(b"".join(encode_line(r) for r in records))  # as the old writer spooled them
    b = backend(target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TelemetryDropWarning)
        b.submit(make_call(1000))
        b.flush_sync(timeout=10)
    st = b.stats
    assert (st.recovered, st.recovered_dropped) == (len(records) - len(dropped), len(dropped))
    assert (st.submitted, st.written, st.dropped, st.pending, st.spooled) == (1, 1, 0, 0, 0)
    assert b.store.count() == len(records) - len(dropped) + 1
    assert not spool.exists()
    b.close()


class _FlakyStore(TelemetryStore):
    """A real SQLite store whose database refuses one record (as a constraint would) and is
    locked once in the middle of the split that isolates it."""

    locked_once = False

    def write_batch(self, records: Any) -> Any:
        ids = {call_id_of(r) for r in records}  # records, or the writer's queued bytes
        if "c5" in ids:
            raise sqlite3.IntegrityError("CHECK constraint failed: c5")
        if "c9" in ids and not self.locked_once:
            type(self).locked_once = True
            raise sqlite3.OperationalError("database is locked")
        return super().write_batch(records)


def test_drop_is_counted_once_when_the_database_fails_part_way(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The old writer retried the whole batch after a failure in the middle of a split and
    counted the isolated record as dropped again on every retry (``dropped=150`` of 67)."""
    b = TelemetryBackend(f"sqlite:///{tmp_path}/t.db", spool_path=False, flush_interval=0.02,
                         batch_size=16, retry_backoff=(0.01, 0.05))  # fmt: skip
    b._store = _FlakyStore(f"sqlite:///{tmp_path}/t.db")
    with pytest.warns(TelemetryDropWarning, match="'c5' could not be stored .IntegrityError"):
        for i in range(16):
            b.submit(make_call(i))
        b.flush_sync(timeout=10)
    st = b.stats
    assert _FlakyStore.locked_once
    assert (st.written, st.dropped, st.duplicates, st.write_failures) == (15, 1, 0, 1)
    assert b.store.count() == 15
    b.close()


def test_close_message_says_why_records_were_not_written(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A database that is fine but whose writes fail for another reason is not 'unavailable'."""

    class Broken(TelemetryStore):
        def write_batch(self, records: Any) -> Any:
            raise RuntimeError("our own bug")

    b = TelemetryBackend(f"sqlite:///{tmp_path}/t.db", spool_path=tmp_path / "s.spool", flush_interval=0.02)
    b._store = Broken(f"sqlite:///{tmp_path}/t.db")
    b.submit(make_call(1))
    with caplog.at_level(logging.WARNING, logger="attune.telemetry"):
        b.close(timeout=0.3)
    closing = [r.getMessage() for r in caplog.records if "at close" in r.getMessage()]
    assert closing and "unavailable" not in closing[0]
    assert "writes failing (last error: RuntimeError: our own bug)" in closing[0]
    assert b.stats.spooled == 1
