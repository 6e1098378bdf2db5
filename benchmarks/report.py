"""``attune report`` over a 1M-call store: how long the report takes to answer.

    .venv/bin/python benchmarks/report.py [--calls 1000000] [--db PATH] [--repeat 5]

Fills (once; ``--db`` keeps the file between runs) a SQLite store with ``--calls`` calls of
``benchmarks/telemetry.py``'s generator (3-deployment chain, 20 calls/s, ~14 h for 1M calls)
plus a 30-minute outage of the primary at 40 % of the way in, so the anomaly replay and the
boundary search on raw attempts are part of what is timed. Then measures, in this process:

  * ``report_s`` / ``report_cpu_s``: ``build_report(store)`` -- every figure per deployment,
    fallback-heavy task types, breaker trips and anomalies -- from the rollups (median wall and
    CPU seconds of ``--repeat``; ``load_avg_1m`` says how shared the machine was);
  * ``report_by_task_s`` / ``report_by_provider_s``: the same grouped otherwise;
  * ``report_by_tier_s``: ``--by tier``, which reads the raw calls (tier is no rollup key);
  * ``cli_process_s``: the whole ``attune report --json`` process (interpreter start and
    imports included), once.
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

from router.report import build_report  # noqa: E402
from telemetry import AttemptRecord, LLMCallRecord, TelemetryStore  # noqa: E402

OUTAGE_AT, OUTAGE_CALLS = 0.40, 1800 * 20  # 30 minutes of calls at 20 calls/s, 40 % of the way in


def _telemetry_bench() -> object:
    import importlib.util

    spec = importlib.util.spec_from_file_location("telemetry_bench", os.path.join(_HERE, "telemetry.py"))
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def records(n: int) -> Iterator[LLMCallRecord]:
    """The telemetry benchmark's calls, with the primary failing every attempt in the outage."""
    tb = _telemetry_bench()
    lo = int(n * OUTAGE_AT)
    hi = min(lo + OUTAGE_CALLS, n)
    for i, r in enumerate(tb.make_records(n)):  # type: ignore[attr-defined]
        if lo <= i < hi and r.deployment.startswith("openai"):
            ts = r.timestamp
            a0 = AttemptRecord(r.call_id, 0, 0, "openai/gpt-4o", "openai", "gpt-4o", "error", "server_error", 500, 90.0, ts)
            ok = r.attempts[-1]
            a1 = AttemptRecord(r.call_id, 1, 0, "anthropic/claude-sonnet-4", "anthropic", "claude-sonnet-4", ok.outcome, ok.error_type, ok.http_status, ok.latency_ms, ts)
            r.attempts = [a0, a1]
            r.deployment, r.provider, r.model, r.fallback_used = "anthropic/claude-sonnet-4", "anthropic", "claude-sonnet-4", True
            r.fallback_chain = ["openai/gpt-4o", "anthropic/claude-sonnet-4"]
        yield r


def fill(url: str, n: int) -> float:
    t = time.perf_counter()
    with TelemetryStore.open(url) as st:
        batch: list[LLMCallRecord] = []
        for r in records(n):
            batch.append(r)
            if len(batch) == 5000:
                st.write_batch(batch)
                batch = []
        if batch:
            st.write_batch(batch)
    return time.perf_counter() - t


def timed(fn: object, repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``repeat`` runs (CPU time is what this process used: on a
    shared machine the wall time also holds the waits for a core)."""
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()  # type: ignore[operator]
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--db", default=None, help="SQLite file to fill once and reuse (default: a temporary file)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    path = args.db or os.path.join(tempfile.mkdtemp(prefix="attune-report-bench-"), "store.db")
    url = f"sqlite:///{os.path.abspath(path)}"
    filled_s = None
    with TelemetryStore.open(url) as st:
        have = st.count()
    if have != args.calls:
        if have:
            raise SystemExit(f"{path} holds {have} calls, not {args.calls}: remove it or pass another --db")
        filled_s = fill(url, args.calls)
    out: dict[str, object] = {"calls": args.calls, "fill_s": filled_s, "python": platform.python_version()}
    with TelemetryStore.open(url) as st:
        build_report(st)  # warm: imports, page cache
        for name, by, n in (("report", "deployment", args.repeat), ("report_by_task", "task_type", args.repeat),
                            ("report_by_provider", "provider", args.repeat), ("report_by_tier", "tier", max(1, args.repeat // 2))):
            out[f"{name}_s"], out[f"{name}_cpu_s"] = timed(lambda b=by: build_report(st, by=b), n)  # fmt: skip
        out["load_avg_1m"] = os.getloadavg()[0]
        rep = build_report(st)
        out["rollup_rows"] = len(rep.columns) if rep.columns is not None else 0
        out["anomalies"] = rep.anomalies
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "router.cli", "report", "--db", url, "--json"], capture_output=True, text=True, check=True)
    out["cli_process_s"] = time.perf_counter() - t
    assert json.loads(proc.stdout.strip().splitlines()[-1])["anomalies"] == rep.anomalies
    for k, v in out.items():
        if k != "anomalies":
            print(f"{k:>22}: {v:.3f}" if isinstance(v, float) else f"{k:>22}: {v}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
