"""Deployments (one model at one provider endpoint) and tiers (a named fallback chain)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from router.prices import lookup_price
from router.providers.base import Provider
from router.resilience.rules import ErrorRule, merge_rules
from router.validation import MAX_SECONDS, Range, check_fields

__all__ = ["Deployment", "Tier", "OBJECTIVES"]

OBJECTIVES = ("reliability", "latency", "cost")


_CHECKED = ("input_price_per_mtok", "output_price_per_mtok", "context_window", "attempt_timeout_s")


@dataclass(eq=False)
class Deployment:
    """One model behind one provider adapter; ``key`` names it in chains and telemetry.

    Prices default to genai-prices for ``(provider, model)``; unknown models cost 0 unless
    ``input_price_per_mtok`` / ``output_price_per_mtok`` are given.
    """

    key: str
    adapter: Provider
    model: str
    provider: str = ""
    input_price_per_mtok: Annotated[float, Range(ge=0, le=1_000_000)] | None = None  # dollars per million tokens
    output_price_per_mtok: Annotated[float, Range(ge=0, le=1_000_000)] | None = None
    context_window: Annotated[int, Range(ge=1, le=100_000_000)] | None = None
    attempt_timeout_s: Annotated[float, Range(gt=0, le=MAX_SECONDS)] | None = None

    def __post_init__(self) -> None:
        if not self.key or not isinstance(self.key, str):
            raise ValueError(f"deployment key must be a non-empty string, got {self.key!r}")
        check_fields(self, _CHECKED, source=f"Deployment {self.key!r}")
        if not self.provider:
            self.provider = getattr(self.adapter, "name", "") or self.key.split("/", 1)[0]
        if self.input_price_per_mtok is None or self.output_price_per_mtok is None:
            found = lookup_price(self.provider, self.model)
            inp, out = found if found else (0.0, 0.0)
            if self.input_price_per_mtok is None:
                self.input_price_per_mtok = inp
            if self.output_price_per_mtok is None:
                self.output_price_per_mtok = out

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_price_per_mtok + output_tokens * self.output_price_per_mtok) / 1e6  # type: ignore[operator]

    def __repr__(self) -> str:
        return f"Deployment({self.key!r}, provider={self.provider!r}, model={self.model!r})"


@dataclass(eq=False)
class Tier:
    """A named fallback chain with the policy that orders it.

    ``policy`` is a policy object, a plain function, or a built-in name (resolved by the
    router); ``policies_by_task`` overrides it per task type. ``errors`` overrides rows of the
    error-rule table for this tier.
    """

    name: str
    chain: Sequence[str]
    policy: Any = "adaptive"
    policies_by_task: Mapping[str, Any] = field(default_factory=dict)
    objective: str = "reliability"
    cost_cap: Annotated[float, Range(gt=0, le=1_000_000)] | None = None
    errors: Mapping[str, Mapping[str, Any]] | None = None
    rules: dict[str, ErrorRule] = field(init=False)

    def __post_init__(self) -> None:
        if not self.chain:
            raise ValueError(f"tier {self.name!r}: chain must name at least one deployment")
        check_fields(self, ("cost_cap",), source=f"Tier {self.name!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"tier {self.name!r}: objective {self.objective!r} is not one of {OBJECTIVES}")
        self.chain = list(self.chain)
        self.rules = merge_rules(self.errors, source=f"tiers.{self.name}.errors")
