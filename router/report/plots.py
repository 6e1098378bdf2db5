"""``attune report --plot DIR`` and ``--html FILE``: PNGs of the report's window (matplotlib,
the ``bench`` extra, imported only here) and one self-contained page with the tables and the
plots inline.

Plots, all on UTC time with the anomalies shaded: latency percentiles per deployment
(``latency.png``), call success and fallback rate with each deployment's attempt success
(``success.png``), failed attempts by error class, stacked (``errors.png``), and cost per
day per deployment (``cost.png``).
"""

from __future__ import annotations

import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from telemetry.histogram import quantiles

__all__ = ["PLOTS", "write_html", "write_plots"]

PLOTS = ("latency", "success", "errors", "cost")
_KIND_COLOUR = {"error_rate": "tab:red", "rate_limit": "tab:orange", "latency": "tab:purple", "retries": "tab:brown"}
_MIN_P50, _MIN_TAIL = 5, 20  # attempts in a bin before its median / p95 and p99 are drawn
_NOT_ERRORS = frozenset({"circuit_open", "cancelled"})  # skips and the caller's cancellations
_PERCENT = (-2.0, 102.0)  # y limits of a share in percent


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError("attune report --plot/--html needs matplotlib: pip install 'attune-router[bench]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _bins(cols: Any) -> tuple[np.ndarray, np.ndarray, float]:
    """Each rollup's bin index, the bins' start times and the bin width (seconds): minutes,
    or wider so a long window has about 240 points."""
    t0, t1 = float(cols.minute.min()), float(cols.minute.max()) + 60.0
    width = max(60.0, math.ceil((t1 - t0) / 240.0 / 60.0) * 60.0)
    idx = ((cols.minute - t0) // width).astype(np.int64)
    starts = t0 + np.arange(int(idx.max()) + 1) * width
    return idx, starts, width


def _dates(ts: np.ndarray) -> list[datetime]:
    return [datetime.fromtimestamp(float(t), timezone.utc) for t in ts]


def _shade(ax: Any, report: Any, deployment: str | None = None) -> None:
    seen: set[str] = set()
    for a in report.anomalies:
        if deployment is not None and a["deployment"] != deployment:
            continue
        label = None if a["kind"] in seen else f"anomaly: {a['kind']}"
        seen.add(a["kind"])
        ax.axvspan(_dates(np.array([a["start"]]))[0], _dates(np.array([max(a["end"], a["start"] + 30)]))[0],
                   color=_KIND_COLOUR.get(a["kind"], "grey"), alpha=0.15, label=label, zorder=0)  # fmt: skip


def _time_axis(ax: Any, plt: Any, *, label: bool = True) -> None:
    import matplotlib.dates as mdates

    loc = mdates.AutoDateLocator(tz=timezone.utc)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc, tz=timezone.utc))
    if label:
        ax.set_xlabel("time (UTC)")
    ax.grid(alpha=0.3)


def _label(ax: Any, ylabel: str, title: str, *, ylim: tuple[float, float] | None = None, legend: str | None = "upper left", ncol: int = 1) -> None:
    """A panel's y label, limits, title (left, small) and legend (at ``legend``; none: ``None``)."""
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title, loc="left", fontsize=10)
    if legend is not None:
        ax.legend(fontsize=8, loc=legend, ncol=ncol)


def _save(fig: Any, plt: Any, path: str) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=96)
    plt.close(fig)


def _latency(report: Any, plt: Any, path: str) -> None:
    cols = report.columns
    idx, starts, width = _bins(cols)
    deps = sorted(set(cols.deployment))
    fig, axes = plt.subplots(len(deps), 1, figsize=(11, 2.8 * len(deps) + 0.6), sharex=True, squeeze=False)
    dep_arr = np.array(cols.deployment, dtype=object)
    for ax, dep in zip(axes[:, 0], deps):
        m = dep_arr == dep
        hist = np.zeros((len(starts), cols.attempt_latency_hist.shape[1]), np.int64)
        np.add.at(hist, idx[m], cols.attempt_latency_hist[m])
        q = np.array([quantiles(h.tolist(), (0.5, 0.95, 0.99)) if h.sum() else [math.nan] * 3 for h in hist])
        n = hist.sum(axis=1)
        q[n < _MIN_P50] = math.nan  # a percentile of a handful of attempts is noise
        q[n < _MIN_TAIL, 1:] = math.nan
        when = _dates(starts + width / 2)
        for j, (name, style) in enumerate((("p50", "-"), ("p95", "--"), ("p99", ":"))):
            ax.plot(when, q[:, j], style, lw=1.3, label=name, marker="." if j == 0 else None, ms=4)  # a lone bin shows as a dot
        _shade(ax, report, dep)
        if not np.isfinite(q).any():
            ax.text(0.5, 0.5, f"fewer than {_MIN_P50} attempts in every bin: no percentile drawn", ha="center", va="center", transform=ax.transAxes, color="grey")
        ax.set_yscale("log")
        _label(ax, "attempt latency (ms)", f"{dep}: latency of attempts sent to it (failed ones included)", ncol=4)
        _time_axis(ax, plt, label=ax is axes[-1, 0])
    _save(fig, plt, path)


