"""Calls per second and CPU per call over real HTTP, side by side in one run: raw aiohttp (the
limit), raw httpx, httpx over httpx-aiohttp's transport (when installed), the OpenAI SDK
(max_retries=0), LiteLLM's Router (when installed), and this router (``static`` and
``adaptive``, telemetry on a real SQLite store), on its default transport and on httpx's.

The upstream is ``benchmarks/_fastserver.py`` in a child process (a fixed chat.completion in one
write, keep-alive; a 50-chunk SSE answer for streams), so its CPU is not counted. CPU per call is
this process's CPU time (every thread, the telemetry writer's included) over the calls made.

    python benchmarks/throughput.py [--calls 4000] [--seq-calls 2000] [--streams 300]
        [--concurrency 16 --concurrency 64 --concurrency 256] [--memory-calls 200000]
        [--client raw-aiohttp --client router-adaptive ...] [--quick]

Phases: sequential (p50, p99, CPU per call; the clients interleaved in blocks of 50 calls), concurrent at each ``--concurrency`` (calls/s, CPU
per call; the best of ``--rounds`` rounds, the rounds interleaved across clients), streaming
(time to first chunk p50, chunks/s; the clients interleaved in blocks of 10 streams), the telemetry writer's CPU share at ``--paced-rate`` calls/s,
and memory (RSS growth over ``--memory-calls`` routed calls, a leak check). For each router
client, its telemetry queue is sampled during the run (max pending records) and its rows are
counted after close (rows must equal calls). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import Any

# benchmarks/telemetry.py is named like the package: keep this directory off the import path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network: LiteLLM reads its bundled price map
MESSAGES = [{"role": "user", "content": "Review this function for off-by-one errors."}]
BODY = json.dumps({"model": "gpt-4o", "messages": MESSAGES}).encode()
STREAM_BODY = json.dumps({"model": "gpt-4o", "messages": MESSAGES, "stream": True}).encode()
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
CLIENTS = [
    "raw-aiohttp", "raw-httpx", "httpx-aiohttp", "openai-sdk", "litellm",
    "router-static", "router-adaptive", "router-adaptive-httpx", "router-adaptive-notelemetry",
]  # fmt: skip
DEFAULT_CLIENTS = [c for c in CLIENTS if c != "router-adaptive-notelemetry"]


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, os.path.join(_HERE, "_fastserver.py")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    m = re.search(r"listening on (http://[0-9.]+:\d+)", proc.stdout.readline())
    if not m:
        proc.kill()
        raise RuntimeError("benchmark server did not start")
    return proc, m.group(1)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def thread_cpu_s(native_id: int) -> float:
    """CPU seconds of one thread of this process (Linux /proc)."""
    with open(f"/proc/self/task/{native_id}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(int(q * len(xs)), len(xs) - 1)]


# -- clients: each has call() (one chat completion), open_stream() (one streamed one), close() --


class Client:
    name = ""
    telemetry: Any = None
    calls_made = 0

    async def call(self) -> None:
        raise NotImplementedError

    async def open_stream(self) -> AsyncIterable[Any]:
        """A streamed chat completion: its chunks, parsed."""
        raise NotImplementedError

    async def stream(self, on_first: Callable[[], None]) -> int:
        """Read one streamed completion to its end; returns its chunks (``on_first`` at the first)."""
        n = 0
        async for _ in await self.open_stream():
            n += 1
            if n == 1:
                on_first()
        return n

    async def close(self) -> None:
        pass


class RawAiohttp(Client):
    name = "raw-aiohttp"

    def __init__(self, base: str) -> None:
        import aiohttp

        self.url = base + "/v1/chat/completions"
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))

    async def call(self) -> None:
        async with self.session.post(self.url, data=BODY, headers=HEADERS) as resp:
            data = json.loads(await resp.read())
        assert data["choices"][0]["message"]["content"]

    async def open_stream(self) -> AsyncIterable[Any]:
        return self._events()

    async def _events(self) -> AsyncIterator[Any]:
        async with self.session.post(self.url, data=STREAM_BODY, headers=HEADERS) as resp:
            async for line in resp.content:
                if line.startswith(b"data: ") and line[6:].strip() != b"[DONE]":
                    yield json.loads(line[6:])

    async def close(self) -> None:
        await self.session.close()


class RawHttpx(Client):
    name = "raw-httpx"

    def __init__(self, base: str, transport: Any = None) -> None:
        import httpx

        self.url = base + "/v1/chat/completions"
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        self.client = httpx.AsyncClient(limits=limits, transport=transport, timeout=30)

    async def call(self) -> None:
        resp = await self.client.post(self.url, content=BODY, headers=HEADERS)
        assert resp.json()["choices"][0]["message"]["content"]

    async def open_stream(self) -> AsyncIterable[Any]:
        return self._events()

    async def _events(self) -> AsyncIterator[Any]:
        async with self.client.stream("POST", self.url, content=STREAM_BODY, headers=HEADERS) as resp:
            async for line in resp.aiter_lines():
                if line.startswith("data: ") and line[6:].strip() != "[DONE]":
                    yield json.loads(line[6:])

    async def close(self) -> None:
        await self.client.aclose()


class HttpxOverAiohttp(RawHttpx):
    name = "httpx-aiohttp"

    def __init__(self, base: str) -> None:
        from httpx_aiohttp import AiohttpTransport

        super().__init__(base, transport=AiohttpTransport())


class OpenAISDK(Client):
    name = "openai-sdk"

    def __init__(self, base: str) -> None:
        import httpx
        import openai

        limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
        self.client = openai.AsyncOpenAI(base_url=base + "/v1", api_key="sk-bench", max_retries=0,
                                         http_client=openai.DefaultAsyncHttpxClient(limits=limits))  # fmt: skip

    async def call(self) -> None:
        r = await self.client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
        assert r.choices[0].message.content

    async def open_stream(self) -> AsyncIterable[Any]:
        return await self.client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)  # type: ignore[arg-type]

    async def close(self) -> None:
        await self.client.close()


class LiteLLMRouter(Client):
    name = "litellm"

    def __init__(self, base: str) -> None:
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        model = {"model_name": "capable", "litellm_params": {"model": "openai/gpt-4o", "api_base": base + "/v1", "api_key": "sk-bench"}}
        self.router = litellm.Router(model_list=[model], num_retries=0)

    async def call(self) -> None:
        r = await self.router.acompletion(model="capable", messages=MESSAGES)
        assert r.choices[0].message.content

    async def open_stream(self) -> AsyncIterable[Any]:
        return await self.router.acompletion(model="capable", messages=MESSAGES, stream=True)


class OurRouter(Client):
    def __init__(self, base: str, policy: str, tmp: str, *, httpx_transport: bool = False, telemetry: bool = True) -> None:
        from router import Deployment, OpenAIProvider, Router, Tier
        from telemetry import TelemetryBackend

        self.name = f"router-{policy}" + ("-httpx" if httpx_transport else "") + ("" if telemetry else "-notelemetry")
        self.db = os.path.join(tmp, f"{self.name}.db")
        self.telemetry = TelemetryBackend(f"sqlite:///{self.db}") if telemetry else None
        kw: dict[str, Any] = {}
        if httpx_transport:
            import httpx

            kw["transport"] = httpx.AsyncHTTPTransport()
        adapter = OpenAIProvider(base_url=base + "/v1", api_key="sk-bench", max_connections=256, **kw)
        keys = ["openai/gpt-4o", "openai/gpt-4o-b", "openai/gpt-4o-c"]
        deps = [Deployment(k, adapter, "gpt-4o") for k in keys]
        self.router = Router(deployments=deps, tiers=[Tier("capable", keys, policy=policy)], telemetry=self.telemetry)
        self.calls_made = 0

    async def call(self) -> None:
        r = await self.router.acompletion("capable", MESSAGES)
        self.calls_made += 1
        assert r.choices[0].message.content

    async def open_stream(self) -> AsyncIterable[Any]:
        s = await self.router.acompletion("capable", MESSAGES, stream=True)
        self.calls_made += 1
        return s

    async def close(self) -> None:
        await self.router.aclose()


def make_client(name: str, base: str, tmp: str) -> Client | str:
    """The client, or a note saying why it is skipped."""
    try:
        if name == "raw-aiohttp":
            return RawAiohttp(base)
        if name == "raw-httpx":
            return RawHttpx(base)
        if name == "httpx-aiohttp":
            return HttpxOverAiohttp(base)
        if name == "openai-sdk":
            return OpenAISDK(base)
        if name == "litellm":
            return LiteLLMRouter(base)
        if name.startswith("router-"):
            policy = name.split("-")[1]
            return OurRouter(base, policy, tmp, httpx_transport=name.endswith("-httpx"), telemetry=not name.endswith("-notelemetry"))
    except ImportError as exc:
        return f"skipped: {exc.name or exc} is not installed"
    raise ValueError(f"unknown client {name!r}; known: {CLIENTS}")


# -- phases ------------------------------------------------------------------------------------


class QueueWatch:
    """Samples each router client's telemetry queue (pending records) every 20 ms."""

    def __init__(self, clients: list[Client]) -> None:
        self.backends = {c.name: c.telemetry for c in clients if c.telemetry is not None}
        self.max_pending = dict.fromkeys(self.backends, 0)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            for name, t in self.backends.items():
                self.max_pending[name] = max(self.max_pending[name], t.stats.pending)
            await asyncio.sleep(0.02)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


