"""Test helpers: a fake provider server (OpenAI, Anthropic and Gemini wire formats) with injectable
faults (stdlib only), and the testing mode (``router.testing.mode``: fast settings, a fake clock,
breaker control)."""

from router.testing.fake_provider import FakeProviderServer, RequestRecord
from router.testing.faults import Fault
from router.testing.mode import FAST, FakeClock, close_breaker, fast_settings, open_breaker, run_virtual, use_breaker

__all__ = [
    "FAST",
    "FakeClock",
    "FakeProviderServer",
    "Fault",
    "RequestRecord",
    "close_breaker",
    "fast_settings",
    "open_breaker",
    "run_virtual",
    "use_breaker",
]
