"""Fixtures of the gateway tests: the fake provider upstream, a config, a gateway on a thread."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from router.testing import FakeProviderServer

from gatewaykit import UPSTREAM_KEY, GatewayThread, write_config  # noqa: E402


@pytest.fixture(autouse=True)
def _upstream_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTUNE_TEST_UPSTREAM_KEY", UPSTREAM_KEY)


@pytest.fixture
def fake() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as srv:
        yield srv


@pytest.fixture
def config(tmp_path: Path, fake: FakeProviderServer) -> Path:
    return write_config(tmp_path, fake)


@pytest.fixture
def gateway(config: Path) -> Iterator[GatewayThread]:
    with GatewayThread(config) as gw:
        yield gw


@pytest.fixture
def key(config: Path, gateway: GatewayThread) -> str:
    return gateway.gateway.access.store.create("team-a")[1]
