"""The LiteLLM-like ``cooldown`` baseline policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from policies import get_policy
from policies.base import PlanContext
from policies.cooldown import CooldownPolicy
from telemetry.records import AttemptRecord, LLMCallRecord

T0 = 1_750_000_040.0  # 20 s into a minute (1_750_000_020 is a minute boundary)


@dataclass
class Dep:
    key: str


CHAIN = [Dep("a/x"), Dep("b/y"), Dep("c/z")]


def _rec(t: float, *attempts: tuple[str, str, str | None], chain: int = 3) -> LLMCallRecord:
    at = [
        AttemptRecord("c", 0, i, dep, dep.split("/")[0], dep.split("/")[1], outcome, etype, None, 100.0, datetime.fromtimestamp(t + i, timezone.utc))
        for i, (dep, outcome, etype) in enumerate(attempts)
    ]
    return LLMCallRecord(call_id="c", timestamp=datetime.fromtimestamp(t, timezone.utc), attempts=at, plan_order=[d.key for d in CHAIN[:chain]])


def _order(p: CooldownPolicy, now: float) -> list[str]:
    return p.plan(CHAIN, PlanContext("t", "default", now), None).keys()


def test_it_is_registered_and_carries_litellm_like_router_settings() -> None:
    p = get_policy("cooldown")
    assert isinstance(p, CooldownPolicy)
    assert p.router_settings == {
        "breakers_enabled": False,
        "retry_budget_enabled": False,
        "honour_retry_after": False,
        "keep_time_to_fall_back": False,
        "max_attempts_per_deployment": 3,
        "backoff_initial_s": 0.5,
        "backoff_max_s": 8.0,
    }


def test_a_429_cools_a_deployment_for_five_seconds_and_puts_it_last() -> None:
    p = CooldownPolicy()
    p.observe_record(_rec(T0, ("a/x", "error", "rate_limited")))
    assert _order(p, T0 + 1) == ["b/y", "c/z", "a/x"]
    assert _order(p, T0 + 5.0) == ["b/y", "c/z", "a/x"]  # ends 5 s after the 429 answered (t + 0.1)
    assert _order(p, T0 + 5.2) == ["a/x", "b/y", "c/z"]  # no half-open probe: it simply rejoins


def test_a_429_does_not_cool_the_only_deployment_of_a_chain() -> None:
    p = CooldownPolicy()
    p.observe_record(_rec(T0, ("a/x", "error", "rate_limited"), chain=1))
    assert p.cooled == {}


def test_more_than_half_of_at_least_five_calls_in_the_minute_failing_cools_down() -> None:
    p = CooldownPolicy()
    for i in range(2):
        p.observe_record(_rec(T0 + i, ("a/x", "success", None)))
    for i in range(2):
        p.observe_record(_rec(T0 + 2 + i, ("a/x", "error", "server_error")))
    assert p.cooled == {}  # 2 of 4: too few calls, and not more than half
    p.observe_record(_rec(T0 + 4, ("a/x", "error", "overloaded")))
    assert "a/x" in p.cooled  # 3 of 5 failed
    assert _order(p, T0 + 6)[-1] == "a/x"


def test_counts_reset_with_the_calendar_minute() -> None:
    p = CooldownPolicy()
    for i in range(4):
        p.observe_record(_rec(T0 + i, ("a/x", "error", "server_error")))
    p.observe_record(_rec(T0 + 45, ("a/x", "success", None)))  # next minute (65 s past its start)
    p.observe_record(_rec(T0 + 46, ("a/x", "error", "server_error")))
    assert p.cooled == {}


def test_connection_errors_never_cool_down_and_are_not_counted() -> None:
    p = CooldownPolicy()
    for i in range(10):
        p.observe_record(_rec(T0 + i, ("a/x", "error", "connection")))
    assert p.cooled == {}


def test_every_attempt_of_a_call_counts_at_its_own_time() -> None:
    p = CooldownPolicy()
    p.observe_record(_rec(T0, ("a/x", "error", "timeout"), ("a/x", "error", "timeout"), ("a/x", "error", "timeout"),
                          ("a/x", "error", "timeout"), ("a/x", "error", "timeout"), ("b/y", "success", None)))  # fmt: skip
    assert set(p.cooled) == {"a/x"}
    assert p.cooled["a/x"] == T0 + 4 + 0.1 + 5.0
