"""Issue 12 findings 8, 9 and the query parts of 10: bad configuration fails at construction,
``frame()`` takes list filters, and bad query values get our own clear error (SQLite and PostgreSQL)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from telemetry_testkit import StoreTarget, make_call

from telemetry import TelemetryBackend, TelemetryDropWarning, TelemetryStore
from telemetry.analysis import SEED_COLUMNS


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"table_prefix": "my-app_"}, r"table_prefix 'my-app_' is not valid"),
        ({"table_prefix": "1st_"}, r"table_prefix '1st_' is not valid"),
        ({"table_prefix": "MyApp_"}, r"table_prefix 'MyApp_' is not valid"),
        ({"url": "postgresql://u:S3cret@db.example:notaport/x"}, r"bad host or port in 'u:\*\*\*@db.example:notaport'.*'notaport'"),
        ({"url": "postgresql://u@db.example:0/x"}, r"port 0 is not a port"),
        ({"url": "mysql://u@h/x"}, r"unsupported telemetry URL scheme 'mysql'"),
        ({"flush_interval": float("nan")}, r"flush_interval must be a finite number of seconds > 0, got nan"),
        ({"close_timeout": -1}, r"close_timeout must be a finite number of seconds >= 0, got -1"),
        ({"busy_timeout": float("inf")}, r"busy_timeout must be a finite"),
        ({"write_timeout": 0}, r"write_timeout must be a finite number of seconds > 0, got 0"),
        ({"batch_size": 0}, r"batch_size must be an int >= 1, got 0"),
        ({"max_buffer": 2.5}, r"max_buffer must be an int >= 1, got 2.5"),
        ({"retry_backoff": (2.0, 1.0)}, r"retry_backoff: the first delay 2.0 is above the cap 1.0"),
    ],
)
def test_bad_configuration_fails_at_construction_naming_the_value(kwargs: dict[str, Any], message: str, tmp_path: Any) -> None:
    kwargs.setdefault("url", f"sqlite:///{tmp_path}/t.db")
    with pytest.raises(ValueError, match=message) as info:
        TelemetryBackend(**kwargs)
    assert "S3cret" not in str(info.value)


def test_writer_failure_sets_last_error(tmp_path: Any) -> None:
    from dataclasses import replace

    b = TelemetryBackend(f"sqlite:///{tmp_path}/t.db", spool_path=False, flush_interval=0.02)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TelemetryDropWarning)
        b.submit(replace(make_call(1), cost="free"))  # type: ignore[arg-type]
        b.flush_sync(timeout=10)
    assert b.stats.dropped == 1
    assert b.stats.last_error is not None and "cost must be a number, got str 'free'" in b.stats.last_error
    b.close()


def _filled(t: StoreTarget) -> TelemetryStore:
    with TelemetryBackend(t.url, **t.kwargs()) as b:
        for i in range(12):
            b.submit(make_call(i, provider=("openai", "anthropic", "gemini")[i % 3], model="m"))
    return t.open_store()


def test_frame_with_a_list_filter_matches_query(target: StoreTarget) -> None:
    store = _filled(target)
    try:
        for value in (["openai", "gemini"], ("openai", "anthropic", "gemini"), ["openai"]):
            frame = store.frame(provider=value, columns=SEED_COLUMNS)
            want = [r.provider for r in store.query(provider=list(value))]
            assert list(frame["provider"]) == want and len(want) == 4 * len(value)
        assert len(store.frame(provider=["openai", "gemini"], error_type=[None, "timeout"])) == 8
    finally:
        store.close()


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s: s.query(limit=10**30), ValueError, r"limit must be at most 9223372036854775807, got 10{30}"),
        (lambda s: s.query(input_tokens=2**70), ValueError, r"filter 'input_tokens': 1180591620717411303424 is outside the stored 64-bit"),
        (lambda s: s.count(cost=float("nan")), ValueError, r"filter 'cost': nan is not a finite number"),
        (lambda s: s.query(since=10**400), ValueError, r"since must be a datetime or finite epoch seconds"),
        (lambda s: s.frame(until=float("inf")), ValueError, r"until must be a datetime or finite epoch seconds"),
        (lambda s: s.query(provider="open\x00ai"), ValueError, r"filter 'provider': the value contains a NUL character"),
        (lambda s: s.query_attempts(deployment="\ud800"), ValueError, r"filter 'deployment': the value is not valid UTF-8"),
        (lambda s: s.load_rollups(10**400), ValueError, r"since must be a datetime or finite epoch seconds"),
        (lambda s: s.load_rollups(0, task_type=["a\x00"]), ValueError, r"task_type: the value contains a NUL"),
        (lambda s: s.query(call_id=[f"c{i}" for i in range(100_000)]), ValueError, r"100000 values .* at most 10000"),
        (lambda s: s.frame(provider=["x"] * 6000, model=["y"] * 6000), ValueError, r"12000 values .* at most 10000"),
        (lambda s: s.prune(10**400), ValueError, r"older_than must be at most 1e9 days"),
    ],
)
def test_bad_query_values_get_our_clear_error(target: StoreTarget, call: Any, error: type, message: str) -> None:
    store = _filled(target)
    try:
        with pytest.raises(error, match=message):
            call(store)
        assert store.count() == 12  # nothing changed, the store still answers
    finally:
        store.close()


def test_many_values_below_the_cap_answer_correctly(target: StoreTarget) -> None:
    store = _filled(target)
    try:
        ids = [f"c{i}" for i in range(10_000)]
        assert len(store.query(call_id=ids)) == 12
        assert len(store.frame(call_id=ids)) == 12
    finally:
        store.close()
