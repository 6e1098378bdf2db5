"""Per-call cost of the router over calling the same in-memory provider directly.

Both are measured in one run, interleaved call by call, on the success path with telemetry
on (a real ``TelemetryBackend`` on a temporary SQLite file: ``submit`` on the caller's path,
the writer thread in the background). Each policy named with ``--policy`` gets its own router
over the same provider, measured in the same interleaved loop, so policy costs compare side
by side.

    python benchmarks/overhead.py [--calls 20000] [--policy static --policy adaptive]

The last line is one JSON object: direct_p50_us, router_p50_us, overhead_p50_us,
overhead_p99_us, calls (for the first policy), plus ``policies`` with the same per policy,
and ``response_path``: what the caller's object costs, per response, measured side by side on
one provider body (the router's lazily built ``ChatCompletion``: construction on the call
path, the first read of ``choices``, ``model_dump()``; eager alternatives for comparison: our
models' ``model_validate``, and the ``openai`` SDK's ``model_validate`` / ``construct`` when
installed).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import time
from typing import Any

# benchmarks/telemetry.py is named like the package: keep this directory off the import path.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

from router import Deployment, MemoryProvider, Router, Tier  # noqa: E402


def _pct(xs: list[float], q: float) -> float:
    return xs[min(int(q * len(xs)), len(xs) - 1)]


def _router(policy: str, provider: MemoryProvider, telemetry: Any) -> Router:
    deps = [
        Deployment("openai/gpt-4o", provider, "gpt-4o"),
        Deployment("anthropic/claude-sonnet-4", MemoryProvider("anthropic"), "claude-sonnet-4"),
        Deployment("gemini/gemini-2.5-pro", MemoryProvider("gemini"), "gemini-2.5-pro"),
    ]
    tier = Tier("capable", [d.key for d in deps], policy=policy)
    return Router(deployments=deps, tiers=[tier], telemetry=telemetry)


async def _measure(calls: int, policies: list[str], telemetry: Any) -> dict[str, Any]:
    provider = MemoryProvider("openai")
    routers = {p: _router(p, provider, telemetry) for p in policies}
    msgs = [{"role": "user", "content": "Review this function for off-by-one errors."}]
    pc = time.perf_counter
    send = provider.send
    req = None
    # warm up: imports, caches, first plans
    for r in routers.values():
        for _ in range(2000):
            await r.acompletion("capable", msgs, task_type="code_review")
    direct: list[float] = []
    routed: dict[str, list[float]] = {p: [] for p in policies}
    gc.collect()
    for _ in range(calls):
        t = pc()
        await send(req, timeout=20.0)  # type: ignore[arg-type]
        direct.append(pc() - t)
        for p, r in routers.items():
            t = pc()
            await r.acompletion("capable", msgs, task_type="code_review")
            routed[p].append(pc() - t)
    direct.sort()
    d50, d99 = _pct(direct, 0.5) * 1e6, _pct(direct, 0.99) * 1e6
    out: dict[str, Any] = {}
    for p, xs in routed.items():
        xs.sort()
        r50, r99 = _pct(xs, 0.5) * 1e6, _pct(xs, 0.99) * 1e6
        out[p] = {
            "direct_p50_us": round(d50, 2),
            "router_p50_us": round(r50, 2),
            "router_p99_us": round(r99, 2),
            "overhead_p50_us": round(r50 - d50, 2),
            "overhead_p99_us": round(r99 - d99, 2),
            "calls": calls,
        }
    for r in routers.values():
        await r.aclose()
    return out


_BODY = {
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-4o-2024-08-06",
    "system_fingerprint": "fp_bench", "service_tier": "default",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Looks fine.", "refusal": None, "annotations": []}, "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 19, "completion_tokens": 4, "total_tokens": 23, "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
}


def _response_path(n: int) -> dict[str, float]:
    """p50 in µs per response of each way to hand the caller an object, interleaved in one loop."""
    from router.facts import RoutingFacts
    from router.types.chat import ChatCompletion

    ways: dict[str, Any] = {
        "lazy_construct": lambda: ChatCompletion.routed(_BODY, RoutingFacts()),
        "lazy_construct_and_first_read": lambda: ChatCompletion.routed(_BODY, RoutingFacts()).choices,
        "ours_model_validate": lambda: ChatCompletion.model_validate(_BODY),
    }
    dumped = ChatCompletion.lazy(_BODY)
    dumped.choices  # noqa: B018 - built once, then dumped
    ways["model_dump"] = dumped.model_dump
    try:
        from openai.types.chat import ChatCompletion as SDKChatCompletion
    except ImportError:
        pass
    else:
        ways["sdk_model_validate"] = lambda: SDKChatCompletion.model_validate(_BODY)
        ways["sdk_construct"] = lambda: SDKChatCompletion.construct(**_BODY)
    for f in ways.values():
        f()
    times: dict[str, list[float]] = {k: [] for k in ways}
    pc = time.perf_counter
    gc.collect()
    for _ in range(n):
        for k, f in ways.items():
            t = pc()
            f()
            times[k].append(pc() - t)
    return {k: round(_pct(sorted(v), 0.5) * 1e6, 2) for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--policy", action="append", help="policy to measure (repeatable); default: static and adaptive")
    ap.add_argument("--no-telemetry", action="store_true", help="measure without a telemetry backend")
    ap.add_argument("--responses", type=int, default=5000, help="responses per way in the response-path comparison (0: skip)")
    args = ap.parse_args(argv)
    from policies import policy_names

    policies = args.policy or [p for p in ("static", "adaptive") if p in policy_names()]
    with tempfile.TemporaryDirectory() as tmp:
        telemetry = None
        if not args.no_telemetry:
            from telemetry import TelemetryBackend

            telemetry = TelemetryBackend(f"sqlite:///{os.path.join(tmp, 'overhead.db')}")
        try:
            res = asyncio.run(_measure(args.calls, policies, telemetry))
        finally:
            if telemetry is not None:
                telemetry.close()
    for p, row in res.items():
        print(f"{p:>10}: router p50 {row['router_p50_us']:.1f} us, overhead p50 {row['overhead_p50_us']:.1f} us, "
              f"p99 {row['overhead_p99_us']:.1f} us over {row['calls']} calls", file=sys.stderr)
    first = res[policies[0]]
    summary = {**first, "policy": policies[0], "telemetry": not args.no_telemetry, "policies": res}
    if "static" in res and len(res) > 1:
        summary["policy_cost_p50_us"] = {
            p: round(row["router_p50_us"] - res["static"]["router_p50_us"], 2) for p, row in res.items() if p != "static"
        }
    if args.responses:
        summary["response_path"] = path = _response_path(args.responses)
        print("  response path p50 (us): " + ", ".join(f"{k} {v:.1f}" for k, v in path.items()), file=sys.stderr)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
