"""Records lost when a process writing telemetry is killed: kill -9, SIGTERM without a handler,
SIGTERM with ``flush_on_signals=True``, at a given call rate and flush interval.

A child process submits records to a SQLite file at a steady rate and keeps the number
submitted in a shared memory word; the parent kills it 1.0-1.5 s in, replays whatever the
child left in its spool file (as the next process would), and counts the rows. Lost =
submitted - stored.

    .venv/bin/python benchmarks/telemetry_loss.py                      # 400 and 30,000 calls/s
    .venv/bin/python benchmarks/telemetry_loss.py --rates 30000 --intervals 0.2 0.05 --runs 5
"""

from __future__ import annotations

import argparse
import mmap
import os
import random
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = r"""
import mmap, struct, sys, time
from dataclasses import replace
from telemetry import LLMCallRecord, TelemetryBackend, AttemptRecord
url, counter, rate, interval, handler = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5] == "1"
b = TelemetryBackend(url, flush_interval=interval, flush_on_signals=handler)
f = open(counter, "r+b"); mm = mmap.mmap(f.fileno(), 8)
proto = LLMCallRecord(call_id="x", provider="openai", model="gpt-4o", tier="fast", task_type="chat",
                      input_tokens=120, output_tokens=40, cost=0.001, latency_ms=300, deployment="openai/gpt-4o",
                      attempts=[AttemptRecord("x", 0, 0, "openai/gpt-4o", "openai", "gpt-4o", "success", latency_ms=300.0)])
b.submit(replace(proto, call_id="warm-up"))  # connected, schema checked, writer running: steady state
b.flush_sync(timeout=120)
pack, n, start = struct.pack_into, 0, time.perf_counter()
while True:
    due = int((time.perf_counter() - start) * rate)
    while n < due:
        b.submit(replace(proto, call_id=f"k{n}"))
        n += 1
        pack("<q", mm, 0, n)
    time.sleep(0.0005)
"""

MODES = {"kill -9": (signal.SIGKILL, False), "SIGTERM, no handler": (signal.SIGTERM, False),
         "SIGTERM, flush_on_signals": (signal.SIGTERM, True)}  # fmt: skip


def one_run(rate: float, interval: float, mode: str, tmp: Path, k: int) -> tuple[int, int, float, int]:
    """(submitted, lost, achieved rate, lost of those submitted before the signal) of one killed child."""
    from telemetry import TelemetryBackend

    sig, handler = MODES[mode]
    url = f"sqlite:///{tmp}/loss{k}.db"
    counter = tmp / f"counter{k}"
    counter.write_bytes(b"\0" * 8)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, url, str(counter), str(rate), str(interval), "1" if handler else "0"], env=env)  # fmt: skip
    with counter.open("r+b") as f, mmap.mmap(f.fileno(), 8) as mm:
        while struct.unpack_from("<q", mm)[0] == 0:
            if child.poll() is not None:
                raise RuntimeError(f"child ended early with status {child.returncode}")
            time.sleep(0.01)
        began = time.perf_counter()
        time.sleep(random.uniform(1.0, 1.5))
        at_signal = struct.unpack_from("<q", mm)[0]
        child.send_signal(sig)
        child.wait(timeout=60)
        elapsed = time.perf_counter() - began
        submitted = struct.unpack_from("<q", mm)[0]
    with TelemetryBackend(url) as b:  # replays the spool file the child left, as the next process would
        b.flush_sync(timeout=60)
        stored = b.store.count() - 1  # the warm-up record
        with b.store.engine.connect() as conn:  # of the records submitted before the signal
            from sqlalchemy import text

            before = conn.execute(text("SELECT count(*) FROM attune_calls WHERE call_id LIKE 'k%' "
                                       "AND CAST(substr(call_id, 2) AS INTEGER) < :n"), {"n": at_signal}).scalar_one()  # fmt: skip
    return submitted, max(0, submitted - stored), submitted / elapsed, max(0, at_signal - before)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=float, nargs="+", default=[400, 30_000])
    ap.add_argument("--intervals", type=float, nargs="+", default=[0.2, 0.05], help="flush_interval values (s)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    print("| calls/s (achieved) | flush_interval | how the process ended | lost, all: median (min-max) | as seconds of calls | lost of those submitted before the signal: median (min-max) |")
    print("|---|---|---|---|---|---|")
    k = 0
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        for rate in args.rates:
            for interval in args.intervals:
                for mode in MODES:
                    lost, achieved, early = [], [], []
                    for _ in range(args.runs):
                        k += 1
                        _, n_lost, r, n_early = one_run(rate, interval, mode, tmp, k)
                        lost.append(n_lost)
                        achieved.append(r)
                        early.append(n_early)
                    med, ach = statistics.median(lost), statistics.median(achieved)
                    print(f"| {rate:,.0f} ({ach:,.0f}) | {interval} s | {mode} | "
                          f"{med:,.0f} ({min(lost):,}-{max(lost):,}) | {med / ach:.2f} s | "
                          f"{statistics.median(early):,.0f} ({min(early):,}-{max(early):,}) |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
