"""Fixtures of the conformance suite (the harness is ``conformance_kit``): one deterministic
strict fake provider for the session, the official SDK client and ours pointed at it."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator

import openai
import pytest

from router import AsyncClient, Deployment, Router, RouterSettings
from router.providers.openai import OpenAIProvider
from router.testing import FakeProviderServer
from telemetry import MemorySink

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from conformance_kit import CHAT_MODEL, EMBED_MODEL, KEY  # noqa: E402


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeProviderServer]:
    with FakeProviderServer(deterministic=True) as srv:
        yield srv


@pytest.fixture
async def sdk(fake: FakeProviderServer) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=fake.url, api_key=KEY, max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def ours(fake: FakeProviderServer) -> AsyncIterator[AsyncClient]:
    adapter = OpenAIProvider(base_url=fake.url, api_key=KEY)
    settings = RouterSettings(max_attempts_per_deployment=1, deadline_s=10.0, attempt_timeout_s=10.0, backoff_initial_s=0.001)
    deployments = [Deployment(CHAT_MODEL, adapter, CHAT_MODEL), Deployment(EMBED_MODEL, adapter, EMBED_MODEL)]
    client = AsyncClient(Router(deployments=deployments, tiers=[], settings=settings, telemetry=MemorySink()))
    yield client
    await client.aclose()
