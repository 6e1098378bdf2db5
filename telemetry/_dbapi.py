"""DBAPI helpers shared by the store's parts: what a database error means, private files,
and checked seconds settings."""

from __future__ import annotations

import math
import os
from typing import Any

from .errors import TelemetryError

__all__ = ["check_seconds", "create_private", "is_connection_error", "is_data_error", "is_unavailable_error"]


def is_connection_error(exc: BaseException) -> bool:
    """True for errors after which the writer's connection should be replaced."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
    mod = type(exc).__module__
    name = type(exc).__name__
    return name in ("OperationalError", "InterfaceError") and mod.split(".")[0] in ("sqlite3", "psycopg")


def create_private(path: str | None) -> None:
    """Create the SQLite file 0600 if it does not exist yet (SQLite gives its -wal and -shm
    files the database file's mode)."""
    if not path:
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:  # it exists, or its directory does not (SQLite reports that on connect)
        pass


def check_seconds(name: str, value: Any, least: float = 0.0) -> float:
    """``value`` as a finite number of seconds >= ``least``, else a ``ValueError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__} {value!r:.60}")
    if not (math.isfinite(value) and value >= least and value <= 1e9):
        bound = "> 0" if least > 0 else ">= 0"
        raise ValueError(f"{name} must be a finite number of seconds {bound}, got {value!r}")
    return float(value)


def is_unavailable_error(exc: BaseException) -> bool:
    """True when ``exc`` says the database cannot be reached or used right now (a connection,
    a lock, a timeout, a disk), as opposed to a bug or a bad record."""
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    names = {c.__name__ for c in type(exc).__mro__}
    return bool(names & {"OperationalError", "InterfaceError"})


def is_data_error(exc: BaseException) -> bool:
    """True when the batch's content is at fault, so retrying the same rows cannot help: the
    database rejected a value (``DataError``/``IntegrityError``), the driver could not bind one
    (sqlite3's "Error binding parameter"), or converting a field failed in Python
    (``TypeError``, ``ValueError``, ``AttributeError``, ``OverflowError``, ``LookupError``).
    Everything else (a connection, a lock, a timeout, a missing table) is the database's
    state, and the same batch is retried."""
    if isinstance(exc, (TypeError, ValueError, AttributeError, OverflowError, LookupError)):
        return not isinstance(exc, TelemetryError)
    names = {c.__name__ for c in type(exc).__mro__}
    if "OperationalError" in names:
        return False
    if names & {"DataError", "IntegrityError"}:
        return True
    return type(exc).__module__.startswith("sqlite3") and "binding" in str(exc)
