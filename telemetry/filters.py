"""Validate ``query`` filters against the record's fields: names and value types, never SQL text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime
from typing import Any

from .records import AttemptRecord, LLMCallRecord

__all__ = ["ATTEMPT_FILTERS", "CALL_FILTERS", "check_filters", "check_time"]

_SCALARS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
}


def _filterable(cls: type) -> dict[str, tuple[tuple[type, ...], bool]]:
    """Field name -> (accepted value types, nullable) for the scalar fields of ``cls``."""
    out: dict[str, tuple[tuple[type, ...], bool]] = {}
    for f in fields(cls):
        ann = str(f.type).replace(" ", "")
        parts = ann.split("|")
        nullable = "None" in parts
        base = [p for p in parts if p != "None"]
        if len(base) == 1 and base[0] in _SCALARS:
            out[f.name] = (_SCALARS[base[0]], nullable)
    return out


CALL_FILTERS = _filterable(LLMCallRecord)
ATTEMPT_FILTERS = _filterable(AttemptRecord)
_CALL_ALL = tuple(f.name for f in fields(LLMCallRecord))
_ATTEMPT_ALL = tuple(f.name for f in fields(AttemptRecord))


def check_filters(filters: Mapping[str, Any], *, attempts: bool = False) -> dict[str, list[Any]]:
    """Checked filters as ``{field: [allowed values]}``.

    A value may be a scalar of the field's type, ``None`` for an optional field, or a
    list/tuple/set of those (any of them matches). Raises ``ValueError`` for an unknown or
    non-filterable field and ``TypeError`` for a value of the wrong type.
    """
    table = ATTEMPT_FILTERS if attempts else CALL_FILTERS
    kind = "AttemptRecord" if attempts else "LLMCallRecord"
    everything = _ATTEMPT_ALL if attempts else _CALL_ALL
    out: dict[str, list[Any]] = {}
    for name, value in filters.items():
        spec = table.get(name)
        if spec is None:
            valid = ", ".join(sorted(table))
            if name in everything:
                raise ValueError(
                    f"{kind} field {name!r} cannot be filtered on (not a scalar); "
                    f"filterable fields: {valid}; use since=/until= for time ranges"
                )
            raise ValueError(f"unknown {kind} field {name!r}; valid filters: {valid}")
        types, nullable = spec
        values = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
        if not values:
            raise ValueError(f"filter {name!r} got an empty collection")
        for v in values:
            if v is None:
                if not nullable:
                    raise TypeError(f"filter {name!r}: field is not optional, None never matches")
                continue
            ok = isinstance(v, types) and not (isinstance(v, bool) and bool not in types)
            if not ok:
                want = " or ".join(t.__name__ for t in types)
                raise TypeError(f"filter {name!r} expects {want}, got {type(v).__name__}")
        out[name] = values
    return out


def check_time(name: str, value: datetime | float | int | None) -> float | None:
    """``since``/``until`` as epoch seconds; accepts a datetime (naive = UTC) or a number."""
    if value is None:
        return None
    if isinstance(value, datetime):
        from ._rows import epoch

        return epoch(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"{name} expects a datetime or epoch seconds, got {type(value).__name__}")
