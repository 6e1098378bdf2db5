"""``TelemetryStore``: the synchronous store behind a backend (SQLite or PostgreSQL).

Scripts and notebooks use it directly::

    store = TelemetryStore.open("sqlite:///attune-telemetry.db")
    failed = store.query(success=False, provider="openai", since=time.time() - 3600)

Writes go through ``write_batch`` (used by the backend's writer thread): DBAPI
``executemany`` (SQLite) or ``COPY`` (PostgreSQL) for calls and attempts and a per-minute
rollup upsert, in one transaction.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._rows import (
    ATTEMPT_COLUMNS,
    CALL_COLUMNS,
    _dumps,
    _loads,
    attempt_from_row,
    attempt_rows,
    call_from_row,
    call_row,
    from_epoch,
)
from ._url import redact_text, redact_url, resolve_url, sqlite_path
from .errors import SchemaVersionError, TelemetryError
from .filters import check_filters, check_limit, check_time, check_value
from .histogram import N_BUCKETS
from ._validate import InvalidRecord, clean_record
from .records import AttemptRecord, LLMCallRecord
from .rollups import Rollup, RollupDelta, accumulate_rows, hist_to_bytes, saturated

if TYPE_CHECKING:
    from .analysis import CallFrame

__all__ = ["TelemetryStore", "WriteResult"]

_ROLLUP_VALUE_COLUMNS = (
    "provider", "model", "calls", "successes", "errors", "retries", "fallbacks",
    "input_tokens", "output_tokens", "cost", "latency_sum_ms", "latency_hist", "ttft_hist",
    "attempts", "attempt_successes", "attempt_failures", "attempt_errors",
    "attempt_latency_hist", "updated_at",
)  # fmt: skip
_ROLLUP_COLUMNS = ("minute", "deployment", "task_type", *_ROLLUP_VALUE_COLUMNS)
_ZERO_HIST = hist_to_bytes([0] * N_BUCKETS)
_KEY_CHUNK = 200
_ID_CHUNK = 900


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one ``write_batch`` did: rows written, records skipped as duplicate call ids, and
    records refused before binding as ``(call_id, reason)`` (see ``_validate``)."""

    written: int
    duplicates: int
    rejected: tuple[tuple[str, str], ...] = ()


