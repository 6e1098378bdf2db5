"""The shape of a scenario file as strict pydantic models (imported when a scenario is parsed).

The format is documented in ``router/sim/SCENARIOS.md`` and docs/design.md ("Scenario files").
Fields left ``None`` were not given: their defaults live in the dataclasses of
``router.sim.scenario`` (and ``RouterSettings`` for ``router:``). Rules across fields (a phase
ending after it starts, p95 above the median, chains naming providers) are checked in
``router.sim.scenario``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from router._schema import FileModel, NonEmpty, Seconds
from router.config_schema import PriceSpec
from router.resilience.rules import ANSWER_ERROR_TYPES
from router.validation import MAX_SECONDS

__all__ = ["PhaseModel", "ProviderModel", "ScenarioModel"]


def _kind(value: str) -> str:
    if value not in ANSWER_ERROR_TYPES:
        raise ValueError(f"unknown error kind; known: {', '.join(ANSWER_ERROR_TYPES)}")
    return value


Time = Annotated[float, Field(ge=0, le=MAX_SECONDS)]
Share = Annotated[float, Field(ge=0, le=1)]
Positive = Annotated[float, Field(gt=0, le=1e9)]
Weight = Annotated[float, Field(ge=0, le=1e9)]
ErrorMix = Annotated[dict[Annotated[str, AfterValidator(_kind)], Weight], Field(min_length=1)]


class LatencyModel(FileModel):
    median: Positive
    p95: Positive


class PhaseModel(FileModel):
    start_s: Time
    end_s: Time
    error_rate: Share | None = None
    error_rate_end: Share | None = None
    errors: ErrorMix | None = None
    latency_factor: Positive | None = None
    rate_limit_rpm: Positive | None = None
    retry_after_s: Time | None = None


class ProviderModel(FileModel):
    latency_ms: LatencyModel
    error_latency_ms: LatencyModel | None = None
    base_error_rate: Share | None = None
    errors: ErrorMix | None = None
    rate_limit_rpm: Positive | None = None
    retry_after_s: Time | None = None
    price: PriceSpec | None = None
    upstream: NonEmpty | None = None
    phases: list[PhaseModel] | None = None


class TokensModel(FileModel):
    input_mean: Annotated[float, Field(ge=1, le=1e7)] | None = None
    output_mean: Annotated[float, Field(ge=1, le=1e7)] | None = None


class ProfileModel(FileModel):
    start_s: Time
    end_s: Time
    factor: Annotated[float, Field(ge=0, le=1e6)]


class TrafficModel(FileModel):
    rate_per_s: Annotated[float, Field(gt=0, le=1e6)]
    tier: NonEmpty | None = None
    tasks: Annotated[dict[NonEmpty, Weight], Field(min_length=1)] | None = None
    tokens: TokensModel | None = None
    profile: list[ProfileModel] | None = None


class RouterModel(FileModel):
    deadline_s: Seconds | None = None
    attempt_timeout_s: Seconds | None = None


class UpstreamModel(FileModel):
    phases: list[PhaseModel]


class ScenarioModel(FileModel):
    name: NonEmpty
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None
    duration_s: Annotated[float, Field(gt=0, le=MAX_SECONDS)]
    traffic: TrafficModel
    chain: Annotated[list[NonEmpty], Field(min_length=1)]
    providers: Annotated[dict[NonEmpty, ProviderModel], Field(min_length=1)]
    router: RouterModel | None = None
    description: str | None = None
    sources: list[str] | None = None
    upstreams: dict[NonEmpty, UpstreamModel] | None = None
