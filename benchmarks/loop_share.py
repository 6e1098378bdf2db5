"""Where one client's time goes at N concurrent callers over real HTTP: calls/s, the event
loop thread's CPU per call, the telemetry writer thread's CPU per call, and the garbage
collector's collections (by generation) and time per call. One JSON line per round.

The upstream is ``benchmarks/_fastserver.py`` in a child process, as in ``throughput.py``.
``--heavy`` imports the OpenAI SDK and LiteLLM first, as ``throughput.py`` does by measuring
them in the same process: their objects make the heap (and so each full collection) several
times larger. To compare two trees, run this alternately with ``PYTHONPATH=<other tree>``.

    python benchmarks/loop_share.py [--client router-adaptive] [--calls 20000] [--callers 64]
        [--rounds 1] [--warmup 2000] [--heavy]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import threading
import time
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]  # benchmarks/telemetry.py
sys.path.append(_HERE)

import throughput as bench  # noqa: E402


class Collections:
    """Counts collections per generation and the time spent in them (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.seconds = 0.0
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.count[info["generation"]] += 1
            self.seconds += time.perf_counter() - self._t0


def _writer_cpu_s(client: Any) -> float:
    """CPU seconds of the client's telemetry writer thread so far (0 without one)."""
    writer = getattr(getattr(client, "telemetry", None), "_writer", None)
    thread: threading.Thread | None = writer.thread if writer is not None else None
    return bench.thread_cpu_s(thread.native_id) if thread is not None and thread.native_id else 0.0


async def measure(args: argparse.Namespace) -> None:
    proc, base = bench.start_server()
    try:
        client = bench.make_client(args.client, base, tempfile.mkdtemp())
        if isinstance(client, str):
            raise SystemExit(f"{args.client}: {client}")
        await bench.concurrent(client, args.warmup, args.callers)
        for _ in range(args.rounds):
            gc.collect()
            seen = Collections()
            gc.callbacks.append(seen)
            w0 = _writer_cpu_s(client)
            batches0 = client.telemetry.stats.batches if client.telemetry is not None else 0
            m0 = time.thread_time()
            res = await bench.concurrent(client, args.calls, args.callers, collect=False)
            loop_s = time.thread_time() - m0
            w1 = _writer_cpu_s(client)
            gc.callbacks.remove(seen)
            n = args.calls
            print(json.dumps({
                "client": args.client, "callers": args.callers, "calls": n, "calls_per_s": res["calls_per_s"],
                "loop_thread_us_per_call": round(loop_s / n * 1e6, 1), "writer_us_per_call": round((w1 - w0) / n * 1e6, 1),
                "batches": (client.telemetry.stats.batches - batches0) if client.telemetry is not None else 0,
                "collections": seen.count, "gc_us_per_call": round(seen.seconds / n * 1e6, 2),
                "heavy": args.heavy, "load": round(os.getloadavg()[0], 2),
            }), flush=True)  # fmt: skip
        await client.close()
    finally:
        proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--client", default="router-adaptive", choices=bench.CLIENTS)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--callers", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=2000)
    ap.add_argument("--heavy", action="store_true", help="import the OpenAI SDK and LiteLLM first, as throughput.py does")
    args = ap.parse_args()
    if args.heavy:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm  # noqa: F401
        import openai  # noqa: F401
    asyncio.run(measure(args))


if __name__ == "__main__":
    main()