def _is_connection_error(exc: BaseException) -> bool:
    """True for errors after which the writer's connection should be replaced."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
    mod = type(exc).__module__
    name = type(exc).__name__
    return name in ("OperationalError", "InterfaceError") and mod.split(".")[0] in ("sqlite3", "psycopg")


def _create_private(path: str | None) -> None:
    """Create the SQLite file 0600 if it does not exist yet (SQLite gives its -wal and -shm
    files the database file's mode)."""
    if not path:
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:  # it exists, or its directory does not (SQLite reports that on connect)
        pass


def check_seconds(name: str, value: Any, least: float = 0.0) -> float:
    """``value`` as a finite number of seconds >= ``least``, else a ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__} {value!r:.60}")
    if not (math.isfinite(value) and value >= least and value <= 1e9):
        bound = "> 0" if least > 0 else ">= 0"
        raise ValueError(f"{name} must be a finite number of seconds {bound}, got {value!r}")
    return float(value)


def is_unavailable_error(exc: BaseException) -> bool:
    """True when ``exc`` says the database cannot be reached or used right now (a connection,
    a lock, a timeout, a disk), as opposed to a bug or a bad record."""
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    names = {c.__name__ for c in type(exc).__mro__}
    return bool(names & {"OperationalError", "InterfaceError"})


def is_data_error(exc: BaseException) -> bool:
    """True when the batch's content is at fault, so retrying the same rows cannot help: the
    database rejected a value (``DataError``/``IntegrityError``), the driver could not bind one
    (sqlite3's "Error binding parameter"), or converting a field failed in Python
    (``TypeError``, ``ValueError``, ``AttributeError``, ``OverflowError``, ``LookupError``).
    Everything else (a connection, a lock, a timeout, a missing table) is the database's
    state, and the same batch is retried."""
    if isinstance(exc, (TypeError, ValueError, AttributeError, OverflowError, LookupError)):
        return not isinstance(exc, TelemetryError)
    names = {c.__name__ for c in type(exc).__mro__}
    if "OperationalError" in names:
        return False
    if names & {"DataError", "IntegrityError"}:
        return True
    return type(exc).__module__.startswith("sqlite3") and "binding" in str(exc)


class TelemetryStore:
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
        self._raw: Any = None  # the writer's DBAPI connection
        self._sql: dict[str, str] = {}

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
                self._ensure_schema(engine, tables)
            except SchemaVersionError:
                raise
            except Exception as exc:
                raise TelemetryError(
                    f"cannot open telemetry store {self.url}: "
                    f"{type(exc).__name__}: {self.redact(str(exc).splitlines()[0] if str(exc) else '')}"
                ) from exc
            self._build_sql(tables)
            self._tables = tables

    def _make_engine(self) -> Any:
        from sqlalchemy import create_engine, event

        if self.dialect == "sqlite":
            _create_private(sqlite_path(self._url))
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

    def _ensure_schema(self, engine: Any, tables: Any) -> None:
        from sqlalchemy import inspect, select
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        from .schema import SCHEMA_VERSION

        where = self.url
        for attempt in range(3):
            names = set(inspect(engine).get_table_names())
            if tables.meta.name in names:
                with engine.connect() as conn:
                    found = conn.execute(
                        select(tables.meta.c.value).where(tables.meta.c.key == "schema_version")
                    ).scalar()
                if found is not None and found != str(SCHEMA_VERSION):
                    older = found.isdigit() and int(found) < SCHEMA_VERSION
                    raise SchemaVersionError(
                        f"telemetry store {where} (tables {self.table_prefix}*) has schema version "
                        f"{found}; this version of attune expects {SCHEMA_VERSION}. "
                        + (
                            "It was written by an older attune: export what you need and open a new store "
                            "(or a new table_prefix); nothing was changed."
                            if older
                            else "It was written by a newer attune: upgrade attune-router; nothing was changed."
                        )
                    )
            elif tables.calls.name in names:
                raise SchemaVersionError(
                    f"telemetry store {where} has a {tables.calls.name} table but no schema version: "
                    "it was not written by this version of attune; nothing was changed"
                )
            try:
                tables.metadata.create_all(engine, checkfirst=True)
                ins = (pg_insert if self.dialect == "postgresql" else sqlite_insert)(tables.meta)
                with engine.begin() as conn:
                    conn.execute(
                        ins.values(key="schema_version", value=str(SCHEMA_VERSION)).on_conflict_do_nothing()
                    )
                    found = conn.execute(
                        select(tables.meta.c.value).where(tables.meta.c.key == "schema_version")
                    ).scalar()
                if found != str(SCHEMA_VERSION):
                    continue  # a concurrent writer recorded another version: re-check above
                return
            except Exception:
                if attempt == 2:
                    raise
                time.sleep(0.05)  # concurrent create_all by a second instance: retry

    def _build_sql(self, t: Any) -> None:
        p = "?" if self.dialect == "sqlite" else "%s"
        calls, attempts, rollups = t.calls.name, t.attempts.name, t.rollups.name

        def ph(n: int) -> str:
            return ", ".join([p] * n)

        self._sql = {
            "calls": f"INSERT INTO {calls} ({', '.join(CALL_COLUMNS)}) VALUES ({ph(len(CALL_COLUMNS))}) "
            "ON CONFLICT (call_id) DO NOTHING",
            "attempts": f"INSERT INTO {attempts} ({', '.join(ATTEMPT_COLUMNS)}) VALUES ({ph(len(ATTEMPT_COLUMNS))})",
            "attempts_copy": f"COPY {attempts} ({', '.join(ATTEMPT_COLUMNS)}) FROM STDIN",
            "stage_create": f"CREATE TEMP TABLE IF NOT EXISTS {calls}_stage "
            f"(LIKE {calls} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
            "stage_copy": f"COPY {calls}_stage ({', '.join(CALL_COLUMNS)}) FROM STDIN",
            "stage_insert": f"INSERT INTO {calls} ({', '.join(CALL_COLUMNS)}) "
            f"SELECT {', '.join(CALL_COLUMNS)} FROM {calls}_stage ON CONFLICT (call_id) DO NOTHING",
            "rollup_zero": f"INSERT INTO {rollups} ({', '.join(_ROLLUP_COLUMNS)}) VALUES ({ph(len(_ROLLUP_COLUMNS))}) "
            "ON CONFLICT (minute, deployment, task_type) DO NOTHING",
            "rollup_update": f"UPDATE {rollups} SET {', '.join(f'{c} = {p}' for c in _ROLLUP_VALUE_COLUMNS)} "
            f"WHERE minute = {p} AND deployment = {p} AND task_type = {p}",
            "rollup_select": f"SELECT {', '.join(_ROLLUP_COLUMNS)} FROM {rollups} "
            f"WHERE minute >= {p} AND minute <= {p} AND (minute, deployment, task_type) IN (VALUES {{values}}) "
            "ORDER BY minute, deployment, task_type" + (" FOR UPDATE" if self.dialect == "postgresql" else ""),
            "existing": f"SELECT call_id FROM {calls} WHERE call_id IN ({{marks}})",
            "row3": f"({p}, {p}, {p})",
            "mark": p,
        }

    # -- writing -----------------------------------------------------------------------------

    def _writer_conn(self) -> Any:
        self.connect()
        if self._raw is None:
            raw = self._engine.raw_connection()
            if self.dialect == "postgresql":  # a hung statement must not stall the writer forever
                cur = raw.cursor()
                cur.execute(f"SET statement_timeout = {int(self.write_timeout * 1000)}")
                cur.close()
                raw.commit()
            self._raw = raw
        return self._raw

    def drop_writer_connection(self) -> None:
        """Discard the writer's connection (after a connection error); the next write reconnects."""
        raw, self._raw = self._raw, None
        if raw is None:
            return
        try:
            raw.invalidate()
        except Exception:  # noqa: BLE001 - the connection is already broken
            pass

    def write_batch(self, records: Sequence[LLMCallRecord]) -> WriteResult:
        """Insert calls, attempts and rollup deltas of ``records`` in one transaction.

        Records whose ``call_id`` is already stored (or repeated in the batch) are skipped and
        counted as duplicates, so replaying a batch after an unacknowledged commit is safe.
        """
        records, rejected = _cleaned(records)
        if not records:
            return WriteResult(0, 0, rejected)
        raw = self._writer_conn()
        sql = self._sql
        try:
            cur = raw.cursor()
            rows = [call_row(r) for r in records]
            duplicates = 0
            if self._insert_calls(cur, rows) != len(rows):
                raw.rollback()
                cur = raw.cursor()
                records = self._without_duplicates(cur, records)
                duplicates = len(rows) - len(records)
                rows = [call_row(r) for r in records]
                if rows:
                    self._insert_calls(cur, rows)
            arows = [a for r in records for a in attempt_rows(r)]
            if arows:
                if self.dialect == "postgresql":
                    with cur.copy(sql["attempts_copy"]) as copy:
                        for a in arows:
                            copy.write_row(a)
                else:
                    cur.executemany(sql["attempts"], arows)
            if rows:
                self._upsert_rollups(cur, accumulate_rows(rows, arows))
            raw.commit()
            cur.close()
            return WriteResult(len(records), duplicates, rejected)
        except BaseException as exc:
            try:
                raw.rollback()
            except Exception:  # noqa: BLE001
                self.drop_writer_connection()
                raise exc from None
            if _is_connection_error(exc):
                self.drop_writer_connection()
            raise

    def _insert_calls(self, cur: Any, rows: list[tuple[Any, ...]]) -> int:
        """Insert call rows, skipping stored call ids; returns how many were inserted.

        SQLite: ``executemany``. PostgreSQL: ``COPY`` into a temporary table, then one
        ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` (several times faster than
        ``executemany``).
        """
        sql = self._sql
        if self.dialect != "postgresql":
            cur.executemany(sql["calls"], rows)
            return int(cur.rowcount)
        cur.execute(sql["stage_create"])
        with cur.copy(sql["stage_copy"]) as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(sql["stage_insert"])
        return int(cur.rowcount)

    def _without_duplicates(self, cur: Any, records: Sequence[LLMCallRecord]) -> list[LLMCallRecord]:
        ids = list({r.call_id for r in records})
        existing: set[str] = set()
        for i in range(0, len(ids), _ID_CHUNK):
            chunk = ids[i : i + _ID_CHUNK]
            cur.execute(self._sql["existing"].format(marks=", ".join([self._sql["mark"]] * len(chunk))), chunk)
            existing.update(row[0] for row in cur.fetchall())
        out: list[LLMCallRecord] = []
        for r in records:
            if r.call_id not in existing:
                existing.add(r.call_id)
                out.append(r)
        return out

    def _upsert_rollups(self, cur: Any, deltas: dict[tuple[int, str, str], RollupDelta]) -> None:
        sql = self._sql
        now = time.time()
        keys = sorted(deltas)
        zero = (0, 0, "{}", 0, 0, 0, 0, 0.0, 0.0, _ZERO_HIST, _ZERO_HIST, 0, 0, 0, "{}", _ZERO_HIST, now)
        cur.executemany(sql["rollup_zero"], [(*k, deltas[k].provider, deltas[k].model, *zero) for k in keys])
        updates = []
        for i in range(0, len(keys), _KEY_CHUNK):
            chunk = keys[i : i + _KEY_CHUNK]
            stmt = sql["rollup_select"].format(values=", ".join([sql["row3"]] * len(chunk)))
            cur.execute(stmt, [chunk[0][0], chunk[-1][0], *(v for k in chunk for v in k)])
            for row in cur.fetchall():
                key = (int(row[0]), row[1], row[2])
                d = deltas[key]
                (_m, _dep, _task, _prov, _model, calls, successes, errors, retries, fallbacks,
                 in_tok, out_tok, cost, lat_sum, lat_h, ttft_h, attempts, a_succ, a_fail, a_err,
                 a_lat_h, _upd) = row  # fmt: skip
                updates.append(
                    (
                        d.provider or _prov,
                        d.model or _model,
                        calls + d.calls,
                        successes + d.successes,
                        _dumps(_add(_loads(errors), d.errors)),
                        retries + d.retries,
                        fallbacks + d.fallbacks,
                        saturated(in_tok + d.input_tokens),
                        saturated(out_tok + d.output_tokens),
                        cost + d.cost,
                        lat_sum + d.latency_sum_ms,
                        _add_hist(lat_h, d.latency_hist),
                        _add_hist(ttft_h, d.ttft_hist),
                        attempts + d.attempts,
                        a_succ + d.attempt_successes,
                        a_fail + d.attempt_failures,
                        _dumps(_add(_loads(a_err), d.attempt_errors)),
                        _add_hist(a_lat_h, d.attempt_latency_hist),
                        now,
                        *key,
                    )
                )
        if len(updates) != len(keys):
            raise TelemetryError(f"rollup upsert found {len(updates)} of {len(keys)} rows")
        cur.executemany(sql["rollup_update"], updates)

    # -- reading -----------------------------------------------------------------------------

    def _time_order(self, col: Any, since: Any, until: Any, order: str) -> tuple[list[Any], Any]:
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
        lo, hi = check_time("since", since), check_time("until", until)
        conds = []
        if lo is not None:
            conds.append(col >= lo)
        if hi is not None:
            conds.append(col < hi)
        return conds, (col.asc() if order == "asc" else col.desc())

    @staticmethod
    def _filter_conds(table: Any, checked: dict[str, list[Any]]) -> list[Any]:
        from sqlalchemy import or_

        conds = []
        for name, values in checked.items():
            col = table.c[name]
            present = [v for v in values if v is not None]
            parts = []
            if present:
                parts.append(col == present[0] if len(present) == 1 else col.in_(present))
            if len(present) != len(values):
                parts.append(col.is_(None))
            conds.append(parts[0] if len(parts) == 1 else or_(*parts))
        return conds

    def query(
        self,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
        limit: int | None = None,
        order: str = "asc",
        **filters: Any,
    ) -> list[LLMCallRecord]:
        """Calls matching ``filters`` (checked against ``LLMCallRecord``'s fields) with
        ``since <= timestamp < until``, ordered by time, with ``attempts`` and ``skipped``."""
        from sqlalchemy import select

        checked = check_filters(filters)
        check_limit(limit)
        t = self.tables.calls
        conds, order_by = self._time_order(t.c.ts, since, until, order)
        stmt = select(*[t.c[c] for c in CALL_COLUMNS]).where(*conds, *self._filter_conds(t, checked))
        stmt = stmt.order_by(order_by, t.c.call_id)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            by_call = self._attempts_for(conn, [r[0] for r in rows if r[-1]])
        return [call_from_row(r, by_call.get(r[0], [])) for r in rows]

    def _attempts_for(self, conn: Any, call_ids: list[str]) -> dict[str, list[AttemptRecord]]:
        from sqlalchemy import select

        t = self.tables.attempts
        out: dict[str, list[AttemptRecord]] = {}
        for i in range(0, len(call_ids), _ID_CHUNK):
            chunk = call_ids[i : i + _ID_CHUNK]
            stmt = select(*[t.c[c] for c in ATTEMPT_COLUMNS]).where(t.c.call_id.in_(chunk))
            for row in conn.execute(stmt):
                out.setdefault(row[0], []).append(attempt_from_row(row))
        for lst in out.values():
            lst.sort(key=lambda a: (a.position, a.retry_number))
        return out

    def query_attempts(
        self,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
        limit: int | None = None,
        order: str = "asc",
        **filters: Any,
    ) -> list[AttemptRecord]:
        """Attempts matching ``filters`` (checked against ``AttemptRecord``'s fields), by start time."""
        from sqlalchemy import select

        checked = check_filters(filters, attempts=True)
        check_limit(limit)
        t = self.tables.attempts
        conds, order_by = self._time_order(t.c.started_at, since, until, order)
        stmt = select(*[t.c[c] for c in ATTEMPT_COLUMNS]).where(*conds, *self._filter_conds(t, checked))
        stmt = stmt.order_by(order_by, t.c.call_id, t.c.position, t.c.retry_number)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return [attempt_from_row(r) for r in conn.execute(stmt)]

    def count(self, since: datetime | float | None = None, until: datetime | float | None = None, **filters: Any) -> int:
        """Number of stored calls matching ``filters`` and the time range."""
        from sqlalchemy import func, select

        checked = check_filters(filters)
        t = self.tables.calls
        conds, _ = self._time_order(t.c.ts, since, until, "asc")
        stmt = select(func.count()).select_from(t).where(*conds, *self._filter_conds(t, checked))
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def count_attempts(self) -> int:
        """Number of stored attempt rows."""
        from sqlalchemy import func, select

        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(self.tables.attempts)).scalar_one())

    def load_rollups(
        self,
        since: datetime | float,
        until: datetime | float | None = None,
        *,
        deployment: str | Iterable[str] | None = None,
        task_type: str | Iterable[str] | None = None,
    ) -> list[Rollup]:
        """Rollups of the minutes from the one holding ``since`` up to ``until`` (exclusive),
        ordered by minute, deployment, task type."""
        from sqlalchemy import select

        import numpy as np

        lo = check_time("since", since)
        if lo is None:
            raise TypeError("since is required (a datetime or epoch seconds)")
        hi = check_time("until", until)
        t = self.tables.rollups
        stmt = select(*[t.c[c] for c in _ROLLUP_COLUMNS]).where(t.c.minute >= int(lo // 60) * 60)
        if hi is not None:
            stmt = stmt.where(t.c.minute < hi)
        for name, value in (("deployment", deployment), ("task_type", task_type)):
            if value is not None:
                vals = [value] if isinstance(value, str) else list(value)
                if not all(isinstance(v, str) for v in vals):
                    raise TypeError(f"{name} expects str or an iterable of str")
                for v in vals:
                    check_value(name, v)
                stmt = stmt.where(t.c[name].in_(vals))
        stmt = stmt.order_by(t.c.minute, t.c.deployment, t.c.task_type)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        out = []
        for row in rows:
            (minute, dep, task, prov, model, calls, succ, errors, retries, fallbacks, in_tok,
             out_tok, cost, lat_sum, lat_h, ttft_h, attempts, a_succ, a_fail, a_err, a_lat_h,
             _upd) = row  # fmt: skip
            out.append(
                Rollup(
                    minute=from_epoch(minute),
                    deployment=dep,
                    task_type=task,
                    provider=prov,
                    model=model,
                    calls=calls,
                    successes=succ,
                    errors=_loads(errors),
                    retries=retries,
                    fallbacks=fallbacks,
                    input_tokens=in_tok,
                    output_tokens=out_tok,
                    cost=cost,
                    latency_sum_ms=lat_sum,
                    latency_hist=np.frombuffer(lat_h, "<i8"),
                    ttft_hist=np.frombuffer(ttft_h, "<i8"),
                    attempts=attempts,
                    attempt_successes=a_succ,
                    attempt_failures=a_fail,
                    attempt_errors=_loads(a_err),
                    attempt_latency_hist=np.frombuffer(a_lat_h, "<i8"),
                )
            )
        return out

    def frame(
        self,
        since: datetime | float | None = None,
        until: datetime | float | None = None,
        *,
        columns: Sequence[str] | None = None,
        **filters: Any,
    ) -> CallFrame:
        """The matching calls as a columnar ``CallFrame`` (numpy), ordered by time.

        ``columns`` limits what is loaded (default: all of ``analysis.FRAME_COLUMNS``);
        ``analysis.SEED_COLUMNS`` is enough for the seed's queries and loads about twice as fast.
        """
        from sqlalchemy import select

        from .analysis import FRAME_COLUMNS, CallFrame, check_columns, paused_gc

        cols = tuple(columns) if columns is not None else FRAME_COLUMNS
        check_columns(cols)
        checked = check_filters(filters)
        t = self.tables.calls
        conds, order_by = self._time_order(t.c.ts, since, until, "asc")
        stmt = select(*[t.c[c] for c in cols]).where(*conds, *self._filter_conds(t, checked))
        stmt = stmt.order_by(order_by)
        with self.engine.connect() as conn:
            # Plain DBAPI fetch: a million rows skip SQLAlchemy's per-row result processing.
            # render_postcompile: a list filter's IN (...) gets one placeholder per value here
            compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
            params = compiled.construct_params()
            if compiled.positiontup is not None:
                args: Any = tuple(params[k] for k in compiled.positiontup)
            else:
                args = params
            cur = conn.connection.driver_connection.cursor()
            try:
                with paused_gc():
                    cur.execute(str(compiled), args)
                    rows = cur.fetchall()
            finally:
                cur.close()
        frame = CallFrame.from_rows(rows, cols)
        del rows
        return frame

    # -- retention ---------------------------------------------------------------------------

    def prune(self, older_than: timedelta | float, *, now: float | None = None) -> int:
        """Delete raw calls (and their attempts) older than ``older_than`` (a timedelta or
        days); rollups are kept. Returns the number of calls deleted."""
        from sqlalchemy import delete, select

        days = older_than.total_seconds() / 86400 if isinstance(older_than, timedelta) else older_than
        if not isinstance(days, (int, float)) or isinstance(days, bool) or days < 0:
            raise TypeError(f"older_than must be a timedelta or a non-negative number of days, got {older_than!r}")
        if not days <= 1e9:  # also NaN
            raise ValueError(f"older_than must be at most 1e9 days, got {older_than!r:.60}")
        cutoff = (time.time() if now is None else now) - days * 86400
        calls, attempts = self.tables.calls, self.tables.attempts
        with self.engine.begin() as conn:
            old = select(calls.c.call_id).where(calls.c.ts < cutoff)
            conn.execute(delete(attempts).where(attempts.c.call_id.in_(old)))
            return int(conn.execute(delete(calls).where(calls.c.ts < cutoff)).rowcount)

    def schema_version(self) -> int:
        """The schema version recorded in the store."""
        from sqlalchemy import select

        m = self.tables.meta
        with self.engine.connect() as conn:
            return int(conn.execute(select(m.c.value).where(m.c.key == "schema_version")).scalar_one())

    def drop_tables(self) -> None:
        """Drop this store's tables (tests and throwaway stores)."""
        tables = self.tables
        self.drop_writer_connection()
        tables.metadata.drop_all(self._engine)

    def close(self) -> None:
        """Close the writer connection and dispose of the engine."""
        raw, self._raw = self._raw, None
        if raw is not None:
            try:
                raw.close()
            except Exception:  # noqa: BLE001
                pass
        if self._engine is not None:
            self._engine.dispose()

    def __enter__(self) -> TelemetryStore:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cleaned(records: Sequence[LLMCallRecord]) -> tuple[list[LLMCallRecord], tuple[tuple[str, str], ...]]:
    """The records ready to bind, and ``(call_id, reason)`` for each refused one."""
    ok: list[LLMCallRecord] = []
    rejected: list[tuple[str, str]] = []
    for r in records:
        try:
            ok.append(clean_record(r))
        except InvalidRecord as exc:
            rejected.append((_call_id_text(r), str(exc)))
    return ok, tuple(rejected)


def _call_id_text(r: Any) -> str:
    cid = getattr(r, "call_id", "?")
    return cid if isinstance(cid, str) else repr(cid)[:60]


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    for k, v in b.items():
        a[k] = a.get(k, 0) + v
    return a


def _add_hist(stored: bytes | memoryview, delta: Any) -> bytes:
    import numpy as np

    return (np.frombuffer(stored, "<i8") + np.asarray(delta, np.int64)).astype("<i8").tobytes()
