"""``attune serve --config FILE [--host H] [--port P] [--workers N]``."""

from __future__ import annotations

import argparse
import logging
import sys

__all__ = ["configure", "run"]


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="attune.yaml: deployments, tiers, telemetry, gateway")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    p.add_argument("--workers", type=int, default=1, help="worker processes sharing the port (default 1)")
    p.add_argument("--loop", default="auto", choices=("auto", "asyncio", "uvloop"),
                   help="event loop of each worker: uvloop when installed (auto, the default), or asyncio")


def run(args: argparse.Namespace) -> int:
    from router.errors import ConfigError

    if args.workers < 1:
        print(f"attune serve: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535 or (args.workers > 1 and args.port == 0):
        print(f"attune serve: --port must be 1-65535 (0 only with one worker), got {args.port}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    from router.gateway.serve import open_keys, serve
    from telemetry.keys import KeyStoreError

    try:  # the whole config checked, and the key store reachable, before any worker starts
        open_keys(args.config)[2].close()
        return serve(args.config, args.host, args.port, args.workers, loop=args.loop)
    except (ConfigError, KeyStoreError, ValueError) as exc:
        print(f"attune serve: {exc}", file=sys.stderr)
        return 2
