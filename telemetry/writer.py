"""The background writer thread: drains the submit queue into the store in batches.

It never loses a record silently. While the database is down, locked or slow it retries with
jittered exponential backoff and keeps records in memory up to ``max_buffer``; beyond that it
spills the oldest to the spool file, which it replays first once the database answers. A
record is dropped only when the spool cannot take it (full or unwritable), when a row is
rejected by the database as invalid, or when a spool line is unreadable: each is counted in
``stats.dropped`` and announced by a ``TelemetryDropWarning`` and a log line.
"""

from __future__ import annotations

import bisect
import logging
import random
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from typing import Any

from ._dbapi import is_data_error, is_unavailable_error
from ._queued import call_id_of
from ._rows import encode_line
from ._stats import Marker, TelemetryStats, queued_records
from ._validate import clean_record
from .errors import SchemaVersionError, TelemetryDropWarning
from .records import LLMCallRecord
from .spool import Spool
from .store import TelemetryStore

__all__ = ["Marker", "TelemetryStats", "Writer", "queued_records"]  # the first, second and last from _stats

log = logging.getLogger("attune.telemetry")

CATCH_UP = 4  # batch multiplier when the backlog is at least that many batches (and for spool replay)


class Writer:
    """Drains ``queue`` (records and ``Marker`` objects) into ``store`` on its own thread."""

    def __init__(
        self,
        store: TelemetryStore,
        queue: deque[Any],
        spool: Callable[[], Spool] | None,
        *,
        batch_size: int,
        flush_interval: float,
        max_buffer: int,
        backoff: tuple[float, float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.queue = queue
        self._spool_factory = spool  # opened on the writer thread: no file I/O on the caller's path
        self.spool: Spool | None = None
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self.backoff = backoff
        self.clock = clock
        self.pending: deque[LLMCallRecord | bytes] = deque()  # as queued (``_queued``)
        self.writing = 0  # records taken off ``pending`` for the write in progress
        self.markers: list[Marker] = []
        self.taken = 0  # records of this process taken off the queue
        self.done = 0  # of those: written, duplicate or dropped (FIFO, so a prefix)
        self.inherited = 0  # records an earlier process left in the spool, set when it is opened
        self.written = self.duplicates = self.dropped = self.spilled = 0
        self.recovered = self.recovered_dropped = 0  # an ended process's spooled records
        self.batches = self.write_failures = 0
        self.last_error: str | None = None
        self.fatal: BaseException | None = None
        self._failures = 0
        self._unavailable = False  # the last failure was the database's state, not our error
        self._retry_at = 0.0
        self._last_warn = -1e9
        self._corrupt_seen = 0
        self._wake = threading.Event()
        self._early: list[tuple[int, int]] = []  # settled ranges beyond the prefix
        self._segments: deque[list[int]] = deque()  # [first seq, count] of our records in the spool
        self._stop_deadline: float | None = None
        self._partial = True  # a batch short of ``batch_size`` is written too (see ``_run``)
        self.thread = threading.Thread(target=self._run, name="attune-telemetry-writer", daemon=True)

    # -- control (any thread) ---------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float) -> None:
        """Write what can be written within ``timeout`` s, spool the rest, stop the thread."""
        self._stop_deadline = self.clock() + timeout
        self._wake.set()
        self.thread.join()

    def release_spool(self) -> None:
        """After ``stop``/``finish_late``: give up this process's claim on its spool file."""
        if self.spool is not None and not self.thread.is_alive():
            self.spool.close()

    def finish_late(self) -> None:
        """After the thread ended: spool records submitted while it was stopping."""
        if self.thread.is_alive() or not self.queue:
            return
        self._take()
        self._spill(0)
        self._settle()
        self._fail_markers()

    def stats(self) -> TelemetryStats:
        queued = queued_records(self.queue)
        return TelemetryStats(
            submitted=self.taken + queued,
            written=self.written,
            duplicates=self.duplicates,
            dropped=self.dropped,
            pending=len(self.pending) + self.writing + queued,
            spooled=max(0, len(self.spool) - self.inherited) if self.spool is not None else 0,
            spilled=self.spilled,
            batches=self.batches,
            write_failures=self.write_failures,
            db_available=self._failures == 0 and self.fatal is None,
            last_error=self.last_error,
            recovered=self.recovered,
            recovered_dropped=self.recovered_dropped,
        )

    # -- the thread ---------------------------------------------------------------------------

    def _open_spool(self) -> None:
        if self._spool_factory is None:
            return
        try:
            self.spool = self._spool_factory()
        except OSError as exc:
            log.error("telemetry: cannot open the spool file (%s); records that cannot be written will be dropped", exc)
            return
        self.inherited = len(self.spool)
        if self.inherited:
            log.warning("telemetry: %d record(s) left in spool file %s will be written first", self.inherited, self.spool.path)

    def _run(self) -> None:
        self._open_spool()
        while True:
            now = self.clock()
            timeout = self.flush_interval
            if self._failures:
                timeout = min(timeout, max(0.0, self._retry_at - now))
            woke = self._wake.wait(timeout)
            self._wake.clear()
            stopping = self._stop_deadline is not None
            try:
                self._take()
                # woken by a full queue, records keep coming: write full batches, leave the rest
                # for the next one; after ``flush_interval``, when stopping or retrying: everything
                self._partial = not woke or stopping or self._failures > 0
                if self.fatal is None and self.clock() >= self._retry_at:
                    self._drain()
                self._spill(self.max_buffer)
                self._settle()
            except Exception as exc:  # noqa: BLE001 - the writer must outlive its own bugs
                log.exception("telemetry: unexpected writer error; retrying with backoff")
                self._failed(exc)
            if self.fatal is not None:
                self._fail_markers()
            if stopping:
                self._take()
                idle = not self.pending and not self.queue and (self.spool is None or not len(self.spool))
                if idle or self.fatal is not None or self.clock() >= (self._stop_deadline or 0.0):
                    break
        self._take()
        if self.pending:
            n = len(self.pending)
            self._spill(0)
            if self.spool is not None and n:
                log.warning(
                    "telemetry: %s at close; %d record(s) kept in spool file %s, "
                    "written when a backend opens this store again",
                    self._why_unwritten(),
                    n,
                    self.spool.path,
                )
        self._settle()
        self._fail_markers()

    def _why_unwritten(self) -> str:
        """Why records are still unwritten, as the last failure says (for the close message)."""
        if self.fatal is not None:
            return f"the store cannot be written ({self.fatal})"
        if not self._failures:
            return "close_timeout reached while the writer was still writing"
        if self._unavailable:
            return f"database unavailable (last error: {self.last_error})"
        return f"writes failing (last error: {self.last_error})"

    def _fail_markers(self) -> None:
        """Release every waiting flush with ``ok = False`` (the writer cannot satisfy them)."""
        for m in self.markers:
            m.ok = False
            m.event.set()
        self.markers.clear()

    def _take(self) -> None:
        popleft, append = self.queue.popleft, self.pending.append
        taken = self.taken
        try:
            while True:
                item = popleft()
                if type(item) is Marker:
                    item.target = taken
                    self.markers.append(item)
                else:
                    append(item)
                    taken += 1
        except IndexError:  # the queue is empty
            pass
        finally:
            self.taken = taken

    def _settle(self) -> None:
        if self.markers:
            keep = []
            for m in self.markers:
                if self.done >= m.target and not self.inherited:
                    m.event.set()
                else:
                    keep.append(m)
            self.markers = keep

    def _settle_range(self, first: int, n: int) -> None:
        """Mark records ``first .. first+n-1`` settled; ``done`` is the settled prefix."""
        if n <= 0:
            return
        if first > self.done:
            bisect.insort(self._early, (first, n))
            return
        self.done = max(self.done, first + n)
        early = self._early
        while early and early[0][0] <= self.done:
            a, k = early.pop(0)
            self.done = max(self.done, a + k)

    def _settle_spooled(self, n: int) -> None:
        """Settle ``n`` records replayed from the spool, oldest first (an earlier process's first)."""
        k = min(n, self.inherited)
        self.inherited -= k
        n -= k
        segs = self._segments
        while n and segs:
            seg = segs[0]
            take = min(n, seg[1])
            self._settle_range(seg[0], take)
            seg[0] += take
            seg[1] -= take
            n -= take
            if not seg[1]:
                segs.popleft()

    def _drain(self) -> None:
        """Write spool then pending in batches until both are empty or a write fails."""
        spool = self.spool
        while True:
            if spool is not None and len(spool):
                inherited = self.inherited
                batch, ends = spool.read_with_offsets(min(self.batch_size * CATCH_UP, inherited or len(spool)))
                self._note_corrupt()
                before = (self.written, self.duplicates, self.dropped)
                done = self._write(batch)
                if inherited:  # an ended process's records: counted apart from this process's
                    written, duplicates, dropped = before
                    self.recovered += self.written - written + self.duplicates - duplicates
                    self.recovered_dropped += self.dropped - dropped
                    self.written, self.duplicates, self.dropped = before
                if done:
                    spool.consume(ends[done - 1], done)
                    self._settle_spooled(done)
                if done < len(batch):
                    return
            elif self.pending and (len(self.pending) >= self.batch_size or self._partial or self.markers):
                size = self.batch_size
                if len(self.pending) >= size * CATCH_UP:  # behind: bigger transactions catch up
                    size *= CATCH_UP
                n = min(size, len(self.pending))
                first = self.taken - len(self.pending)
                popleft = self.pending.popleft
                batch = [popleft() for _ in range(n)]
                self.writing = n  # still pending for stats() while the write is under way
                done = self._write(batch)
                if done < n:
                    self.pending.extendleft(reversed(batch[done:]))
                self.writing = 0
                self._settle_range(first, done)
                if done < n:
                    return
            else:
                return
            self._settle()
            self._take()
            self._spill(self.max_buffer)

    def _write(self, batch: list[LLMCallRecord | bytes]) -> int:
        """Write one batch; returns how many of its records (a prefix) are settled: written,
        duplicate or dropped. Fewer than all (and a backoff) when the database failed."""
        if not batch:
            return 0
        progress = [0]
        try:
            self._write_or_split(batch, progress)
        except SchemaVersionError as exc:
            self.fatal = exc
            self.last_error = str(exc)
            log.error("telemetry: %s; records are kept in the spool file", exc)
            return progress[0]
        except Exception as exc:  # noqa: BLE001 - any database failure is retried
            self._failed(exc)
            return progress[0]
        if self._failures:
            log.warning("telemetry: database available again after %d failed write(s)", self._failures)
            self._failures = 0
            self._retry_at = 0.0
        return len(batch)

    def _write_or_split(self, batch: list[LLMCallRecord | bytes], progress: list[int]) -> None:
        """Write ``batch``; on a data error split it in halves until the record at fault is
        alone, and drop that one. ``progress[0]`` counts the records settled so far, in order,
        so a database failure part way through retries only the rest."""
        try:
            res = self.store.write_batch(batch)
        except Exception as exc:
            if not is_data_error(exc):
                raise
            if len(batch) == 1:
                why = self.store.redact((str(exc).strip().splitlines() or [""])[0][:200])
                self._drop(1, f"call {call_id_of(batch[0])!r} could not be stored ({type(exc).__name__}: {why})")
                progress[0] += 1
                return
            mid = len(batch) // 2
            self._write_or_split(batch[:mid], progress)
            self._write_or_split(batch[mid:], progress)
            return
        self.written += res.written
        self.duplicates += res.duplicates
        self.batches += 1
        progress[0] += len(batch)
        if res.duplicates:
            log.info("telemetry: %d record(s) with an already stored call_id skipped", res.duplicates)
        if res.rejected:
            shown = "; ".join(f"call {cid!r}: {why}" for cid, why in res.rejected[:5])
            more = f" (and {len(res.rejected) - 5} more)" if len(res.rejected) > 5 else ""
            self._drop(len(res.rejected), f"invalid record(s) refused: {shown}{more}")

    def _failed(self, exc: BaseException) -> None:
        self._unavailable = is_unavailable_error(exc)
        self._failures += 1
        self.write_failures += 1
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        self.last_error = f"{type(exc).__name__}: {self.store.redact(first_line)}"
        base, cap = self.backoff
        delay = min(cap, base * 2 ** min(self._failures - 1, 30)) * (0.5 + random.random() / 2)
        self._retry_at = self.clock() + delay
        now = self.clock()
        if now - self._last_warn >= 10.0:
            self._last_warn = now
            log.warning(
                "telemetry: write failed (%s); retrying with backoff, %d record(s) held",
                self.last_error,
                len(self.pending) + (len(self.spool) if self.spool is not None else 0),
            )

    def _spill(self, keep: int) -> None:
        """Move the oldest pending records to the spool until at most ``keep`` remain
        (down to half of ``max_buffer`` once over it, so spills come in chunks)."""
        pending = self.pending
        if len(pending) <= keep:
            return
        target = keep // 2 if keep else 0
        n = len(pending) - target
        first = self.taken - len(pending)
        batch = [pending.popleft() for _ in range(n)]
        if self.spool is None:
            why = "the spool file could not be opened" if self._spool_factory else "no spool file is configured"
            self._drop(n, why)
            self._settle_range(first, n)
            return
        encoded: list[tuple[int, bytes]] = []
        for j, r in enumerate(batch):
            try:
                encoded.append((first + j, r if type(r) is bytes else encode_line(clean_record(r))))  # a queued line is one
            except Exception as exc:  # noqa: BLE001 - a malformed record must not stop the writer
                self._drop(1, f"call {call_id_of(r)!r} cannot be spooled ({type(exc).__name__}: {exc})")
                self._settle_range(first + j, 1)
        stored = 0
        try:
            stored = self.spool.append_lines([line for _, line in encoded])
            reason = f"spool file {self.spool.path} is full ({self.spool.max_bytes} bytes)"
        except OSError as exc:
            reason = f"spool file {self.spool.path} cannot be written ({type(exc).__name__}: {exc.strerror})"
        self.spilled += stored
        segs = self._segments
        for seq, _ in encoded[:stored]:
            if segs and segs[-1][0] + segs[-1][1] == seq:
                segs[-1][1] += 1
            else:
                segs.append([seq, 1])
        if stored < len(encoded):
            self._drop(len(encoded) - stored, reason)
            for seq, _ in encoded[stored:]:
                self._settle_range(seq, 1)

    def _drop(self, n: int, reason: str) -> None:
        """Count and announce ``n`` dropped records (settling them is the caller's job)."""
        self.dropped += n
        self.last_error = f"dropped {n} record(s): {reason}"[:500]
        msg = f"telemetry dropped {n} record(s): {reason} (total dropped: {self.dropped})"
        log.error(msg)
        warnings.warn(msg, TelemetryDropWarning, stacklevel=2)

    def _note_corrupt(self) -> None:
        if self.spool is not None and self.spool.corrupt > self._corrupt_seen:
            n = self.spool.corrupt - self._corrupt_seen
            self._corrupt_seen = self.spool.corrupt
            self._drop(n, f"unreadable line(s) in spool file {self.spool.path}")
            theirs = min(n, self.inherited)  # lines an ended process left (a crash cuts them short)
            self.dropped -= theirs
            self.recovered_dropped += theirs
            self._settle_spooled(n)
