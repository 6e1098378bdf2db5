"""The store's tables (SQLAlchemy Core), their indexes and the recorded schema version.

Imported only when a store is opened: SQLAlchemy costs about half a second to import.

Tables (``prefix`` defaults to ``attune_``):
  ``{prefix}calls``     one row per call; ``ts`` = epoch seconds of ``timestamp``
  ``{prefix}attempts``  one row per attempt (``started_at`` epoch seconds)
  ``{prefix}rollups``   one row per minute x deployment x task type (see ``rollups.Rollup``)
  ``{prefix}meta``      key/value; ``schema_version``

Indexes lead with time: queries nearly always carry a time range, and an index led by a
low-cardinality column (provider) made SQLite choose a much slower plan for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import re

from ._columns import ATTEMPTS, CALLS, KEY_WIDTH, ROLLUP_KEY, ROLLUPS

__all__ = ["SCHEMA_VERSION", "Tables", "build_tables", "check_prefix"]

_PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,39}")

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Tables:
    """The SQLAlchemy tables of one store."""

    metadata: Any
    calls: Any
    attempts: Any
    rollups: Any
    meta: Any


def check_prefix(prefix: object) -> str:
    """``prefix`` if it can name tables unquoted on both dialects, else a ``ValueError``.

    Lower-case ASCII letters, digits and underscores, not starting with a digit, at most 40
    characters (PostgreSQL folds unquoted names to lower case and cuts them at 63).
    """
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"table_prefix {prefix!r} is not valid: use lower-case ASCII letters, digits and "
            "underscores, not starting with a digit, at most 40 characters (e.g. 'my_app_')"
        )
    return prefix


def build_tables(prefix: str = "attune_") -> Tables:
    """Table objects for ``prefix`` (see ``check_prefix``)."""
    check_prefix(prefix)
    from sqlalchemy import Index, MetaData

    md = MetaData()
    calls = _table(f"{prefix}calls", md, CALLS, primary=("call_id",))
    Index(f"{prefix}ix_calls_ts", calls.c.ts)
    attempts = _table(f"{prefix}attempts", md, ATTEMPTS, primary=())
    Index(f"{prefix}ix_attempts_call", attempts.c.call_id)
    Index(f"{prefix}ix_attempts_started", attempts.c.started_at)
    rollups = _table(f"{prefix}rollups", md, ROLLUPS, primary=ROLLUP_KEY)
    from sqlalchemy import Column, String, Table, Text

    meta = Table(
        f"{prefix}meta",
        md,
        Column("key", String(100), primary_key=True),
        Column("value", Text, nullable=False),
    )
    return Tables(md, calls, attempts, rollups, meta)


def _table(name: str, md: Any, columns: tuple[tuple[str, str, bool], ...], primary: tuple[str, ...]) -> Any:
    """A SQLAlchemy table from ``_columns`` specs."""
    from sqlalchemy import BigInteger, Boolean, Column, Float, Integer, LargeBinary, String, Table, Text

    kinds: dict[str, Any] = {"text": Text, "int": BigInteger, "int32": Integer, "float": Float(53),
                             "bool": Boolean, "bytes": LargeBinary}  # fmt: skip
    cols = []
    for col, kind, nullable in columns:
        type_ = String(KEY_WIDTH[col]) if kind == "key" else kinds[kind]
        if col in primary:
            cols.append(Column(col, type_, primary_key=True))
        else:
            cols.append(Column(col, type_, nullable=nullable))
    return Table(name, md, *cols)
