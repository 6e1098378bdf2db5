"""Pure units: histogram, URLs, filters, row and spool codecs, the package surface."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from telemetry_testkit import make_call

import telemetry
from telemetry._rows import call_from_row, call_row, decode_line, encode_line
from telemetry._url import redact_text, redact_url, resolve_url
from telemetry.filters import check_filters, check_time
from telemetry.histogram import N_BUCKETS, bucket_bounds, bucket_index, histogram_of, quantile, quantiles
from telemetry.spool import Spool


def test_exports_are_what_we_mean() -> None:
    assert telemetry.__all__ == sorted(telemetry.__all__)
    assert set(telemetry.__all__) == {
        "AttemptRecord", "CallFrame", "GroupBy", "LLMCallRecord", "MemorySink",
        "Rollup", "SchemaVersionError", "SkippedDeployment", "TelemetryBackend",
        "TelemetryClosedError", "TelemetryDropWarning", "TelemetryError", "TelemetryStats",
        "TelemetryStore", "Trend", "WriteResult", "install_signal_handlers", "merge_rollups",
        "percentiles_by", "quantile", "quantiles",
    }  # fmt: skip
    for name in telemetry.__all__:
        assert getattr(telemetry, name) is not None
    # histogram internals live in telemetry.histogram only
    assert not hasattr(telemetry, "N_BUCKETS") and not hasattr(telemetry, "bucket_index")


def test_import_is_light() -> None:
    code = (
        "import sys; from telemetry import LLMCallRecord, TelemetryBackend, MemorySink; "
        "b = TelemetryBackend('sqlite:///unused.db'); "
        "heavy = [m for m in ('sqlalchemy', 'sqlmodel', 'numpy', 'router', 'policies') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_histogram_buckets_cover_and_are_log_spaced() -> None:
    assert N_BUCKETS == 122
    assert bucket_index(0) == 0 and bucket_index(0.99) == 0 and bucket_index(1) == 1
    assert bucket_index(10**9) == N_BUCKETS - 1
    for v in (1.0, 3.7, 250.0, 999.0, 12345.0, 600_000.0):
        lo, hi = bucket_bounds(bucket_index(v))
        assert lo <= v < hi
        assert hi / lo == pytest.approx(2 ** (1 / 6))
    assert math.isnan(quantile([0] * N_BUCKETS, 0.5))
    with pytest.raises(ValueError):
        quantile(histogram_of([5]), 1.5)


def test_histogram_quantiles_close_to_exact_and_mergeable() -> None:
    rng = np.random.default_rng(1)
    a = rng.lognormal(np.log(800), 0.7, 20000)
    b = rng.lognormal(np.log(2000), 0.4, 5000)
    ha, hb = np.array(histogram_of(a)), np.array(histogram_of(b))
    both = np.concatenate([a, b])
    for q, got in zip((0.5, 0.95, 0.99), quantiles(ha + hb, (0.5, 0.95, 0.99)), strict=True):
        assert got == pytest.approx(np.quantile(both, q), rel=0.03)
    assert (ha + hb).sum() == 25000


def test_url_resolution_and_redaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATTUNE_TELEMETRY_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_url(None) == f"sqlite:///{tmp_path}/attune-telemetry.db"
    monkeypatch.setenv("ATTUNE_TELEMETRY_URL", "postgresql://u:pw@h/db")
    assert resolve_url(None) == "postgresql+psycopg://u:pw@h/db"
    assert resolve_url("postgres://h/db") == "postgresql+psycopg://h/db"
    assert resolve_url(str(tmp_path / "x.db")) == f"sqlite:///{tmp_path}/x.db"
    with pytest.raises(ValueError, match="unsupported telemetry URL scheme 'mysql'"):
        resolve_url("mysql://u:pw@h/db")
    assert redact_url("postgresql+psycopg://user:p%40ss@host:5432/db") == "postgresql+psycopg://user:***@host:5432/db"
    url = "postgresql+psycopg://user:p%40ss@host/db"
    assert redact_text("failed for p@ss and p%40ss", url) == "failed for *** and ***"


def test_default_url_backend_uses_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATTUNE_TELEMETRY_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    with telemetry.TelemetryBackend() as b:
        b.submit(make_call(1))
    assert (tmp_path / "attune-telemetry.db").exists()
    assert telemetry.TelemetryStore.open().count() == 1


def test_filters_are_checked() -> None:
    assert check_filters({"provider": "openai", "error_type": [None, "timeout"], "cost": 1}) == {
        "provider": ["openai"],
        "error_type": [None, "timeout"],
        "cost": [1],
    }
    with pytest.raises(TypeError, match="'retry_count' expects int, got bool"):
        check_filters({"retry_count": True})
    with pytest.raises(TypeError, match="not optional"):
        check_filters({"provider": None})
    with pytest.raises(ValueError, match="empty collection"):
        check_filters({"provider": []})
    with pytest.raises(ValueError, match="'timestamp' cannot be filtered.*since=/until="):
        check_filters({"timestamp": 0})
    with pytest.raises(TypeError, match="since expects a datetime or epoch seconds"):
        check_time("since", "yesterday")


def test_row_and_spool_codecs_roundtrip() -> None:
    r = make_call(3, fallback=True, retries=1)
    assert call_from_row(call_row(r), list(r.attempts)) == r
    assert decode_line(encode_line(r)) == r


def test_spool_appends_reads_and_skips_damaged_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.spool"
    s = Spool(path)
    assert s.append([make_call(i) for i in range(5)]) == 5
    with path.open("ab") as f:
        f.write(b'["cut short')  # a crash mid-write
    s2 = Spool(path)
    assert len(s2) == 6
    got, off = s2.read(10)
    assert [r.call_id for r in got] == [f"c{i}" for i in range(5)] and s2.corrupt == 1
    s2.consume(off, len(got))
    assert len(s2) == 0 and not path.exists()
    small = Spool(tmp_path / "small.spool", max_bytes=len(encode_line(make_call(0))) * 2 + 10)
    assert small.append([make_call(i) for i in range(5)]) == 2


def test_time_leading_indexes_serve_provider_time_queries(tmp_path: Path) -> None:
    """Only time-led indexes on calls, so SQLite answers 'provider X in the last hour' by a
    time range scan, never by walking every row of a provider."""
    import sqlite3

    store = telemetry.TelemetryStore.open(f"sqlite:///{tmp_path}/ix.db")
    store.close()
    con = sqlite3.connect(tmp_path / "ix.db")
    cols = {
        name: [r[2] for r in con.execute(f"PRAGMA index_info('{name}')")]
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='attune_calls'")
    }
    assert {tuple(v) for v in cols.values()} == {("ts",), ("call_id",)}
    plan = " ".join(
        str(r[-1])
        for r in con.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM attune_calls WHERE provider = ? AND success = 0 AND ts >= ? AND ts < ?",
            ("openai", 0.0, 3600.0),
        )
    )
    assert "attune_ix_calls_ts" in plan and "ts>? AND ts<?" in plan
