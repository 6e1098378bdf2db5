"""``attune report`` figures on stores with known contents (SQLite and PostgreSQL), each checked
against a count by hand from the raw rows read back from the store."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pytest

from router.cli import main
from router.report import build_report, parse_since
from reportkit import T0, TASKS, known_records
from telemetry import AttemptRecord, LLMCallRecord, TelemetryStore
from telemetry.histogram import histogram_of, quantiles

def _hand(calls: list[LLMCallRecord], attempts: list[AttemptRecord], key: Any) -> dict[str, dict[str, Any]]:
    """The contract's figures per group, counted from raw rows."""
    groups: dict[str, list[LLMCallRecord]] = defaultdict(list)
    for c in calls:
        groups[key(c)].append(c)
    sent: dict[str, list[AttemptRecord]] = defaultdict(list)
    by_call = {c.call_id: c for c in calls}
    for a in attempts:
        if a.outcome in ("success", "error", "cancelled"):
            g = a.deployment if key is _dep else key(by_call[a.call_id]) if key is _tier else key(a)
            sent[g].append(a)
    out = {}
    for g, cs in groups.items():
        lat = [float(c.latency_ms) for c in cs]
        ttft = [float(c.ttft_ms) for c in cs if c.ttft_ms is not None]
        ok = [c for c in cs if c.success]
        att = sent[g]
        answered = [a for a in att if a.outcome != "cancelled"]
        cost = sum(c.cost for c in cs)
        out[g] = {
            "calls": len(cs),
            "success_rate": len(ok) / len(cs),
            "attempts": len(att),
            "attempt_success_rate": sum(a.outcome == "success" for a in answered) / len(answered),
            "fallback_rate": sum(c.fallback_used for c in cs) / len(cs),
            "mean_retries": sum(c.retry_count for c in cs) / len(cs),
            "lat": lat,
            "ttft": ttft,
            "cost": cost,
            "cost_per_success": cost / len(ok),
            "unknown_price_calls": sum(c.success and c.cost == 0 and c.input_tokens + c.output_tokens > 0 for c in cs),
        }
    return out


def _dep(c: Any) -> str:
    return c.deployment


def _tier(c: Any) -> str:
    return c.tier


def _check(report_groups: dict[str, Any], hand: dict[str, Any], *, exact_percentiles: bool) -> None:
    assert set(report_groups) == set(hand)
    for g, h in hand.items():
        r = report_groups[g]
        for k in ("calls", "attempts", "unknown_price_calls"):
            assert r[k] == h[k], (g, k)
        for k in ("success_rate", "attempt_success_rate", "fallback_rate", "mean_retries", "cost", "cost_per_success"):
            assert r[k] == pytest.approx(h[k], rel=1e-9), (g, k)
        exact = list(np.percentile(h["lat"], (50, 95, 99)))
        if exact_percentiles:
            assert [r["p50_ms"], r["p95_ms"], r["p99_ms"]] == pytest.approx(exact)
        else:  # from the rollups' histograms: the histogram of the raw latencies, and within a bucket of exact
            assert [r["p50_ms"], r["p95_ms"], r["p99_ms"]] == pytest.approx(quantiles(histogram_of(h["lat"]), (0.5, 0.95, 0.99)))
            if len(h["lat"]) >= 200:  # enough calls that the tail's neighbours share a bucket
                assert [r["p50_ms"], r["p95_ms"], r["p99_ms"]] == pytest.approx(exact, rel=0.13)  # a bucket is 12.2 %
        if not h["ttft"]:  # no call of the group streamed
            assert r["ttft_p50_ms"] is None
            continue
        want_ttft = float(np.percentile(h["ttft"], 50)) if exact_percentiles else quantiles(histogram_of(h["ttft"]), (0.5,))[0]
        assert r["ttft_p50_ms"] == pytest.approx(want_ttft)


def _raw(store: TelemetryStore) -> tuple[list[LLMCallRecord], list[AttemptRecord]]:
    calls = store.query()
    return calls, [a for c in calls for a in c.attempts]


@pytest.mark.parametrize("by", ["deployment", "provider", "model", "task_type", "tier"])
def test_every_figure_matches_a_hand_count(store: TelemetryStore, by: str) -> None:
    store.write_batch(known_records())
    calls, attempts = _raw(store)
    assert len(calls) == 900
    key = {"deployment": _dep, "tier": _tier}.get(by) or (lambda x, b=by: getattr(x, b))
    if by == "task_type":  # attempts carry their call's task type
        task_of = {c.call_id: c.task_type for c in calls}
        key = lambda x: x.task_type if isinstance(x, LLMCallRecord) else task_of[x.call_id]  # noqa: E731
    report = build_report(store, by=by)
    _check(report.groups, _hand(calls, attempts, key), exact_percentiles=by == "tier")
    assert report.to_json()["by"] == by


