"""``attune scenario from-telemetry``: a simulated history, stored, replays as a scenario that
reproduces its error rates and latency."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.cli import main
from router.sim import load_scenario, parse_scenario, run_scenario
from telemetry import TelemetryStore

ORIGINAL = {
    "name": "recorded",
    "seed": 2,
    "duration_s": 1800,
    "traffic": {"rate_per_s": 4, "tasks": {"chat": 0.7, "code": 0.3}, "tokens": {"input_mean": 900, "output_mean": 250}},
    "chain": ["openai/gpt-4o", "anthropic/claude-sonnet-4"],
    "providers": {
        "openai/gpt-4o": {
            "latency_ms": {"median": 900, "p95": 2500},
            "base_error_rate": 0.02,
            "phases": [{"start_s": 600, "end_s": 1200, "error_rate": 0.4, "errors": {"overloaded": 0.75, "server_error": 0.25}}],
        },
        "anthropic/claude-sonnet-4": {"latency_ms": {"median": 1200, "p95": 3000}, "base_error_rate": 0.01},
    },
}


class _Keep:
    def __init__(self) -> None:
        self.records: list = []

    def submit(self, rec: object) -> None:
        self.records.append(rec)


def test_from_telemetry_recovers_phases_error_mix_and_latency(tmp_path: Path) -> None:
    keep = _Keep()
    run_scenario(parse_scenario(ORIGINAL), "static", seed=0, telemetry=keep)
    url = f"sqlite:///{tmp_path / 'history.db'}"
    store = TelemetryStore.open(url)
    store.write_batch(keep.records)
    store.close()
    out = tmp_path / "replay.yaml"
    assert main(["scenario", "from-telemetry", "--db", url, "--out", str(out)]) == 0

    sc = load_scenario(out)
    assert sc.name == "replay" and sc.chain == ("openai/gpt-4o", "anthropic/claude-sonnet-4")
    assert sc.traffic.rate_per_s == pytest.approx(4, rel=0.06)
    assert sc.traffic.tasks["chat"] == pytest.approx(0.7, abs=0.04)
    tl = sc.timeline("openai/gpt-4o")
    # 5-minute windows: the two inside the 40 % phase carry it, the quiet ones stay at the base
    assert tl.error_rate_at(700) == pytest.approx(0.4, abs=0.06)
    assert tl.error_rate_at(1000) == pytest.approx(0.4, abs=0.06)
    assert tl.error_rate_at(100) < 0.08 and tl.error_rate_at(1500) < 0.08
    assert tl.at(700).kinds[0] == "overloaded"
    lat = sc.providers["openai/gpt-4o"].latency
    assert lat.median_ms == pytest.approx(900, rel=0.08) and lat.p95_ms == pytest.approx(2500, rel=0.12)


def test_from_telemetry_on_an_empty_store_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    TelemetryStore.open(url).close()
    assert main(["scenario", "from-telemetry", "--db", url, "--out", str(tmp_path / "x.yaml")]) == 2
    assert "at least 10" in capsys.readouterr().err
