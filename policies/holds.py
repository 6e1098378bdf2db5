"""What holds a deployment back regardless of its statistics: its breaker, a Retry-After or
spend-limit window, a rejected key. The router sets these (``StatsRegistry.set_breaker``,
``set_cooldown``, ``flag_misconfigured``); policies read them as hard reasons to skip."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Holds"]


@dataclass(slots=True)
class Holds:
    """One deployment's breaker state and hold windows (router clock seconds)."""

    breaker_state: str = "closed"  # "closed" | "open" | "half-open"
    breaker_open_until: float = 0.0
    cooldown_until: float = 0.0
    cooldown_reason: str | None = None
    misconfigured: str | None = None  # why its key was rejected, until cleared
    open_s: float = 0.0  # the longest open period its breaker has had

    def reason(self, now: float) -> str | None:
        """Why the deployment is held back at ``now``, or ``None``."""
        if self.misconfigured:
            return f"misconfigured: {self.misconfigured}"
        if self.breaker_state == "open" and self.breaker_open_until > now:
            return f"circuit open ({self.breaker_open_until - now:.1f}s left)"
        if self.cooldown_until > now:
            return f"{self.cooldown_reason or 'retry_after'} ({self.cooldown_until - now:.1f}s left)"
        return None
