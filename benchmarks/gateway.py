"""How much the gateway costs: requests/s per worker and the latency it adds.

The fast local upstream of ``benchmarks/throughput.py`` runs in its own process; ``attune
serve`` runs in front of it (1 and 2 workers, telemetry on SQLite, the default policy); a load
generator in a third process keeps 64 connections busy for a while and reports requests/s and
latency percentiles. The same generator against the upstream directly gives the latency the
gateway adds. LiteLLM's proxy joins when ``litellm[proxy]`` is installed (skipped otherwise).

    python benchmarks/gateway.py [--seconds 10] [--concurrency 64] [--workers 1 2] [--loop uvloop asyncio]

Each worker count runs on the first ``--loop`` (``attune serve --loop``); one worker also on
the others, side by side. The load generator is ``wrk`` when it is on PATH (``--generator``;
Debian's package), else a Python aiohttp client on uvloop: on a 2-core machine the Python
generator takes a large share of the cores, which caps what two workers can show.

Prints a table, then one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Review this function for off-by-one errors."}]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_upstream() -> tuple[subprocess.Popen[str], str]:
    sys.path.insert(0, str(_HERE))
    from throughput import start_server

    return start_server()


def _wait_ready(url: str, proc: subprocess.Popen[Any], timeout: float = 60) -> None:
    import httpx

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("gateway did not become ready")


def start_gateway(upstream: str, workers: int, tmp: str, loop: str = "auto", tag: str = "") -> tuple[subprocess.Popen[Any], str, str]:
    import yaml

    from telemetry.keys import KeyStore

    db = f"sqlite:///{tmp}/gateway-{workers}-{loop}{tag}.db"
    cfg = {
        "telemetry": {"url": db},
        "deployments": {"openai/bench": {"model": "gpt-4o", "base_url": f"{upstream}/v1", "api_key_env": "BENCH_UPSTREAM_KEY"}},
        "tiers": {"bench": {"chain": ["openai/bench"]}},
    }
    path = Path(tmp) / f"gateway-{workers}-{loop}{tag}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    store = KeyStore(db)
    secret = store.create(f"bench-{workers}")[1]
    store.close()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "router.cli", "serve", "--config", str(path), "--port", str(port), "--workers", str(workers), "--loop", loop],
        env={**os.environ, "BENCH_UPSTREAM_KEY": "sk-bench"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    _wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
    return proc, f"http://127.0.0.1:{port}", secret


def start_litellm_proxy(upstream: str, tmp: str) -> tuple[subprocess.Popen[Any], str, str] | str:
    import shutil

    beside = Path(sys.executable).parent / "litellm"  # this venv's, when it is not on PATH
    exe = str(beside) if beside.exists() else shutil.which("litellm")
    if exe is None:
        return "litellm[proxy] is not installed (pip install 'litellm[proxy]'); skipped"
    import yaml

    path = Path(tmp) / "litellm.yaml"
    path.write_text(yaml.safe_dump({"model_list": [{"model_name": "bench", "litellm_params": {"model": "openai/gpt-4o", "api_base": f"{upstream}/v1", "api_key": "sk-bench"}}]}))
    port = _free_port()
    proc = subprocess.Popen([exe, "--config", str(path), "--port", str(port), "--num_workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/health/liveliness", proc, timeout=120)
    except RuntimeError as exc:
        proc.kill()
        return f"litellm proxy did not start: {exc}"
    return proc, f"http://127.0.0.1:{port}", "sk-anything"


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def load_wrk(base: str, key: str, seconds: float, concurrency: int) -> dict[str, Any]:
    """The same load from ``wrk`` (C, one thread): far less CPU per request than a Python
    generator, so on a small machine more of it is left to the gateway's workers."""
    import re

    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(BODY))}\n'
                f'wrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer {key}"\n')  # fmt: skip
    try:
        cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(int(seconds), 1)}s", "--latency", "-s", f.name, f"{base}/v1/chat/completions"]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(f.name)

    def pct(q: str) -> float:
        m = re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)$", out, re.M)
        return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")

    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps * (total - errors) / max(total, 1), "p50_ms": pct("50"), "p99_ms": pct("99"), "ok": total - errors, "errors": errors}


