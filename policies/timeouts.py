"""Latency-relative attempt timeouts: cut a hang short, not a deployment's slow answers.

A configured attempt timeout (20 s by default) is sized for the slowest legitimate answer of
any deployment; a deployment whose failures are partly hangs then costs its callers the whole
timeout per hang. Once a deployment's successful answers are well characterised, the policy
gives the router a shorter limit for that deployment's attempts (``Plan.attempt_timeouts``):
``multiple`` x the p99.9 of the log-normal fit of its own success latency, never under
``floor_s`` and never over the configured timeout (the router takes the smaller of the two,
and the call's deadline still bounds both). A hang is then abandoned after a few seconds and
the call retries or falls back within its deadline, while the deployment keeps its share of
calls (Finagle's and Envoy's latency-relative timeouts; "The Tail at Scale").

The guards against cutting legitimate slow answers: only a deployment that times out
(``hang_share`` of the attempts in its slow window, 0.3 %: a hang tail, not a stray timeout),
so a healthy deployment whose rare long answers (a long report among short classifications)
lie past its fit's tail is never cut; at least ``min_samples`` of decayed success weight in
the slow window (the baseline) before any cut; the p99.9 and a multiple (1.5 by default: a
log-normal success is cut with a probability of about 1e-4); the larger of the baseline's and
the recent window's quantiles (answers slowing down raise the limit before a latency-shift
test fires); no cut at all while the deployment is in a detected slowdown (``regime ==
"slow"``: it is slow, not hanging, and the latency tests judge it); and the floor. The limit
follows the slow window as it learns, and successes above it are never seen, so the fit is of
answers censored far out in their tail: with a generous multiple the censored share is
negligible and the limit does not creep down.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = ["NO_CAPS", "AttemptTimeoutRule", "rule_from"]

Z_P999 = 3.090  # standard score of the 99.9th percentile
_FAST_MIN_N = 5.0  # recent answers (decayed weight) before the recent window can raise the limit
NO_CAPS: Mapping[str, float] = MappingProxyType({})  # a plan without latency-relative timeouts


@dataclass(frozen=True, slots=True)
class AttemptTimeoutRule:
    """The attempt-timeout rule of a policy (``AdaptivePolicy(timeout_multiple=...,
    timeout_floor_s=..., timeout_min_samples=..., timeout_hang_share=...)``); see the module
    docstring."""

    multiple: float = 1.5
    floor_s: float = 3.0
    min_samples: float = 50.0
    hang_share: float = 0.003

    def __post_init__(self) -> None:
        if not (math.isfinite(self.multiple) and self.multiple >= 1.0):
            raise ValueError(f"timeout_multiple must be >= 1 (or 0 to turn the rule off), got {self.multiple!r}")
        if not (math.isfinite(self.floor_s) and self.floor_s > 0.0):
            raise ValueError(f"timeout_floor_s must be > 0, got {self.floor_s!r}")
        if not (math.isfinite(self.min_samples) and self.min_samples >= 10.0):
            raise ValueError(f"timeout_min_samples must be >= 10, got {self.min_samples!r}")
        if not 0.0 <= self.hang_share < 1.0:
            raise ValueError(f"timeout_hang_share must be in [0, 1), got {self.hang_share!r}")

    def cap(self, st: Any) -> float | None:
        """The attempt timeout for a deployment with statistics ``st`` (``DeploymentStats``),
        or ``None`` to keep the configured one."""
        if st.regime == "slow":
            return None
        slow = st.slow
        if slow.lat_n < self.min_samples or st.errors.get("timeout", 0.0) < self.hang_share * slow.attempts:
            return None
        mu, var = slow.lat_mean_var()
        q = mu + Z_P999 * math.sqrt(var if var > 0.0 else 0.0)
        fast = st.fast
        if fast.lat_n >= _FAST_MIN_N:
            mu, var = fast.lat_mean_var()
            qf = mu + Z_P999 * math.sqrt(var if var > 0.0 else 0.0)
            if qf > q:
                q = qf
        cap = self.multiple * math.exp(q)
        return cap if cap > self.floor_s else self.floor_s

    def caps(self, pairs: Iterable[tuple[str, Any]]) -> Mapping[str, float]:
        """``{deployment key: attempt timeout}`` for the ``(key, stats)`` pairs that get one."""
        out = {}
        for key, st in pairs:
            c = self.cap(st)
            if c is not None:
                out[key] = c
        return out if out else NO_CAPS


def rule_from(multiple: float, floor_s: float, min_samples: float, hang_share: float) -> AttemptTimeoutRule | None:
    """The rule for a policy's settings; ``multiple == 0`` turns it off (``None``)."""
    rule = AttemptTimeoutRule(1.0 if multiple == 0 else multiple, floor_s, min_samples, hang_share)  # validates the others too
    return None if multiple == 0 else rule
