"""Shared fixtures: real service URLs from the environment (skip with a reason when unset)."""

from __future__ import annotations

import os

import pytest


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
