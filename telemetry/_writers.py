"""Batch writers, one per dialect: calls, attempts and rollup deltas of a batch in one
transaction on the writer's own DBAPI connection.

SQLite: multi-row ``INSERT``s. PostgreSQL: ``COPY`` (into a temporary table for calls, then one
``INSERT ... SELECT ... ON CONFLICT DO NOTHING``; several times faster than ``executemany``).
Records are checked (``_validate``) before any value is bound; the writer's queued lines
(``_queued``) were checked when they were queued. A batch's rows are held as flat lists of
values (``Rows``), not as a tuple per row.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ._columns import ATTEMPT_COLUMNS, CALL_COLUMNS, ROLLUP_COLUMNS, ROLLUP_KEY, ROLLUP_VALUE_COLUMNS
from ._dbapi import is_connection_error
from ._rollup_codec import updated_row, zero_row
from ._rows import _loads, attempt_values, call_row, text_columns
from ._validate import InvalidRecord, clean_record
from .errors import TelemetryError
from .records import LLMCallRecord
from .rollups import Key, RollupDelta, accumulate_columns

__all__ = ["BatchWriter", "PostgresWriter", "Rows", "SqliteWriter", "WriteResult", "writer_for"]

_KEY_CHUNK = 200
ID_CHUNK = 900  # call ids per IN (...) lookup


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one ``write_batch`` did: rows written, records skipped as duplicate call ids, and
    records refused before binding as ``(call_id, reason)`` (see ``_validate``)."""

    written: int
    duplicates: int
    rejected: tuple[tuple[str, str], ...] = ()


def _cols(names: Sequence[str]) -> str:
    return ", ".join(names)


