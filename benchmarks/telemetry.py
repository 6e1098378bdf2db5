"""Telemetry benchmark: ingest rate vs raw sqlite3, analysis and rollup report over 1M calls.

    .venv/bin/python benchmarks/telemetry.py [--calls 1000000] [--ingest 100000] [--repeat 5]
                                             [--postgres URL]

Measures, in one run on this machine:
  * ``ingest_per_s``: calls per second through ``TelemetryBackend`` into a fresh SQLite file
    (first submit to ``flush`` returning; includes attempt rows and rollup upserts);
  * ``raw_sqlite_per_s``: the same calls and attempt rows converted to the same tuples and
    inserted with plain ``sqlite3.executemany`` (batches of 500, same schema, indexes and
    pragmas), no thread, no rollups; ``raw_sqlite_2000_per_s`` the same with 2000 rows per
    transaction (what the writer uses while it is behind, as in this benchmark);
  * ``record_us``: the caller's cost of one ``submit`` (enqueue only) with the writer idle, and
    ``record_us_while_writing`` while the writer thread competes for the GIL;
  * ``postgres_ingest_per_s``: the backend into PostgreSQL when ``--postgres`` (or
    ``$ATTUNE_TEST_POSTGRES_URL``) is given;
  * ``seed_load_1m_s`` / ``seed_queries_1m_s``: loading only the columns the seed's three
    queries need, and running those three queries;
  * ``load_1m_s`` / ``analysis_1m_s``: loading ``--calls`` stored calls into a ``CallFrame`` and
    running the seed's analysis (failure rate by provider, fallback-heavy tasks, rolling mean
    latency over 100 calls) plus p50/p95/p99 by deployment, cost per success and the hourly
    latency trend on it;
  * ``report_1m_s``: p50/p95/p99 by deployment over the same calls from the rollups
    (``load_rollups`` + ``percentiles_by``), no raw rows read.
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

# This file is named like the package it measures: keep its own directory off the import path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

from telemetry import AttemptRecord, LLMCallRecord, TelemetryBackend, TelemetryStore, percentiles_by  # noqa: E402
from telemetry._rows import ATTEMPT_COLUMNS, CALL_COLUMNS, attempt_rows, call_row  # noqa: E402
from telemetry.analysis import SEED_COLUMNS  # noqa: E402

DEPLOYMENTS = [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4"), ("gemini", "gemini-2.5-pro")]
TASKS = ["code_review", "summarize"]
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def make_records(n: int, seed: int = 7, offset: int = 0, rate_per_s: float = 20.0) -> Iterator[LLMCallRecord]:
    """Realistic calls: 3-deployment chain, ~8 % fall back after an error, ~10 % retry once."""
    rng = random.Random(seed + offset)
    chain = [f"{p}/{m}" for p, m in DEPLOYMENTS]
    for i in range(offset, offset + n):
        ts = START + timedelta(seconds=i / rate_per_s)
        task = TASKS[i % 2]
        fallback = rng.random() < 0.08
        retry = rng.random() < 0.10
        k = 1 if fallback else 0
        prov, model = DEPLOYMENTS[k]
        dep = chain[k]
        ok = rng.random() > 0.03
        lat = int(rng.lognormvariate(6.8 + 0.2 * k, 0.5))
        attempts = []
        if fallback:
            p0, m0 = DEPLOYMENTS[0]
            attempts.append(AttemptRecord(f"b{i}", 0, 0, chain[0], p0, m0, "error", "overloaded", 529, 120.0, ts))
        if retry:
            attempts.append(AttemptRecord(f"b{i}", k, 0, dep, prov, model, "error", "server_error", 500, 80.0, ts))
        attempts.append(
            AttemptRecord(f"b{i}", k, int(retry), dep, prov, model, "success" if ok else "error",
                          None if ok else "timeout", None if ok else 504, float(lat), ts)
        )  # fmt: skip
        yield LLMCallRecord(
            call_id=f"b{i}",
            timestamp=ts,
            provider=prov,
            model=model,
            tier="capable",
            task_type=task,
            input_tokens=1500,
            output_tokens=600,
            cost=0.0069,
            latency_ms=lat,
            fallback_used=fallback,
            fallback_chain=chain[: k + 1],
            original_provider=DEPLOYMENTS[0][0] if fallback else None,
            original_model=DEPLOYMENTS[0][1] if fallback else None,
            retry_count=int(retry),
            circuit_breaker_state="closed",
            success=ok,
            error_type=None if ok else "timeout",
            deployment=dep,
            ttft_ms=lat // 3,
            request_id=f"req-{i}",
            policy="health",
            plan_order=chain,
            attempts=attempts,
        )


def bench_backend_ingest(records: list[LLMCallRecord], d: str) -> tuple[float, float]:
    """(calls/s end to end, µs per submit) into a fresh SQLite file."""
    b = TelemetryBackend(f"sqlite:///{d}/ingest.db", spool_path=False)
    b.store.connect()  # schema creation is not part of ingest
    gc.collect()
    t0 = time.perf_counter()
    for r in records:
        b.submit(r)
    t_submit = time.perf_counter() - t0
    b.flush_sync()
    elapsed = time.perf_counter() - t0
    assert b.stats.written == len(records), b.stats
    b.close()
    return len(records) / elapsed, t_submit / len(records) * 1e6


def bench_submit_only(records: list[LLMCallRecord], d: str) -> float:
    """µs per submit with the writer idle (its batch never fills, its timer is long): the
    caller's own cost, without the writer thread competing for the GIL."""
    b = TelemetryBackend(f"sqlite:///{d}/submit.db", spool_path=False, batch_size=10**9, flush_interval=3600)
    b.store.connect()
    b.submit(records[0])  # starts the writer
    gc.collect()
    t0 = time.perf_counter()
    for r in records:
        b.submit(r)
    per = (time.perf_counter() - t0) / len(records) * 1e6
    b.close()
    return per


