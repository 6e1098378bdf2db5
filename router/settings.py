"""Router-wide resilience settings: deadlines, retries, budget, breakers, Retry-After."""

from __future__ import annotations

from dataclasses import dataclass, field

from router.resilience.breaker import BreakerSettings

__all__ = ["RouterSettings"]


@dataclass(frozen=True, slots=True)
class RouterSettings:
    """Defaults for every call; tiers and deployments may override some per call path."""

    deadline_s: float = 60.0  # one overall deadline per call, across the whole chain
    attempt_timeout_s: float = 20.0  # per attempt (connect + read), capped by the time left
    connect_timeout_s: float = 5.0
    max_attempts_per_deployment: int = 3  # tenacity stop_after_attempt
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 8.0
    max_retry_after_s: float = 30.0  # a longer Retry-After is never waited for on the same deployment
    # retry throttling per deployment (gRPC's token bucket): a failure costs a token, a success
    # earns `ratio`, retries stop below half the tokens; a ratio of 1 stops them once more than
    # half the attempts fail (where the breaker's failure-rate trip sits too)
    retry_budget_tokens: float = 10.0
    retry_budget_ratio: float = 1.0
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    # panic routing: before failing a call, one attempt at each deployment it held back
    probe_when_all_open: bool = True
    breakers_enabled: bool = True  # False: no circuit breaking at all (a baseline's setting)
    retry_budget_enabled: bool = True  # False: retries never throttled by the shared budget
    honour_retry_after: bool = True  # False: a 429's Retry-After neither waits nor holds the deployment back
    # after a timeout, retry the same deployment only if a second timeout there would still leave
    # one attempt's time to fall back (while another deployment can take the call)
    keep_time_to_fall_back: bool = True
    # when the plan says every deployment is degraded alike: retries past the usual stops, at
    # most this many per such call on average (0 turns it off; router.resilience.degraded)
    degraded_retries_per_call: float = 4.0

    def __post_init__(self) -> None:
        for name in ("deadline_s", "attempt_timeout_s", "connect_timeout_s"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v <= 0:
                raise ValueError(f"{name} must be a number > 0, got {v!r}")
        if not isinstance(self.max_attempts_per_deployment, int) or self.max_attempts_per_deployment < 1:
            raise ValueError(f"max_attempts_per_deployment must be an integer >= 1, got {self.max_attempts_per_deployment!r}")
        if self.backoff_initial_s < 0 or self.backoff_max_s < self.backoff_initial_s:
            raise ValueError(
                f"backoff_initial_s must be >= 0 and <= backoff_max_s, got {self.backoff_initial_s!r}/{self.backoff_max_s!r}"
            )
        if not isinstance(self.degraded_retries_per_call, (int, float)) or self.degraded_retries_per_call < 0:
            raise ValueError(f"degraded_retries_per_call must be a number >= 0, got {self.degraded_retries_per_call!r}")
        if self.max_retry_after_s < 0:
            raise ValueError(f"max_retry_after_s must be >= 0, got {self.max_retry_after_s!r}")
