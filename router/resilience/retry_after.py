"""Parsing ``Retry-After`` (seconds or HTTP-date) and ``retry-after-ms`` headers."""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime

__all__ = ["parse_retry_after"]

_MAX = 24 * 3600.0


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait from ``now`` (wall clock), or ``None`` when the headers say nothing usable.

    ``retry-after-ms`` wins over ``retry-after``; an HTTP-date in the past gives 0; absurd
    values are capped at a day.
    """
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0:
            return min(value, _MAX)
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        return min(max(when.timestamp() - now, 0.0), _MAX)
    if value < 0:
        return None
    return min(value, _MAX)
