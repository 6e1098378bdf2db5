"""The ``## Policies`` table of RESULTS.md from ``attune bench --json`` output.

    attune bench --policy static --policy cooldown --policy adaptive --seeds 5 --json --no-progress > bench.json
    python benchmarks/policy_table.py bench.json [--policy adaptive] [--checks]

Per scenario: success rate and p95 of static, cooldown, the policy, oracle and hindsight (means
over seeds), then the checks of issue 6: the policy beats static and cooldown on success rate or
p95 (``beats``), loses at most 0.1 percentage points of success rate to either (``<=0.1pp``),
and closes at least 0.8 of the static-to-oracle gap on success rate and on p95 where that gap is
measurable (0.5 pp, or 10 % of static's p95) and in the oracle's favour (``gap``: the fraction
closed, or ``-`` where there is no such gap).
"""

from __future__ import annotations

import argparse
import json
import sys


def _last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit("no JSON object found")


def rows(obj: dict, policy: str) -> list[dict]:
    out = []
    for sc in obj.get("scenarios", [obj]):
        r = sc["results"]
        s, c, a, o = r["static"], r["cooldown"], r[policy], r["oracle"]
        h = r.get("hindsight", {})
        sr = {k: v["success_rate"] * 100 for k, v in (("static", s), ("cooldown", c), (policy, a), ("oracle", o))}
        p95 = {k: v["p95_ms"] for k, v in (("static", s), ("cooldown", c), (policy, a), ("oracle", o))}
        beats = all(sr[policy] > sr[b] + 1e-9 or p95[policy] < p95[b] for b in ("static", "cooldown"))
        no_loss = all(sr[policy] >= sr[b] - 0.1 for b in ("static", "cooldown"))
        gaps = []
        if sr["oracle"] - sr["static"] >= 0.5:
            gaps.append(("sr", (sr[policy] - sr["static"]) / (sr["oracle"] - sr["static"])))
        if p95["static"] - p95["oracle"] >= 0.1 * p95["static"]:
            gaps.append(("p95", (p95["static"] - p95[policy]) / (p95["static"] - p95["oracle"])))
        out.append(
            {
                "scenario": sc["scenario"],
                "seeds": len(sc.get("seeds", [])),
                "sr": sr,
                "p95": p95,
                "hindsight_sr": h.get("success_rate", float("nan")) * 100 if h else float("nan"),
                "hindsight_p95": h.get("p95_ms", float("nan")) if h else float("nan"),
                "beats": beats,
                "no_loss": no_loss,
                "gaps": gaps,
            }
        )
    return out


def markdown(rs: list[dict], policy: str) -> str:
    head = (
        f"| scenario | static sr / p95 | cooldown sr / p95 | **{policy}** sr / p95 | oracle sr / p95 | hindsight sr / p95 "
        "| beats static & cooldown | <= 0.1 pp loss | gap closed (>= 0.8) |\n|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rs:
        def cell(k: str) -> str:
            return f"{r['sr'][k]:.2f} % / {r['p95'][k]:.0f}"

        gaps = ", ".join(f"{k} {v:.2f}" + ("" if v >= 0.8 else " (short)") for k, v in r["gaps"]) or "-"
        lines.append(
            f"| {r['scenario']} | {cell('static')} | {cell('cooldown')} | **{cell(policy)}** | {cell('oracle')} "
            f"| {r['hindsight_sr']:.2f} % / {r['hindsight_p95']:.0f} | {'yes' if r['beats'] else 'no'} "
            f"| {'yes' if r['no_loss'] else 'no'} | {gaps} |"
        )
    return "\n".join(lines)


def checks(obj: dict, policy: str) -> str:
    """Issue 13's table: the policy against the better of static and cooldown on every
    scenario (success >= best - 0.1 pp, p50 <= 1.05x best, p95 <= 1.03x best, recover_s <=
    static's + 10 s), means over seeds; a failed check is marked in its cell."""
    head = (
        f"| scenario | static sr / p50 / p95 / rec | cooldown sr / p50 / p95 / rec | **{policy}** sr / p50 / p95 / rec "
        "| sr >= best - 0.1 pp | p50 <= 1.05x | p95 <= 1.03x | rec <= static + 10 s |\n|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for sc in obj.get("scenarios", [obj]):
        r = sc["results"]

        def cell(k: str) -> str:
            v = r[k]
            rec = "-" if v.get("recover_s") is None else f"{v['recover_s']:.0f}"
            return f"{v['success_rate'] * 100:.2f} % / {v['p50_ms']:.0f} / {v['p95_ms']:.0f} / {rec}"

        a = r[policy]
        base = [r["static"], r["cooldown"]]
        sr, p50, p95 = a["success_rate"] * 100, a["p50_ms"], a["p95_ms"]
        best_sr = max(b["success_rate"] for b in base) * 100
        best50 = min(b["p50_ms"] for b in base)
        best95 = min(b["p95_ms"] for b in base)
        c_sr = "yes" if sr >= best_sr - 0.1 else f"**no** ({sr - best_sr:+.2f} pp)"
        c50 = "yes" if p50 <= 1.05 * best50 else f"**no** ({p50 / best50:.2f}x)"
        c95 = "yes" if p95 <= 1.03 * best95 else f"**no** ({p95 / best95:.2f}x)"
        rs, ra = r["static"].get("recover_s"), a.get("recover_s")
        rec = "-" if rs is None or ra is None else ("yes" if ra <= rs + 10 else f"**no** (+{ra - rs:.0f} s)")
        lines.append(f"| {sc['scenario']} | {cell('static')} | {cell('cooldown')} | **{cell(policy)}** | {c_sr} | {c50} | {c95} | {rec} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", help="attune bench --json output ('-' for stdin)")
    ap.add_argument("--policy", default="adaptive")
    ap.add_argument("--checks", action="store_true", help="issue 13's no-worse-than-the-baselines table instead")
    a = ap.parse_args(argv)
    text = sys.stdin.read() if a.file == "-" else open(a.file).read()
    obj = _last_json(text)
    print(checks(obj, a.policy) if a.checks else markdown(rows(obj, a.policy), a.policy))


if __name__ == "__main__":
    main()
