"""Retries when every deployment is degraded alike: the chain-wide budget that bounds them.

A policy marks a plan ``degraded_everywhere`` when no deployment of the chain is healthier
than a degraded one (``policies.base.Plan``). Falling back cannot help then; what serves the
caller is trying again. For such calls the router lets retries through where a per-deployment
retry budget, an open breaker or the one-attempt rule of a last resort would stop them,
within the deadline, the tenacity stop and backoff (jittered), and this budget: every such
call earns ``retries_per_call`` tokens (up to ``max_tokens``), every retry let through spends
one. So the amplification of a degraded period stays at most ``1 + retries_per_call``
attempts per call on average, whatever the failure rate.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DegradedRetryBudget"]


class DegradedRetryBudget:
    """Tokens for retries past the usual stops, earned by calls whose plan is degraded
    everywhere (shared by every chain of a router)."""

    __slots__ = ("retries_per_call", "max_tokens", "tokens", "earned", "spent")

    def __init__(self, retries_per_call: float = 4.0, max_tokens: float = 100.0) -> None:
        if retries_per_call < 0 or max_tokens < 0:
            raise ValueError(f"retries_per_call and max_tokens must be >= 0, got {retries_per_call!r} and {max_tokens!r}")
        self.retries_per_call = retries_per_call
        self.max_tokens = max_tokens
        self.tokens = 0.0
        self.earned = 0  # calls that earned tokens
        self.spent = 0  # retries let through

    def on_degraded_call(self) -> None:
        """A call started whose plan is degraded everywhere."""
        self.earned += 1
        t = self.tokens + self.retries_per_call
        self.tokens = t if t < self.max_tokens else self.max_tokens

    def spend(self) -> bool:
        """Take a token for one retry past the usual stops; ``False`` when none is left."""
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        self.spent += 1
        return True

    def snapshot(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "retries_per_call": self.retries_per_call, "calls": self.earned, "retries": self.spent}
