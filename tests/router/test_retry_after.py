from email.utils import format_datetime
from datetime import datetime, timezone

from router.resilience.retry_after import parse_retry_after

NOW = 1_750_000_000.0


def test_seconds() -> None:
    assert parse_retry_after({"retry-after": "7"}, NOW) == 7.0
    assert parse_retry_after({"retry-after": " 1.5 "}, NOW) == 1.5


def test_milliseconds_win_over_seconds() -> None:
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}, NOW) == 0.25


def test_http_date() -> None:
    when = datetime.fromtimestamp(NOW + 30, timezone.utc)
    assert parse_retry_after({"retry-after": format_datetime(when, usegmt=True)}, NOW) == 30.0


def test_http_date_in_the_past_is_zero() -> None:
    when = datetime.fromtimestamp(NOW - 30, timezone.utc)
    assert parse_retry_after({"retry-after": format_datetime(when, usegmt=True)}, NOW) == 0.0


def test_garbage_and_absent() -> None:
    assert parse_retry_after({}, NOW) is None
    assert parse_retry_after({"retry-after": "soon"}, NOW) is None
    assert parse_retry_after({"retry-after": "-3"}, NOW) is None
    assert parse_retry_after({"retry-after-ms": "x", "retry-after": "2"}, NOW) == 2.0


def test_capped_at_a_day() -> None:
    assert parse_retry_after({"retry-after": "99999999"}, NOW) == 24 * 3600.0
