"""Shared fixtures: real service URLs from the environment (skip with a reason when unset)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from router.testing import FakeProviderServer


@pytest.fixture(scope="session")
def _fake_server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as srv:
        yield srv


@pytest.fixture
def server(_fake_server: FakeProviderServer) -> FakeProviderServer:
    """The session's fake provider (real HTTP), with faults, counters and keys cleared for this test."""
    _fake_server.reset()
    _fake_server.require_api_key(None)
    return _fake_server


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("ATTUNE_TEST_REDIS_URL")
    if not url:
        pytest.skip("ATTUNE_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0); .ci/run sets it")
    return url


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get("ATTUNE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("ATTUNE_TEST_POSTGRES_URL is not set (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test); .ci/run sets it")
    return url


@pytest.fixture
def registered_policy() -> Iterator[Callable[[str, Callable[..., Any]], None]]:
    """``register_policy`` for one test: every name registered through it is removed after."""
    from policies import policy_names, register_policy, unregister_policy

    names: list[str] = []

    def register(name: str, factory: Callable[..., Any]) -> None:
        register_policy(name, factory)
        names.append(name)

    yield register
    for name in dict.fromkeys(names):
        if name in policy_names():
            unregister_policy(name)
