"""``attune fake-provider``: serve the fake provider from the command line until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import sys
import threading

from router.testing.fake_provider import FakeProviderServer
from router.testing.faults import Fault
from router.testing.routes import WILDCARD

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attune fake-provider",
        description=(
            "Serve fake LLM APIs with injectable faults: OpenAI chat completions "
            "(/v1/chat/completions), Anthropic Messages (/v1/messages) and Gemini "
            "(/v1beta/models/MODEL:generateContent). Inject faults at run time with "
            "POST /_control/faults; read counts at GET /_control/stats."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one")
    parser.add_argument("--error-rate", type=float, default=0.0, metavar="F",
                        help="fraction of chat requests answered with --error-status (0..1)")
    parser.add_argument("--error-status", type=int, default=503, metavar="CODE",
                        help="HTTP status of injected errors (default 503)")
    parser.add_argument("--latency-ms", type=float, default=0.0, metavar="MS",
                        help="added latency of every chat response")
    parser.add_argument("--chunk-gap-ms", type=float, default=0.0, metavar="MS",
                        help="pause between the events of every streamed response")
    parser.add_argument("--seed", type=int, default=None, help="seed of the error draws")
    parser.add_argument("--require-key", metavar="ENV_VAR", default=None,
                        help="require the key read from ENV_VAR ('Authorization: Bearer', "
                             "'x-api-key' or 'x-goog-api-key', per API)")
    return parser


def _default_fault(args: argparse.Namespace) -> Fault | None:
    default: Fault | None = None
    if args.error_rate > 0:
        default = Fault.error_rate(args.error_rate, [Fault.status(args.error_status)], seed=args.seed)
    if args.latency_ms > 0:
        default = (default or Fault.ok()).with_delay(args.latency_ms / 1000.0)
    if args.chunk_gap_ms > 0:
        default = (default or Fault.ok()).with_gap(args.chunk_gap_ms / 1000.0)
    return default


def main(argv: list[str] | None = None) -> int:
    """Run ``attune fake-provider``: serve until interrupted (Ctrl-C); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0.0 <= args.error_rate <= 1.0:
        parser.error("--error-rate must be between 0 and 1")
    if not 400 <= args.error_status <= 599:
        parser.error("--error-status must be a 4xx or 5xx code")
    if args.latency_ms < 0 or args.chunk_gap_ms < 0:
        parser.error("--latency-ms and --chunk-gap-ms must be >= 0")
    server = FakeProviderServer(host=args.host, port=args.port)
    if args.require_key:
        key = os.environ.get(args.require_key)
        if not key:
            parser.error(f"environment variable {args.require_key} is not set or empty")
        server.require_api_key(key)
    server.set_default(WILDCARD, _default_fault(args))
    try:
        server.start()
    except OSError as exc:
        print(f"fake provider: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"fake provider listening on {server.url}", flush=True)
    print(f"  Anthropic base_url {server.base}, Gemini base_url {server.base}", flush=True)
    stop = threading.Event()
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
