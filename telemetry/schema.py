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
    from sqlalchemy import (
        BigInteger,
        Boolean,
        Column,
        Float,
        Index,
        Integer,
        LargeBinary,
        MetaData,
        String,
        Table,
        Text,
    )

    md = MetaData()
    calls = Table(
        f"{prefix}calls",
        md,
        Column("call_id", String(200), primary_key=True),
        Column("ts", Float(53), nullable=False),
        Column("provider", Text, nullable=False),
        Column("model", Text, nullable=False),
        Column("tier", Text, nullable=False),
        Column("task_type", Text, nullable=False),
        Column("input_tokens", BigInteger, nullable=False),
        Column("output_tokens", BigInteger, nullable=False),
        Column("cost", Float(53), nullable=False),
        Column("latency_ms", BigInteger, nullable=False),
        Column("fallback_used", Boolean, nullable=False),
        Column("fallback_chain", Text),
        Column("original_provider", Text),
        Column("original_model", Text),
        Column("retry_count", Integer, nullable=False),
        Column("circuit_breaker_state", Text),
        Column("success", Boolean, nullable=False),
        Column("error_type", Text),
        Column("error_message", Text),
        Column("deployment", Text, nullable=False),
        Column("ttft_ms", BigInteger),
        Column("request_id", Text),
        Column("policy", Text),
        Column("plan_order", Text),
        Column("skipped", Text),
        Column("tags", Text),
        Column("attempt_count", Integer, nullable=False),
    )
    Index(f"{prefix}ix_calls_ts", calls.c.ts)
    attempts = Table(
        f"{prefix}attempts",
        md,
        Column("call_id", String(200), nullable=False),
        Column("position", Integer, nullable=False),
        Column("retry_number", Integer, nullable=False),
        Column("deployment", Text, nullable=False),
        Column("provider", Text, nullable=False),
        Column("model", Text, nullable=False),
        Column("outcome", Text, nullable=False),
        Column("error_type", Text),
        Column("http_status", Integer),
        Column("latency_ms", Float(53), nullable=False),
        Column("started_at", Float(53), nullable=False),
        Column("task_type", Text, nullable=False),
    )
    Index(f"{prefix}ix_attempts_call", attempts.c.call_id)
    Index(f"{prefix}ix_attempts_started", attempts.c.started_at)
    rollups = Table(
        f"{prefix}rollups",
        md,
        Column("minute", BigInteger, primary_key=True),
        Column("deployment", String(300), primary_key=True),
        Column("task_type", String(200), primary_key=True),
        Column("provider", Text, nullable=False),
        Column("model", Text, nullable=False),
        Column("calls", BigInteger, nullable=False),
        Column("successes", BigInteger, nullable=False),
        Column("errors", Text, nullable=False),
        Column("retries", BigInteger, nullable=False),
        Column("fallbacks", BigInteger, nullable=False),
        Column("input_tokens", BigInteger, nullable=False),
        Column("output_tokens", BigInteger, nullable=False),
        Column("cost", Float(53), nullable=False),
        Column("latency_sum_ms", Float(53), nullable=False),
        Column("latency_hist", LargeBinary, nullable=False),
        Column("ttft_hist", LargeBinary, nullable=False),
        Column("attempts", BigInteger, nullable=False),
        Column("attempt_successes", BigInteger, nullable=False),
        Column("attempt_failures", BigInteger, nullable=False),
        Column("attempt_errors", Text, nullable=False),
        Column("attempt_latency_hist", LargeBinary, nullable=False),
        Column("updated_at", Float(53), nullable=False),
    )
    meta = Table(
        f"{prefix}meta",
        md,
        Column("key", String(100), primary_key=True),
        Column("value", Text, nullable=False),
    )
    return Tables(md, calls, attempts, rollups, meta)
