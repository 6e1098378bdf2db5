"""The column lists live in ``telemetry._columns``; the tables, the SQLModel classes, the row
codecs, the writers' SQL, the queries and the rollup classes must all agree with them."""

from __future__ import annotations

import dataclasses
import typing

from telemetry_testkit import make_call

from telemetry import _columns as C
from telemetry._rows import attempt_rows, call_row
from telemetry._writers import PostgresWriter, SqliteWriter
from telemetry.analysis import FRAME_COLUMNS
from telemetry.filters import ATTEMPT_FILTERS, CALL_FILTERS
from telemetry.records import AttemptRecord, LLMCallRecord
from telemetry.rollups import Rollup, RollupDelta
from telemetry.schema import build_tables

_PY = {"key": str, "text": str, "int": int, "int32": int, "float": float, "bool": bool, "bytes": bytes}


def test_tables_are_built_from_the_column_lists() -> None:
    t = build_tables("x_")
    for table, spec in ((t.calls, C.CALLS), (t.attempts, C.ATTEMPTS), (t.rollups, C.ROLLUPS)):
        assert [(c.name, c.nullable) for c in table.columns] == [(n, nullable and not (table is t.calls and n == "call_id")) for n, _, nullable in spec]
        for col, (_, kind, _) in zip(table.columns, spec, strict=True):
            assert col.type.python_type is _PY[kind], col.name
    assert [c.name for c in t.rollups.primary_key] == list(C.ROLLUP_KEY)


def test_sqlmodel_classes_agree_with_the_column_lists() -> None:
    from telemetry.models import AttemptRow, CallRow

    for model, spec in ((CallRow, C.CALLS), (AttemptRow, C.ATTEMPTS)):
        hints = typing.get_type_hints(model)
        assert list(model.model_fields) == [n for n, _, _ in spec]
        for name, kind, nullable in spec:
            hint = hints[name]
            args = set(typing.get_args(hint)) or {hint}
            assert (type(None) in args) == (nullable and name not in ("call_id",)), name
            assert _PY[kind] in args, name


def test_row_codecs_put_every_field_in_its_column() -> None:
    r = make_call(3, fallback=True, retries=1)
    row = dict(zip(C.CALL_COLUMNS, call_row(r), strict=True))
    same = set(C.CALL_COLUMNS) & {f.name for f in dataclasses.fields(LLMCallRecord)}
    for name in same - {"fallback_chain", "plan_order", "skipped", "tags"}:  # JSON text
        assert row[name] == getattr(r, name), name
    assert row["ts"] == r.timestamp.timestamp() and row["attempt_count"] == len(r.attempts)
    for a, arow in zip(r.attempts, attempt_rows(r), strict=True):
        d = dict(zip(C.ATTEMPT_COLUMNS, arow, strict=True))
        for name in set(C.ATTEMPT_COLUMNS) & {f.name for f in dataclasses.fields(AttemptRecord)} - {"started_at"}:
            assert d[name] == getattr(a, name), name
        assert d["task_type"] == r.task_type


def test_writers_sql_names_the_columns_in_order() -> None:
    t = build_tables("x_")
    for cls in (SqliteWriter, PostgresWriter):
        sql = cls(None, t, write_timeout=1.0).sql
        assert f"({', '.join(C.CALL_COLUMNS)})" in sql["calls"]
        assert f"({', '.join(C.ATTEMPT_COLUMNS)})" in sql["attempts"]
        assert f"({', '.join(C.ROLLUP_COLUMNS)})" in sql["rollup_zero"]
        assert sql["rollup_update"].startswith(f"UPDATE x_rollups SET {C.ROLLUP_VALUE_COLUMNS[0]} = ")
    pg = PostgresWriter(None, t, write_timeout=1.0).sql
    assert f"({', '.join(C.CALL_COLUMNS)})" in pg["stage_copy"] and f"({', '.join(C.ATTEMPT_COLUMNS)})" in pg["attempts_copy"]


def test_queries_and_filters_only_name_columns() -> None:
    assert set(FRAME_COLUMNS) <= set(C.CALL_COLUMNS)
    assert set(CALL_FILTERS) <= set(C.CALL_COLUMNS)
    assert set(ATTEMPT_FILTERS) <= set(C.ATTEMPT_COLUMNS)


def test_rollup_classes_agree_with_the_rollup_columns() -> None:
    values = [c for c in C.ROLLUP_VALUE_COLUMNS if c != "updated_at"]
    assert list(RollupDelta.__slots__) == values
    assert [f.name for f in dataclasses.fields(Rollup)] == [c for c in C.ROLLUP_COLUMNS if c != "updated_at"]
