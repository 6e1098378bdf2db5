"""Issue 12 finding 6: two real processes writing one SQLite file through a lock-induced spill
lose nothing, count exactly, and create their files 0600."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

from telemetry import TelemetryStore

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[3])
from telemetry_testkit import make_call
from dataclasses import replace
from telemetry import TelemetryBackend
url, tag = sys.argv[1], sys.argv[2]
b = TelemetryBackend(url, batch_size=50, flush_interval=0.01, max_buffer=200, busy_timeout=0.01,
                     retry_backoff=(0.01, 0.1), close_timeout=60)
print("ready", flush=True)
sys.stdin.readline()
for i in range(N):
    b.submit(replace(make_call(i), call_id=f"{tag}-{i}"))
    if i % 500 == 0:
        time.sleep(0.01)
b.close()
s = b.stats
print(json.dumps({k: getattr(s, k) for k in ("submitted", "written", "duplicates", "dropped", "pending",
                                             "spooled", "spilled", "recovered")}), flush=True)
"""
N = 3000


def test_two_processes_on_one_sqlite_file_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    url = f"sqlite:///{db}"
    TelemetryStore.open(url).close()  # the schema exists before the race starts
    here = os.path.dirname(os.path.abspath(__file__))
    code = CHILD.replace("range(N)", f"range({N})")
    kids = [subprocess.Popen([sys.executable, "-c", code, url, tag, here], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True) for tag in ("a", "b")]  # fmt: skip
    for k in kids:
        assert k.stdout is not None and k.stdout.readline().strip() == "ready"
    lock = sqlite3.connect(db, timeout=5)
    lock.execute("BEGIN IMMEDIATE")  # both writers back off and spill to their spool files
    for k in kids:
        assert k.stdin is not None
        k.stdin.write("go\n")
        k.stdin.flush()
    want = ["shared.db.spool", "shared.db.spool.1"]
    deadline = time.monotonic() + 30
    while (spools := sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(("spool", ".1")))) != want:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    lock.rollback()
    lock.close()
    stats = []
    for k in kids:
        out, _ = k.communicate(timeout=120)
        assert k.returncode == 0
        stats.append(json.loads(out.strip().splitlines()[-1]))
    assert spools == want, spools  # one spool file per process
    for s in stats:
        assert s["spilled"] > 0  # the race really went through the spool files
        assert (s["submitted"], s["written"], s["duplicates"], s["dropped"], s["pending"], s["spooled"]) == (N, N, 0, 0, 0, 0)
    with TelemetryStore.open(url) as store:
        assert store.count() == 2 * N
        assert sum(r.calls for r in store.load_rollups(0)) == 2 * N
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(("spool", ".1"))]  # replayed and removed
    for p in (db, *tmp_path.glob("shared.db-*"), *tmp_path.glob("*.lock")):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_spool_files_are_private_and_per_process(tmp_path: Path) -> None:
    from telemetry.spool import Spool

    base = tmp_path / "x.spool"
    a = Spool.claim(base)
    b = Spool.claim(base)  # the same process, a second backend: another file
    assert (a.path.name, b.path.name) == ("x.spool", "x.spool.1")
    assert a.append_lines([b'["line"]\n']) == 1
    assert stat.S_IMODE(a.path.stat().st_mode) == 0o600
    b.close()
    a.close()
    # a process that ended left records in x.spool: the next claim takes them over
    c = Spool.claim(base)
    assert len(c) == 1 and c.path.name == "x.spool"
    c.close()
