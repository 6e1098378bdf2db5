"""Opt-in: flush telemetry when the process is asked to stop (SIGTERM), then do what the
signal would have done.

A library must not take over a program's signals, so nothing here runs by default. Without
it, SIGTERM ends a process without running ``atexit``, and what the writer had not yet written
(up to about ``flush_interval`` seconds of records) is lost, exactly as with ``kill -9``::

    from telemetry import TelemetryBackend, install_signal_handlers

    telemetry = TelemetryBackend()
    install_signal_handlers(telemetry)        # or TelemetryBackend(..., flush_on_signals=True)

On the signal, a thread flushes each backend, again and again while records keep arriving,
for up to its ``close_timeout`` (when the database does not answer in time the backend is
closed, which puts what is left in the spool file), then the handler that was installed before is run; if that was the default action, it
is restored and the signal raised again, so the process still ends with the signal's status.
The work happens on that thread, not inside the signal handler: the handler interrupts the
main thread wherever it is (perhaps holding a lock the writer needs), and the main thread
keeps running, and submitting, while the flush goes on. A second signal while flushing is
ignored. ``attune`` commands drain on SIGTERM themselves.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any, Protocol

__all__ = ["install_signal_handlers"]

log = logging.getLogger("attune.telemetry")


class _Closable(Protocol):
    def close(self, timeout: float | None = None) -> None: ...


def _drain(b: Any, signum: int) -> None:
    """Flush ``b``; close it (spooling what is left) when the database does not answer."""
    try:
        flush = getattr(b, "flush_sync", None)
        if flush is not None and not getattr(b, "closed", False):
            deadline = time.monotonic() + float(getattr(b, "close_timeout", 10.0))
            try:
                while True:  # records keep coming while we flush: flush again until none wait
                    flush(max(0.0, deadline - time.monotonic()))
                    stats = getattr(b, "stats", None)
                    if stats is None or not stats.pending or time.monotonic() >= deadline:
                        return
            except Exception:  # noqa: BLE001 - timed out or stopped
                stats = getattr(b, "stats", None)
                if stats is not None and stats.db_available:
                    return  # the writer is just behind: end now, as the signal asks
        b.close(0)  # the database is not answering: put what is left in the spool file
    except Exception:  # noqa: BLE001 - the signal's own action must still happen
        log.exception("telemetry: flushing a backend on signal %d failed", signum)


def install_signal_handlers(
    *backends: _Closable, signals: Iterable[int] = (signal.SIGTERM,)
) -> Callable[[], None]:
    """Flush ``backends`` when one of ``signals`` arrives, then chain to the previous handler.

    Call from the main thread (Python delivers signals there). Returns a function that puts
    the previous handlers back. Backends are held weakly: a backend that was garbage-collected
    is skipped.
    """
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("install_signal_handlers must be called from the main thread (signal.signal requires it)")
    if not backends:
        raise TypeError("install_signal_handlers needs at least one backend")
    for b in backends:
        if not callable(getattr(b, "close", None)):
            raise TypeError(f"expected telemetry backends (with close()), got {type(b).__name__}")
    refs = [weakref.ref(b) for b in backends]
    previous: dict[int, Any] = {}
    phase = {"now": "idle"}  # idle -> draining (a thread flushes) -> chaining (back on the main thread)

    def drain(signum: int) -> None:
        for ref in refs:
            b = ref()
            if b is not None:
                _drain(b, signum)
        if previous.get(signum) == signal.SIG_IGN:
            phase["now"] = "idle"
            return
        phase["now"] = "chaining"
        os.kill(os.getpid(), signum)  # the handler runs again, on the main thread, and chains

    def handler(signum: int, frame: FrameType | None) -> None:
        if phase["now"] == "idle":
            phase["now"] = "draining"
            threading.Thread(target=drain, args=(signum,), name="attune-telemetry-signal").start()
        elif phase["now"] == "chaining":
            phase["now"] = "idle"
            prev = previous.get(signum)
            if callable(prev):
                prev(signum, frame)
            elif prev == signal.SIG_DFL or prev is None:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)  # end the process as the signal would have
        # while draining, a repeated signal is ignored

    for sig in signals:
        previous[sig] = signal.signal(sig, handler)

    def uninstall() -> None:
        for sig, prev in previous.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, prev if prev is not None else signal.SIG_DFL)

    return uninstall
