"""``attune bench``: simulate routing policies on scenarios and compare them.

With no arguments it runs the default suite: every packaged scenario, the policies
``static``, ``cooldown`` and every other registered one, plus the ``oracle`` and
``hindsight`` bounds, in parallel processes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any

__all__ = ["configure", "run"]


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scenario", action="append", metavar="FILE", help="scenario file or packaged name (repeatable; default: every packaged scenario)")
    p.add_argument(
        "--policy",
        action="append",
        metavar="NAME[:OPTION=VALUE,...]",
        help="policy to evaluate, with options as in attune.yaml's policy_options (adaptive:timeout_multiple=0); repeatable; "
        "default: static, cooldown and every registered policy; static, oracle and hindsight always run",
    )
    p.add_argument("--calls", type=int, metavar="N", help="calls per run (default: the scenario's own traffic, capped at --max-calls)")
    p.add_argument("--max-calls", type=int, metavar="N", default=None, help="cap on calls per run when --calls is not given (default 10000)")
    p.add_argument("--seeds", type=int, default=1, metavar="K", help="seeds per run; with K > 1 results are means with 95%% intervals")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="first seed (default 0)")
    p.add_argument("--workers", type=int, metavar="N", help="parallel processes (default: CPU count)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on the last line of stdout (the table goes to stderr)")
    p.add_argument("--plot", metavar="FILE.png", help="plot success rate and latency over time per policy, scenario phases shaded")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--telemetry",
        metavar="URL",
        default=None,
        help="store the simulated calls of one policy (first seed) here (default: ATTUNE_TELEMETRY_URL or "
        "sqlite:///attune-telemetry.db; 'none' to store nothing)",
    )
    p.add_argument("--record-policy", metavar="NAME", default=None, help="the policy whose calls are stored (default: adaptive)")


def _fmt(v: Any, kind: str, ci: list[float] | None = None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if kind == "pct":
        s = f"{v * 100:.2f}%"
        return s + (f" ±{(ci[1] - ci[0]) * 50:.2f}" if ci else "")
    if kind == "ms":
        s = f"{v:,.0f}"
        return s + (f" ±{(ci[1] - ci[0]) / 2:,.0f}" if ci else "")
    if kind == "usd":
        return f"{v * 1000:.3f}"
    if kind == "s":
        return f"{v:.1f}"
    if kind == "score":
        return "0.00" if abs(v) < 0.005 else f"{v:+.2f}"
    return f"{v:.3f}"


COLUMNS = (
    ("success", "success_rate", "pct"),
    ("p50 ms", "p50_ms", "ms"),
    ("p95 ms", "p95_ms", "ms"),
    ("p99 ms", "p99_ms", "ms"),
    ("$/1k ok", "cost_per_success", "usd"),
    ("att/call", "attempts_per_call", "x"),
    ("detect s", "detect_s", "s"),
    ("recover s", "recover_s", "s"),
    ("score ok", "score.success_rate", "score"),
    ("score $", "score.cost_per_success", "score"),
)


def _get(row: dict[str, Any], key: str) -> Any:
    head, _, tail = key.partition(".")
    v = row.get(head)
    return v.get(tail) if tail and isinstance(v, dict) else v


def render_tables(suite: Any, console: Any) -> None:
    """One rich table per scenario."""
    from rich.table import Table

    for name in suite.runs:
        summ = suite.summary(name)
        t = Table(title=f"{name}  ({next(iter(summ.values()))['calls']:,} calls/run)", title_justify="left")
        t.add_column("policy")
        for head, _, _ in COLUMNS:
            t.add_column(head, justify="right")
        for p in suite.order:
            row = summ.get(p)
            if row is None:
                continue
            ci = row.get("ci95", {})
            t.add_row(p, *[_fmt(_get(row, k), kind, ci.get(k)) for _, k, kind in COLUMNS])
        console.print(t)


def markdown_table(suite: Any, name: str) -> str:
    """The results of one scenario as a Markdown table (for RESULTS.md)."""
    summ = suite.summary(name)
    lines = ["| policy | " + " | ".join(h for h, _, _ in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for p in suite.order:
        row = summ.get(p)
        if row is not None:
            ci = row.get("ci95", {})
            lines.append(f"| {p} | " + " | ".join(_fmt(_get(row, k), kind, ci.get(k)) for _, k, kind in COLUMNS) + " |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from router.sim.library import scenario_paths
    from router.sim.runner import BOUNDS
    from router.sim.scenario import ScenarioError, load_scenario
    from router.sim.suite import DEFAULT_MAX_CALLS, default_policies, run_suite

    err = Console(stderr=True)
    out = err if args.json else Console()
    for c in (err, out):
        if not c.is_terminal:
            c.width = 150
    scenarios = args.scenario or [str(p) for p in scenario_paths()]
    names: dict[str, str] = {}
    try:
        for s in scenarios:
            name = load_scenario(s).name
            if name in names:
                err.print(f"error: {s} and {names[name]} are both named {name!r}; scenario names must differ", highlight=False)
                return 2
            names[name] = s
    except ScenarioError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        return 2
    if args.policy:
        from policies.registry import policy_from_spec

        for spec in args.policy:
            if spec in BOUNDS:
                continue
            try:
                policy_from_spec(spec)  # built once here, so a bad name or option stops the run at once
            except ValueError as exc:
                err.print(f"error: --policy {spec!r}: {exc}", highlight=False, markup=False)
                return 2
        policies = list(dict.fromkeys(["static", *args.policy, *BOUNDS]))
    else:
        policies = default_policies()
    if args.seeds < 1 or (args.calls is not None and args.calls < 1):
        err.print("error: --seeds and --calls must be >= 1")
        return 2
    seeds = range(args.seed, args.seed + args.seeds)
    max_calls = args.max_calls if args.max_calls is not None else DEFAULT_MAX_CALLS

    progress = None
    task_id = None
    if not args.no_progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True)
        progress.start()
        task_id = progress.add_task("simulating", total=None)

    def on_result(r: Any, done: int, total: int) -> None:
        if progress is not None:
            progress.update(task_id, completed=done, total=total, description=f"{r.scenario} / {r.policy}")

    record = None
    url = args.telemetry if args.telemetry is not None else os.environ.get("ATTUNE_TELEMETRY_URL", "sqlite:///attune-telemetry.db")
    if url.lower() != "none":
        rec_policy = args.record_policy or ("adaptive" if "adaptive" in policies else policies[0])
        if rec_policy not in policies or rec_policy in BOUNDS:
            err.print(f"error: --record-policy {rec_policy!r} is not one of the routed policies of this run: {', '.join(p for p in policies if p not in BOUNDS)}", highlight=False)
            return 2
        record = (rec_policy, url)
    try:
        suite = run_suite(
            scenarios, policies, seeds=seeds, calls=args.calls, max_calls=max_calls, workers=args.workers, on_result=on_result, record=record
        )
    finally:
        if progress is not None:
            progress.stop()
    render_tables(suite, out)
    total_calls = sum(r.calls for by_p in suite.runs.values() for runs in by_p.values() for r in runs if r.policy != "hindsight")
    out.print(f"{len(suite.runs)} scenario(s), {len(policies)} policies, {args.seeds} seed(s): {total_calls:,} simulated calls in {suite.suite_s:.1f} s on {suite.workers} process(es)", highlight=False)
    if record is not None:
        from telemetry._url import redact_url

        out.print(f"calls of {record[0]!r} (seed {args.seed}) stored in {redact_url(record[1])}", highlight=False)
    if args.plot:
        from router.sim.plot import plot_suite

        plot_suite(suite, args.plot)
        out.print(f"plot written to {args.plot}", highlight=False)
    if args.json:
        sys.stdout.write(json.dumps(suite.to_json(), allow_nan=False, default=_nan_none) + "\n")
    return 0


def _nan_none(o: Any) -> Any:
    return None
