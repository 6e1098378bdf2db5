"""Test helpers: a fake provider server (OpenAI, Anthropic and Gemini wire formats) with injectable
faults (stdlib only)."""

from router.testing.fake_provider import FakeProviderServer, RequestRecord
from router.testing.faults import Fault

__all__ = ["FakeProviderServer", "Fault", "RequestRecord"]
