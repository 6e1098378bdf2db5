"""The columns of the store's tables, in one place: name, kind, nullable, in table order.

``schema.build_tables`` makes the SQLAlchemy tables from these; the row codecs (``_rows``,
``_rollup_codec``), the writers and the queries take their column orders from here, and
``tests/telemetry/test_telemetry_columns.py`` checks the SQLModel classes (``models``) and the
record and rollup classes against them. Plain data: importing it loads nothing.

Kinds: ``key`` (text, bounded: part of a primary key or an index), ``text``, ``int`` (64-bit),
``int32``, ``float``, ``bool``, ``bytes``.
"""

from __future__ import annotations

__all__ = ["ATTEMPT_COLUMNS", "ATTEMPTS", "CALL_COLUMNS", "CALLS", "KEY_WIDTH", "ROLLUP_COLUMNS",
           "ROLLUP_KEY", "ROLLUP_VALUE_COLUMNS", "ROLLUPS"]  # fmt: skip

Column = tuple[str, str, bool]  # name, kind, nullable

# widths of the bounded text columns (PostgreSQL enforces them; the record checks refuse longer)
KEY_WIDTH = {"call_id": 200, "deployment": 300, "task_type": 200}

# ``ts`` holds the record's ``timestamp`` (epoch seconds); ``attempt_count`` is derived
CALLS: tuple[Column, ...] = (
    ("call_id", "key", False), ("ts", "float", False), ("provider", "text", False),
    ("model", "text", False), ("tier", "text", False), ("task_type", "text", False),
    ("input_tokens", "int", False), ("output_tokens", "int", False), ("cost", "float", False),
    ("latency_ms", "int", False), ("fallback_used", "bool", False), ("fallback_chain", "text", True),
    ("original_provider", "text", True), ("original_model", "text", True),
    ("retry_count", "int32", False), ("circuit_breaker_state", "text", True),
    ("success", "bool", False), ("error_type", "text", True), ("error_message", "text", True),
    ("deployment", "text", False), ("ttft_ms", "int", True), ("request_id", "text", True),
    ("policy", "text", True), ("plan_order", "text", True), ("skipped", "text", True),
    ("tags", "text", True), ("attempt_count", "int32", False),
)  # fmt: skip

# ``started_at`` epoch seconds; ``task_type`` is the call's (for per-task attempt rollups)
ATTEMPTS: tuple[Column, ...] = (
    ("call_id", "key", False), ("position", "int32", False), ("retry_number", "int32", False),
    ("deployment", "text", False), ("provider", "text", False), ("model", "text", False),
    ("outcome", "text", False), ("error_type", "text", True), ("http_status", "int32", True),
    ("latency_ms", "float", False), ("started_at", "float", False), ("task_type", "text", False),
)  # fmt: skip

# one row per minute x deployment x task type; ``errors``/``attempt_errors`` JSON, ``*_hist`` int64 bytes
ROLLUP_KEY = ("minute", "deployment", "task_type")
ROLLUPS: tuple[Column, ...] = (
    ("minute", "int", False), ("deployment", "key", False), ("task_type", "key", False),
    ("provider", "text", False), ("model", "text", False), ("calls", "int", False),
    ("successes", "int", False), ("errors", "text", False), ("retries", "int", False),
    ("fallbacks", "int", False), ("input_tokens", "int", False), ("output_tokens", "int", False),
    ("cost", "float", False), ("latency_sum_ms", "float", False), ("latency_hist", "bytes", False),
    ("ttft_hist", "bytes", False), ("attempts", "int", False), ("attempt_successes", "int", False),
    ("attempt_failures", "int", False), ("attempt_errors", "text", False),
    ("attempt_latency_hist", "bytes", False), ("updated_at", "float", False),
)  # fmt: skip

CALL_COLUMNS: tuple[str, ...] = tuple(c[0] for c in CALLS)
ATTEMPT_COLUMNS: tuple[str, ...] = tuple(c[0] for c in ATTEMPTS)
ROLLUP_COLUMNS: tuple[str, ...] = tuple(c[0] for c in ROLLUPS)
ROLLUP_VALUE_COLUMNS: tuple[str, ...] = tuple(c for c in ROLLUP_COLUMNS if c not in ROLLUP_KEY)
