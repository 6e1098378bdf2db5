"""``attune explain``: what the policies decided lately, read from a telemetry store."""

from __future__ import annotations

import argparse
import json

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", default=None, help="telemetry store (default: ATTUNE_TELEMETRY_URL or sqlite:///attune-telemetry.db)")
    parser.add_argument("--tier", default=None, help="only this tier")
    parser.add_argument("--window", type=float, default=900.0, metavar="SECONDS", help="how far back to look (default 900)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")


def run(args: argparse.Namespace) -> int:
    from policies.explain import explain_from_store, print_explain

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
