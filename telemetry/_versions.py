"""The recorded schema version: checked when a store opens, written when it creates the tables."""

from __future__ import annotations

import time
from typing import Any

from .errors import SchemaVersionError

__all__ = ["ensure_schema", "recorded_version"]


def ensure_schema(engine: Any, tables: Any, *, dialect: str, where: str, prefix: str) -> None:
    """Check the recorded schema version, or create the tables and record it (safe against a
    second instance creating them at the same time). Raises ``SchemaVersionError`` on a mismatch,
    changing nothing."""
    from sqlalchemy import inspect, select
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    from .schema import SCHEMA_VERSION

    for attempt in range(5):
        names = set(inspect(engine).get_table_names())
        if tables.meta.name in names:
            with engine.connect() as conn:
                found = conn.execute(
                    select(tables.meta.c.value).where(tables.meta.c.key == "schema_version")
                ).scalar()
            if found is not None and found != str(SCHEMA_VERSION):
                older = found.isdigit() and int(found) < SCHEMA_VERSION
                raise SchemaVersionError(
                    f"telemetry store {where} (tables {prefix}*) has schema version "
                    f"{found}; this version of attune expects {SCHEMA_VERSION}. "
                    + (
                        "It was written by an older attune: export what you need and open a new store "
                        "(or a new table_prefix); nothing was changed."
                        if older
                        else "It was written by a newer attune: upgrade attune-router; nothing was changed."
                    )
                )
        elif tables.calls.name in names:
            if attempt < 4:  # another instance may be creating the tables right now (meta comes last)
                time.sleep(0.1)
                continue
            raise SchemaVersionError(
                f"telemetry store {where} has a {tables.calls.name} table but no schema version: "
                "it was not written by this version of attune; nothing was changed"
            )
        try:
            tables.metadata.create_all(engine, checkfirst=True)
            ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(tables.meta)
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
            if attempt == 4:
                raise
            time.sleep(0.05)  # concurrent create_all by a second instance: retry


def recorded_version(engine: Any, tables: Any) -> int:
    """The schema version recorded in the store."""
    from sqlalchemy import select

    m = tables.meta
    with engine.connect() as conn:
        return int(conn.execute(select(m.c.value).where(m.c.key == "schema_version")).scalar_one())
