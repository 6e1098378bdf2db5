"""``attune report --db URL``: a table per group, the fallback-heavy task types, breaker trips
and anomalies; ``--json`` prints the contract's object as the last line; ``--plot DIR`` and
``--html FILE`` draw it."""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import datetime, timezone
from typing import Any

__all__ = ["configure", "render", "run"]


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", default=None, help="telemetry store (default: ATTUNE_TELEMETRY_URL or sqlite:///attune-telemetry.db)")
    p.add_argument("--table-prefix", default="attune_", metavar="PREFIX", help="table prefix of the store (default attune_)")
    p.add_argument("--since", metavar="DURATION|ISO", default=None, help="how far back from the newest record (90s, 15m, 2h, 7d, 1h30m) or an ISO date/time; default: everything")
    p.add_argument("--by", default="deployment", metavar="GROUP", help="deployment (default), provider, model, task_type or tier")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object on the last line")
    p.add_argument("--plot", metavar="DIR", default=None, help="write PNG plots into DIR (needs matplotlib: the 'bench' extra)")
    p.add_argument("--html", metavar="FILE", default=None, help="write one self-contained HTML page with the table and the plots")


def _fmt(v: Any, kind: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if kind == "pct":
        return f"{v * 100:.1f}%"
    if kind == "ms":
        return f"{v:,.0f}"
    if kind == "usd":
        return f"{v:,.4f}"
    if kind == "x":
        return f"{v:.2f}"
    return f"{v:,}"


COLUMNS = (
    ("calls", "calls", "n"),
    ("success", "success_rate", "pct"),
    ("attempts", "attempts", "n"),
    ("attempt ok", "attempt_success_rate", "pct"),
    ("fallback", "fallback_rate", "pct"),
    ("retries/call", "mean_retries", "x"),
    ("p50 ms", "p50_ms", "ms"),
    ("p95 ms", "p95_ms", "ms"),
    ("p99 ms", "p99_ms", "ms"),
    ("TTFT p50 ms", "ttft_p50_ms", "ms"),
    ("cost $", "cost", "usd"),
    ("$/success", "cost_per_success", "usd"),
    ("unpriced", "unknown_price_calls", "n"),
)


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def render(report: Any, console: Any) -> None:
    """Print the report's tables on a rich console."""
    from rich.table import Table

    if report.start is None:
        console.print("the store holds no calls yet")
        return
    start = "the first record" if report.start == 0 else _when(report.start)
    t = Table(title=f"by {report.by}, {start} to {_when(report.end)} UTC", title_justify="left")
    t.add_column(report.by)
    for head, _, _ in COLUMNS:
        t.add_column(head, justify="right")
    for name, g in sorted(report.groups.items()):
        t.add_row(name or "(none)", *(_fmt(g[key], kind) for _, key, kind in COLUMNS))
    console.print(t)
    if report.fallback_heavy_tasks:
        console.print("task types needing a fallback on more than 10 % of calls: " + ", ".join(
            f"{k} {v:.1%}" for k, v in sorted(report.fallback_heavy_tasks.items(), key=lambda kv: -kv[1])))
    trips = {k: v for k, v in report.breaker_trips.items() if v}
    console.print("breaker trips: " + (", ".join(f"{k} {v}" for k, v in sorted(trips.items())) if trips else "none"))
    if not report.anomalies:
        console.print("anomalies: none")
        return
    a = Table(title="anomalies", title_justify="left")
    for head in ("deployment", "kind", "start (UTC)", "end (UTC)", "minutes", "size"):
        a.add_column(head)
    for x in report.anomalies:
        size = f"x{x['size']:.2f}" if x["kind"] == "latency" else (f"{x['size']:+.2f}" if x["kind"] == "retries" else f"{x['size']:+.1%}")
        a.add_row(x["deployment"], x["kind"], _when(x["start"]), _when(x["end"]), f"{(x['end'] - x['start']) / 60:.1f}", size)
    console.print(a)


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def _missing_sqlite_file(url: str | None) -> str | None:
    """The path of a SQLite store that does not exist (opening it would create an empty one)."""
    import os

    from telemetry._url import resolve_url

    try:
        resolved = resolve_url(url)
    except ValueError:
        return None  # the store reports the bad URL itself
    if not resolved.startswith("sqlite:///") or resolved == "sqlite:///:memory:":
        return None
    path = resolved[len("sqlite:///"):]
    return None if os.path.exists(path) else path


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from router.report import build_report
    from router.report.figures import BY
    from telemetry import TelemetryError, TelemetryStore

    if args.by not in BY:
        print(f"attune report: --by {args.by!r} is not one of {', '.join(BY)}", file=sys.stderr)
        return 2
    if args.since is not None:
        from router.report import parse_since

        try:
            parse_since(args.since)
        except ValueError as exc:
            print(f"attune report: {exc}", file=sys.stderr)
            return 2
    missing = _missing_sqlite_file(args.db)
    if missing:
        print(f"attune report: --db: no telemetry store at {missing}", file=sys.stderr)
        return 2
    try:
        store = TelemetryStore.open(args.db, table_prefix=args.table_prefix)
    except (TelemetryError, ValueError) as exc:
        print(f"attune report: --db: {exc}", file=sys.stderr)
        return 2
    try:
        report = build_report(store, since=args.since, by=args.by)
    finally:
        store.close()
    console = Console(file=sys.stderr if args.json else sys.stdout, width=200)
    render(report, console)
    if args.plot or args.html:
        from router.report.plots import write_html, write_plots

        try:
            if args.plot:
                for path in write_plots(report, args.plot):
                    console.print(f"wrote {path}")
            if args.html:
                write_html(report, args.html)
                console.print(f"wrote {args.html}")
        except (ImportError, ValueError, OSError) as exc:
            print(f"attune report: {'--plot' if args.plot else '--html'}: {exc}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(_clean(report.to_json()), allow_nan=False))
    return 0
