"""Telemetry for attune-router: records, durable stores (SQLite, PostgreSQL), rollups, analysis.

Importing this package is cheap: SQLAlchemy loads when a store is first used, numpy when
rollups or analysis are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .backend import TelemetryBackend
from .errors import SchemaVersionError, TelemetryClosedError, TelemetryDropWarning, TelemetryError
from .histogram import quantile, quantiles
from .memory import MemorySink
from .records import AttemptRecord, LLMCallRecord, SkippedDeployment
from .signals import install_signal_handlers
from .store import TelemetryStore, WriteResult
from .writer import TelemetryStats

if TYPE_CHECKING:
    from .analysis import CallFrame, GroupBy, Trend
    from .rollups import Rollup, merge_rollups, percentiles_by

__all__ = [
    "AttemptRecord",
    "CallFrame",
    "GroupBy",
    "LLMCallRecord",
    "MemorySink",
    "Rollup",
    "SchemaVersionError",
    "SkippedDeployment",
    "TelemetryBackend",
    "TelemetryClosedError",
    "TelemetryDropWarning",
    "TelemetryError",
    "TelemetryStats",
    "TelemetryStore",
    "Trend",
    "WriteResult",
    "install_signal_handlers",
    "merge_rollups",
    "percentiles_by",
    "quantile",
    "quantiles",
]

_LAZY = {
    "CallFrame": "analysis",
    "GroupBy": "analysis",
    "Trend": "analysis",
    "Rollup": "rollups",
    "merge_rollups": "rollups",
    "percentiles_by": "rollups",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'telemetry' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
