"""Plots of a suite: success rate and median latency over time per policy, with each
scenario's phases shaded. matplotlib loads only here."""

from __future__ import annotations

from typing import Any

__all__ = ["phase_spans", "plot_suite"]


def phase_spans(sc: Any) -> list[tuple[float, float, str]]:
    """``(start_s, end_s, label)`` of every phase of every deployment (upstreams included)."""
    spans = []
    for key, p in sc.providers.items():
        phases = list(sc.upstreams.get(p.upstream, ())) if p.upstream else []
        phases += list(p.phases)
        for ph in phases:
            what = []
            if ph.error_rate is not None:
                what.append(f"err {ph.error_rate:.0%}" + (f"→{ph.error_rate_end:.0%}" if ph.error_rate_end is not None else ""))
            if ph.latency_factor is not None:
                what.append(f"lat ×{ph.latency_factor:g}")
            if ph.rate_limit_rpm is not None:
                what.append(f"{ph.rate_limit_rpm:g} rpm")
            spans.append((ph.start_s, min(ph.end_s, sc.duration_s), f"{key}: {', '.join(what)}"))
    return spans


def plot_suite(suite: Any, path: str) -> None:
    """One row per scenario: success rate (left) and p50 latency (right) over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(suite.runs)
    fig, axes = plt.subplots(len(names), 2, figsize=(14, 3.2 * len(names)), squeeze=False)
    for row, name in enumerate(names):
        sc = suite.scenarios[name]
        ax_s, ax_l = axes[row]
        for ax in (ax_s, ax_l):
            for a, b, _label in phase_spans(sc):
                ax.axvspan(a / 60, b / 60, color="tab:red", alpha=0.08)
        for policy in suite.order:
            runs = suite.runs[name].get(policy) or []
            if not runs or runs[0].series is None:
                continue
            s = runs[0].series
            t = [x / 60 for x in s["t_s"]]
            ls = "--" if policy in ("oracle", "hindsight") else "-"
            ax_s.plot(t, [float("nan") if v is None else v for v in s["success_rate"]], ls, label=policy, lw=1.2)
            ax_l.plot(t, [float("nan") if v is None else v for v in s["p50_ms"]], ls, label=policy, lw=1.2)
        ax_s.set_title(f"{name}: success rate")
        ax_l.set_title(f"{name}: median latency (ms)")
        ax_s.set_xlabel("minutes")
        ax_l.set_xlabel("minutes")
        ax_l.set_yscale("log")
        if row == 0:
            ax_s.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
