"""``TelemetryBackend``: the router's telemetry sink. ``submit`` only enqueues; a writer thread
batches records into the store (see ``writer``); queries run off the event loop."""

from __future__ import annotations

import asyncio
import atexit
import functools
import hashlib
import os
import threading
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._queued import queued
from ._url import redact_url, sqlite_path
from .errors import TelemetryClosedError, TelemetryError
from .records import AttemptRecord, LLMCallRecord
from .spool import Spool, spool_files
from .store import TelemetryStore, check_seconds
from .writer import Marker, TelemetryStats, Writer, queued_records

if TYPE_CHECKING:
    from .analysis import CallFrame
    from .rollups import Rollup

__all__ = ["TelemetryBackend", "default_spool_path"]


def default_spool_path(url: str, table_prefix: str) -> str:
    """``<db file>.spool`` beside a SQLite file, else a file in the cwd named after the URL."""
    path = sqlite_path(url)
    suffix = "" if table_prefix == "attune_" else f".{table_prefix}"
    if path:
        return f"{path}{suffix}.spool"
    digest = hashlib.sha256(f"{redact_url(url)}|{table_prefix}".encode()).hexdigest()[:12]
    return os.path.abspath(f"attune-telemetry-{digest}.spool")


class TelemetryBackend:
    """Durable, batched telemetry at ``url`` (SQLite file by default, or PostgreSQL).

    ``url`` None means ``$ATTUNE_TELEMETRY_URL`` or ``sqlite:///./attune-telemetry.db``.
    The writer thread starts on the first ``submit`` and writes a batch when ``batch_size``
    records are queued or every ``flush_interval`` seconds. It holds up to ``max_buffer``
    records in memory while the database is unavailable, then spools to ``spool_path`` (at
    most ``max_spool_bytes``; ``spool_path=False`` disables the spool). ``close`` waits up to
    ``close_timeout`` seconds for the database before spooling what is left. ``busy_timeout``
    (SQLite lock wait), ``connect_timeout`` and ``write_timeout`` (PostgreSQL) bound how long
    one write attempt may block the writer before it backs off. ``flush_on_signals=True``
    closes (flushes) the backend on SIGTERM before the signal's own action
    (``telemetry.install_signal_handlers``; off by default: a library leaves signals alone).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        max_buffer: int = 100_000,
        spool_path: str | os.PathLike[str] | bool | None = None,
        max_spool_bytes: int = 1 << 30,
        close_timeout: float = 10.0,
        retry_backoff: tuple[float, float] = (0.05, 2.0),
        table_prefix: str = "attune_",
        busy_timeout: float = 0.25,
        connect_timeout: float = 3.0,
        write_timeout: float = 30.0,
        flush_on_signals: bool = False,
    ) -> None:
        for name, value, least in (("batch_size", batch_size, 1), ("max_buffer", max_buffer, 1),
                                   ("max_spool_bytes", max_spool_bytes, 0)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an int >= {least}, got {value!r:.60}")
        flush_interval = check_seconds("flush_interval", flush_interval, 1e-6)
        close_timeout = check_seconds("close_timeout", close_timeout)
        if not isinstance(retry_backoff, tuple) or len(retry_backoff) != 2:
            raise ValueError(f"retry_backoff must be a (first, cap) pair of seconds, got {retry_backoff!r:.60}")
        retry_backoff = (check_seconds("retry_backoff[0]", retry_backoff[0], 1e-6),
                         check_seconds("retry_backoff[1]", retry_backoff[1], 1e-6))  # fmt: skip
        if retry_backoff[0] > retry_backoff[1]:
            raise ValueError(f"retry_backoff: the first delay {retry_backoff[0]} is above the cap {retry_backoff[1]}")
        self._store = TelemetryStore(
            url,
            table_prefix=table_prefix,
            busy_timeout=busy_timeout,
            connect_timeout=connect_timeout,
            write_timeout=write_timeout,
        )
        if spool_path is False:
            self.spool_path: str | None = None
        elif spool_path is None or spool_path is True:
            self.spool_path = default_spool_path(self._store._url, table_prefix)
        else:
            self.spool_path = os.fspath(spool_path)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self.max_spool_bytes = max_spool_bytes
        self.close_timeout = close_timeout
        self.retry_backoff = retry_backoff
        self._queue: deque[Any] = deque()
        self._writer: Writer | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        if flush_on_signals:
            from .signals import install_signal_handlers

            install_signal_handlers(self)

    def __repr__(self) -> str:
        return f"TelemetryBackend({self.url!r})"

    @property
    def url(self) -> str:
        """The store URL with any password redacted."""
        return self._store.url

    @property
    def store(self) -> TelemetryStore:
        """The synchronous store (for scripts: queries, rollups, prune)."""
        return self._store

    @property
    def closed(self) -> bool:
        return self._closed

    # -- the caller's path -------------------------------------------------------------------

    def submit(self, record: LLMCallRecord) -> None:
        """Enqueue ``record`` for writing: thread-safe, never blocks, does no I/O. A record the
        store's fast check passes waits as its spool line, which the garbage collector does not
        track (``_queued``; docs/telemetry.md)."""
        if self._closed:
            raise TelemetryClosedError("telemetry backend is closed")
        if not isinstance(record, LLMCallRecord):
            raise TypeError(f"expected an LLMCallRecord, got {type(record).__name__}")
        q = self._queue
        q.append(queued(record))  # its spool line when it passes the store's fast check
        w = self._writer
        if w is None:
            w = self._start()
        if len(q) >= self.batch_size:
            w.wake()

    async def record(self, record: LLMCallRecord) -> None:
        """``submit`` for async callers (it only enqueues)."""
        self.submit(record)

    def _start(self) -> Writer:
        with self._start_lock:
            if self._writer is None:
                path, limit = self.spool_path, self.max_spool_bytes
                spool = (lambda: Spool.claim(path, limit)) if path else None
                w = Writer(
                    self._store,
                    self._queue,
                    spool,
                    batch_size=self.batch_size,
                    flush_interval=self.flush_interval,
                    max_buffer=self.max_buffer,
                    backoff=self.retry_backoff,
                )
                w.start()
                atexit.register(self.close)
                self._writer = w
            return self._writer

    def start(self) -> None:
        """Start the writer now (it replays a spool left by an earlier process)."""
        if self._closed:
            raise TelemetryClosedError("telemetry backend is closed")
        self._start()
        assert self._writer is not None
        self._writer.wake()

    # -- durability --------------------------------------------------------------------------

    def flush_sync(self, timeout: float | None = None) -> None:
        """Block until every record submitted before the call (and any left in the spool file by
        an earlier process) is written or counted as dropped. Raises ``TimeoutError`` after ``timeout`` seconds and ``TelemetryError`` if
        the writer stopped before writing them (they are then in the spool file)."""
        w = self._writer
        if w is None:
            if self._closed or not (self.spool_path and any(p.exists() for p in spool_files(self.spool_path))):
                return
            w = self._start()  # an earlier process left records in the spool: write them now
        m = Marker()
        self._queue.append(m)
        w.wake()
        if not m.event.wait(timeout):
            st = w.stats()
            raise TimeoutError(
                f"telemetry flush timed out after {timeout}s with {st.pending + st.spooled} record(s) "
                f"not yet written (last error: {st.last_error})"
            )
        if not m.ok:
            reason = w.fatal or w.last_error
            raise TelemetryError(f"telemetry writer stopped before writing everything: {reason}")

    async def flush(self, timeout: float | None = None) -> None:
        """``flush_sync`` without blocking the event loop."""
        await asyncio.to_thread(self.flush_sync, timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush (waiting up to ``timeout`` or ``close_timeout`` s), spool anything left, stop."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        w = self._writer
        if w is not None:
            w.stop(self.close_timeout if timeout is None else timeout)
            w.finish_late()  # records a racing submit appended after the writer's last pass
            w.release_spool()
        self._store.close()

    async def aclose(self, timeout: float | None = None) -> None:
        """``close`` without blocking the event loop."""
        await asyncio.to_thread(self.close, timeout)

    def __enter__(self) -> TelemetryBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> TelemetryBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def stats(self) -> TelemetryStats:
        """Counters: submitted, written, duplicates, dropped, pending, spooled, failures ..."""
        w = self._writer
        if w is None:
            n = queued_records(self._queue)
            return TelemetryStats(n, 0, 0, 0, n, 0, 0, 0, 0, True, None, 0, 0)
        return w.stats()

    @property
    def dropped(self) -> int:
        """Records dropped so far (each drop also raised a ``TelemetryDropWarning``)."""
        return self._writer.dropped if self._writer is not None else 0

    # -- reading (async and sync) ------------------------------------------------------------

    async def _fresh(self, fresh: bool) -> None:
        if fresh and self._writer is not None and not self._closed:
            await self.flush(self.close_timeout)

    async def query(
        self,
        *,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
        limit: int | None = None,
        order: str = "asc",
        fresh: bool = True,
        **filters: Any,
    ) -> list[LLMCallRecord]:
        """Calls matching ``filters`` (``LLMCallRecord`` field = value, or a list of values)
        with ``since <= timestamp < until``, with attempts and skipped deployments filled.
        ``fresh`` first flushes what this backend has queued."""
        await self._fresh(fresh)
        return await asyncio.to_thread(self._store.query, since, until, limit, order, **filters)

    def query_sync(
        self,
        *,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
        limit: int | None = None,
        order: str = "asc",
        fresh: bool = True,
        **filters: Any,
    ) -> list[LLMCallRecord]:
        """``query`` for scripts and notebooks."""
        if fresh and self._writer is not None and not self._closed:
            self.flush_sync(self.close_timeout)
        return self._store.query(since, until, limit, order, **filters)

    async def query_attempts(
        self,
        *,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
        limit: int | None = None,
        order: str = "asc",
        fresh: bool = True,
        **filters: Any,
    ) -> list[AttemptRecord]:
        """Attempts matching ``filters`` (``AttemptRecord`` fields), by start time."""
        await self._fresh(fresh)
        return await asyncio.to_thread(self._store.query_attempts, since, until, limit, order, **filters)

    async def load_rollups(
        self,
        since: datetime | float,
        until: datetime | float | None = None,
        *,
        deployment: str | list[str] | None = None,
        task_type: str | list[str] | None = None,
    ) -> list[Rollup]:
        """Per-minute rollups from the minute holding ``since`` (see ``rollups.Rollup``)."""
        return await asyncio.to_thread(
            self._store.load_rollups, since, until, deployment=deployment, task_type=task_type
        )

    def load_rollups_sync(
        self,
        since: datetime | float,
        until: datetime | float | None = None,
        *,
        deployment: str | list[str] | None = None,
        task_type: str | list[str] | None = None,
    ) -> list[Rollup]:
        """``load_rollups`` for synchronous callers."""
        return self._store.load_rollups(since, until, deployment=deployment, task_type=task_type)

    async def frame(
        self,
        *,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
        columns: Sequence[str] | None = None,
        fresh: bool = True,
        **filters: Any,
    ) -> CallFrame:
        """Matching calls as a numpy ``CallFrame`` for analysis (see ``TelemetryStore.frame``)."""
        await self._fresh(fresh)
        return await asyncio.to_thread(functools.partial(self._store.frame, since, until, columns=columns, **filters))

    async def prune(self, older_than: timedelta | float) -> int:
        """Delete raw rows older than ``older_than`` (timedelta or days); rollups stay."""
        return await asyncio.to_thread(self._store.prune, older_than)