def test_fallback_heavy_tasks_breaker_trips_and_the_json_contract(store: TelemetryStore, capsys: pytest.CaptureFixture[str]) -> None:
    store.write_batch(known_records())
    calls, attempts = _raw(store)
    rates = {t: sum(c.fallback_used for c in calls if c.task_type == t) / sum(c.task_type == t for c in calls) for t in TASKS}
    heavy = {t: r for t, r in rates.items() if r > 0.10}
    assert "code_review" in heavy and len(heavy) < 3  # the store holds both kinds
    # breaker trips: minutes with circuit_open skips that follow a minute without
    open_minutes = defaultdict(set)
    for a in attempts:
        if a.outcome == "skipped" and a.error_type == "circuit_open":
            open_minutes[a.deployment].add(int(a.started_at.timestamp() // 60))
    trips = {d: sum(1 for m in ms if m - 1 not in ms) for d, ms in open_minutes.items()}
    assert trips == {"openai/gpt-4o": 1}
    assert main(["report", "--db", store.url, "--table-prefix", store.table_prefix, "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out) == {"by", "groups", "fallback_heavy_tasks", "breaker_trips", "anomalies"}
    assert out["fallback_heavy_tasks"] == pytest.approx(heavy)
    assert out["breaker_trips"] == {"openai/gpt-4o": 1, "anthropic/claude": 0, "local/llama": 0}
    assert out["anomalies"] == []  # nothing degraded over time in this store
    for g in out["groups"].values():
        assert list(g) == ["calls", "success_rate", "attempts", "attempt_success_rate", "fallback_rate", "mean_retries",
                           "p50_ms", "p95_ms", "p99_ms", "ttft_p50_ms", "cost", "cost_per_success", "unknown_price_calls"]  # fmt: skip
    assert out["groups"]["local/llama"]["unknown_price_calls"] > 0


def test_since_counts_back_from_the_newest_record(store: TelemetryStore) -> None:
    store.write_batch(known_records())
    calls, attempts = _raw(store)
    newest = max(c.timestamp for c in calls).timestamp()
    lo = (newest - 600) // 60 * 60  # the window starts at the minute holding newest - 10 min
    recent = [c for c in calls if c.timestamp.timestamp() >= lo]
    recent_attempts = [a for a in attempts if a.started_at.timestamp() >= lo]
    report = build_report(store, since="10m")
    _check(report.groups, _hand(recent, recent_attempts, _dep), exact_percentiles=False)
    iso = datetime.fromtimestamp(lo, timezone.utc).isoformat()
    assert build_report(store, since=iso).groups == report.groups
    assert build_report(store, since="1h").groups == build_report(store).groups


def test_an_empty_store_reports_nothing(store: TelemetryStore) -> None:
    r = build_report(store)
    assert r.to_json() == {"by": "deployment", "groups": {}, "fallback_heavy_tasks": {}, "breaker_trips": {}, "anomalies": []}


@pytest.mark.parametrize(
    ("value", "kind", "seconds"),
    [("90s", "duration", 90), ("15m", "duration", 900), ("2h", "duration", 7200), ("1h30m", "duration", 5400), ("7d", "duration", 604800)],
)
def test_durations(value: str, kind: str, seconds: float) -> None:
    assert parse_since(value) == (kind, seconds)


def test_iso_times_are_utc_unless_they_say_otherwise() -> None:
    assert parse_since("2026-03-02T08:00") == ("time", T0.timestamp())
    assert parse_since("2026-03-02T09:00:00+01:00") == ("time", T0.timestamp())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--since", "5 parsecs"], "--since '5 parsecs' is neither a duration"),
        (["--since", "0m"], "--since '0m': a duration must be longer than 0"),
        (["--by", "region"], "--by 'region' is not one of deployment, provider, model, task_type, tier"),
        (["--db", "mysql://x/y"], "unsupported telemetry URL scheme 'mysql'"),
    ],
)
def test_bad_arguments_are_named(tmp_path: Any, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    args = ["report", "--db", f"sqlite:///{tmp_path}/r.db", *argv] if "--db" not in argv else ["report", *argv]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_a_missing_sqlite_file_is_an_error_not_a_new_store(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nope.db"
    assert main(["report", "--db", f"sqlite:///{path}"]) == 2
    assert f"no telemetry store at {path}" in capsys.readouterr().err
    assert not path.exists()


def test_the_table_shows_every_group(store: TelemetryStore, capsys: pytest.CaptureFixture[str]) -> None:
    store.write_batch(known_records())
    assert main(["report", "--db", store.url, "--table-prefix", store.table_prefix, "--by", "tier"]) == 0
    out = capsys.readouterr().out
    for word in ("capable", "cheap", "p99 ms", "$/success", "breaker trips: openai/gpt-4o 1", "anomalies: none"):
        assert word in out
