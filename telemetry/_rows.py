"""Conversions between records and database rows / spool lines.

Timestamps are stored as float seconds since the epoch (UTC); a naive ``datetime`` is read as
UTC. List and dict fields are stored as JSON text.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from ._columns import ATTEMPT_COLUMNS, CALL_COLUMNS
from .records import AttemptRecord, LLMCallRecord, SkippedDeployment

try:  # optional speed-up; the stdlib json is used when orjson is absent
    import orjson as _orjson

    def _dumps(value: Any) -> str:
        return _orjson.dumps(value, default=str).decode()

    _loads = _orjson.loads

    def _line(value: Any) -> bytes:
        # A copy of orjson's output, not the output itself: orjson's buffer is larger than its
        # bytes, and kept (a queued line is) each one cost a fresh allocation, 3.6 µs a call
        # against 0.7 µs with the copy, which frees the buffer for the next call to reuse.
        return _orjson.dumps(value, default=str) + b"\n"

except ImportError:  # pragma: no cover - depends on the environment

    def _dumps(value: Any) -> str:
        return json.dumps(value, default=str, separators=(",", ":"))

    def _line(value: Any) -> bytes:
        return (_dumps(value) + "\n").encode()

    _loads = json.loads

__all__ = [
    "ATTEMPT_COLUMNS",
    "CALL_COLUMNS",
    "attempt_from_row",
    "attempt_values",
    "call_from_row",
    "call_row",
    "decode_line",
    "encode_line",
    "epoch",
    "from_epoch",
    "queue_line",
    "text_columns",
]

UTC = timezone.utc



def epoch(dt: datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken as UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def from_epoch(ts: float) -> datetime:
    """An aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


def deployment_of(r: LLMCallRecord) -> str:
    """The record's deployment key, ``provider/model`` when the router left it empty."""
    return r.deployment or f"{r.provider}/{r.model}"


def call_row(r: LLMCallRecord) -> tuple[Any, ...]:
    """The calls-table row of a record, in ``CALL_COLUMNS`` order."""
    return _call_values(r, True, ())


def _call_values(r: LLMCallRecord, text: bool, tail: tuple[Any, ...]) -> tuple[Any, ...]:
    """The calls-table row of ``r`` followed by ``tail``: its ``JSON_COLUMNS`` as JSON text
    (``text``, the stored form) or as the lists and dict themselves (a queued line's form)."""
    fallback_chain, plan_order, tags, skipped = r.fallback_chain, r.plan_order, r.tags, r.skipped
    skips = [[s.deployment, s.reason] for s in skipped] if skipped else None
    if text:
        fallback_chain = _dumps(fallback_chain) if fallback_chain else None
        plan_order = _dumps(plan_order) if plan_order else None
        skips = _dumps(skips) if skips else None
        tags = _dumps(tags) if tags else None
    ts = r.timestamp
    return (
        r.call_id, ts.timestamp() if ts.tzinfo is not None else epoch(ts), r.provider, r.model, r.tier, r.task_type,
        r.input_tokens, r.output_tokens, r.cost, r.latency_ms,
        r.fallback_used, fallback_chain or None,
        r.original_provider, r.original_model,
        r.retry_count, r.circuit_breaker_state, r.success, r.error_type, r.error_message,
        r.deployment or f"{r.provider}/{r.model}", r.ttft_ms, r.request_id, r.policy,
        plan_order or None, skips, tags or None,
        len(r.attempts),
    ) + tail  # fmt: skip


def attempt_rows(r: LLMCallRecord) -> list[tuple[Any, ...]]:
    """The attempts-table rows of a record, in ``ATTEMPT_COLUMNS`` order."""
    task = r.task_type
    return [(*a, task) for a in attempt_values(r)]


