"""Fixtures of the call-path tests: which modules run on both HTTP transports (the session's fake
provider server, ``server``, is in tests/conftest.py)."""

from __future__ import annotations


import pytest


# The modules whose tests run once per HTTP transport (aiohttp, the default, and httpx): every
# fault (timeouts, resets, truncated bodies, hangs, mid-stream errors, Retry-After forms) is
# mapped by both.
_BOTH_TRANSPORTS = {"test_faults", "test_streaming", "test_anthropic", "test_gemini", "test_retry_after", "test_timeouts", "test_wire", "test_attempt_timeouts_http"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.module.__name__.rsplit(".", 1)[-1] in _BOTH_TRANSPORTS and "http_transport" in metafunc.fixturenames:
        metafunc.parametrize("http_transport", ["aiohttp", "httpx"], indirect=True)


@pytest.fixture(autouse=True)
def http_transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The transport adapters built in this test use (``ATTUNE_HTTP_TRANSPORT``)."""
    from router.providers._wire import TRANSPORT_ENV

    name: str = getattr(request, "param", "aiohttp")
    monkeypatch.setenv(TRANSPORT_ENV, name)
    return name
