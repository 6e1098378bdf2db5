"""Router-wide resilience settings: deadlines, retries, budget, breakers, Retry-After.

The defaults here are the only ones: the config loader and the scenario loader read them from
these classes. Both classes are keyword-only and check every field when built (from Python or
from a file) through ``router.validation``: a wrong value is a ``ConfigError`` naming the field.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from router.errors import ConfigError
from router.validation import MAX_SECONDS, Range, check_fields

__all__ = ["BreakerSettings", "RouterSettings", "with_policy_settings"]

Seconds = Annotated[float, Range(gt=0, le=MAX_SECONDS)]
Wait = Annotated[float, Range(ge=0, le=MAX_SECONDS)]
Count = Annotated[int, Range(ge=1, le=1_000_000)]
Share = Annotated[float, Range(gt=0, le=1)]


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerSettings:
    """When a deployment's breaker trips and for how long it stays open."""

    fail_max: Count = 5  # consecutive counted failures that trip it
    failure_rate: Share = 0.5  # or this share of failures among the last `window` attempts...
    min_volume: Count = 20  # ...once at least this many were seen
    window: Count = 50
    reset_timeout_s: Seconds = 10.0  # first open period
    # cap of the doubling open period: a dead deployment costs one probe a minute, and one that
    # came back is back within a minute (300 s kept recovered deployments idle for minutes)
    max_open_s: Seconds = 60.0
    jitter: Annotated[float, Range(ge=0, lt=1)] = 0.2  # +/- share of the open period

    def __post_init__(self) -> None:
        check_fields(self)
        if self.max_open_s < self.reset_timeout_s:
            raise ConfigError(
                f"must be >= reset_timeout_s ({self.reset_timeout_s:g})", key="max_open_s", value=repr(self.max_open_s), source="BreakerSettings"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterSettings:
    """Defaults for every call; tiers and deployments may override some per call path."""

    deadline_s: Seconds = 60.0  # one overall deadline per call, across the whole chain
    attempt_timeout_s: Seconds = 20.0  # per attempt (connect + read), capped by the time left
    connect_timeout_s: Seconds = 5.0
    max_attempts_per_deployment: Annotated[int, Range(ge=1, le=100)] = 3  # tenacity stop_after_attempt
    backoff_initial_s: Wait = 0.25
    backoff_max_s: Wait = 8.0
    max_retry_after_s: Wait = 30.0  # a longer Retry-After is never waited for on the same deployment
    # retry throttling per deployment (gRPC's token bucket): a failure costs a token, a success
    # earns `ratio`, retries stop below half the tokens; a ratio of 1 stops them once more than
    # half the attempts fail (where the breaker's failure-rate trip sits too)
    retry_budget_tokens: Annotated[float, Range(gt=0, le=1_000_000)] = 10.0
    retry_budget_ratio: Annotated[float, Range(ge=0, le=1_000_000)] = 1.0
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    # panic routing: before failing a call, one attempt at each deployment it held back
    # (open breaker, cooldown, demoted by the policy)
    panic_routing: bool = True
    breakers_enabled: bool = True  # False: no circuit breaking at all (a baseline's setting)
    retry_budget_enabled: bool = True  # False: retries never throttled by the shared budget
    honour_retry_after: bool = True  # False: a 429's Retry-After neither waits nor holds the deployment back
    # after a timeout, retry the same deployment only if a second timeout there would still leave
    # one attempt's time to fall back (while another deployment can take the call)
    keep_time_to_fall_back: bool = True
    # when the plan says every deployment is degraded alike: retries past the usual stops, at
    # most this many per such call on average (0 turns it off; router.resilience.degraded)
    degraded_retries_per_call: Annotated[float, Range(ge=0, le=1_000)] = 4.0

    def __post_init__(self) -> None:
        check_fields(self)
        if self.backoff_max_s < self.backoff_initial_s:
            raise ConfigError(
                f"must be >= backoff_initial_s ({self.backoff_initial_s:g})", key="backoff_max_s", value=repr(self.backoff_max_s), source="RouterSettings"
            )

    @property
    def probe_when_all_open(self) -> bool:
        """Deprecated name of ``panic_routing``."""
        warnings.warn("RouterSettings.probe_when_all_open is now panic_routing", DeprecationWarning, stacklevel=2)
        return self.panic_routing


# old field name -> new one; the old one still works, with a DeprecationWarning
RENAMED = {"probe_when_all_open": "panic_routing"}


def renamed_settings(kwargs: Mapping[str, Any], *, stacklevel: int = 3) -> dict[str, Any]:
    """``kwargs`` with deprecated ``RouterSettings`` names replaced (warning for each)."""
    out = dict(kwargs)
    for old, new in RENAMED.items():
        if old in out:
            warnings.warn(f"RouterSettings({old}=...) is now {new}=", DeprecationWarning, stacklevel=stacklevel)
            value = out.pop(old)
            out.setdefault(new, value)
    return out


_init = RouterSettings.__init__


@functools.wraps(_init)
def _init_accepting_old_names(self: RouterSettings, **kwargs: Any) -> None:
    _init(self, **renamed_settings(kwargs))


RouterSettings.__init__ = _init_accepting_old_names  # type: ignore[method-assign]


def with_policy_settings(
    settings: RouterSettings, policies: Iterable[tuple[str, Any]], *, source: str | None = None, keep: Iterable[str] = ()
) -> RouterSettings:
    """``settings`` with the ``router_settings`` the policies carry applied.

    A policy may carry ``router_settings`` (a mapping of ``RouterSettings`` fields): the
    ``cooldown`` baseline turns breakers and the retry budget off, as LiteLLM has none. The
    simulator (``attune bench``) and the config loader both build their settings here.
    ``policies`` are ``(where, policy)`` pairs (``where`` names it in errors); settings named in
    ``keep`` were set explicitly by the user and win. Settings are router-wide, so every policy
    must agree: one carrying ``router_settings`` next to one carrying different ones (or none)
    is a ``ConfigError``.
    """
    asks = [(where, dict(getattr(p, "router_settings", None) or {})) for where, p in policies]
    wanted = [(w, a) for w, a in asks if a]
    if not wanted:
        return settings
    first_where, first = wanted[0]
    for where, ask in asks:
        if ask != first:
            raise ConfigError(
                f"this policy's router-wide settings differ from those of {first_where} ({_show(first)}); "
                "settings apply to every tier, so use such a policy for every tier or none",
                key=where,
                value=_show(ask) if ask else "no router settings",
                source=source,
            )
    kept = set(keep)
    unknown = sorted(set(first) - {f.name for f in dataclasses.fields(RouterSettings)})
    if unknown:
        raise ConfigError(f"the policy's router_settings name unknown settings {unknown}", key=first_where, source=source)
    return dataclasses.replace(settings, **{k: v for k, v in first.items() if k not in kept})


def _show(ask: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(ask.items()))
