"""The fake provider's control endpoint, ``/_control/*``: set faults at run time, read counts,
reset. Standard library only.

::

    POST /_control/faults   {"route": R, "script": [fault, ...], "default": fault, "context_limit": N}
                            -> {"route": R, "scripted": n, "default": fault}
    POST /_control/reset    -> {"ok": true}
    GET  /_control/stats    -> {"total": N, "routes": {R: {"requests": n, "outcomes": {...}}}}

Fault JSON is documented in ``router.testing.faults``. A malformed body is answered 400 with an
OpenAI error object naming the problem.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from router.testing.faults import Fault
from router.testing.routes import RouteTable

__all__ = ["FaultUpdate", "handle_control", "parse_fault_update"]

_FIELDS = {"route", "script", "default", "context_limit"}


class FaultUpdate(NamedTuple):
    """A parsed ``POST /_control/faults`` body; ``None`` fields (and absent keys) are left alone."""

    route: str
    script: list[Fault | None] | None
    default: tuple[Fault | None] | None  # a 1-tuple when given (its fault may be None = success)
    context_limit: tuple[int | None] | None


def parse_fault_update(body: bytes) -> FaultUpdate:
    """Parse and check a faults update; raises ``ValueError`` naming the bad field."""
    payload = json.loads(body or b"null")
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    unknown = set(payload) - _FIELDS
    if unknown:
        raise ValueError(f"unknown field(s): {sorted(unknown)}")
    route = payload.get("route")
    if not isinstance(route, str) or not route:
        raise ValueError("'route' must be a non-empty string")
    script = payload.get("script")
    if script is not None and not isinstance(script, list):
        raise ValueError("'script' must be a list of faults")
    limit = payload.get("context_limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
        raise ValueError("'context_limit' must be an integer")
    return FaultUpdate(
        route,
        [Fault.from_json(f) for f in script] if script is not None else None,
        (Fault.from_json(payload["default"]),) if "default" in payload else None,
        (limit,) if "context_limit" in payload else None,
    )


def handle_control(table: RouteTable, method: str, path: str, body: bytes) -> tuple[int, Any] | None:
    """``(status, JSON answer)`` for a control request, ``None`` for an unknown one."""
    if path == "/_control/stats" and method == "GET":
        return 200, table.stats()
    if path == "/_control/reset" and method == "POST":
        table.reset()
        return 200, {"ok": True}
    if path != "/_control/faults" or method != "POST":
        return None
    try:
        update = parse_fault_update(body)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        return 400, {"error": {"message": str(exc), "type": "invalid_request_error", "param": None, "code": None}}
    if update.script is not None:
        table.script(update.route, update.script, replace=True)
    if update.default is not None:
        table.set_default(update.route, update.default[0])
    if update.context_limit is not None:
        table.set_context_limit(update.route, update.context_limit[0])
    current = table.default(update.route)
    return 200, {"route": update.route, "scripted": table.scripted(update.route), "default": current.to_json() if current else None}
