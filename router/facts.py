"""``RoutingFacts``: which deployment served a call and how (kept free of pydantic, so the call
path imports it without loading the response types)."""

from __future__ import annotations

__all__ = ["RoutingFacts"]


class RoutingFacts:
    """Which deployment served a call and how: attributes of our responses that are not fields
    (they stay out of ``model_dump()`` / ``to_dict()``, so dumps match the provider's body)."""

    __slots__ = ("call_id", "deployment", "fallback_used", "provider", "retry_count")

    def __init__(self, provider: str = "", deployment: str = "", call_id: str = "", fallback_used: bool = False, retry_count: int = 0) -> None:
        self.provider = provider
        self.deployment = deployment
        self.call_id = call_id
        self.fallback_used = fallback_used
        self.retry_count = retry_count

    def __repr__(self) -> str:
        return (
            f"RoutingFacts(provider={self.provider!r}, deployment={self.deployment!r}, call_id={self.call_id!r}, "
            f"fallback_used={self.fallback_used!r}, retry_count={self.retry_count!r})"
        )