def bench_postgres_ingest(records: list[LLMCallRecord], url: str) -> float:
    """calls/s through the backend into PostgreSQL (tables with a throwaway prefix, dropped after)."""
    prefix = f"bench{os.getpid()}_"
    b = TelemetryBackend(url, spool_path=False, table_prefix=prefix)
    b.store.connect()
    try:
        t0 = time.perf_counter()
        for r in records:
            b.submit(r)
        b.flush_sync()
        rate = len(records) / (time.perf_counter() - t0)
        assert b.stats.written == len(records), b.stats
    finally:
        b.close()
        store = TelemetryStore(url, table_prefix=prefix)
        store.drop_tables()
        store.close()
    return rate


def bench_raw_sqlite(records: list[LLMCallRecord], d: str, batch: int = 500) -> float:
    """calls/s with plain sqlite3.executemany into the same schema (calls + attempts)."""
    path = f"{d}/raw.db"
    TelemetryStore.open(f"sqlite:///{path}").close()  # same tables and indexes
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    calls_sql = f"INSERT INTO attune_calls ({', '.join(CALL_COLUMNS)}) VALUES ({', '.join('?' * len(CALL_COLUMNS))})"
    att_sql = f"INSERT INTO attune_attempts ({', '.join(ATTEMPT_COLUMNS)}) VALUES ({', '.join('?' * len(ATTEMPT_COLUMNS))})"
    gc.collect()
    t0 = time.perf_counter()
    for i in range(0, len(records), batch):
        chunk = records[i : i + batch]
        con.executemany(calls_sql, [call_row(r) for r in chunk])
        con.executemany(att_sql, [a for r in chunk for a in attempt_rows(r)])
        con.commit()
    elapsed = time.perf_counter() - t0
    assert con.execute("SELECT count(*) FROM attune_calls").fetchone()[0] == len(records)
    con.close()
    return len(records) / elapsed


def fill_store(url: str, n: int) -> float:
    """Write ``n`` calls through a backend (generated in chunks); returns seconds taken."""
    t0 = time.perf_counter()
    with TelemetryBackend(url, spool_path=False, max_buffer=10**7) as b:
        chunk = 50_000
        for off in range(0, n, chunk):
            for r in make_records(min(chunk, n - off), offset=off):
                b.submit(r)
            while b.stats.pending > 200_000:  # keep memory bounded while generating
                time.sleep(0.05)
        b.flush_sync()
        assert b.stats.written == n, b.stats
    return time.perf_counter() - t0


