"""Fixtures of the call-path tests: one real fake provider server for the whole run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from router.testing import FakeProviderServer


@pytest.fixture(scope="session")
def _fake_server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as srv:
        yield srv


@pytest.fixture
def server(_fake_server: FakeProviderServer) -> FakeProviderServer:
    """The fake provider, with faults, counters and keys cleared for this test."""
    _fake_server.reset()
    _fake_server.require_api_key(None)
    return _fake_server
