"""Build a ``Router`` from a YAML file or a mapping, with errors that name the key and file.

::

    telemetry:
      url: sqlite:///attune-telemetry.db     # default; `false` turns telemetry off
    otel: true                               # OpenTelemetry spans and metrics (the otel extra)
    settings:                                # any RouterSettings field
      deadline_s: 30
      breaker: {fail_max: 5, reset_timeout_s: 10}
    deployments:
      openai/gpt-4o:
        model: gpt-4o                        # required
        provider: openai                     # label for telemetry and prices (default: key prefix)
        api: openai                          # wire format: openai (any OpenAI-compatible URL, the
                                             # default) | anthropic (Messages API) | gemini (generateContent)
        base_url: https://api.openai.com/v1  # default per api: https://api.openai.com/v1,
                                             # https://api.anthropic.com, https://generativelanguage.googleapis.com
        api_key_env: OPENAI_API_KEY          # the key is read from this variable, never from the file
        price: {input_per_mtok: 2.5, output_per_mtok: 10}   # default: genai-prices
        context_window: 128000
        attempt_timeout_s: 20
        connections: {max: 64, keepalive_s: 15}   # the endpoint's pool; keepalive_s 0: no reuse
    tiers:
      capable:
        chain: [openai/gpt-4o, anthropic/claude-sonnet-4]
        policy: adaptive                     # static | health | bandit | adaptive | ...
        policy_options: {timeout_multiple: 2}   # keyword arguments of the policy (docs/policies.md)
        policies_by_task: {code_review: health}
        objective: reliability               # reliability | latency | cost
        cost_cap: 0.05
        errors: {timeout: {retry: false}}    # overrides of the error-rule table
    shared_state:                            # optional: share breakers and Retry-After windows
      redis_url: redis://127.0.0.1:6379/0    # between processes (RedisSharedState)
    gateway: {max_concurrent: 1024}          # optional: read by `attune serve` (docs/gateway.md)

Validation is strict and reports every problem of a file at once, each as
``FILE: KEY.PATH: PROBLEM (got VALUE)`` in one ``ConfigError``: unknown keys, ``true`` where a
number goes, NaN or infinity, a ``base_url`` without a host, CR/LF in a header value, a chain
naming no deployment. The file is read as UTF-8 with a nesting and an alias limit. The shape is
in ``router.config_schema``; the defaults are ``RouterSettings``' and the adapters' own.

A policy that carries ``router_settings`` (``cooldown``: no breakers, no retry budget) gets them
here as in ``attune bench``, unless ``settings:`` sets the same key explicitly.

Deployments with the same ``api``, ``base_url``, ``api_key_env`` and ``connections`` (and no
``headers``) share one adapter, hence one connection pool. A Gemini ``base_url`` may end in its API version
(``.../v1``); without one it is ``v1beta``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from os import PathLike
from typing import Any

from router.deployment import Deployment, Tier
from router.errors import ConfigError
from router.settings import RouterSettings, renamed_settings, with_policy_settings
from router.validation import read_yaml

__all__ = ["build_router", "load_config", "validate_config"]

Problems = list[tuple[str | None, str, str | None]]


def load_config(source: str | PathLike[str] | Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """Parse a YAML file (or accept a mapping); returns ``(config, source_name)``."""
    if isinstance(source, Mapping):
        data: Any = source
        name = "<mapping>"
    else:
        data, name = read_yaml(source, what="config file")
    if not isinstance(data, Mapping):
        raise ConfigError(f"the top level must be a mapping, got {type(data).__name__}", source=name)
    return dict(data), name


def build_router(source: str | PathLike[str] | Mapping[str, Any], **overrides: Any) -> Any:
    """A ``Router`` (with its telemetry backend) from a config file or mapping.

    ``overrides`` go to the ``Router`` constructor (``telemetry=``, ``clock=``, ...).
    """
    from router.core import Router

    cfg, src = load_config(source)
    spec, telemetry_off = _validate(cfg, src)
    settings, explicit = _settings(spec.settings, src)
    deployments = _deployments(spec, src, settings.connect_timeout_s)
    tiers, policies = _tiers(spec, src)
    settings = with_policy_settings(settings, policies, source=src, keep=explicit)
    if "telemetry" not in overrides:
        overrides["telemetry"] = None if telemetry_off else _telemetry(spec.telemetry, src)
    if "shared_state" not in overrides and spec.shared_state is not None:
        from router.resilience.shared import RedisSharedState

        overrides["shared_state"] = RedisSharedState(spec.shared_state.redis_url, namespace=spec.shared_state.namespace)
    try:
        router = Router(deployments=deployments, tiers=tiers, settings=settings, **overrides)
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc), source=src) from None
    if spec.otel:
        from router.otel import instrument

        try:
            instrument(router)
        except ImportError as exc:
            raise ConfigError(f"otel: true needs the 'otel' extra ({exc})", key="otel", source=src) from None
    return router


def validate_config(source: str | PathLike[str] | Mapping[str, Any]) -> tuple[Any, str]:
    """The file checked whole, as a ``ConfigSpec`` (for tools that read more of it than the router)."""
    cfg, src = load_config(source)
    return _validate(cfg, src)[0], src


def _validate(cfg: dict[str, Any], src: str) -> tuple[Any, bool]:
    """The file checked whole: every problem of its shape, then of its cross-references."""
    from router._schema import validate
    from router.config_schema import ConfigSpec

    telemetry_off = cfg.get("telemetry") is False
    if telemetry_off:
        del cfg["telemetry"]
    if isinstance(cfg.get("settings"), Mapping):
        cfg["settings"] = renamed_settings(cfg["settings"], stacklevel=5)
    spec = validate(ConfigSpec, cfg, source=src)
    problems: Problems = []
    from router.providers.presets import resolve

    for key, d in spec.deployments.items():
        _, found = resolve(key, d.model_dump())
        problems.extend((f"deployments.{key}.{field}", problem, None) for field, problem in found)
    for name, t in (spec.tiers or {}).items():
        for i, c in enumerate(t.chain):
            if c not in spec.deployments:
                problems.append((f"tiers.{name}.chain[{i}]", f"unknown deployment {c!r}; defined: {sorted(spec.deployments)}", None))
        if name in spec.deployments and t.chain != [name]:
            problems.append((f"tiers.{name}", "a tier may not share its name with a deployment (model= would be ambiguous)", None))
    if problems:
        raise ConfigError(source=src, problems=problems)
    return spec, telemetry_off


def _settings(spec: Any, src: str) -> tuple[RouterSettings, set[str]]:
    """``RouterSettings`` from the keys the file gives (the others keep their defaults)."""
    if spec is None:
        return RouterSettings(), set()
    from router._schema import build

    try:
        return build(RouterSettings, spec), set(spec.model_fields_set)
    except ConfigError as exc:  # a rule across fields (backoff_max_s >= backoff_initial_s)
        raise exc.relocated(source=src, prefix="settings") from None


def _adapter_class(api: str) -> Any:
    import importlib

    from router.config_schema import APIS

    module, name = APIS[api]
    return getattr(importlib.import_module(module), name)


def _deployments(spec: Any, src: str, connect_timeout_s: float) -> list[Deployment]:
    """Deployments in file order; the same api, base_url and key env (no headers) share an adapter.
    A ``preset`` fills in the api, base_url and key variable (``router.providers.presets``)."""
    from router.providers.presets import resolve

    adapters: dict[tuple[Any, ...], Any] = {}
    out = []
    for key, d in spec.deployments.items():
        r, _ = resolve(key, d.model_dump())  # checked in _validate
        assert r is not None
        base_url, provider = r.base_url, r.provider
        pool = d.connections.adapter_kwargs() if d.connections else {}
        akey = (r.api, base_url, r.key_env, tuple(sorted(pool.items())), tuple(sorted(r.adapter_kwargs.items())))
        try:
            adapter = adapters.get(akey)
            if adapter is None or d.headers:
                api_key = os.environ.get(r.key_env) if r.key_env else None
                adapter = _adapter_class(r.api)(
                    base_url=base_url, api_key=api_key, name=provider, connect_timeout_s=connect_timeout_s, extra_headers=dict(d.headers or {}),
                    **pool, **r.adapter_kwargs,
                )
                if not d.headers:
                    adapters[akey] = adapter
            price = d.price
            out.append(
                Deployment(
                    key=key,
                    adapter=adapter,
                    model=d.model,
                    provider=provider,
                    input_price_per_mtok=price.input_per_mtok if price else None,
                    output_price_per_mtok=price.output_per_mtok if price else None,
                    context_window=d.context_window,
                    attempt_timeout_s=d.attempt_timeout_s,
                )
            )
        except ValueError as exc:
            raise ConfigError(str(exc), key=f"deployments.{key}", source=src) from None
    return out


def _tiers(spec: Any, src: str) -> tuple[list[Tier], list[tuple[str, Any]]]:
    """Tiers with their policies resolved, and ``(key path, policy)`` for each policy used."""
    from policies import get_policy

    default_policy = Tier.__dataclass_fields__["policy"].default
    tiers, policies = [], []
    for name, t in (spec.tiers or {}).items():
        path = f"tiers.{name}"
        policy = _policy(t.policy or default_policy, t.policy_options, f"{path}.policy_options", src)
        policies.append((f"{path}.policy", policy))
        by_task = {}
        for task, pname in (t.policies_by_task or {}).items():
            by_task[task] = get_policy(pname)
            policies.append((f"{path}.policies_by_task.{task}", by_task[task]))
        given = {"objective": t.objective, "cost_cap": t.cost_cap}
        errors = {k: r.model_dump(exclude_none=True) for k, r in t.errors.items()} if t.errors else None
        try:
            tiers.append(
                Tier(name=name, chain=list(t.chain), policy=policy, policies_by_task=by_task, errors=errors, **{k: v for k, v in given.items() if v is not None})
            )
        except ValueError as exc:
            raise ConfigError(str(exc), key=path, source=src) from None
    return tiers, policies


def _policy(name: str, options: dict[str, Any] | None, key: str, src: str) -> Any:
    """The policy ``name`` built with ``options`` (``tiers.<name>.policy_options``); an option
    the policy does not take, or a value it refuses, is a ``ConfigError`` at ``key``."""
    from policies.registry import PolicyOptionError, build_policy

    try:
        return build_policy(name, options)
    except PolicyOptionError as exc:
        raise ConfigError(str(exc), key=f"{key}.{exc.option}" if exc.option else key, source=src) from None


def _telemetry(spec: Any, src: str) -> Any:
    from telemetry import TelemetryBackend
    from telemetry._url import redact_text, resolve_url

    url = spec.url if spec is not None else None
    try:
        resolve_url(url)
        return TelemetryBackend(url)
    except (ValueError, TypeError) as exc:
        raise ConfigError(redact_text(str(exc), url) if url else str(exc), key="telemetry.url", source=src) from None
