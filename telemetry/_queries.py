"""Reading the store: calls, attempts, counts, rollups and numpy frames, with checked filters
(values are always bound parameters, never SQL text)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._columns import ATTEMPT_COLUMNS, CALL_COLUMNS, ROLLUP_COLUMNS
from ._rollup_codec import rollup_from_row
from ._rows import attempt_from_row, call_from_row
from ._writers import ID_CHUNK
from .filters import check_filters, check_limit, check_time, check_value
from .records import AttemptRecord, LLMCallRecord
from .rollups import Rollup

if TYPE_CHECKING:
    from .analysis import CallFrame

__all__ = ["StoreQueries"]


class StoreQueries:
    """The reading half of ``TelemetryStore`` (it provides ``tables`` and ``engine``)."""

    tables: Any
    engine: Any

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
        for i in range(0, len(call_ids), ID_CHUNK):
            chunk = call_ids[i : i + ID_CHUNK]
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

        lo = check_time("since", since)
        if lo is None:
            raise TypeError("since is required (a datetime or epoch seconds)")
        hi = check_time("until", until)
        t = self.tables.rollups
        stmt = select(*[t.c[c] for c in ROLLUP_COLUMNS]).where(t.c.minute >= int(lo // 60) * 60)
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
        return [rollup_from_row(row) for row in rows]

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
