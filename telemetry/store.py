"""``TelemetryStore``: the synchronous store behind a backend (SQLite or PostgreSQL).

Scripts and notebooks use it directly::

    store = TelemetryStore.open("sqlite:///attune-telemetry.db")
    failed = store.query(success=False, provider="openai", since=time.time() - 3600)

Its parts, one job each: ``schema`` / ``_columns`` (tables and columns), ``_versions`` (the
recorded schema version), ``_writers`` (batch writes per dialect), ``_rollup_codec`` (rollup
rows), ``_queries`` (reading), ``_retention`` (prune), ``_dbapi`` (what an error means).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

from ._dbapi import check_seconds, create_private, is_data_error, is_unavailable_error
from ._queries import StoreQueries
from ._retention import StoreRetention
from ._url import redact_text, redact_url, resolve_url, sqlite_path
from ._versions import ensure_schema, recorded_version
from ._writers import BatchWriter, WriteResult, writer_for
from .errors import SchemaVersionError, TelemetryError
from .records import LLMCallRecord

__all__ = ["TelemetryStore", "WriteResult", "check_seconds", "is_data_error", "is_unavailable_error"]


class TelemetryStore(StoreQueries, StoreRetention):
    """A telemetry store at ``url`` (see ``_url.resolve_url``); connects on first use.

    ``table_prefix`` names the tables (``{prefix}calls`` ...), so several stores can share a
    database. ``busy_timeout`` (seconds) bounds how long SQLite waits on a lock before the
    writer backs off; ``connect_timeout`` bounds a PostgreSQL connect and ``write_timeout``
    each statement of the writer's PostgreSQL session (a locked or stalled server makes the
    writer back off and buffer instead of hanging).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        table_prefix: str = "attune_",
        busy_timeout: float = 0.25,
        connect_timeout: float = 3.0,
        write_timeout: float = 30.0,
    ) -> None:
        from .schema import check_prefix

        for name, value, least in (("busy_timeout", busy_timeout, 0.0), ("connect_timeout", connect_timeout, 1e-9),
                                   ("write_timeout", write_timeout, 1e-9)):  # fmt: skip
            check_seconds(name, value, least)
        self._url = resolve_url(url)
        self.table_prefix = check_prefix(table_prefix)
        self.busy_timeout = busy_timeout
        self.connect_timeout = connect_timeout
        self.write_timeout = write_timeout
        self.dialect = "sqlite" if self._url.startswith("sqlite") else "postgresql"
        self._engine: Any = None
        self._tables: Any = None
        self._lock = threading.Lock()
        self._writer: BatchWriter | None = None  # the writer thread's connection and SQL

    @classmethod
    def open(cls, url: str | None = None, **kwargs: Any) -> TelemetryStore:
        """A store connected and schema-checked (raises ``SchemaVersionError`` on mismatch)."""
        store = cls(url, **kwargs)
        store.connect()
        return store

    @property
    def url(self) -> str:
        """The store URL with any password replaced by ``***``."""
        return redact_url(self._url)

    def __repr__(self) -> str:
        return f"TelemetryStore({self.url!r}, table_prefix={self.table_prefix!r})"

    def redact(self, text: str) -> str:
        """``text`` with this store's password removed."""
        return redact_text(text, self._url)

    # -- connection and schema -------------------------------------------------------------

    @property
    def tables(self) -> Any:
        """The SQLAlchemy tables (connects first)."""
        self.connect()
        return self._tables

    @property
    def engine(self) -> Any:
        """The SQLAlchemy engine (connects first)."""
        self.connect()
        return self._engine

    def connect(self) -> None:
        """Create the engine and check or create the schema; idempotent and thread-safe."""
        if self._tables is not None:
            return
        with self._lock:
            if self._tables is not None:
                return
            from .schema import build_tables

            tables = build_tables(self.table_prefix)
            engine = self._engine or self._make_engine()
            self._engine = engine
            try:
                ensure_schema(engine, tables, dialect=self.dialect, where=self.url, prefix=self.table_prefix)
            except SchemaVersionError:
                raise
            except Exception as exc:
                raise TelemetryError(
                    f"cannot open telemetry store {self.url}: "
                    f"{type(exc).__name__}: {self.redact(str(exc).splitlines()[0] if str(exc) else '')}"
                ) from exc
            self._writer = writer_for(self.dialect, engine, tables, write_timeout=self.write_timeout)
            self._tables = tables

    def _make_engine(self) -> Any:
        from sqlalchemy import create_engine, event

        if self.dialect == "sqlite":
            create_private(sqlite_path(self._url))
            engine = create_engine(
                self._url,
                connect_args={"check_same_thread": False, "timeout": self.busy_timeout},
            )
            busy_ms = int(self.busy_timeout * 1000)

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute(f"PRAGMA busy_timeout={busy_ms}")
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

            return engine
        return create_engine(
            self._url,
            pool_pre_ping=True,
            connect_args={"connect_timeout": max(1, int(math.ceil(self.connect_timeout))), "application_name": "attune-telemetry"},
        )

    # -- writing -----------------------------------------------------------------------------

    def write_batch(self, records: Sequence[LLMCallRecord | bytes]) -> WriteResult:
        """Check ``records``, then insert their calls, attempts and rollup deltas in one
        transaction (see ``_writers``). The writer thread passes its queued lines among them
        (``_queued``: made of records already checked). Records whose ``call_id`` is already
        stored (or repeated in the batch) are skipped and counted as duplicates, so replaying a
        batch after an unacknowledged commit is safe; records that cannot be stored are refused
        and listed in ``WriteResult.rejected``."""
        self.connect()
        assert self._writer is not None
        return self._writer.write_batch(records)

    def drop_writer_connection(self) -> None:
        """Discard the writer's connection (after a connection error); the next write reconnects."""
        if self._writer is not None:
            self._writer.drop_connection()

    # -- the store ---------------------------------------------------------------------------

    def schema_version(self) -> int:
        """The schema version recorded in the store."""
        return recorded_version(self.engine, self.tables)

    def drop_tables(self) -> None:
        """Drop this store's tables (tests and throwaway stores)."""
        tables = self.tables
        self.drop_writer_connection()
        tables.metadata.drop_all(self._engine)

    def close(self) -> None:
        """Close the writer connection and dispose of the engine."""
        if self._writer is not None:
            self._writer.close()
        if self._engine is not None:
            self._engine.dispose()

    def __enter__(self) -> TelemetryStore:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
