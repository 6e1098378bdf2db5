"""Build a ``Report`` from a store: window, rollups, figures per group, anomalies."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .figures import BY, Columns

__all__ = ["Report", "build_report", "parse_since"]

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_since(value: str) -> tuple[str, float]:
    """``("duration", seconds)`` for ``90s``/``15m``/``2h``/``7d``/``1h30m``, or
    ``("time", epoch seconds)`` for an ISO date/time (naive = UTC); ``ValueError`` naming
    the value otherwise."""
    text = value.strip().lower()
    if text and _DURATION.sub("", text) == "":
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
        if seconds <= 0:
            raise ValueError(f"--since {value!r}: a duration must be longer than 0")
        return "duration", seconds
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--since {value!r} is neither a duration (90s, 15m, 2h, 7d, 1h30m) nor an ISO date/time "
            "(2026-12-01T09:00, 2026-12-01T09:00:00+01:00)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return "time", dt.timestamp()


@dataclass
class Report:
    """Everything ``attune report`` shows; ``to_json()`` is the contract's object."""

    by: str
    groups: dict[str, dict[str, Any]]
    fallback_heavy_tasks: dict[str, float]
    breaker_trips: dict[str, int]
    anomalies: list[dict[str, Any]]
    start: float | None = None  # epoch seconds of the window (None: empty store)
    end: float | None = None
    columns: Columns | None = field(default=None, repr=False)  # the rollups behind it (plots)

    def to_json(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "groups": self.groups,
            "fallback_heavy_tasks": self.fallback_heavy_tasks,
            "breaker_trips": self.breaker_trips,
            "anomalies": self.anomalies,
        }


def _window(store: Any, since: str | float | None) -> tuple[float | None, float | None]:
    """(first minute, end) of the window, or (None, None) for an empty store."""
    newest = store.query(limit=1, order="desc")
    if not newest:
        return None, None
    end = newest[0].timestamp.timestamp() + 1e-3
    if since is None:
        return 0.0, end
    if isinstance(since, (int, float)):
        lo = float(since)
    else:
        kind, v = parse_since(since)
        lo = end - v if kind == "duration" else v
    return (lo // 60) * 60, end


def build_report(
    store: Any,
    *,
    since: str | float | None = None,
    by: str = "deployment",
    table_prefix: str = "attune_",
    anomalies: bool = True,
) -> Report:
    """The report of ``store`` (a ``TelemetryStore`` or its URL) over the window ``since``
    (see the package docstring) grouped ``by`` one of ``deployment``, ``provider``,
    ``model``, ``task_type``, ``tier``."""
    from telemetry import TelemetryStore

    from .anomalies import find_anomalies
    from .figures import breaker_trips, columns_of, fallback_heavy_tasks, group_figures

    if by not in BY:
        raise ValueError(f"--by {by!r} is not one of {', '.join(BY)}")
    own = not isinstance(store, TelemetryStore)
    st = TelemetryStore.open(store, table_prefix=table_prefix) if own else store
    try:
        lo, hi = _window(st, since)
        if lo is None:
            return Report(by, {}, {}, {}, [])
        cols = columns_of(st.load_rollups(lo))
        if by == "tier":
            from .by_tier import tier_figures

            groups = tier_figures(st, lo, None)
        else:
            groups = group_figures(cols, by)
        return Report(
            by=by,
            groups=groups,
            fallback_heavy_tasks=fallback_heavy_tasks(cols),
            breaker_trips=breaker_trips(cols),
            anomalies=find_anomalies(cols, st) if anomalies else [],
            start=lo,
            end=hi,
            columns=cols,
        )
    finally:
        if own:
            st.close()
