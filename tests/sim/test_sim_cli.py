"""``attune bench`` and the ``attune`` dispatcher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from router.cli import main

SMALL = {
    "name": "small-outage",
    "seed": 1,
    "duration_s": 600,
    "traffic": {"rate_per_s": 4},
    "chain": ["openai/gpt-4o", "anthropic/claude-sonnet-4"],
    "providers": {
        "openai/gpt-4o": {"latency_ms": {"median": 900, "p95": 2500}, "phases": [{"start_s": 200, "end_s": 400, "error_rate": 1.0}]},
        "anthropic/claude-sonnet-4": {"latency_ms": {"median": 1200, "p95": 3000}},
    },
}
CONTRACT = {"success_rate", "p50_ms", "p95_ms", "p99_ms", "cost_per_success", "attempts_per_call", "calls"}


@pytest.fixture(autouse=True)
def _store_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``attune bench`` stores one policy's calls; keep them out of the working tree."""
    monkeypatch.setenv("ATTUNE_TELEMETRY_URL", f"sqlite:///{tmp_path / 'bench.db'}")


@pytest.fixture
def small(tmp_path: Path) -> Path:
    p = tmp_path / "small.yaml"
    p.write_text(yaml.safe_dump(SMALL))
    return p


def test_bench_json_last_line_is_the_contract(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "--scenario", str(small), "--policy", "cooldown", "--calls", "800", "--json", "--no-progress", "--workers", "1"])
    assert rc == 0
    out = capsys.readouterr().out.strip().splitlines()
    obj = json.loads(out[-1])
    assert obj["scenario"] == "small-outage"
    assert set(obj["results"]) == {"static", "cooldown", "oracle", "hindsight"}
    for row in obj["results"].values():
        assert CONTRACT <= set(row)
        assert row["calls"] == 800


def test_bench_with_seeds_reports_intervals_and_plots(small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "out.png"
    rc = main(["bench", "--scenario", str(small), "--policy", "static", "--calls", "400", "--seeds", "3", "--json", "--no-progress", "--workers", "2", "--plot", str(png)])
    assert rc == 0
    obj = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert obj["seeds"] == [0, 1, 2]
    static = obj["results"]["static"]
    lo, hi = static["ci95"]["p50_ms"]
    assert lo <= static["p50_ms"] <= hi
    assert png.stat().st_size > 10_000


def test_bench_rejects_a_bad_scenario_with_file_key_and_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = dict(SMALL, traffic={"rate_per_s": 4, "rate_per_sec": 9})
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(bad))
    assert main(["bench", "--scenario", str(p), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "traffic.rate_per_sec" in err and "9" in err


def test_bench_rejects_an_unknown_policy(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--scenario", str(small), "--policy", "nope", "--no-progress"]) == 2
    assert "unknown policy 'nope'" in capsys.readouterr().err


def test_the_dispatcher_lists_commands_and_rejects_unknown_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "bench" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["nonsense"])


def test_bench_rejects_two_scenarios_with_one_name(small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    twin = tmp_path / "twin.yaml"
    twin.write_text(small.read_text())
    assert main(["bench", "--scenario", str(small), "--scenario", str(twin), "--no-progress"]) == 2
    assert "both named 'small-outage'" in capsys.readouterr().err


def test_bench_stores_one_policys_calls_in_the_telemetry_store(small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from telemetry import TelemetryStore

    url = f"sqlite:///{tmp_path / 'mine.db'}"
    args = ["bench", "--scenario", str(small), "--policy", "cooldown", "--calls", "300", "--no-progress", "--workers", "1"]
    assert main([*args, "--telemetry", url, "--record-policy", "cooldown"]) == 0
    assert "stored in" in capsys.readouterr().out
    store = TelemetryStore(url)
    rows = store.query()
    store.close()
    assert len(rows) == 300 and {r.policy for r in rows} == {"cooldown"} and {r.tier for r in rows} == {"default"}
    assert main([*args, "--telemetry", url, "--record-policy", "oracle"]) == 2  # a bound is not routed by a policy
    assert main([*args, "--telemetry", "none"]) == 0


def test_bench_runs_a_policy_with_options_under_its_spec(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = "adaptive:timeout_multiple=0,ramp_s=2.5"
    rc = main(["bench", "--scenario", str(small), "--policy", "adaptive", "--policy", spec, "--calls", "400", "--json", "--no-progress", "--workers", "1"])
    assert rc == 0
    obj = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"static", "adaptive", spec, "oracle", "hindsight"} == set(obj["results"])
    assert obj["results"][spec]["calls"] == 400


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("adaptive:bogus=1", "policy 'adaptive' takes no option 'bogus'"),
        ("adaptive:timeout_multiple=0.5", "timeout_multiple must be >= 1"),
        ("adaptive:timeout_multiple", "expected NAME:OPTION=VALUE"),
        ("adaptive:timeout_multiple=nan", "'nan' is not a finite number"),
    ],
)
def test_bench_rejects_a_bad_policy_option_naming_it(small: Path, capsys: pytest.CaptureFixture[str], spec: str, fragment: str) -> None:
    assert main(["bench", "--scenario", str(small), "--policy", spec, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"--policy {spec!r}" in err and fragment in err, err
