"""The report's tables as rows of text, one definition for the terminal (``cli.render``, rich)
and the HTML page (``page.render_page``)."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

__all__ = ["ANOMALY_HEAD", "COLUMNS", "anomaly_rows", "breaker_trips", "cell", "group_rows", "heavy_tasks", "span", "when"]

# the group table: (heading, key of a group's figures, how its cells print)
COLUMNS = (
    ("calls", "calls", "n"),
    ("success", "success_rate", "pct"),
    ("attempts", "attempts", "n"),
    ("attempt ok", "attempt_success_rate", "pct"),
    ("fallback", "fallback_rate", "pct"),
    ("retries/call", "mean_retries", "x"),
    ("p50 ms", "p50_ms", "ms"),
    ("p95 ms", "p95_ms", "ms"),
    ("p99 ms", "p99_ms", "ms"),
    ("TTFT p50 ms", "ttft_p50_ms", "ms"),
    ("cost $", "cost", "usd"),
    ("$/success", "cost_per_success", "usd"),
    ("unpriced", "unknown_price_calls", "n"),
)
ANOMALY_HEAD = ("deployment", "kind", "start (UTC)", "end (UTC)", "minutes", "size")


def cell(v: Any, kind: str) -> str:
    """One figure as the tables print it (``-`` for none)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if kind == "pct":
        return f"{v * 100:.1f}%"
    if kind == "ms":
        return f"{v:,.0f}"
    if kind == "usd":
        return f"{v:,.4f}"
    if kind == "x":
        return f"{v:.2f}"
    return f"{v:,}"


def when(ts: float | None) -> str:
    """Epoch seconds as a UTC date and time (``-`` for none)."""
    return "-" if ts is None else datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def span(report: Any) -> str:
    """What the group table covers: ``by GROUP, START to END UTC``."""
    start = "the first record" if report.start == 0 else when(report.start)
    return f"by {report.by}, {start} to {when(report.end)} UTC"


def group_rows(report: Any) -> list[list[str]]:
    """One row per group, its name first, then ``COLUMNS``."""
    return [[name or "(none)", *(cell(g[key], kind) for _, key, kind in COLUMNS)] for name, g in sorted(report.groups.items())]


def _size(a: dict[str, Any]) -> str:
    if a["kind"] == "latency":
        return f"x{a['size']:.2f}"
    return f"{a['size']:+.2f}" if a["kind"] == "retries" else f"{a['size']:+.1%}"


def anomaly_rows(report: Any) -> list[list[str]]:
    """One row per anomaly, under ``ANOMALY_HEAD``."""
    return [[a["deployment"], a["kind"], when(a["start"]), when(a["end"]), f"{(a['end'] - a['start']) / 60:.1f}", _size(a)]
            for a in report.anomalies]  # fmt: skip


def heavy_tasks(report: Any) -> list[tuple[str, float]]:
    """The fallback-heavy task types, the heaviest first."""
    return sorted(report.fallback_heavy_tasks.items(), key=lambda kv: -kv[1])


def breaker_trips(report: Any) -> list[tuple[str, int]]:
    """Deployments whose breaker tripped, with how often."""
    return sorted((k, v) for k, v in report.breaker_trips.items() if v)