def _success(report: Any, plt: Any, path: str) -> None:
    cols = report.columns
    idx, starts, width = _bins(cols)
    k = len(starts)
    sc = cols.scalars

    def total(x: np.ndarray, m: Any = slice(None)) -> np.ndarray:
        return np.bincount(idx[m], weights=x[m], minlength=k)

    calls = total(sc["calls"])
    with np.errstate(invalid="ignore", divide="ignore"):
        success = total(sc["successes"]) / calls
        fallback = total(sc["fallbacks"]) / calls
    when = _dates(starts + width / 2)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 6.4), sharex=True)
    ax1.plot(when, success * 100, lw=1.5, label="calls that succeeded")
    ax1.plot(when, fallback * 100, lw=1.5, label="calls that needed a fallback")
    _shade(ax1, report)
    _label(ax1, "share of calls (%)", "every call: success and fallback rate", ylim=_PERCENT, legend="center left")
    _time_axis(ax1, plt, label=False)
    dep_arr = np.array(cols.deployment, dtype=object)
    for dep in sorted(set(cols.deployment)):
        m = dep_arr == dep
        ok, err = total(sc["attempt_successes"], m), total(sc["attempt_failures"], m)
        with np.errstate(invalid="ignore", divide="ignore"):
            ax2.plot(when, ok / (ok + err) * 100, lw=1.2, label=dep)
    _label(ax2, "attempts that succeeded (%)", "per deployment: attempt success rate (gaps: nothing sent)", ylim=_PERCENT, legend="lower left")
    _time_axis(ax2, plt)
    _save(fig, plt, path)


def _errors(report: Any, plt: Any, path: str) -> None:
    cols = report.columns
    idx, starts, width = _bins(cols)
    per: dict[str, np.ndarray] = {}
    for i, errs in zip(idx.tolist(), cols.attempt_errors):
        for t, n in errs.items():
            if t not in _NOT_ERRORS:
                per.setdefault(t, np.zeros(len(starts)))[i] += n
    fig, ax = plt.subplots(figsize=(11, 4.2))
    when = _dates(starts + width / 2)
    if per:
        names = sorted(per, key=lambda t: -per[t].sum())
        ax.stackplot(when, *[per[t] for t in names], labels=names, alpha=0.85)
    else:
        ax.text(0.5, 0.5, "no failed attempts in this window", ha="center", va="center", transform=ax.transAxes)
    _shade(ax, report)
    unit = "minute" if width == 60 else f"{width / 60:g} minutes"
    _label(ax, f"failed attempts per {unit}", "failed attempts by error class, all deployments (rate_limited includes Retry-After holds)",
           legend="upper left" if per or report.anomalies else None, ncol=6)  # fmt: skip
    _time_axis(ax, plt)
    _save(fig, plt, path)


def _cost(report: Any, plt: Any, path: str) -> None:
    cols = report.columns
    day = (cols.minute // 86400).astype(np.int64)
    days = np.unique(day)
    fig, ax = plt.subplots(figsize=(11, 3.8))
    bottom = np.zeros(len(days))
    dep_arr = np.array(cols.deployment, dtype=object)
    labels = [datetime.fromtimestamp(float(d) * 86400, timezone.utc).strftime("%Y-%m-%d") for d in days]
    x = np.arange(len(days))
    for dep in sorted(set(cols.deployment)):
        m = dep_arr == dep
        c = np.array([cols.scalars["cost"][m & (day == d)].sum() for d in days])
        ax.bar(x, c, bottom=bottom, label=dep, width=0.6)
        bottom += c
    for xi, total in zip(x, bottom):
        ax.annotate(f"${total:,.2f}", (xi, total), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, labels)
    ax.set_xlabel("day (UTC)")
    _label(ax, "cost (USD)", "cost per day by the deployment that served", ylim=(0, max(bottom.max() * 1.15, 1e-6)))
    ax.grid(axis="y", alpha=0.3)
    _save(fig, plt, path)


def write_plots(report: Any, directory: str) -> list[str]:
    """Write the report's PNGs into ``directory`` (created if needed); returns their paths."""
    if report.columns is None or not len(report.columns):
        raise ValueError("nothing to plot: the report's window holds no calls")
    plt = _pyplot()
    os.makedirs(directory, exist_ok=True)
    out = []
    for name, draw in (("latency", _latency), ("success", _success), ("errors", _errors), ("cost", _cost)):
        path = os.path.join(directory, f"{name}.png")
        draw(report, plt, path)
        out.append(path)
    return out


def write_html(report: Any, path: str) -> None:
    """One HTML file holding the report's tables and its plots (PNG data URIs)."""
    import tempfile

    from .page import render_page

    with tempfile.TemporaryDirectory(prefix="attune-report-") as tmp:
        images = {Path(p).stem: Path(p).read_bytes() for p in write_plots(report, tmp)}
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_page(report, images))
