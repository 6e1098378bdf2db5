"""``attune report --db URL``: a table per group, the fallback-heavy task types, breaker trips
and anomalies; ``--json`` prints the contract's object as the last line; ``--plot DIR`` and
``--html FILE`` draw it."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from router.report.tables import ANOMALY_HEAD, COLUMNS, anomaly_rows, breaker_trips, group_rows, heavy_tasks, span

__all__ = ["configure", "render", "run"]


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", default=None, help="telemetry store (default: ATTUNE_TELEMETRY_URL or sqlite:///attune-telemetry.db)")
    p.add_argument("--table-prefix", default="attune_", metavar="PREFIX", help="table prefix of the store (default attune_)")
    p.add_argument("--since", metavar="DURATION|ISO", default=None, help="how far back from the newest record (90s, 15m, 2h, 7d, 1h30m) or an ISO date/time; default: everything")
    p.add_argument("--by", default="deployment", metavar="GROUP", help="deployment (default), provider, model, task_type or tier")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object on the last line")
    p.add_argument("--plot", metavar="DIR", default=None, help="write PNG plots into DIR (needs matplotlib: the 'bench' extra)")
    p.add_argument("--html", metavar="FILE", default=None, help="write one self-contained HTML page with the table and the plots")


def render(report: Any, console: Any) -> None:
    """Print the report's tables on a rich console."""
    from rich.table import Table

    if report.start is None:
        console.print("the store holds no calls yet")
        return
    t = Table(title=span(report), title_justify="left")
    t.add_column(report.by)
    for head, _, _ in COLUMNS:
        t.add_column(head, justify="right")
    for row in group_rows(report):
        t.add_row(*row)
    console.print(t)
    if report.fallback_heavy_tasks:
        console.print("task types needing a fallback on more than 10 % of calls: " + ", ".join(f"{k} {v:.1%}" for k, v in heavy_tasks(report)))
    trips = breaker_trips(report)
    console.print("breaker trips: " + (", ".join(f"{k} {v}" for k, v in trips) if trips else "none"))
    if not report.anomalies:
        console.print("anomalies: none")
        return
    a = Table(title="anomalies", title_justify="left")
    for head in ANOMALY_HEAD:
        a.add_column(head)
    for row in anomaly_rows(report):
        a.add_row(*row)
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
