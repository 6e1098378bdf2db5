"""What ``router.validation`` and its pydantic side (``router._schema``) share: the bounds a
configured number declares (``Range``), the longest time a setting may name, and values cut
short for error messages."""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_SECONDS", "Range", "cut", "shorten"]

MAX_SECONDS = 10.0**7  # about 116 days: the longest time any setting may name


@dataclass(frozen=True, slots=True)
class Range:
    """Bounds of a configured number (``Annotated[float, Range(gt=0)]``); always finite."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 60, 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6


def cut(value: Any, limit: int = 100) -> str:
    """``repr(value)`` cut short: bounded in depth, items and length, whatever ``value`` is."""
    try:
        text = _REPR.repr(value)
    except Exception:  # an int past the digit limit, a repr that raises, ...
        return f"<a {type(value).__name__} that cannot be shown>"
    return shorten(text, limit)


def shorten(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
