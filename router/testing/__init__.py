"""Test helpers: a fake provider server (OpenAI, Azure OpenAI, Anthropic and Gemini wire
formats, as strict as the real APIs, recording every request) with injectable faults (stdlib
only), and the testing mode (``router.testing.mode``: fast settings, a fake clock, breaker
control)."""

from router.testing.fake_provider import FakeProviderServer
from router.testing.faults import Fault
from router.testing.mode import FAST, FakeClock, close_breaker, fast_settings, open_breaker, run_virtual, use_breaker
from router.testing.routes import RecordedRequest, RequestRecord

__all__ = [
    "FAST",
    "FakeClock",
    "FakeProviderServer",
    "Fault",
    "RecordedRequest",
    "RequestRecord",
    "close_breaker",
    "fast_settings",
    "open_breaker",
    "run_virtual",
    "use_breaker",
]
