"""Validate ``query`` filters against the record's fields: names and value types, never SQL text."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime
from typing import Any

from .records import AttemptRecord, LLMCallRecord

__all__ = ["ATTEMPT_FILTERS", "CALL_FILTERS", "MAX_FILTER_VALUES", "check_filters", "check_limit", "check_time", "check_value"]

MAX_FILTER_VALUES = 10_000  # all filters of one query together (SQLite binds at most 32,766)
_INT64 = (1 << 63) - 1

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
    total = 0
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
        total += len(values)
        if total > MAX_FILTER_VALUES:
            raise ValueError(
                f"filter {name!r}: {total} values in this query's filters; at most {MAX_FILTER_VALUES} "
                "are supported (filter on fewer values, or load a frame and select in numpy)"
            )
        for v in values:
            if v is None:
                if not nullable:
                    raise TypeError(f"filter {name!r}: field is not optional, None never matches")
                continue
            ok = isinstance(v, types) and not (isinstance(v, bool) and bool not in types)
            if not ok:
                want = " or ".join(t.__name__ for t in types)
                raise TypeError(f"filter {name!r} expects {want}, got {type(v).__name__}")
            check_value(f"filter {name!r}", v)
        out[name] = values
    return out


def check_value(where: str, v: Any) -> None:
    """Raise ``ValueError`` for a value no stored row can hold: an integer beyond 64 bits, a
    NaN or infinite float, text with a NUL character or a lone surrogate."""
    if isinstance(v, bool):
        return
    if isinstance(v, int):
        if not -_INT64 - 1 <= v <= _INT64:
            raise ValueError(f"{where}: {v} is outside the stored 64-bit integer range")
    elif isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"{where}: {v!r} is not a finite number")
    elif isinstance(v, str):
        if "\x00" in v:
            raise ValueError(f"{where}: the value contains a NUL character, which stored text never does")
        if not v.isascii():
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"{where}: the value is not valid UTF-8 text (a lone surrogate)") from None


def check_limit(limit: Any) -> None:
    """``limit`` must be None or a non-negative int within 64 bits."""
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise TypeError(f"limit must be a non-negative int or None, got {limit!r}")
    if limit is not None and limit > _INT64:
        raise ValueError(f"limit must be at most {_INT64}, got {limit}")


def check_time(name: str, value: datetime | float | int | None) -> float | None:
    """``since``/``until`` as epoch seconds; accepts a datetime (naive = UTC) or a number."""
    if value is None:
        return None
    if isinstance(value, datetime):
        from ._rows import epoch

        return epoch(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if not math.isfinite(seconds) or abs(seconds) > 1e15:
            raise ValueError(f"{name} must be a datetime or finite epoch seconds (|x| <= 1e15), got {value!r:.60}")
        return seconds
    raise TypeError(f"{name} expects a datetime or epoch seconds, got {type(value).__name__}")
