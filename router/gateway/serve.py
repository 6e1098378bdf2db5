"""Running the gateway: one worker on an event loop, or N worker processes on one port.

A worker builds its router from the config, serves until SIGTERM or SIGINT, then drains:
``/readyz`` answers 503, the listening socket closes, in-flight calls finish within their
deadline, key spend and telemetry are flushed, and the process exits 0. ``--workers N``
starts N such processes on one port (``SO_REUSEPORT``: the kernel spreads connections); they
share breaker openings, Retry-After windows and key limits through Redis when
``shared_state.redis_url`` is set, and what they learn through the telemetry database.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Mapping
from os import PathLike
from typing import Any

__all__ = ["LOOPS", "build_gateway", "event_loop_runner", "run_worker", "serve"]

LOOPS = ("auto", "asyncio", "uvloop")

log = logging.getLogger("attune.gateway")


def build_gateway(source: str | PathLike[str] | Mapping[str, Any], **router_overrides: Any) -> Any:
    """A ``Gateway`` (client, key access, settings) from a config file or mapping."""
    from router.client import AsyncClient
    from router.config import build_router
    from router.gateway.access import Access
    from router.gateway.app import Gateway
    from router.gateway.limits import MemoryLimiter, RedisLimiter

    spec, settings, store = open_keys(source)
    shared = spec.shared_state
    limiter = RedisLimiter(shared.redis_url, namespace=shared.namespace) if shared is not None else MemoryLimiter()
    access = Access(store, limiter, cache_s=settings.key_cache_s, flush_s=settings.spend_flush_s)
    hooks = [*router_overrides.pop("hooks", ()), access.on_record]
    router = build_router(source, hooks=hooks, **router_overrides)
    metrics = _router_metrics(router) if settings.router_metrics else None
    return Gateway(AsyncClient(router), access, settings, router_metrics=metrics)


def _router_metrics(router: Any) -> Any:
    """The router's OpenTelemetry metrics for ``/metrics`` (``gateway.router_metrics``, the ``otel`` extra)."""
    from router.errors import ConfigError

    try:
        from opentelemetry.trace import NoOpTracerProvider

        from router.otel import instrument
        from router.prometheus import PrometheusMetrics
    except ImportError as exc:
        raise ConfigError(f"gateway.router_metrics needs the 'otel' extra ({exc})", key="gateway.router_metrics") from None
    prom = PrometheusMetrics()
    instrument(router, tracer_provider=NoOpTracerProvider(), meter_provider=prom.meter_provider)  # metrics only
    return prom


def open_keys(source: str | PathLike[str] | Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """The checked config, its ``gateway`` settings and the ``KeyStore`` in its telemetry database."""
    from router.config import validate_config
    from router.config_schema import GatewaySpec
    from telemetry.keys import KeyStore

    spec, _src = validate_config(source)
    settings = spec.gateway or GatewaySpec()
    url = spec.telemetry.url if spec.telemetry is not None else None  # None: the default file
    return spec, settings, KeyStore(url, table_prefix=settings.table_prefix)


async def run_worker(
    source: str | PathLike[str] | Mapping[str, Any],
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
    on_ready: Callable[[Any, int], None] | None = None,
    stop: asyncio.Event | None = None,
    **router_overrides: Any,
) -> int:
    """Serve until ``stop`` is set (or SIGTERM/SIGINT in the main thread), then drain.

    ``on_ready(gateway, port)`` is called once the socket listens (``port=0`` picks one)."""
    from aiohttp import web

    gateway = build_gateway(source, **router_overrides)
    deadline = gateway.router.settings.deadline_s
    runner = web.AppRunner(gateway.app(), handler_cancellation=True, shutdown_timeout=deadline + 5.0, access_log=None)
    await runner.setup()
    await gateway.router.astart()  # learn the breakers other workers opened before serving
    gc.collect()  # what start-up built lives as long as the worker: out of the collector's way
    gc.freeze()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None, backlog=1024)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    except (RuntimeError, ValueError):  # not the main thread: the caller sets `stop`
        pass
    gateway.access.start()
    gateway.ready = True
    loop_name = type(loop).__module__.split(".")[0]  # uvloop or asyncio
    log.warning("attune serve: listening on http://%s:%s (pid %s, %s loop)", host, bound, os.getpid(), loop_name)
    if on_ready is not None:
        on_ready(gateway, bound)
    try:
        await stop.wait()
    finally:
        gateway.draining = True
        for sig in installed:
            loop.remove_signal_handler(sig)
        await runner.cleanup()  # stop accepting, let in-flight requests finish
        await gateway.access.aclose()
        await gateway.client.aclose()  # flushes telemetry
        log.warning("attune serve: drained and stopped (pid %s)", os.getpid())
    return 0


def event_loop_runner(loop: str) -> asyncio.Runner:
    """An ``asyncio.Runner`` on the named event loop: ``uvloop``, ``asyncio``, or ``auto``
    (uvloop when installed: the ``gateway`` extra installs it). On benchmarks/gateway.py the two
    serve within noise of each other (benchmarks/RESULTS.md, "Gateway")."""
    if loop not in LOOPS:
        raise ValueError(f"--loop must be one of {', '.join(LOOPS)}, got {loop!r}")
    if loop == "asyncio":
        return asyncio.Runner()
    try:
        import uvloop
    except ImportError:
        if loop == "uvloop":
            raise ValueError("--loop uvloop: uvloop is not installed (pip install 'attune-router[gateway]')") from None
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def _worker_main(source: str, host: str, port: int, loop: str) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    with event_loop_runner(loop) as runner:
        raise SystemExit(runner.run(run_worker(source, host, port, reuse_port=True)))


def serve(source: str, host: str, port: int, workers: int = 1, *, loop: str = "auto") -> int:
    """Run the gateway in this process (``workers == 1``) or in ``workers`` processes, each on
    the event loop ``loop`` names (see ``event_loop_runner``)."""
    runner = event_loop_runner(loop)  # a bad or missing loop fails here, before any worker starts
    if workers == 1:
        with runner:
            return runner.run(run_worker(source, host, port))
    runner.close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker_main, args=(source, host, port, loop), name=f"attune-gateway-{i}") for i in range(workers)]
    for p in procs:
        p.start()

    def forward(signum: int, _frame: Any) -> None:
        for p in procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for p in procs:
        p.join()
    return max((p.exitcode or 0) for p in procs)
