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
    if args.json:
        print(json.dumps(rows, default=str))
    else:
        print_explain(rows)
    return 0
