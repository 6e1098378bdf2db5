"""``attune explain``: what the policies decided lately, read from a telemetry store, printed
as rich tables (one per tier and task type)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

__all__ = ["configure", "print_explain", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", default=None, help="telemetry store (default: ATTUNE_TELEMETRY_URL or sqlite:///attune-telemetry.db)")
    parser.add_argument("--tier", default=None, help="only this tier")
    parser.add_argument("--window", type=float, default=900.0, metavar="SECONDS", help="how far back to look (default 900)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")


def run(args: argparse.Namespace) -> int:
    from policies.explain import explain_from_store

    if args.window <= 0:
        raise SystemExit(f"attune explain: --window must be > 0, got {args.window}")
    rows = explain_from_store(args.db, tier=args.tier, window_s=args.window)
    if not rows:
        # nothing lately (e.g. a store filled by `attune bench`, on simulated time): explain
        # the window that ends at the newest call instead
        from telemetry import TelemetryStore

        store = TelemetryStore(args.db)
        try:
            newest = store.query(limit=1, order="desc", **({"tier": args.tier} if args.tier else {}))
        finally:
            store.close()
        if newest:
            end = newest[0].timestamp.timestamp() + 1.0
            rows = explain_from_store(args.db, tier=args.tier, window_s=args.window, now=end)
            if not args.json:
                print(f"(no calls in the last {args.window:g} s; showing the {args.window:g} s before the newest call, {newest[0].timestamp.isoformat()})")
    if args.json:
        print(json.dumps(rows, default=str))
    else:
        print_explain(rows)
    return 0


def _ms(v: Any) -> str:
    return "-" if v is None else f"{v}"


def print_explain(rows: list[dict[str, Any]], file: TextIO | None = None) -> None:
    """Print ``policies.explain.explain_from_store`` rows: a heading, the order and the skips,
    then a table of the figures per deployment."""
    from rich.console import Console
    from rich.table import Table

    out = file or sys.stdout
    console = Console(file=out, width=None if out.isatty() else 200, highlight=False, emoji=False)
    if not rows:
        console.print("no calls in the window")
        return
    for r in rows:
        console.print(f"tier {r['tier']}  task {r['task_type']}  policy {r['policy']}  (last call {r['last_call_at']})", markup=False)
        console.print(f"  order:   {' > '.join(r['order']) or '-'}", markup=False)
        for s in r["skipped"]:
            console.print(f"  skipped: {s['deployment']}: {s['reason']}", markup=False)
        table = Table(box=None, padding=(0, 1), pad_edge=True, show_edge=False)
        table.add_column("deployment", no_wrap=True)
        for name in ("p(ok)", "weight", "p50 ms", "p95 ms", "fail ms", "retry/call"):
            table.add_column(name, justify="right", no_wrap=True)
        table.add_column("regime / errors")
        for d in r["deployments"]:
            errs = ", ".join(f"{k} {v:.0%}" for k, v in sorted(d["errors"].items(), key=lambda x: -x[1]))
            table.add_row(
                d["deployment"],
                f"{d['p_success']:.3f}",
                f"{d['attempts_weight']:.1f}",
                _ms(d["latency_p50_ms"]),
                _ms(d["latency_p95_ms"]),
                _ms(d["failed_attempt_ms"]),
                f"{d['retry_rate']:.2f}",
                d["regime"] + (f" / {errs}" if errs else ""),
            )
        console.print(table)
        console.print()
