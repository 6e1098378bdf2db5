"""Stores for the report tests: SQLite in tmp_path and the real PostgreSQL (skipped with a
reason when ``ATTUNE_TEST_POSTGRES_URL`` is unset)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator

import pytest

# the test modules import each other's fixtures-as-functions (known_records); make them importable
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from telemetry import TelemetryStore  # noqa: E402

PG_URL = os.environ.get("ATTUNE_TEST_POSTGRES_URL")
needs_pg = pytest.mark.skipif(not PG_URL, reason="ATTUNE_TEST_POSTGRES_URL is not set (no PostgreSQL to test against)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=needs_pg)])
def store(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[TelemetryStore]:
    """An empty store on SQLite or PostgreSQL (its own table prefix, dropped afterwards)."""
    prefix = f"r{uuid.uuid4().hex[:10]}_"
    url = f"sqlite:///{tmp_path}/report.db" if request.param == "sqlite" else PG_URL
    st = TelemetryStore.open(url, table_prefix=prefix)
    yield st
    if request.param == "postgres":
        st.drop_tables()
    st.close()