class BatchWriter:
    """Writes batches into ``tables`` through ``engine``; the dialect's subclass inserts."""

    mark = "?"

    def __init__(self, engine: Any, tables: Any, *, write_timeout: float) -> None:
        self.engine = engine
        self.write_timeout = write_timeout
        self._raw: Any = None
        p, calls, rollups = self.mark, tables.calls.name, tables.rollups.name
        self.attempts_table = tables.attempts.name
        self.calls_table = calls
        marks = lambda n: ", ".join([p] * n)  # noqa: E731
        key = " AND ".join(f"{c} = {p}" for c in ROLLUP_KEY)
        self.sql = {
            "calls": f"INSERT INTO {calls} ({_cols(CALL_COLUMNS)}) VALUES ({marks(len(CALL_COLUMNS))}) "
            "ON CONFLICT (call_id) DO NOTHING",
            "attempts": f"INSERT INTO {self.attempts_table} ({_cols(ATTEMPT_COLUMNS)}) VALUES ({marks(len(ATTEMPT_COLUMNS))})",
            "rollup_zero": f"INSERT INTO {rollups} ({_cols(ROLLUP_COLUMNS)}) VALUES ({marks(len(ROLLUP_COLUMNS))}) "
            f"ON CONFLICT ({_cols(ROLLUP_KEY)}) DO NOTHING",
            "rollup_update": f"UPDATE {rollups} SET {', '.join(f'{c} = {p}' for c in ROLLUP_VALUE_COLUMNS)} WHERE {key}",
            "rollup_select": f"SELECT {_cols(ROLLUP_COLUMNS)} FROM {rollups} WHERE minute >= {p} AND minute <= {p} "
            f"AND ({_cols(ROLLUP_KEY)}) IN (VALUES {{values}}) ORDER BY {_cols(ROLLUP_KEY)}{self.lock_rows}",
            "existing": f"SELECT call_id FROM {calls} WHERE call_id IN ({{marks}})",
        }

    lock_rows = ""  # PostgreSQL: FOR UPDATE

    # -- the connection ----------------------------------------------------------------------

    def connection(self) -> Any:
        """The writer's DBAPI connection (opened on first use)."""
        if self._raw is None:
            self._raw = self.engine.raw_connection()
            self.configure(self._raw)
        return self._raw

    def configure(self, raw: Any) -> None:
        """Session settings of a new writer connection."""

    def drop_connection(self) -> None:
        """Discard the writer's connection (after a connection error); the next write reconnects."""
        raw, self._raw = self._raw, None
        if raw is None:
            return
        try:
            raw.invalidate()
        except Exception:  # noqa: BLE001 - the connection is already broken
            pass

    def close(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            try:
                raw.close()
            except Exception:  # noqa: BLE001
                pass

    # -- one batch ---------------------------------------------------------------------------

    def write_batch(self, records: Sequence[LLMCallRecord | bytes]) -> WriteResult:
        """Insert calls, attempts and rollup deltas of ``records`` (records, or the writer's
        queued lines, ``_queued``) in one transaction.

        Records whose ``call_id`` is already stored (or repeated in the batch) are skipped and
        counted as duplicates, so replaying a batch after an unacknowledged commit is safe.
        """
        calls, attempts, rejected = _rows_of(records)
        if not len(calls):
            return WriteResult(0, 0, rejected)
        raw = self.connection()
        try:
            cur = raw.cursor()
            n = len(calls)
            duplicates = 0
            if self.insert_calls(cur, calls) != n:
                raw.rollback()
                cur = raw.cursor()
                calls, attempts = self._without_duplicates(cur, calls, attempts)
                duplicates = n - len(calls)
                if len(calls):
                    self.insert_calls(cur, calls)
            if len(attempts):
                self.insert_attempts(cur, attempts)
            if len(calls):
                self._upsert_rollups(cur, accumulate_columns(calls.columns(), attempts.columns()))
            raw.commit()
            cur.close()
            return WriteResult(n - duplicates, duplicates, rejected)
        except BaseException as exc:
            try:
                raw.rollback()
            except Exception:  # noqa: BLE001
                self.drop_connection()
                raise exc from None
            if is_connection_error(exc):
                self.drop_connection()
            raise

    def insert_calls(self, cur: Any, rows: Rows) -> int:
        """Insert call rows, skipping stored call ids; returns how many were inserted (each
        dialect's own way: multi-row ``INSERT``s, ``COPY``)."""
        raise NotImplementedError

    def insert_attempts(self, cur: Any, rows: Rows) -> None:
        """Insert attempt rows (each dialect's own way)."""
        raise NotImplementedError

    def _without_duplicates(self, cur: Any, calls: Rows, attempts: Rows) -> tuple[Rows, Rows]:
        """The calls whose id is not stored yet (the first of repeated ones), and their attempts."""
        ids = list(dict.fromkeys(calls.column(0)))
        existing: set[str] = set()
        for i in range(0, len(ids), ID_CHUNK):
            chunk = ids[i : i + ID_CHUNK]
            cur.execute(self.sql["existing"].format(marks=", ".join([self.mark] * len(chunk))), chunk)
            existing.update(row[0] for row in cur.fetchall())
        keep: list[int] = []  # the calls kept, by position
        for j, cid in enumerate(calls.column(0)):
            if cid not in existing:
                existing.add(cid)
                keep.append(j)
        # the attempts are in the calls' order, as many per call as its row's last value says
        starts = [0, *itertools.accumulate(calls.column(calls.width - 1))]
        return calls.subset(keep), attempts.subset([k for j in keep for k in range(starts[j], starts[j + 1])])

    def _upsert_rollups(self, cur: Any, deltas: dict[Key, RollupDelta]) -> None:
        """Add ``deltas`` to their rollup rows: insert missing rows empty, read them (locked on
        PostgreSQL), write the sums back."""
        now = time.time()
        keys = sorted(deltas)
        cur.executemany(self.sql["rollup_zero"], [zero_row(k, deltas[k], now) for k in keys])
        row3 = f"({self.mark}, {self.mark}, {self.mark})"
        updates = []
        for i in range(0, len(keys), _KEY_CHUNK):
            chunk = keys[i : i + _KEY_CHUNK]
            stmt = self.sql["rollup_select"].format(values=", ".join([row3] * len(chunk)))
            cur.execute(stmt, [chunk[0][0], chunk[-1][0], *(v for k in chunk for v in k)])
            for row in cur.fetchall():
                updates.append(updated_row(row, deltas[(int(row[0]), row[1], row[2])], now))
        if len(updates) != len(keys):
            raise TelemetryError(f"rollup upsert found {len(updates)} of {len(keys)} rows")
        cur.executemany(self.sql["rollup_update"], updates)


class SqliteWriter(BatchWriter):
    """SQLite: calls and attempts as multi-row ``INSERT``s of up to ``ROWS_PER_INSERT`` rows.

    Python's ``sqlite3`` releases the GIL around every statement step, so ``executemany`` of
    one row per step hands the GIL to the event loop's thread and back once per row; one step
    per ``ROWS_PER_INSERT`` rows does the same work with a few hundred times fewer hand-overs
    (benchmarks/RESULTS.md, "Telemetry writer: multi-row inserts").

    A statement's rows are a power of two (a batch of 137 is 128 + 8 + 1), so a connection
    compiles at most a few statements per table, kept in ``sqlite3``'s statement cache: one
    statement per batch size would be compiled afresh for nearly every batch, and compiling an
    ``INSERT`` of a few thousand placeholders costs more than binding its rows
    (benchmarks/RESULTS.md, "the writer's statements")."""

    ROWS_PER_INSERT = 256  # a power of two: 256 x 27 columns is within SQLite's 32,766 variables

    def __init__(self, engine: Any, tables: Any, *, write_timeout: float) -> None:
        super().__init__(engine, tables, write_timeout=write_timeout)
        self._multi: dict[tuple[str, int], str] = {}

    def _statement(self, name: str, n: int) -> str:
        """``self.sql[name]`` with ``n`` rows of placeholders (cached per size)."""
        stmt = self._multi.get((name, n))
        if stmt is None:
            head, _, values = self.sql[name].partition(" VALUES ")
            row, _, tail = values.partition(")")
            stmt = self._multi[(name, n)] = f"{head} VALUES {', '.join([row + ')'] * n)}{tail}"
        return stmt

    def _insert_many(self, cur: Any, name: str, rows: Rows) -> int:
        inserted, i, left, w = 0, 0, len(rows), rows.width
        values = rows.values
        while left:
            n = min(self.ROWS_PER_INSERT, 1 << (left.bit_length() - 1))  # the largest power of two that fits
            cur.execute(self._statement(name, n), values[i * w : (i + n) * w])
            inserted += cur.rowcount
            i += n
            left -= n
        return inserted

    def insert_calls(self, cur: Any, rows: Rows) -> int:
        return self._insert_many(cur, "calls", rows)

    def insert_attempts(self, cur: Any, rows: Rows) -> None:
        self._insert_many(cur, "attempts", rows)


class PostgresWriter(BatchWriter):
    """PostgreSQL: ``COPY`` for calls (through a temporary table) and attempts; rollup rows
    locked while they are read and updated; a statement timeout on the writer's session."""

    mark = "%s"
    lock_rows = " FOR UPDATE"

    def __init__(self, engine: Any, tables: Any, *, write_timeout: float) -> None:
        super().__init__(engine, tables, write_timeout=write_timeout)
        calls, stage = self.calls_table, f"{self.calls_table}_stage"
        self.sql.update(
            attempts_copy=f"COPY {self.attempts_table} ({_cols(ATTEMPT_COLUMNS)}) FROM STDIN",
            stage_create=f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {calls} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
            stage_copy=f"COPY {stage} ({_cols(CALL_COLUMNS)}) FROM STDIN",
            stage_insert=f"INSERT INTO {calls} ({_cols(CALL_COLUMNS)}) SELECT {_cols(CALL_COLUMNS)} FROM {stage} "
            "ON CONFLICT (call_id) DO NOTHING",
        )

    def configure(self, raw: Any) -> None:
        cur = raw.cursor()  # a hung statement must not stall the writer forever
        cur.execute(f"SET statement_timeout = {int(self.write_timeout * 1000)}")
        cur.close()
        raw.commit()

    def insert_calls(self, cur: Any, rows: Rows) -> int:
        cur.execute(self.sql["stage_create"])
        with cur.copy(self.sql["stage_copy"]) as copy:
            for row in rows.tuples():
                copy.write_row(row)
        cur.execute(self.sql["stage_insert"])
        return int(cur.rowcount)

    def insert_attempts(self, cur: Any, rows: Rows) -> None:
        with cur.copy(self.sql["attempts_copy"]) as copy:
            for a in rows.tuples():
                copy.write_row(a)


def writer_for(dialect: str, engine: Any, tables: Any, *, write_timeout: float) -> BatchWriter:
    """The batch writer of ``dialect`` (``sqlite`` or ``postgresql``)."""
    cls = PostgresWriter if dialect == "postgresql" else SqliteWriter
    return cls(engine, tables, write_timeout=write_timeout)


class Rows:
    """The rows of one table as one flat list of values, ``width`` to a row: a batch's rows
    hold no object the garbage collector tracks (a tuple per row would be one each)."""

    __slots__ = ("values", "width")

    def __init__(self, width: int) -> None:
        self.values: list[Any] = []
        self.width = width

    def __len__(self) -> int:
        return len(self.values) // self.width

    def column(self, i: int) -> list[Any]:
        return self.values[i :: self.width]

    def columns(self) -> list[list[Any]]:
        """Every column, or ``[]`` when there are no rows (``rollups.accumulate_columns``)."""
        return [self.values[i :: self.width] for i in range(self.width)] if self.values else []

    def tuples(self) -> Iterator[tuple[Any, ...]]:
        v, w = self.values, self.width
        for i in range(0, len(v), w):
            yield tuple(v[i : i + w])

    def subset(self, rows: Sequence[int]) -> Rows:
        """The rows at positions ``rows``, in that order."""
        out, v, w = Rows(self.width), self.values, self.width
        for j in rows:
            out.values.extend(v[j * w : (j + 1) * w])
        return out


def _rows_of(records: Sequence[LLMCallRecord | bytes]) -> tuple[Rows, Rows, tuple[tuple[str, str], ...]]:
    """The calls and attempts rows of the records ready to bind, and ``(call_id, reason)`` for
    each refused one. A queued line (``_queued``: made of a checked record) is bound as it is;
    a record is checked first (``_validate``)."""
    calls, attempts = Rows(len(CALL_COLUMNS)), Rows(len(ATTEMPT_COLUMNS))
    add_call, add_attempt, add_value = calls.values.extend, attempts.values.extend, attempts.values.append
    width, attempt_width = calls.width, attempts.width - 1  # ``attempt_values``: without the task type
    rejected: list[tuple[str, str]] = []
    for item in records:
        if type(item) is bytes:
            try:
                row = _loads(item)
                values = row.pop()
                if len(row) != width or row[-1] != len(values) or any(len(a) != attempt_width for a in values):
                    raise ValueError(f"not a call row of {width} values and its {row[-1]!r} attempt rows")
            except (ValueError, TypeError, IndexError, AttributeError) as exc:
                rejected.append(("?", f"unreadable queued line ({exc})"))
                continue
            text_columns(row)
        else:
            try:
                r = clean_record(item)
            except InvalidRecord as exc:
                cid = getattr(item, "call_id", "?")
                rejected.append((cid if isinstance(cid, str) else repr(cid)[:60], str(exc)))
                continue
            row, values = call_row(r), attempt_values(r)
        add_call(row)
        task = row[5]
        for a in values:
            add_attempt(a)
            add_value(task)
    return calls, attempts, tuple(rejected)
