"""Call logging: quiet by default, structured fields, never a key or prompt text."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from router import RoutingError
from router.testing import FakeProviderServer, Fault

pytest.importorskip("opentelemetry.sdk", reason="the test router helpers use the 'otel' extra")

from otelkit import MSGS, PROMPT, A, B, Otel, build  # noqa: E402


async def test_failures_and_fallbacks_are_logged_with_fields(server: FakeProviderServer, caplog: pytest.LogCaptureFixture) -> None:
    router, sink = build(server, Otel())
    caplog.set_level(logging.DEBUG, logger="attune.calls")
    await router.acompletion("capable", MSGS)
    server.set_default("a", Fault.status(500))
    await router.acompletion("capable", MSGS)
    server.set_default("b", Fault.status(500))
    with pytest.raises(RoutingError):
        await router.acompletion("capable", MSGS)
    lines = [r for r in caplog.records if r.name == "attune.calls"]
    assert [r.levelno for r in lines] == [logging.DEBUG, logging.INFO, logging.WARNING]
    ok, fb, failed = lines
    assert (ok.call_id, ok.deployment, ok.error_type) == (sink.records[0].call_id, A, None)
    assert (fb.deployment, fb.fallback_used) == (B, True) and A in fb.getMessage()
    assert (failed.call_id, failed.error_type) == (sink.records[2].call_id, "server_error")
    text = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert PROMPT not in text and "sk-test" not in text
    await router.aclose()


def test_quiet_by_default() -> None:
    """A script that configures no logging prints nothing, even for a failed call."""
    code = """
import asyncio
from router import Deployment, MemoryProvider, Router, Tier, RoutingError
from router.providers import ProviderResponse
from router.errors import ProviderError

class Down(MemoryProvider):
    async def send(self, request, *, timeout=None):
        raise ProviderError("down", error_type="server_error", status=500)

async def main():
    r = Router(deployments=[Deployment("m/x", Down(), "x")], tiers=[Tier("t", ["m/x"], policy="static")])
    try:
        await r.acompletion("t", [{"role": "user", "content": "hi"}])
    except RoutingError:
        pass

asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""
