"""Fixtures of the observability tests: a real fake provider server and a router over it, with
OpenTelemetry's in-memory exporters."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # otelkit

from router.testing import FakeProviderServer  # noqa: E402


@pytest.fixture(scope="module")
def _fake_server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as srv:
        yield srv


@pytest.fixture
def server(_fake_server: FakeProviderServer) -> FakeProviderServer:
    _fake_server.reset()
    _fake_server.require_api_key(None)
    return _fake_server
