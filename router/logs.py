"""One log line per finished call on the ``attune.calls`` logger, with structured fields.

The router adds ``log_call`` to its record hooks. Nothing is printed unless the application
configures logging (the ``attune`` logger has a ``NullHandler``): a failed call logs at
WARNING, one served by a fallback at INFO, any other at DEBUG. Every line carries, as
``LogRecord`` attributes (``extra``), ``call_id``, ``deployment``, ``error_type``, ``tier``,
``task_type``, ``retry_count``, ``fallback_used`` and ``latency_ms``; never a key, a prompt
or a completion (the record holds none, and ``error_message`` is not logged)::

    logging.basicConfig(format="%(levelname)s %(name)s %(message)s call=%(call_id)s dep=%(deployment)s")
    logging.getLogger("attune").setLevel(logging.INFO)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telemetry.records import LLMCallRecord

__all__ = ["log_call"]

log = logging.getLogger("attune.calls")
logging.getLogger("attune").addHandler(logging.NullHandler())
_DEBUG, _INFO, _WARNING = logging.DEBUG, logging.INFO, logging.WARNING


def log_call(r: LLMCallRecord) -> None:
    """Log one finished call (a record hook; costs one level check when the level is off)."""
    level = _WARNING if not r.success else _INFO if r.fallback_used else _DEBUG
    if not log.isEnabledFor(level):
        return
    fields = {
        "call_id": r.call_id,
        "deployment": r.deployment,
        "error_type": r.error_type,
        "tier": r.tier,
        "task_type": r.task_type,
        "retry_count": r.retry_count,
        "fallback_used": r.fallback_used,
        "latency_ms": r.latency_ms,
    }
    if not r.success:
        log.warning("call %s failed (%s) after %s attempts, last at %s", r.call_id, r.error_type, len(r.attempts), r.deployment, extra=fields)
    elif r.fallback_used:
        log.info("call %s served by fallback %s after %s", r.call_id, r.deployment, " -> ".join(r.fallback_chain[:-1]), extra=fields)
    else:
        log.debug("call %s served by %s in %s ms", r.call_id, r.deployment, r.latency_ms, extra=fields)
