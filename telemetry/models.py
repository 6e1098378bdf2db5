"""SQLModel classes over the store's tables (default prefix ``attune_``), for reading with
an ORM session in scripts and notebooks::

    from sqlmodel import Session, create_engine, select
    from telemetry.models import AttemptRow, CallRow

    engine = create_engine("sqlite:///attune-telemetry.db")
    with Session(engine) as s:
        slow = s.exec(select(CallRow).where(CallRow.success == False, CallRow.latency_ms > 5000)).all()

The store writes with batched DBAPI ``executemany`` (ORM inserts cost about 100 times more
per row); these classes map the same columns for reading. ``ts`` / ``started_at`` are epoch
seconds; list and dict fields are JSON text. Import this module explicitly: SQLModel is not
loaded by ``import telemetry``.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel

__all__ = ["AttemptRow", "CallRow"]


class CallRow(SQLModel, table=True):
    """One routed call (``attune_calls``)."""

    __tablename__ = "attune_calls"

    call_id: str = Field(primary_key=True)
    ts: float
    provider: str
    model: str
    tier: str
    task_type: str
    input_tokens: int
    output_tokens: int
    cost: float
    latency_ms: int
    fallback_used: bool
    fallback_chain: str | None = None
    original_provider: str | None = None
    original_model: str | None = None
    retry_count: int
    circuit_breaker_state: str | None = None
    success: bool
    error_type: str | None = None
    error_message: str | None = None
    deployment: str
    ttft_ms: int | None = None
    request_id: str | None = None
    policy: str | None = None
    plan_order: str | None = None
    skipped: str | None = None
    tags: str | None = None
    attempt_count: int


class AttemptRow(SQLModel, table=True):
    """One attempt of a call (``attune_attempts``); the table has no key of its own, so the
    mapping uses ``(call_id, position, retry_number)``."""

    __tablename__ = "attune_attempts"

    call_id: str = Field(primary_key=True)
    position: int = Field(primary_key=True)
    retry_number: int = Field(primary_key=True)
    deployment: str
    provider: str
    model: str
    outcome: str
    error_type: str | None = None
    http_status: int | None = None
    latency_ms: float
    started_at: float
    task_type: str
