"""Per-token prices of a model, looked up once in genai-prices and cached."""

from __future__ import annotations

import functools
import logging

__all__ = ["lookup_price"]

log = logging.getLogger("attune.prices")

_PROVIDER_IDS = {"gemini": "google", "google": "google", "openai": "openai", "anthropic": "anthropic"}


@functools.lru_cache(maxsize=256)
def lookup_price(provider: str, model: str) -> tuple[float, float] | None:
    """``(input, output)`` dollars per million tokens from genai-prices, or ``None`` if unknown."""
    try:
        from genai_prices import Usage, calc_price
    except ImportError:  # pragma: no cover - a runtime dependency
        return None
    pid = _PROVIDER_IDS.get(provider, provider)
    try:
        # priced at 10k tokens (below long-context tiers), scaled to a million
        calc = calc_price(Usage(input_tokens=10_000, output_tokens=0), model_ref=model, provider_id=pid)
        inp = float(calc.total_price) * 100
        calc = calc_price(Usage(input_tokens=0, output_tokens=10_000), model_ref=model, provider_id=pid)
        out = float(calc.total_price) * 100
    except Exception as exc:  # noqa: BLE001 - genai-prices raises LookupError and friends
        log.debug("no genai-prices entry for %s/%s: %s", provider, model, type(exc).__name__)
        return None
    return inp, out
