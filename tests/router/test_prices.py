"""Prices come from genai-prices (unpinned: its figures move), so tests ask it at test time
rather than writing its numbers down."""

from __future__ import annotations

import pytest
from genai_prices import Usage, calc_price

from router.prices import lookup_price


def genai(provider_id: str, model: str) -> tuple[float, float]:
    """Dollars per million input and output tokens, straight from genai-prices (1k tokens priced)."""
    inp = calc_price(Usage(input_tokens=1000, output_tokens=0), model_ref=model, provider_id=provider_id).total_price
    out = calc_price(Usage(input_tokens=0, output_tokens=1000), model_ref=model, provider_id=provider_id).total_price
    return float(inp) * 1000, float(out) * 1000


@pytest.mark.parametrize(
    ("provider", "provider_id", "model"),
    [("openai", "openai", "gpt-4o"), ("anthropic", "anthropic", "claude-sonnet-4"), ("gemini", "google", "gemini-2.5-pro")],
)
def test_the_router_prices_a_model_as_genai_prices_does(provider: str, provider_id: str, model: str) -> None:
    want = genai(provider_id, model)
    assert want[0] > 0 and want[1] > 0
    assert lookup_price(provider, model) == pytest.approx(want)


def test_an_unknown_model_has_no_price() -> None:
    assert lookup_price("openai", "no-such-model-for-attune-tests") is None
