"""The shape of ``attune.yaml`` as strict pydantic models (imported by ``router.config`` when a
config is loaded). Values checked here are checked before anything is built; checks that need
several sections at once (chains naming deployments, tier names) are in ``router.config``.

To add a wire format, add it to ``APIS`` (and its default endpoint to
``router.providers.base.DEFAULT_BASE_URLS``); to add a deployment key, add a field to
``DeploymentSpec``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from router._schema import FileModel, NonEmpty, Seconds, model_for
from router.deployment import OBJECTIVES
from router.resilience.rules import DEFAULT_RULES
from router.settings import RouterSettings

__all__ = [
    "APIS",
    "ConfigSpec",
    "ConnectionsSpec",
    "DeploymentSpec",
    "ErrorRuleSpec",
    "GatewaySpec",
    "PriceSpec",
    "SharedStateSpec",
    "TelemetrySpec",
    "TierSpec",
]

# api -> (adapter module, class name); the module is imported when a deployment uses it
APIS: dict[str, tuple[str, str]] = {
    "openai": ("router.providers.openai", "OpenAIProvider"),
    "anthropic": ("router.providers.anthropic", "AnthropicProvider"),
    "gemini": ("router.providers.gemini", "GeminiProvider"),
    "azure": ("router.providers.azure", "AzureOpenAIProvider"),
}


def _known_api(value: str) -> str:
    if value not in APIS:
        raise ValueError(f"unsupported api; supported: {list(APIS)}")
    return value


def _http_url(value: str) -> str:
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must be an http(s) URL without spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host")
    return value


def _header_value(value: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise ValueError("a header value must not contain CR, LF or NUL")
    return value


def _known_policy(value: str) -> str:
    from policies import policy_names

    names = policy_names()
    if value not in names:
        raise ValueError(f"unknown policy {value!r}; known: {names}")
    return value


def _policy_option(value: Any) -> Any:
    if isinstance(value, (bool, int, str)) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise ValueError("must be a finite number, true or false, or text")


def _known_error_class(value: str) -> str:
    if value not in DEFAULT_RULES:
        raise ValueError(f"unknown error class; known: {sorted(DEFAULT_RULES)}")
    return value


def _retry_value(value: Any) -> Any:
    if isinstance(value, bool) or (isinstance(value, int) and 0 <= value <= 100):
        return value
    raise ValueError("must be true, false or a count from 0 to 100")


HttpUrl = Annotated[str, AfterValidator(_http_url)]
HeaderName = Annotated[str, Field(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")]
HeaderValue = Annotated[str, AfterValidator(_header_value)]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Price = Annotated[float, Field(ge=0, le=1_000_000)]  # dollars per million tokens
PolicyName = Annotated[str, AfterValidator(_known_policy)]
PolicyOption = Annotated[Any, AfterValidator(_policy_option)]
ErrorClass = Annotated[str, AfterValidator(_known_error_class)]


class PriceSpec(FileModel):
    input_per_mtok: Price
    output_per_mtok: Price


class ConnectionsSpec(FileModel):
    """``deployments.<key>.connections``: the endpoint's pool (the adapter's defaults: 64, 15 s)."""

    max: Annotated[int, Field(ge=1, le=100_000)] | None = None  # connections open at once; callers beyond it queue
    keepalive_s: Annotated[float, Field(ge=0, le=3600)] | None = None  # idle time before a connection is closed; 0: no reuse

    def adapter_kwargs(self) -> dict[str, Any]:
        """The adapter's ``max_connections`` / ``keepalive_s`` for what was given."""
        out: dict[str, Any] = {}
        if self.max is not None:
            out["max_connections"] = self.max
        if self.keepalive_s is not None:
            out["keepalive_s"] = float(self.keepalive_s)
        return out


class DeploymentSpec(FileModel):
    """``deployments.<key>``; ``None`` means not given (the adapter's or Deployment's default)."""

    model: NonEmpty
    provider: NonEmpty | None = None  # label for telemetry and prices; default: the key's prefix
    api: Annotated[str, AfterValidator(_known_api)] | None = None  # default: the preset's, else openai
    preset: NonEmpty | None = None  # a known service (router.providers.presets): api, base_url, key variable
    base_url: HttpUrl | None = None
    api_version: NonEmpty | None = None  # azure only
    api_key_env: EnvName | None = None
    price: PriceSpec | None = None
    context_window: Annotated[int, Field(ge=1, le=100_000_000)] | None = None
    attempt_timeout_s: Seconds | None = None
    headers: dict[HeaderName, HeaderValue] | None = None
    connections: ConnectionsSpec | None = None


class ErrorRuleSpec(FileModel):
    """``tiers.<name>.errors.<error_type>``: an override of one row of the error-rule table."""

    retry: Annotated[Any, AfterValidator(_retry_value)] = None
    fallback: bool | None = None
    breaker: bool | None = None


class TierSpec(FileModel):
    chain: Annotated[list[NonEmpty], Field(min_length=1)]
    policy: PolicyName | None = None
    policy_options: dict[NonEmpty, PolicyOption] | None = None  # keyword arguments of the tier's policy
    policies_by_task: dict[NonEmpty, PolicyName] | None = None
    objective: Literal[OBJECTIVES] | None = None  # type: ignore[valid-type]
    cost_cap: Annotated[float, Field(gt=0, le=1_000_000)] | None = None
    errors: dict[ErrorClass, ErrorRuleSpec] | None = None


class TelemetrySpec(FileModel):
    url: NonEmpty | None = None


def _redis_url(value: str) -> str:
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return value


class SharedStateSpec(FileModel):
    """``shared_state``: breakers, Retry-After windows (and the gateway's key limits) across processes."""

    redis_url: Annotated[str, AfterValidator(_redis_url)]
    namespace: NonEmpty = "attune"


class GatewaySpec(FileModel):
    """``gateway``: what ``attune serve`` reads (see docs/gateway.md)."""

    max_body_bytes: Annotated[int, Field(ge=1024, le=1 << 30)] = 4 * 1024 * 1024
    max_concurrent: Annotated[int, Field(ge=1, le=1_000_000)] = 1024
    body_timeout_s: Seconds = 10.0
    key_cache_s: Annotated[float, Field(ge=0, le=3600)] = 1.0
    spend_flush_s: Seconds = 1.0
    table_prefix: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,30}$")] = "attune_"
    router_metrics: bool = False  # the router's OTel metrics at /metrics (the otel extra; costs CPU per call)


SettingsSpec = model_for(RouterSettings)


class ConfigSpec(FileModel):
    """The whole file (``telemetry: false`` is taken out before validation)."""

    telemetry: TelemetrySpec | None = None
    otel: bool = False  # spans and metrics on the global OpenTelemetry providers (the otel extra)
    settings: SettingsSpec | None = None  # type: ignore[valid-type]
    deployments: Annotated[dict[NonEmpty, DeploymentSpec], Field(min_length=1)]
    tiers: dict[NonEmpty, TierSpec] | None = None
    shared_state: SharedStateSpec | None = None
    gateway: GatewaySpec | None = None
