"""Each stop condition of the retry decision on its own (router.resilience.stops)."""

from __future__ import annotations

from typing import Any

from router.resilience.stops import (
    FIRM,
    SOFT,
    TIME,
    RetryCheck,
    stop_at_attempt_cap,
    stop_at_attempt_cap_with_alternatives,
    stop_at_max_retries,
    stop_by_tenacity,
    stop_on_open_breaker,
    stop_on_spent_budget,
    stop_past_deadline,
    stop_to_keep_time_to_fall_back,
    stop_when_forced,
)


def check(**changes: Any) -> RetryCheck:
    base: dict[str, Any] = {"error_type": "server_error", "retry_number": 0, "delay": 0.1, "retry_at": 1.0, "deadline": 10.0, "attempt_timeout": 2.0}
    return RetryCheck(**{**base, **changes})


def test_tenacity_stops_when_it_gives_no_delay() -> None:
    assert stop_by_tenacity()(check(delay=None)) and not stop_by_tenacity()(check(delay=0.0))


def test_the_attempt_cap_is_firm_only_while_another_deployment_could_take_the_call() -> None:
    firm, soft = stop_at_attempt_cap_with_alternatives(), stop_at_attempt_cap()
    alone = {"capped": True, "alternative_left": lambda: False}
    assert firm(check(capped=True)) and firm(check(**alone, forced=True))
    assert not firm(check(**alone)) and soft(check(**alone))  # the one that can answer: soft
    assert not firm(check()) and not soft(check())
    assert FIRM(check(capped=True)) and not FIRM(check(**alone)) and SOFT(check(**alone))


def test_max_retries_counts_retries_at_this_deployment() -> None:
    s = stop_at_max_retries()
    assert not s(check()) and not s(check(max_retries=1, retry_number=0)) and s(check(max_retries=1, retry_number=1))
    assert s(check(max_retries=0))


def test_a_forced_attempt_is_not_retried() -> None:
    assert stop_when_forced()(check(forced=True)) and not stop_when_forced()(check())


def test_a_spent_budget_stops() -> None:
    assert stop_on_spent_budget()(check(budget_allows=False)) and not stop_on_spent_budget()(check())


def test_a_retry_at_or_past_the_deadline_stops() -> None:
    s = stop_past_deadline()
    assert s(check(retry_at=10.0)) and s(check(retry_at=11.0)) and not s(check(retry_at=9.99))


def test_after_a_timeout_it_keeps_time_to_fall_back_only_when_someone_can_take_the_call() -> None:
    s = stop_to_keep_time_to_fall_back()
    tight = {"error_type": "timeout", "retry_at": 6.5, "attempt_timeout": 2.0}  # 6.5 + 4 > 10
    assert s(check(**tight))
    assert not s(check(**tight, others_available=lambda: False))
    assert not s(check(**tight, keep_time_to_fall_back=False))
    assert not s(check(**{**tight, "error_type": "server_error"}))
    assert not s(check(**{**tight, "retry_at": 5.0}))  # 5 + 4 < 10: room for one more here


def test_an_open_breaker_stops_the_retry() -> None:
    assert stop_on_open_breaker()(check(breaker_admits=False)) and not stop_on_open_breaker()(check())


def test_the_groups_compose_with_or() -> None:
    assert FIRM(check(delay=None)) and FIRM(check(max_retries=0)) and not FIRM(check())
    assert SOFT(check(forced=True)) and SOFT(check(budget_allows=False)) and not SOFT(check())
    assert TIME(check(retry_at=10.0)) and not TIME(check())
    assert (stop_when_forced() | stop_past_deadline())(check(retry_at=20.0))
