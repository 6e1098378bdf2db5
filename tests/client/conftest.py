"""Fixtures of the client-surface tests: the fake provider over real HTTP, and a canned
provider (httpx's transport seam) that answers a body the test writes and keeps each request."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from router import AsyncClient, Deployment, OpenAIProvider, Router, RouterSettings, Tier
from router.testing import FakeProviderServer

FAST = RouterSettings(backoff_initial_s=0.001, backoff_max_s=0.002, attempt_timeout_s=2.0, deadline_s=5.0)


class Canned:
    """An OpenAI endpoint answering ``reply(request) -> (status, headers, body)``; keeps the requests."""

    def __init__(self, reply: Callable[[httpx.Request], tuple[int, dict[str, str], Any]]) -> None:
        self.reply = reply
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, headers, body = self.reply(request)
        if isinstance(body, (bytes, str)):
            return httpx.Response(status, headers=headers, content=body)
        return httpx.Response(status, headers=headers, json=body)

    def body(self, i: int = -1) -> dict[str, Any]:
        return json.loads(self.requests[i].content)


def canned_client(*replies: Canned, settings: RouterSettings = FAST, telemetry: Any = None) -> AsyncClient:
    """A client over one deployment per canned endpoint, in a tier ``capable`` in that order."""
    deps = [
        Deployment(f"d{i}", OpenAIProvider(base_url="http://canned.test/v1", api_key="sk-test", transport=httpx.MockTransport(c.handler)), f"m{i}")
        for i, c in enumerate(replies)
    ]
    router = Router(deployments=deps, tiers=[Tier("capable", [d.key for d in deps], policy="static")], telemetry=telemetry, settings=settings)
    return AsyncClient(router)


def fake_client(server: FakeProviderServer, *routes: str, settings: RouterSettings = FAST, telemetry: Any = None) -> AsyncClient:
    """A client over one OpenAI deployment per fake-server route, tier ``capable`` in that order."""
    deps = [Deployment(f"openai/{r}", OpenAIProvider(base_url=server.url_for(r)), "gpt-4o") for r in routes]
    router = Router(deployments=deps, tiers=[Tier("capable", [d.key for d in deps], policy="static")], telemetry=telemetry, settings=settings)
    return AsyncClient(router)
