"""Nothing lost: real PostgreSQL outages, a locked SQLite file, spool replay, the dropped counter."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from telemetry_testkit import PG_URL, make_call, needs_pg

from telemetry import TelemetryBackend, TelemetryDropWarning, TelemetryError, TelemetryStore


def wait_until(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


@needs_pg
async def test_postgres_outage_rows_equal_calls(tmp_path: Path) -> None:
    """Terminate every session and refuse new ones on a dedicated database mid-run, then
    allow them again: every call is stored once and the rollups count every call."""
    import psycopg
    from sqlalchemy.engine import make_url

    assert PG_URL is not None
    base = make_url(PG_URL)
    dbname = f"attune_outage_{uuid.uuid4().hex[:8]}"
    admin_dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    url = base.set(database=dbname).render_as_string(hide_password=False)
    admin = psycopg.connect(admin_dsn, autocommit=True)
    admin.execute(f'CREATE DATABASE "{dbname}"')
    b = TelemetryBackend(
        url,
        batch_size=50,
        flush_interval=0.02,
        max_buffer=300,
        spool_path=tmp_path / "pg.spool",
        retry_backoff=(0.02, 0.2),
        connect_timeout=1,
    )
    try:
        for i in range(500):
            b.submit(make_call(i))
        await b.flush(timeout=20)
        admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (dbname,))
        for i in range(500, 2000):
            b.submit(make_call(i))
            if i % 100 == 0:
                await asyncio.sleep(0.01)
        await asyncio.to_thread(wait_until, lambda: b.stats.write_failures > 0 and b.stats.spilled > 0)
        down = b.stats
        assert down.written < 2000 and down.db_available is False
        admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
        await b.flush(timeout=30)
        st = b.stats
        assert (st.written, st.dropped, st.pending, st.spooled) == (2000, 0, 0, 0)
        with TelemetryStore.open(url) as store:
            assert store.count() == 2000
            assert store.count_attempts() == 2000
            assert sum(r.calls for r in store.load_rollups(0)) == 2000
    finally:
        admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
        await b.aclose()
        admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        admin.close()


def test_sqlite_locked_file_rows_equal_calls(tmp_path: Path) -> None:
    """Another process-level writer holds the SQLite write lock; records wait, spill, then land."""
    path = tmp_path / "locked.db"
    b = TelemetryBackend(
        f"sqlite:///{path}",
        batch_size=50,
        flush_interval=0.02,
        max_buffer=200,
        busy_timeout=0.05,
        retry_backoff=(0.02, 0.2),
        spool_path=tmp_path / "locked.spool",
    )
    with b:
        for i in range(100):
            b.submit(make_call(i))
        b.flush_sync(timeout=10)
        locker = sqlite3.connect(path, isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            for i in range(100, 1100):
                b.submit(make_call(i))
                if i % 50 == 0:
                    time.sleep(0.002)
            wait_until(lambda: b.stats.write_failures > 0 and b.stats.spilled > 0)
            assert b.stats.written == 100
        finally:
            locker.execute("COMMIT")
            locker.close()
        b.flush_sync(timeout=20)
        assert b.store.count() == 1100
        assert sum(r.calls for r in b.store.load_rollups(0)) == 1100
    assert (b.stats.dropped, b.stats.spooled) == (0, 0)


def test_unavailable_store_spools_on_close_and_next_backend_drains(tmp_path: Path) -> None:
    db = tmp_path / "later" / "t.db"  # the directory does not exist yet: SQLite cannot open it
    spool = tmp_path / "t.spool"
    kw = dict(flush_interval=0.02, retry_backoff=(0.01, 0.05), spool_path=spool)
    b = TelemetryBackend(f"sqlite:///{db}", **kw)
    for i in range(250):
        b.submit(make_call(i))
    wait_until(lambda: b.stats.write_failures > 0)
    b.close(timeout=0.2)
    assert (b.stats.written, b.stats.spooled, b.stats.dropped) == (0, 250, 0)
    assert spool.exists()
    db.parent.mkdir()
    b2 = TelemetryBackend(f"sqlite:///{db}", **kw)
    b2.flush_sync(timeout=10)  # starts the writer because a spool file is waiting
    assert b2.store.count() == 250
    b2.close()
    assert not spool.exists()


def test_dropped_records_are_counted_and_announced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "missing" / "t.db"
    b = TelemetryBackend(
        f"sqlite:///{db}",
        flush_interval=0.02,
        retry_backoff=(0.01, 0.05),
        max_buffer=10,
        spool_path=tmp_path / "small.spool",
        max_spool_bytes=4000,
    )
    with caplog.at_level(logging.ERROR, logger="attune.telemetry"), pytest.warns(TelemetryDropWarning, match="dropped"):
        for i in range(100):
            b.submit(make_call(i))
        b.close(timeout=0.2)
    st = b.stats
    assert st.written == 0 and st.dropped > 0
    assert st.spooled + st.dropped == 100
    assert f"total dropped: {st.dropped}" in caplog.text and "is full" in caplog.text


def test_no_spool_means_counted_drops(tmp_path: Path) -> None:
    b = TelemetryBackend(f"sqlite:///{tmp_path}/nope/t.db", spool_path=False, flush_interval=0.02, retry_backoff=(0.01, 0.05))
    with pytest.warns(TelemetryDropWarning, match="no spool file"):
        for i in range(20):
            b.submit(make_call(i))
        b.close(timeout=0.1)
    assert b.stats.dropped == 20


def test_flush_times_out_clearly_while_down(tmp_path: Path) -> None:
    b = TelemetryBackend(f"sqlite:///{tmp_path}/gone/t.db", spool_path=tmp_path / "s.spool", flush_interval=0.02)
    b.submit(make_call(1))
    with pytest.raises(TimeoutError, match="1 record\\(s\\) not yet written"):
        b.flush_sync(timeout=0.3)
    b.close(timeout=0.1)
    assert b.stats.spooled == 1


def test_password_never_in_repr_logs_or_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = "S3cr%40tPw"
    url = f"postgresql://attune:{secret}@127.0.0.1:1/nowhere"
    b = TelemetryBackend(url, spool_path=tmp_path / "s.spool", connect_timeout=1, flush_interval=0.02, retry_backoff=(0.01, 0.05))
    assert "S3cr" not in repr(b) and "S3cr" not in b.url and "***" in b.url
    with caplog.at_level(logging.DEBUG, logger="attune.telemetry"):
        b.submit(make_call(1))
        wait_until(lambda: b.stats.write_failures > 0)
        b.close(timeout=0.1)
    assert b.stats.last_error and "S3cr" not in b.stats.last_error
    assert "S3cr" not in caplog.text
    store = TelemetryStore(url, connect_timeout=1)
    with pytest.raises(TelemetryError) as info:
        store.connect()
    assert "S3cr" not in str(info.value) and "***" in str(info.value)
    assert "S3cr" not in repr(store) and "S3cr" not in store.url


async def test_unstorable_records_are_dropped_alone_and_counted(target: object) -> None:
    """A record no database can take (an int beyond 64 bits, a timestamp that is not a
    datetime) is refused before binding and dropped with a warning; the rest is stored."""
    from dataclasses import replace

    t = target
    records = [make_call(i) for i in range(10)]
    records[3] = replace(records[3], input_tokens=2**70)
    records[7] = replace(records[7], timestamp="yesterday")  # type: ignore[arg-type]
    records[5] = replace(records[5], error_message="bad\x00byte", success=False, error_type="server_error")
    b = TelemetryBackend(t.url, **t.kwargs(flush_interval=0.02))  # type: ignore[attr-defined]
    with pytest.warns(TelemetryDropWarning, match="invalid record.*'c3': input_tokens.*'c7': timestamp must be a datetime"):
        for r in records:
            b.submit(r)
        await b.flush(timeout=10)
    st = b.stats
    assert (st.written, st.dropped) == (8, 2)
    got = await b.query()
    assert sorted(r.call_id for r in got) == sorted(f"c{i}" for i in (0, 1, 2, 4, 5, 6, 8, 9))
    assert sum(r.calls for r in await b.load_rollups(0)) == 8
    stored5 = [r for r in got if r.call_id == "c5"][0]
    # PostgreSQL refuses NUL in text, so it is stripped on both dialects and the rest is stored
    assert stored5.error_message == "badbyte"
    await b.aclose()


def test_malformed_record_while_down_is_dropped_alone(tmp_path: Path) -> None:
    from dataclasses import replace

    b = TelemetryBackend(f"sqlite:///{tmp_path}/absent/t.db", spool_path=tmp_path / "m.spool", flush_interval=0.02)
    records = [make_call(i) for i in range(5)]
    records[2] = replace(records[2], timestamp="not a datetime")  # type: ignore[arg-type]
    with pytest.warns(TelemetryDropWarning, match="'c2' cannot be spooled"):
        for r in records:
            b.submit(r)
        b.close(timeout=0.1)
    assert (b.stats.spooled, b.stats.dropped) == (4, 0 + 1)


@needs_pg
async def test_postgres_locked_table_rows_equal_calls(tmp_path: Path) -> None:
    """Another session holds an exclusive lock on the calls table: the writer's statements
    time out (``write_timeout``), it backs off and spools, and writes everything once the
    lock is gone."""
    import psycopg
    from sqlalchemy.engine import make_url
    from telemetry_testkit import unique_prefix

    assert PG_URL is not None
    prefix = unique_prefix()
    b = TelemetryBackend(
        PG_URL,
        table_prefix=prefix,
        batch_size=50,
        flush_interval=0.02,
        max_buffer=100,
        write_timeout=0.2,
        retry_backoff=(0.02, 0.1),
        spool_path=tmp_path / "lock.spool",
    )
    dsn = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    locker = psycopg.connect(dsn)
    try:
        for i in range(100):
            b.submit(make_call(i))
        await b.flush(timeout=10)
        locker.execute(f"LOCK TABLE {prefix}calls IN ACCESS EXCLUSIVE MODE")
        for i in range(100, 600):
            b.submit(make_call(i))
            if i % 50 == 0:
                await asyncio.sleep(0.01)
        await asyncio.to_thread(wait_until, lambda: b.stats.write_failures > 0 and b.stats.spilled > 0)
        assert b.stats.written == 100
        locker.rollback()  # releases the lock
        await b.flush(timeout=20)
        assert (b.stats.written, b.stats.dropped, b.stats.spooled) == (600, 0, 0)
        assert b.store.count() == 600
        assert sum(r.calls for r in b.store.load_rollups(0)) == 600
    finally:
        locker.rollback()
        locker.close()
        await b.aclose()
        store = TelemetryStore(PG_URL, table_prefix=prefix)
        store.drop_tables()
        store.close()