def load(base: str, key: str, seconds: float, concurrency: int) -> dict[str, Any]:
    """Run the load generator in its own process and return what it measured (``wrk`` when
    ``--generator wrk``)."""
    if GENERATOR == "wrk":
        return load_wrk(base, key, seconds, concurrency)
    out = subprocess.run(
        [sys.executable, __file__, "--load", base, "--key", key, "--seconds", str(seconds), "--concurrency", str(concurrency)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


async def _generate(base: str, key: str, seconds: float, concurrency: int) -> dict[str, Any]:
    import aiohttp

    lat: list[float] = []
    errors = 0
    body = json.dumps(BODY).encode()
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    url = f"{base}/v1/chat/completions"
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as s:
        for _ in range(concurrency):  # warm the connections
            async with s.post(url, data=body, headers=headers) as r:
                await r.read()
        end = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                async with s.post(url, data=body, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                        continue
                lat.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    lat.sort()

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")

    return {"rps": len(lat) / wall, "p50_ms": pct(0.5), "p99_ms": pct(0.99), "ok": len(lat), "errors": errors}


GENERATOR = "python"  # or "wrk": set from --generator


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its live child processes (the workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def _runner() -> asyncio.Runner:
    if _has_uvloop():
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    return asyncio.Runner()


def _sequential(base: str, key: str, n: int = 2000) -> float:
    """Median latency of one caller, in ms (the added latency without queueing)."""
    import httpx

    lat = []
    with httpx.Client(headers={"authorization": f"Bearer {key}"}) as c:
        for _ in range(n):
            t0 = time.perf_counter()
            c.post(f"{base}/v1/chat/completions", json=BODY).raise_for_status()
            lat.append(time.perf_counter() - t0)
    lat.sort()
    return lat[len(lat) // 2] * 1000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--generator", choices=["auto", "python", "wrk"], default="auto",
                   help="load generator: wrk (C) when on PATH (auto), or the Python one (aiohttp)")
    p.add_argument("--rounds", type=int, default=1, help="rounds of every run, interleaved; the best is kept (all are in the JSON)")
    p.add_argument("--loop", nargs="+", choices=["uvloop", "asyncio"], default=None,
                   help="attune serve --loop for each run (default: uvloop and asyncio, or asyncio without uvloop)")
    p.add_argument("--load", help=argparse.SUPPRESS)  # the load generator's own process
    p.add_argument("--key", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.load:
        with _runner() as runner:
            print(json.dumps(runner.run(_generate(args.load, args.key, args.seconds, args.concurrency))))
        return 0

    global GENERATOR
    import shutil

    GENERATOR = ("wrk" if shutil.which("wrk") else "python") if args.generator == "auto" else args.generator
    loops = args.loop or (["uvloop", "asyncio"] if _has_uvloop() else ["asyncio"])
    runs = ([(w, loops[0]) for w in args.workers] + [(1, lp) for lp in loops[1:] if 1 in args.workers]) * args.rounds
    results: dict[str, Any] = {}
    upstream, base = start_upstream()
    try:
        results["upstream-direct"] = {**load(base, "sk-bench", args.seconds, args.concurrency), "seq_p50_ms": _sequential(base, "sk-bench")}
        with tempfile.TemporaryDirectory() as tmp:
            for i, (w, lp) in enumerate(runs):
                proc, gw, key = start_gateway(base, w, tmp, lp, f"-{i}")
                try:
                    load(gw, key, 1.0, args.concurrency)  # warm-up: connections, caches, first plans
                    cpu0 = _cpu_s(proc.pid)
                    row = load(gw, key, args.seconds, args.concurrency)
                    row["cpu_ms_per_request"] = (_cpu_s(proc.pid) - cpu0) * 1000 / max(row["ok"] + row["errors"], 1)
                    row["seq_p50_ms"] = _sequential(gw, key)
                    row["rps_per_worker"] = row["rps"] / w
                    row["loop"] = lp
                    name = f"attune-{w}w" + ("" if lp == loops[0] else f"-{lp}")
                    row["rounds_rps"] = [*results.get(name, {}).get("rounds_rps", []), round(row["rps"])]
                    if row["rps"] >= results.get(name, {}).get("rps", 0.0):  # the best round is kept
                        results[name] = row
                    else:
                        results[name]["rounds_rps"] = row["rounds_rps"]
                finally:
                    proc.terminate()
                    proc.wait(60)
            lite = start_litellm_proxy(base, tmp)
            if isinstance(lite, str):
                results["litellm-proxy"] = {"skipped": lite}
            else:
                proc, url, key = lite
                try:
                    results["litellm-proxy"] = {**load(url, key, args.seconds, args.concurrency), "seq_p50_ms": _sequential(url, key, 500)}
                finally:
                    proc.terminate()
                    proc.wait(60)
    finally:
        upstream.kill()
    direct = results["upstream-direct"]
    print(f"gateway loop: {loops[0]} (1 worker also on: {', '.join(loops[1:]) or 'none'}); load generator: {GENERATOR}")
    results["generator"] = GENERATOR
    print(f"{'target':<18} {'req/s':>9} {'per worker':>11} {'p50 ms':>8} {'p99 ms':>8} {'seq p50 ms':>11} {'added p50 ms':>13} {'CPU ms/req':>11}")
    for name, r in results.items():
        if not isinstance(r, dict):
            continue
        if "skipped" in r:
            print(f"{name:<18} {r['skipped']}")
            continue
        added = r["seq_p50_ms"] - direct["seq_p50_ms"]
        r["added_seq_p50_ms"] = added
        cpu = f"{r['cpu_ms_per_request']:.3f}" if "cpu_ms_per_request" in r else ""
        print(f"{name:<18} {r['rps']:>9.0f} {r.get('rps_per_worker', r['rps']):>11.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['seq_p50_ms']:>11.3f} {added:>13.3f} {cpu:>11}")
    if "attune-1w" in results and "attune-2w" in results:
        results["two_worker_scaling"] = results["attune-2w"]["rps"] / results["attune-1w"]["rps"]
        print(f"two workers / one: {results['two_worker_scaling']:.2f}x")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
