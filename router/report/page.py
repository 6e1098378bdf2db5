"""The HTML page of a report: the group table, fallback-heavy task types, breaker trips,
anomalies and the plots, in one file with no external resource."""

from __future__ import annotations

import base64
import html
from typing import Any

from router.report.tables import ANOMALY_HEAD, COLUMNS, anomaly_rows, breaker_trips, group_rows, heavy_tasks, span

__all__ = ["render_page"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1b1f24;max-width:1200px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px} .sub{color:#57606a;margin:0 0 16px}
table{border-collapse:collapse;font-size:13px} th,td{padding:5px 9px;border-bottom:1px solid #d0d7de}
th{background:#f6f8fa;text-align:right} th:first-child,td:first-child{text-align:left}
td{text-align:right;font-variant-numeric:tabular-nums} img{max-width:100%;border:1px solid #d0d7de;margin:6px 0}
.none{color:#57606a}
"""


def _table(head: list[str], rows: list[list[str]]) -> str:
    e = html.escape
    th = "".join(f"<th>{e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def render_page(report: Any, images: dict[str, bytes]) -> str:
    """The page's HTML; ``images`` maps a plot's name to its PNG bytes."""
    e = html.escape
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>attune report</title><style>{_CSS}</style></head><body>"]
    parts.append("<h1>attune report</h1>")
    if report.start is None:
        parts.append("<p class='none'>The store holds no calls yet.</p></body></html>")
        return "".join(parts)
    parts.append(f"<p class='sub'>{e(span(report))}</p>")
    parts.append(_table([report.by, *(h for h, _, _ in COLUMNS)], group_rows(report)))
    parts.append("<h2>Task types needing a fallback on more than 10 % of calls</h2>")
    heavy = heavy_tasks(report)
    parts.append(_table(["task type", "fallback rate"], [[t, f"{r:.1%}"] for t, r in heavy]) if heavy else "<p class='none'>none</p>")
    parts.append("<h2>Breaker trips</h2>")
    trips = breaker_trips(report)
    parts.append(_table(["deployment", "trips"], [[k, str(v)] for k, v in trips]) if trips else "<p class='none'>none</p>")
    parts.append("<h2>Anomalies</h2>")
    rows = anomaly_rows(report)
    parts.append(_table(list(ANOMALY_HEAD), rows) if rows else "<p class='none'>none</p>")
    titles = {"latency": "Latency", "success": "Success and fallback", "errors": "Errors by class", "cost": "Cost per day"}
    for name, png in images.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<h2>{e(titles.get(name, name))}</h2><img alt='{e(name)} plot' src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "".join(parts)
