"""Anomalies found by the policy engine's change detection, on stores the simulator filled
through the real router (virtual time): an outage, a latency degradation and a 429 storm are
found with start and end within 60 s of the scenario's phase; a clean store reports none."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from router.report import build_report
from router.sim.runner import EPOCH, run_scenario
from telemetry import TelemetryBackend, TelemetryStore

HERE = Path(__file__).parent


def _fill(tmp_path_factory: pytest.TempPathFactory, scenario: str, calls: int) -> TelemetryStore:
    path = tmp_path_factory.mktemp("anomaly") / "store.db"
    backend = TelemetryBackend(f"sqlite:///{path}", spool_path=False)
    run_scenario(scenario, "adaptive", calls=calls, telemetry=backend)
    backend.close()
    return TelemetryStore.open(f"sqlite:///{path}")


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Any:
    made = {
        "outage": _fill(tmp_path_factory, "full-outage", 12000),
        "latency": _fill(tmp_path_factory, "latency-degradation", 12000),
        "storm": _fill(tmp_path_factory, os.fspath(HERE / "storm-429.yaml"), 8000),
        "clean": _fill(tmp_path_factory, "steady-state", 12000),
    }
    yield made
    for s in made.values():
        s.close()


def _only(anomalies: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(anomalies) == 1, anomalies
    return anomalies[0]


@pytest.mark.parametrize(
    ("name", "kind", "start_s", "end_s", "min_size"),
    [
        ("outage", "error_rate", 900, 2100, 0.9),  # every answer fails: the failure share rises by ~99 points
        ("latency", "latency", 1200, 3000, 3.0),  # latencies x5
        ("storm", "rate_limit", 900, 1500, 0.02),  # quota of 60 a minute against 600 calls
    ],
)
def test_an_injected_degradation_is_found_within_a_minute(stores: Any, name: str, kind: str, start_s: float, end_s: float, min_size: float) -> None:
    a = _only(build_report(stores[name]).anomalies)
    assert a["deployment"] == "openai/gpt-4o"
    assert a["kind"] == kind
    assert abs(a["start"] - (EPOCH + start_s)) <= 60, a["start"] - EPOCH
    assert abs(a["end"] - (EPOCH + end_s)) <= 60, a["end"] - EPOCH
    assert a["size"] >= min_size


def test_a_clean_store_reports_none(stores: Any) -> None:
    assert build_report(stores["clean"]).anomalies == []


def test_without_raw_rows_the_boundaries_stay_within_two_minutes(stores: Any) -> None:
    """After pruning the raw calls only the rollups are left: boundaries fall on minutes."""
    from router.report.anomalies import find_anomalies
    from router.report.figures import columns_of

    cols = columns_of(stores["outage"].load_rollups(0))
    a = _only(find_anomalies(cols, None))
    assert abs(a["start"] - (EPOCH + 900)) <= 120 and abs(a["end"] - (EPOCH + 2100)) <= 120


@pytest.mark.skipif(not os.environ.get("ATTUNE_TEST_POSTGRES_URL"), reason="ATTUNE_TEST_POSTGRES_URL is not set (no PostgreSQL to test against)")
def test_the_same_anomalies_from_postgresql(stores: Any) -> None:
    """The outage store copied into PostgreSQL reports the same anomaly (raw boundaries read there)."""
    import uuid

    pg = TelemetryStore.open(os.environ["ATTUNE_TEST_POSTGRES_URL"], table_prefix=f"a{uuid.uuid4().hex[:10]}_")
    try:
        calls = stores["outage"].query()
        for i in range(0, len(calls), 2000):
            pg.write_batch(calls[i : i + 2000])
        want = build_report(stores["outage"]).anomalies
        got = build_report(pg).anomalies
        assert len(got) == 1 and got[0]["kind"] == want[0]["kind"] == "error_rate"
        assert got[0]["start"] == pytest.approx(want[0]["start"], abs=1e-3)
        assert got[0]["end"] == pytest.approx(want[0]["end"], abs=1e-3)
    finally:
        pg.drop_tables()
        pg.close()