def attempt_values(r: LLMCallRecord) -> list[tuple[Any, ...]]:
    """The attempts-table rows of a record without their last column (the call's task type)."""
    return [
        (a.call_id or r.call_id, a.position, a.retry_number, a.deployment, a.provider, a.model,
         a.outcome, a.error_type, a.http_status, a.latency_ms,
         a.started_at.timestamp() if a.started_at.tzinfo is not None else epoch(a.started_at))
        for a in r.attempts
    ]  # fmt: skip


def call_from_row(row: Any, attempts: list[AttemptRecord] | None = None) -> LLMCallRecord:
    """A record from a calls-table row in ``CALL_COLUMNS`` order."""
    (call_id, ts, provider, model, tier, task_type, input_tokens, output_tokens, cost,
     latency_ms, fallback_used, fallback_chain, original_provider, original_model, retry_count,
     cb_state, success, error_type, error_message, deployment, ttft_ms, request_id, policy,
     plan_order, skipped, tags, _attempt_count) = row  # fmt: skip
    return LLMCallRecord(
        call_id=call_id,
        timestamp=from_epoch(ts),
        provider=provider,
        model=model,
        tier=tier,
        task_type=task_type,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=cost,
        latency_ms=latency_ms,
        fallback_used=bool(fallback_used),
        fallback_chain=_json(fallback_chain) if fallback_chain else [],
        original_provider=original_provider,
        original_model=original_model,
        retry_count=retry_count,
        circuit_breaker_state=cb_state,
        success=bool(success),
        error_type=error_type,
        error_message=error_message,
        deployment=deployment,
        ttft_ms=ttft_ms,
        request_id=request_id,
        policy=policy,
        plan_order=_json(plan_order) if plan_order else [],
        skipped=[SkippedDeployment(d, why) for d, why in _json(skipped)] if skipped else [],
        tags=_json(tags) if tags else {},
        attempts=attempts if attempts is not None else [],
    )


def attempt_from_row(row: Any) -> AttemptRecord:
    """An attempt from an attempts-table row in ``ATTEMPT_COLUMNS`` order."""
    (call_id, position, retry_number, deployment, provider, model, outcome, error_type,
     http_status, latency_ms, started_at, _task) = row  # fmt: skip
    return AttemptRecord(
        call_id=call_id,
        position=position,
        retry_number=retry_number,
        deployment=deployment,
        provider=provider,
        model=model,
        outcome=outcome,
        error_type=error_type,
        http_status=http_status,
        latency_ms=latency_ms,
        started_at=from_epoch(started_at),
    )


def encode_line(r: LLMCallRecord) -> bytes:
    """One spool line (JSON, newline-terminated) holding the whole record: its calls-table row,
    then its attempts' rows (``attempt_values``). ``r`` must have passed ``_validate``."""
    return _line(_call_values(r, True, (attempt_values(r),)))


def queue_line(r: LLMCallRecord) -> bytes:
    """``encode_line(r)`` with the list and tags columns as JSON arrays and objects, not as JSON
    text inside the line (``JSON_COLUMNS``; ``text_columns`` makes them text for binding): the
    caller's thread encodes the record once, 0.5 µs sooner. ``decode_line`` reads both forms.
    ``r`` must have passed ``_validate``'s fast check."""
    return _line(_call_values(r, False, (attempt_values(r),)))


JSON_COLUMNS = (11, 23, 24, 25)  # fallback_chain, plan_order, skipped, tags: stored as JSON text


def text_columns(row: list[Any]) -> None:
    """A calls-table row read from a line, its ``JSON_COLUMNS`` made JSON text (as ``call_row``
    makes them) where ``queue_line`` left them as arrays and objects."""
    for i in JSON_COLUMNS:
        v = row[i]
        if v is not None and type(v) is not str:
            row[i] = _dumps(v)


def _json(value: Any) -> Any:
    """A JSON column as read from a line or a row: parsed when it is JSON text."""
    return _loads(value) if type(value) is str else value


def decode_line(line: bytes) -> LLMCallRecord:
    """The record of one spool line."""
    row = _loads(line)
    attempts = [attempt_from_row((*a, None)) for a in row.pop()]
    return call_from_row(row, attempts)
