"""The telemetry records: one ``LLMCallRecord`` per routed call, one ``AttemptRecord`` per attempt.

The seed's fields keep the seed's names and types (a contract); the fields after them are
additions users need. Records are plain slotted dataclasses: building one costs well under a
microsecond, so the router fills one for every call.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

__all__ = ["AttemptRecord", "LLMCallRecord", "SkippedDeployment", "CALL_FIELDS", "ATTEMPT_FIELDS"]


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(slots=True)
class AttemptRecord:
    """One attempt at one deployment within a call.

    ``outcome`` is ``"success"``, ``"error"``, ``"skipped"`` (never sent: breaker open or a
    Retry-After window) or ``"cancelled"``. ``error_type`` uses the router's error taxonomy.
    """

    call_id: str
    position: int  # index of the deployment in the order the call tried them (0 = first choice)
    retry_number: int  # 0 for the first attempt at this deployment
    deployment: str  # "provider/model" key of the deployment
    provider: str
    model: str
    outcome: str
    error_type: str | None = None
    http_status: int | None = None
    latency_ms: float = 0.0
    started_at: datetime = field(default_factory=_utcnow)


@dataclass(slots=True, frozen=True)
class SkippedDeployment:
    """A deployment the policy left out of the order, and why."""

    deployment: str
    reason: str


@dataclass(slots=True)
class LLMCallRecord:
    """One routed LLM call, success or failure, filled by the router."""

    # Identity
    call_id: str
    timestamp: datetime = field(default_factory=_utcnow)

    # Request details
    provider: str = ""
    model: str = ""
    tier: str = ""
    task_type: str = ""

    # Response metrics
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    latency_ms: int = 0

    # Resilience tracking
    fallback_used: bool = False
    fallback_chain: list[str] = field(default_factory=list)
    original_provider: str | None = None
    original_model: str | None = None
    retry_count: int = 0
    circuit_breaker_state: str | None = None

    # Error tracking
    success: bool = True
    error_type: str | None = None
    error_message: str | None = None

    # Additions (not in the seed)
    deployment: str = ""  # "provider/model" key of the deployment that served (or last failed)
    ttft_ms: int | None = None  # time to first token where the provider streams
    request_id: str | None = None  # provider's response id / x-request-id
    policy: str | None = None  # name of the policy that ordered the chain
    plan_order: list[str] = field(default_factory=list)  # order the policy produced
    skipped: list[SkippedDeployment] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    attempts: list[AttemptRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of every field (attempts and skips as nested dicts)."""
        out: dict[str, Any] = {}
        for f in CALL_FIELDS:
            value = getattr(self, f)
            if f == "attempts":
                value = [{a: getattr(x, a) for a in ATTEMPT_FIELDS} for x in value]
            elif f == "skipped":
                value = [{"deployment": s.deployment, "reason": s.reason} for s in value]
            out[f] = value
        return out


CALL_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(LLMCallRecord))
ATTEMPT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AttemptRecord))
