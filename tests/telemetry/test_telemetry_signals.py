"""Issue 12 finding 7: SIGTERM loses nothing with the opt-in handler and in ``attune`` commands;
without them it loses the queue, as kill -9 does (measured in benchmarks/telemetry_loss.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from telemetry_testkit import make_call

from telemetry import TelemetryBackend, TelemetryStore, install_signal_handlers

N = 20_000
HERE = os.path.dirname(os.path.abspath(__file__))
# submit N records, say so, then idle without closing: the queue is still full when SIGTERM lands
CHILD = r"""
import sys, time
sys.path.insert(0, {here!r})
from dataclasses import replace
from telemetry_testkit import make_call
from telemetry import TelemetryBackend
def work():
    b = TelemetryBackend({url!r}, spool_path=False{extra})
    proto = make_call(0)
    for i in range({n}):
        b.submit(replace(proto, call_id=f"s{{i}}"))
    print("submitted", flush=True)
    i = {n}
    while {busy}:  # keep submitting: the signal lands in the middle of submit() and its locks
        for _ in range(20):
            b.submit(replace(proto, call_id=f"s{{i}}"))
            i += 1
        time.sleep(0.0005)
    time.sleep(60)
"""


def _run(tmp_path: Path, extra: str, main: str, busy: bool = False) -> tuple[int, int]:
    url = f"sqlite:///{tmp_path}/s.db"
    TelemetryStore.open(url).close()
    code = CHILD.format(here=HERE, url=url, n=N, extra=extra, busy=busy) + main
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "submitted"
    child.send_signal(signal.SIGTERM)
    child.wait(timeout=110)
    with TelemetryStore.open(url) as store:
        return child.returncode, store.count()


def test_sigterm_without_a_handler_loses_the_queue(tmp_path: Path) -> None:
    code, rows = _run(tmp_path, "", "work()")
    assert code == -signal.SIGTERM and rows < N  # the behaviour the handler exists for


def test_flush_on_signals_writes_everything_then_ends_as_sigterm(tmp_path: Path) -> None:
    code, rows = _run(tmp_path, ", flush_on_signals=True, close_timeout=90", "work()")
    assert (code, rows) == (-signal.SIGTERM, N)


def test_flush_on_signals_while_the_main_thread_is_submitting(tmp_path: Path) -> None:
    """The signal interrupts submit() (inside the writer's wake-up lock): flushing from inside
    the handler deadlocked; the handler hands the flush to a thread."""
    code, rows = _run(tmp_path, ", flush_on_signals=True, close_timeout=90", "work()", busy=True)
    assert code == -signal.SIGTERM and rows >= N


def test_attune_commands_drain_on_sigterm(tmp_path: Path) -> None:
    main = (
        "\nimport router.cli, types\n"
        "mod = types.ModuleType('drain_cmd'); mod.configure = lambda p: None; mod.run = lambda a: work() or 0\n"
        "sys.modules['drain_cmd'] = mod\n"
        "router.cli.COMMANDS['drain-test'] = ('drain_cmd', 'test')\n"
        "sys.exit(router.cli.main(['drain-test']))\n"
    )
    code, rows = _run(tmp_path, "", main)
    assert (code, rows) == (128 + signal.SIGTERM, N)


def test_handler_chains_to_the_previous_one_and_uninstalls(tmp_path: Path) -> None:
    seen: list[int] = []
    before = signal.signal(signal.SIGUSR1, lambda s, f: seen.append(s))
    try:
        b = TelemetryBackend(f"sqlite:///{tmp_path}/c.db", spool_path=False)
        uninstall = install_signal_handlers(b, signals=(signal.SIGUSR1,))
        for i in range(50):
            b.submit(make_call(i))
        os.kill(os.getpid(), signal.SIGUSR1)
        deadline = time.monotonic() + 20
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)  # the flush runs on a thread; the chained handler runs after it
        assert seen == [signal.SIGUSR1] and b.stats.written == 50
        uninstall()
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.05)
        assert seen == [signal.SIGUSR1] * 2  # the previous handler is back, ours is gone
        b.close()
    finally:
        signal.signal(signal.SIGUSR1, before)


def test_handler_is_never_installed_by_default(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    b = TelemetryBackend(f"sqlite:///{tmp_path}/d.db", spool_path=False)
    b.submit(make_call(1))
    b.close()
    assert signal.getsignal(signal.SIGTERM) is before


def test_install_needs_backends() -> None:
    with pytest.raises(TypeError, match="at least one backend"):
        install_signal_handlers()
    with pytest.raises(TypeError, match="expected telemetry backends"):
        install_signal_handlers(object())  # type: ignore[arg-type]