def seed_analysis(frame: object) -> dict[str, object]:
    """The seed's three queries plus the usual report figures, on a CallFrame."""
    provider_failures = frame.group_by("provider").failure_rate()  # type: ignore[attr-defined]
    fallback_heavy = {t: r for t, r in frame.group_by("task_type").fallback_rate().items() if r > 0.1}  # type: ignore[attr-defined]
    latency_trend = frame.rolling_mean("latency_ms", window=100)  # type: ignore[attr-defined]
    p_by_dep = frame.group_by("deployment").percentiles("latency_ms", (50, 95, 99))  # type: ignore[attr-defined]
    cps = frame.group_by("provider").cost_per_success()  # type: ignore[attr-defined]
    trend = frame.trend("latency_ms", every=3600)  # type: ignore[attr-defined]
    return {
        "provider_failures": provider_failures,
        "fallback_heavy": fallback_heavy,
        "rolling_last": float(latency_trend[-1]),
        "p_by_dep": p_by_dep,
        "cost_per_success": cps,
        "trend_slope": trend.slope_per_hour,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1_000_000, help="calls stored for the analysis and report")
    ap.add_argument("--ingest", type=int, default=100_000, help="calls for the ingest comparison")
    ap.add_argument("--repeat", type=int, default=5, help="ingest runs (best is reported)")
    ap.add_argument("--dir", default=None, help="working directory (default: a temp dir)")
    ap.add_argument("--postgres", default=os.environ.get("ATTUNE_TEST_POSTGRES_URL"),
                    help="also measure ingest into this PostgreSQL (default: $ATTUNE_TEST_POSTGRES_URL)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        records = list(make_records(args.ingest, seed=11, offset=10**8))
        gc.collect()
        gc.freeze()  # the input records are long-lived: keep GC passes over them out of both timings
        ours, raw, rec_us, raw_big = [], [], [], []
        for k in range(args.repeat):
            kd = os.path.join(d, f"run{k}")
            os.mkdir(kd)
            if k % 2:  # alternate which goes first, so drift on a shared machine hits both
                rate, us = bench_backend_ingest(records, kd)
                raw.append(bench_raw_sqlite(records, kd))
            else:
                raw.append(bench_raw_sqlite(records, kd))
                rate, us = bench_backend_ingest(records, kd)
            ours.append(rate)
            rec_us.append(us)
            shutil.rmtree(kd)
            os.mkdir(kd)
            raw_big.append(bench_raw_sqlite(records, kd, batch=2000))
            shutil.rmtree(kd)
            os.mkdir(kd)
        idle_us = min(bench_submit_only(records, os.path.join(d, f"run{k}")) for k in range(args.repeat))
        ingest, raw_rate = max(ours), max(raw)
        ratios = sorted(o / r for o, r in zip(ours, raw, strict=True))
        print(f"ingest   backend {ingest:>10,.0f} calls/s   raw sqlite3.executemany {raw_rate:>10,.0f} calls/s   "
              f"ratio {ingest / raw_rate:.2f} (best/best; per-pair median {ratios[len(ratios) // 2]:.2f})")
        print(f"         raw sqlite3.executemany with 2000 rows per transaction {max(raw_big):,.0f} calls/s "
              f"(the writer uses 4 x batch_size while it is behind, as here)")  # fmt: skip
        print(f"submit   {idle_us:.2f} µs/call with the writer idle, {min(rec_us):.2f} µs/call while it writes", flush=True)  # fmt: skip
        pg_rate = None
        if args.postgres:
            pg_rate = bench_postgres_ingest(records, args.postgres)
            print(f"postgres backend {pg_rate:,.0f} calls/s", flush=True)
        del records
        gc.unfreeze()
        gc.collect()

        url = f"sqlite:///{d}/big.db"
        fill_s = fill_store(url, args.calls)
        print(f"filled   {args.calls:,} calls in {fill_s:.1f} s ({args.calls / fill_s:,.0f} calls/s)", flush=True)

        store = TelemetryStore.open(url)
        t0 = time.perf_counter()
        seed_frame = store.frame(columns=SEED_COLUMNS)
        seed_load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        seed_frame.group_by("provider").failure_rate()
        {t: r for t, r in seed_frame.group_by("task_type").fallback_rate().items() if r > 0.1}
        seed_frame.rolling_mean("latency_ms", window=100)
        seed_only_s = time.perf_counter() - t0
        del seed_frame
        gc.collect()
        print(f"seed     load {len(SEED_COLUMNS)} columns {seed_load_s:.2f} s; the three seed queries {seed_only_s:.3f} s", flush=True)
        t0 = time.perf_counter()
        frame = store.frame()
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = seed_analysis(frame)
        analysis_s = time.perf_counter() - t0
        print(f"analysis load {len(frame):,} calls into numpy {load_s:.2f} s; seed analysis {analysis_s:.3f} s")
        print(f"         failure rate by provider {result['provider_failures']}")
        print(f"         fallback-heavy tasks {result['fallback_heavy']}")
        store.close()
        del frame
        gc.collect()

        fresh = TelemetryStore.open(url)
        t0 = time.perf_counter()
        rollups = fresh.load_rollups(START)
        report = percentiles_by(rollups, "deployment", (50, 95, 99))
        report_s = time.perf_counter() - t0
        fresh.close()
        exact = result["p_by_dep"]
        worst = max(
            abs(report[dep][i] / exact[dep][i] - 1) for dep in exact for i in range(3)  # type: ignore[index]
        )
        print(f"report   p50/p95/p99 by deployment from {len(rollups):,} rollups in {report_s:.3f} s "
              f"(max deviation from exact {worst:.1%})", flush=True)  # fmt: skip

    out = {
        "ingest_per_s": round(ingest),
        "raw_sqlite_per_s": round(raw_rate),
        "raw_sqlite_2000_per_s": round(max(raw_big)),
        "ingest_ratio": round(ingest / raw_rate, 3),
        "ingest_ratio_pair_median": round(ratios[len(ratios) // 2], 3),
        "record_us": round(idle_us, 3),
        "record_us_while_writing": round(min(rec_us), 3),
        "ingest_calls": args.ingest,
        "calls": args.calls,
        "postgres_ingest_per_s": None if pg_rate is None else round(pg_rate),
        "fill_per_s": round(args.calls / fill_s),
        "load_1m_s": round(load_s, 3),
        "seed_load_1m_s": round(seed_load_s, 3),
        "seed_queries_1m_s": round(seed_only_s, 4),
        "analysis_1m_s": round(analysis_s, 3),
        "report_1m_s": round(report_s, 4),
        "rollups": len(rollups),
        "report_max_rel_error": round(worst, 4),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
