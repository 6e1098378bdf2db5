"""Fixtures for the telemetry tests: stores on SQLite (tmp_path) and on the real PostgreSQL."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator

import pytest

# the helpers module sits beside this file; make it importable whatever pytest's import mode
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from telemetry_testkit import PG_URL, StoreTarget, make_call, needs_pg, unique_prefix  # noqa: E402

from telemetry import LLMCallRecord, TelemetryStore  # noqa: E402


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=needs_pg)])
def target(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[StoreTarget]:
    prefix = unique_prefix()
    if request.param == "sqlite":
        yield StoreTarget("sqlite", f"sqlite:///{tmp_path}/telemetry.db", prefix, tmp_path)
        return
    assert PG_URL is not None
    t = StoreTarget("postgres", PG_URL, prefix, tmp_path)
    yield t
    store = TelemetryStore(PG_URL, table_prefix=prefix)
    try:
        store.drop_tables()
    finally:
        store.close()


@pytest.fixture
def make() -> Callable[..., LLMCallRecord]:
    return make_call