async def sequential(clients: list[Client], calls: dict[str, int], block: int = 50) -> dict[str, dict[str, float]]:
    """One caller at a time, the clients interleaved in blocks of ``block`` calls (each its
    share: ``calls``), so a change in the machine's load falls on every client alike."""
    pc = time.perf_counter
    xs: dict[str, list[float]] = {c.name: [] for c in clients}
    cpu: dict[str, float] = {c.name: 0.0 for c in clients}
    gc.collect()
    while any(len(xs[c.name]) < calls[c.name] for c in clients):
        for c in clients:
            mine, n = xs[c.name], min(block, calls[c.name] - len(xs[c.name]))
            cpu0 = time.process_time()
            for _ in range(n):
                t = pc()
                await c.call()
                mine.append(pc() - t)
            cpu[c.name] += time.process_time() - cpu0
    out = {}
    for c in clients:
        v = sorted(xs[c.name])
        out[c.name] = {"p50_ms": round(_pct(v, 0.5) * 1e3, 4), "p99_ms": round(_pct(v, 0.99) * 1e3, 4), "cpu_ms_per_call": round(cpu[c.name] / len(v) * 1e3, 4)}
    return out


async def concurrent(c: Client, n: int, callers: int, rate: float | None = None, *, collect: bool = True) -> dict[str, Any]:
    """``n`` calls by ``callers`` tasks (paced to ``rate`` calls/s when given), after a full
    collection unless ``collect`` is False; a failed call is counted in ``errors`` (with the
    first one's message) instead of ending the run."""
    left = n
    errors: list[str] = []
    t0 = time.perf_counter()

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            if rate is not None:
                due = t0 + (n - left) / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            try:
                await c.call()
            except Exception as exc:  # noqa: BLE001 - reported in the figures
                errors.append(f"{type(exc).__name__}: {str(exc)[:160]}")

    if collect:
        gc.collect()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(callers)))
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    out: dict[str, Any] = {"calls_per_s": round(n / wall, 1), "cpu_ms_per_call": round(cpu / n * 1e3, 4), "wall_s": round(wall, 3)}
    if errors:
        out["errors"], out["first_error"] = len(errors), errors[0]
        print(f"  {c.name} at {callers} callers: {len(errors)} failed call(s), first: {errors[0]}", file=sys.stderr)
    return out


