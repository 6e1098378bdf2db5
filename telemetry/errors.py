"""Errors and warnings raised by the telemetry package.

    TelemetryError
    ├── SchemaVersionError   the store was written by another schema version
    └── TelemetryClosedError submit/record after close()

    TelemetryDropWarning (RuntimeWarning)   records were dropped; the count is in ``stats.dropped``
"""

from __future__ import annotations

__all__ = ["SchemaVersionError", "TelemetryClosedError", "TelemetryDropWarning", "TelemetryError"]


class TelemetryError(Exception):
    """Base class of telemetry errors."""


class SchemaVersionError(TelemetryError):
    """The store's recorded schema version is not the one this code writes."""


class TelemetryClosedError(TelemetryError):
    """A record was submitted to a backend that is closed."""


class TelemetryDropWarning(RuntimeWarning):
    """Records were dropped (never silently: ``stats.dropped`` counts them)."""
