"""The ``attune`` command: a thin dispatcher that imports a subcommand's module only when
that subcommand runs (``import router`` stays light)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "main"]

# name -> (module defining configure(parser) and run(args) -> int, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "bench": ("router.sim.cli_bench", "run routing policies through the simulator and compare them"),
    "scenario": ("router.sim.cli_scenario", "work with scenario files (from-telemetry)"),
    "explain": ("router.cli_explain", "show the current order per tier and the numbers behind it, from a telemetry store"),
    "report": ("router.report.cli", "what happened per deployment, provider, model, task type or tier, and the anomalies, from a telemetry store"),
    "fake-provider": ("router.testing.fake_cli", "serve fake OpenAI, Anthropic and Gemini APIs with injectable faults"),
    "serve": ("router.gateway.cli_serve", "run the OpenAI-compatible gateway (attune serve --config attune.yaml)"),
    "keys": ("router.gateway.cli_keys", "create, list and revoke the gateway's API keys"),
}


def _top_parser() -> argparse.ArgumentParser:
    epilog = "commands:\n" + "\n".join(f"  {name:<14} {help_}" for name, (_, help_) in COMMANDS.items())
    p = argparse.ArgumentParser(
        prog="attune",
        description="attune-router: adaptive LLM provider routing.",
        epilog=epilog + "\n\nrun 'attune COMMAND --help' for a command's options",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("command", nargs="?", help="one of: " + ", ".join(COMMANDS))
    return p


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``attune`` console script; returns the exit status.

    While a command runs, SIGTERM unwinds like Ctrl-C does (``finally``, ``async with``,
    ``atexit``), so every telemetry backend it opened is flushed before the process ends
    (status 143); the previous handler is put back afterwards.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        return _main(argv)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _main(argv: Sequence[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        top = _top_parser()
        if not args or args[0] in ("-h", "--help"):
            top.print_help()
            return 0 if args else 2
        top.error(f"unknown command {args[0]!r}; choose from {', '.join(COMMANDS)}")
    name = args[0]
    module = importlib.import_module(COMMANDS[name][0])
    if not hasattr(module, "configure"):  # a command with its own argument parser
        return int(module.main(args[1:]))
    parser = argparse.ArgumentParser(prog=f"attune {name}", description=COMMANDS[name][1])
    module.configure(parser)
    ns = parser.parse_args(args[1:])
    return int(module.run(ns))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