async def streaming(clients: list[Client], streams: dict[str, int], block: int = 10) -> dict[str, dict[str, float]]:
    """Sequential streams read to their end, the clients interleaved in blocks of ``block``
    streams (each its share: ``streams``), as ``sequential`` interleaves calls: time to the
    first chunk moves with the machine's load, and each client must see the same load."""
    pc = time.perf_counter
    ttfc: dict[str, list[float]] = {c.name: [] for c in clients}
    chunks = {c.name: 0 for c in clients}
    total = {c.name: 0.0 for c in clients}
    while any(len(ttfc[c.name]) < streams[c.name] for c in clients):
        for c in clients:
            mine = ttfc[c.name]
            for _ in range(min(block, streams[c.name] - len(mine))):
                t = pc()
                first = [0.0]

                def on_first(first: list[float] = first) -> None:
                    first[0] = pc()

                chunks[c.name] += await c.stream(on_first)
                total[c.name] += pc() - t
                mine.append(first[0] - t)
    out = {}
    for c in clients:
        v, n = ttfc[c.name], len(ttfc[c.name])
        out[c.name] = {"ttfc_p50_ms": round(_pct(v, 0.5) * 1e3, 4), "ttfc_p99_ms": round(_pct(v, 0.99) * 1e3, 4),
                       "chunks_per_s": round(chunks[c.name] / total[c.name], 1), "chunks_per_stream": chunks[c.name] // n}  # fmt: skip
    return out


async def writer_share(c: Client, rate: float, seconds: float) -> dict[str, float]:
    """CPU of the telemetry writer thread while ``c`` is paced at ``rate`` calls/s."""
    writer = c.telemetry._writer
    tid = writer.thread.native_id
    n = int(rate * seconds)
    w0, cpu0 = thread_cpu_s(tid), time.process_time()
    res = await concurrent(c, n, 64, rate=rate)
    c.telemetry.flush_sync(30)
    w, cpu = thread_cpu_s(tid) - w0, time.process_time() - cpu0
    return {"rate": res["calls_per_s"], "writer_cpu_share": round(w / cpu, 4) if cpu else 0.0,
            "writer_us_per_call": round(w / n * 1e6, 2), "process_cpu_ms_per_call": round(cpu / n * 1e3, 4)}  # fmt: skip


async def memory(c: Client, calls: int, callers: int = 64) -> dict[str, float]:
    await concurrent(c, min(20_000, calls // 10 or 1), callers)  # warm: pools, caches, first batches
    c.telemetry.flush_sync(30)
    gc.collect()
    before = rss_mb()
    await concurrent(c, calls, callers)
    c.telemetry.flush_sync(60)
    gc.collect()
    after = rss_mb()
    return {"calls": calls, "rss_before_mb": round(before, 1), "rss_after_mb": round(after, 1), "rss_growth_mb": round(after - before, 1)}


def _scaled(name: str, n: int, slow: int) -> int:
    """Fewer calls for the clients that take seconds per thousand calls."""
    return max(50, n // slow) if name in ("litellm", "raw-httpx", "openai-sdk", "router-adaptive-httpx") and slow > 1 else n


async def run(args: argparse.Namespace, base: str, tmp: str) -> dict[str, Any]:
    out: dict[str, Any] = {"skipped": {}, "sequential": {}, "concurrent": {}, "streaming": {}, "telemetry": {}}
    clients: list[Client] = []
    for name in args.client or DEFAULT_CLIENTS:
        c = make_client(name, base, tmp)
        if isinstance(c, str):
            out["skipped"][name] = c
            print(f"{name}: {c}", file=sys.stderr)
        else:
            clients.append(c)
    watch = QueueWatch(clients)
    watch.start()
    for c in clients:  # warm up: connections, imports, first plans
        await concurrent(c, _scaled(c.name, 500, args.slow_factor), 16)
        await c.stream(lambda: None)
    out["sequential"] = await sequential(clients, {c.name: _scaled(c.name, args.seq_calls, args.slow_factor) for c in clients})
    for name, r in out["sequential"].items():
        print(f"sequential {name:>22}: p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, cpu {r['cpu_ms_per_call']:.3f} ms/call", file=sys.stderr)
    for callers in args.concurrency:
        best: dict[str, dict[str, float]] = {}
        for _ in range(args.rounds):
            for c in clients:
                r = await concurrent(c, _scaled(c.name, args.calls, args.slow_factor), callers)
                if c.name not in best or r["calls_per_s"] > best[c.name]["calls_per_s"]:
                    best[c.name] = r
        out["concurrent"][str(callers)] = best
        for name, r in best.items():
            print(f"concurrent {callers:>3} {name:>18}: {r['calls_per_s']:>8.1f} calls/s, cpu {r['cpu_ms_per_call']:.3f} ms/call", file=sys.stderr)
    out["streaming"] = await streaming(clients, {c.name: _scaled(c.name, args.streams, args.slow_factor) for c in clients})
    for name, r in out["streaming"].items():
        print(f"streaming  {name:>22}: first chunk p50 {r['ttfc_p50_ms']:.3f} ms, {r['chunks_per_s']:.0f} chunks/s", file=sys.stderr)
    await watch.stop()
    ours = [c for c in clients if c.telemetry is not None]
    if args.paced_rate and ours:
        target = next((c for c in ours if c.name == "router-adaptive"), ours[0])
        out["writer_share"] = r = await writer_share(target, args.paced_rate, args.paced_seconds)
        out["writer_share"]["client"] = target.name
        print(f"writer share at {r['rate']:.0f} calls/s ({target.name}): {r['writer_cpu_share']:.1%} of process CPU, "
              f"{r['writer_us_per_call']:.1f} us/call", file=sys.stderr)  # fmt: skip
    if args.memory_calls and ours:
        target = next((c for c in ours if c.name == "router-adaptive"), ours[0])
        out["memory"] = r = await memory(target, args.memory_calls)
        out["memory"]["client"] = target.name
        print(f"memory ({target.name}): RSS {r['rss_before_mb']} -> {r['rss_after_mb']} MB over {r['calls']} calls", file=sys.stderr)
    for c in clients:
        await c.close()
    from telemetry import TelemetryStore

    for c in ours:
        c.telemetry.close()
        store = TelemetryStore(f"sqlite:///{c.db}")
        rows = store.count()
        store.close()
        out["telemetry"][c.name] = t = {"calls": c.calls_made, "rows": rows, "max_pending": watch.max_pending.get(c.name, 0),
                                        "dropped": c.telemetry.stats.dropped}  # fmt: skip
        print(f"telemetry  {c.name:>22}: rows {rows} / calls {c.calls_made}, max pending {t['max_pending']}", file=sys.stderr)
    return out


def summary(res: dict[str, Any]) -> dict[str, Any]:
    """Ratios against raw aiohttp (and LiteLLM) from the same run."""
    s: dict[str, Any] = {}
    c64 = res["concurrent"].get("64", {})
    ref, ours = c64.get("raw-aiohttp"), c64.get("router-adaptive")
    if ref and ours:
        s["c64_calls_ratio_vs_aiohttp"] = round(ours["calls_per_s"] / ref["calls_per_s"], 3)
        s["c64_cpu_ratio_vs_aiohttp"] = round(ours["cpu_ms_per_call"] / ref["cpu_ms_per_call"], 3)
    if ours and c64.get("litellm"):
        s["c64_calls_ratio_vs_litellm"] = round(ours["calls_per_s"] / c64["litellm"]["calls_per_s"], 2)
    seq = res["sequential"]
    if "raw-aiohttp" in seq and "router-adaptive" in seq:
        s["seq_p50_over_aiohttp_ms"] = round(seq["router-adaptive"]["p50_ms"] - seq["raw-aiohttp"]["p50_ms"], 4)
    st = res["streaming"]
    if "raw-aiohttp" in st and "router-adaptive" in st:
        s["ttfc_p50_over_aiohttp_ms"] = round(st["router-adaptive"]["ttfc_p50_ms"] - st["raw-aiohttp"]["ttfc_p50_ms"], 4)
    if "memory" in res:
        s["rss_growth_mb"] = res["memory"]["rss_growth_mb"]
    s["telemetry_rows_equal_calls"] = all(t["rows"] == t["calls"] for t in res["telemetry"].values())
    return s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--client", action="append", choices=CLIENTS, help="client to measure (repeatable); default: all but router-adaptive-notelemetry")
    ap.add_argument("--calls", type=int, help="calls per concurrent round (4,000)")
    ap.add_argument("--seq-calls", type=int, help="sequential calls (2,000)")
    ap.add_argument("--streams", type=int, help="sequential streams (300)")
    ap.add_argument("--concurrency", type=int, action="append", help="concurrent callers (repeatable); default 16, 64, 256")
    ap.add_argument("--rounds", type=int, help="concurrent rounds per level, interleaved; the best is kept (2)")
    ap.add_argument("--slow-factor", type=int, default=4, help="the slow clients (httpx, SDK, LiteLLM) make 1/N of the calls")
    ap.add_argument("--paced-rate", type=float, default=2000.0, help="calls/s for the telemetry writer's CPU share (0: skip)")
    ap.add_argument("--paced-seconds", type=float, help="seconds of the paced run (5)")
    ap.add_argument("--memory-calls", type=int, help="routed calls for the RSS leak check (200,000; 0: skip)")
    ap.add_argument("--uvloop", action="store_true", help="run the clients on uvloop")
    ap.add_argument("--quick", action="store_true", help="a short run: 1,000 calls, 300 sequential, 50 streams, 20,000 for memory")
    args = ap.parse_args(argv)
    args.concurrency = args.concurrency or [16, 64, 256]
    quick = {"calls": 1000, "seq_calls": 300, "streams": 50, "memory_calls": 20_000, "rounds": 1, "paced_seconds": 2.0}
    full = {"calls": 4000, "seq_calls": 2000, "streams": 300, "memory_calls": 200_000, "rounds": 2, "paced_seconds": 5.0}
    for k, v in (quick if args.quick else full).items():
        if getattr(args, k) is None:  # given on the command line: kept, --quick or not
            setattr(args, k, v)
    proc, base = start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.uvloop:
                import uvloop

                res = uvloop.run(run(args, base, tmp))
            else:
                res = asyncio.run(run(args, base, tmp))
    finally:
        proc.terminate()
        proc.wait()
    res["summary"] = summary(res)
    res["uvloop"] = args.uvloop
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
