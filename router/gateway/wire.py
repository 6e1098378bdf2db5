"""What the gateway writes: OpenAI JSON bodies, server-sent events, and OpenAI error objects
with the status codes the SDKs map to their exception classes."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import Any

from router.errors import InvalidRequestError, RoutingError, UnknownModelError

__all__ = ["OPENAI", "ROUTING_EXTRAS", "OpenAIFront", "dumps", "error_body", "invalid_request_status", "retry_after_for", "routing_error_status", "to_wire"]

# our own call options: a wire client cannot set them as body keys (the OpenAI API would
# answer "Unrecognized request argument" too)
RESERVED = frozenset({"task_type", "tags", "deadline_s", "timeout", "extra_headers", "extra_query", "extra_body", "max_retries"})

# routing facts our objects carry; over the wire they travel as x-attune-* headers instead
ROUTING_EXTRAS = ("provider", "deployment", "call_id", "fallback_used", "retry_count")

try:  # orjson when installed: same bytes for the same values, several times faster
    import orjson

    def dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)

except ImportError:  # pragma: no cover - the stdlib fallback
    import json

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def to_wire(obj: Any) -> dict[str, Any]:
    """An OpenAI object (ours or the SDK's) as the JSON the OpenAI API would send."""
    if hasattr(obj, "model_dump"):  # the fields the provider sent (or the adapter set), as sent
        data = obj.model_dump(exclude_unset=True)
    elif dataclasses.is_dataclass(obj):
        data = dataclasses.asdict(obj)  # type: ignore[arg-type]
    else:
        data = dict(obj)
    for k in ROUTING_EXTRAS:
        data.pop(k, None)
    return data


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# error_type of a routed failure -> (HTTP status, OpenAI error type, code)
_ROUTING_STATUS: dict[str, tuple[int, str, str | None]] = {
    "rate_limited": (429, "rate_limit_error", "rate_limit_exceeded"),
    "timeout": (504, "timeout_error", "upstream_timeout"),
    "context_length": (400, "invalid_request_error", "context_length_exceeded"),
    "bad_request": (400, "invalid_request_error", None),
    "overloaded": (503, "server_error", "upstream_overloaded"),
    "circuit_open": (503, "server_error", "upstream_unavailable"),
    "auth": (502, "server_error", "upstream_auth_failed"),  # our credentials upstream, not the caller's
    "server_error": (502, "server_error", "upstream_error"),
    "connection": (502, "server_error", "upstream_unreachable"),
    "invalid_response": (502, "server_error", "upstream_invalid_response"),
}


def routing_error_status(exc: RoutingError) -> tuple[int, dict[str, Any]]:
    """The status and OpenAI error body for a routed call that failed."""
    status, type_, code = _ROUTING_STATUS.get(exc.error_type, (502, "server_error", "upstream_error"))
    if exc.error_type == "bad_request":
        last = next((a.http_status for a in reversed(exc.attempts) if a.http_status), None)
        if last in (404, 422):
            status = last
    return status, error_body(exc.summary, type_, code)


def invalid_request_status(exc: InvalidRequestError) -> tuple[int, dict[str, Any]]:
    if isinstance(exc, UnknownModelError):
        return 404, error_body(str(exc), "invalid_request_error", "model_not_found", "model")
    return 400, error_body(str(exc), "invalid_request_error", None, exc.argument)


def retry_after_for(router: Any, model: str, now: float | None = None) -> float:
    """Seconds until the first deployment of ``model``'s chain leaves its Retry-After window."""
    now = time.time() if now is None else now
    tier = router.tiers.get(model)
    keys = tier.chain if tier is not None else [model]
    waits = [router.cooldown_until(k) - now for k in keys if k in router.deployments]
    waits = [w for w in waits if w > 0]
    return max(1.0, min(waits)) if waits else 1.0


class OpenAIFront:
    """How the OpenAI routes take a key and word a refusal (``router.gateway.messages_reply``
    has the Anthropic one): ``(status, body)`` for each kind of error."""

    reserved = RESERVED

    def credentials(self, headers: Mapping[str, str]) -> tuple[str | None, str | None]:
        return headers.get("Authorization"), None

    def denied(self, status: int, type_: str, code: str | None, message: str, param: str | None) -> tuple[int, dict[str, Any]]:
        return status, error_body(message, type_, code, param)

    def http_error(self, status: int, message: str) -> tuple[int, dict[str, Any]]:
        return status, error_body(message, "invalid_request_error" if status < 500 else "server_error", None)

    def routing(self, exc: RoutingError) -> tuple[int, dict[str, Any]]:
        return routing_error_status(exc)

    def invalid(self, exc: InvalidRequestError) -> tuple[int, dict[str, Any]]:
        return invalid_request_status(exc)

    def call_headers(self, call_id: str) -> dict[str, str]:
        return {"x-request-id": call_id}


OPENAI = OpenAIFront()
