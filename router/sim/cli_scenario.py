"""``attune scenario``: work with scenario files.

``attune scenario from-telemetry --db URL --out FILE.yaml`` writes a scenario replaying a
recorded telemetry store (see ``router.sim.replay``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

__all__ = ["configure", "run"]


def _time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not epoch seconds or an ISO 8601 time: {text!r}") from None


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    ft = sub.add_parser("from-telemetry", help="build a scenario from a recorded telemetry store")
    ft.add_argument("--db", required=True, metavar="URL", help="telemetry store URL (sqlite:///file.db or postgresql://...)")
    ft.add_argument("--out", required=True, metavar="FILE.yaml", help="scenario file to write")
    ft.add_argument("--name", help="scenario name (default: the output file's stem)")
    ft.add_argument("--window-s", type=float, default=300.0, help="time window per phase, whole minutes (default 300)")
    ft.add_argument("--since", type=_time, help="first call time (epoch seconds or ISO 8601)")
    ft.add_argument("--until", type=_time, help="end of the range (exclusive)")
    ft.add_argument("--table-prefix", default="attune_", help="table prefix of the store (default attune_)")


def run(args: argparse.Namespace) -> int:
    import yaml

    from router.sim.replay import scenario_from_telemetry

    out = Path(args.out)
    try:
        data = scenario_from_telemetry(
            args.db, name=args.name or out.stem, window_s=args.window_s, since=args.since, until=args.until, table_prefix=args.table_prefix
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120), encoding="utf-8")
    n_phases = sum(len(p.get("phases", [])) for p in data["providers"].values())
    print(f"wrote {out}: {len(data['chain'])} deployments, {n_phases} phases over {data['duration_s']:.0f} s")
    return 0
