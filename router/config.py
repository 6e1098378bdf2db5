"""Build a ``Router`` from a YAML file or a mapping, with errors that name the key and file.

::

    telemetry:
      url: sqlite:///attune-telemetry.db     # default; `false` turns telemetry off
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
    tiers:
      capable:
        chain: [openai/gpt-4o, anthropic/claude-sonnet-4]
        policy: adaptive                     # static | health | bandit | adaptive | ...
        policies_by_task: {code_review: health}
        objective: reliability               # reliability | latency | cost
        cost_cap: 0.05
        errors: {timeout: {retry: false}}    # overrides of the error-rule table

Deployments with the same ``api``, ``base_url`` and ``api_key_env`` (and no ``headers``) share
one adapter, hence one connection pool. A Gemini ``base_url`` may end in its API version
(``.../v1``); without one it is ``v1beta``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from router.deployment import OBJECTIVES, Deployment, Tier
from router.errors import ConfigError
from router.resilience.breaker import BreakerSettings
from router.settings import RouterSettings

__all__ = ["build_router", "load_config"]

_TOP = {"telemetry", "settings", "deployments", "tiers"}
_DEPLOYMENT = {"model", "provider", "api", "base_url", "api_key_env", "price", "context_window", "attempt_timeout_s", "headers"}
_TIER = {"chain", "policy", "policies_by_task", "objective", "cost_cap", "errors"}
# api -> (adapter module, class name, default base_url); the module is imported when used
_APIS: dict[str, tuple[str, str, str]] = {
    "openai": ("router.providers.openai", "OpenAIProvider", "https://api.openai.com/v1"),
    "anthropic": ("router.providers.anthropic", "AnthropicProvider", "https://api.anthropic.com"),
    "gemini": ("router.providers.gemini", "GeminiProvider", "https://generativelanguage.googleapis.com"),
}


def load_config(source: str | PathLike[str] | Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """Parse a YAML file (or accept a mapping); returns ``(config, source_name)``."""
    if isinstance(source, Mapping):
        return dict(source), "<mapping>"
    path = Path(source)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", source=name) from None
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"invalid YAML{where}: {getattr(exc, 'problem', exc)}", source=name) from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"the top level must be a mapping, got {type(data).__name__}", source=name)
    return dict(data), name


def _check_keys(obj: Any, allowed: set[str], path: str, src: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise ConfigError(f"must be a mapping, got {obj!r}", key=path, source=src)
    for k in obj:
        if k not in allowed:
            raise ConfigError(f"unknown key {k!r}; expected one of {sorted(allowed)}", key=f"{path}.{k}" if path else str(k), source=src)
    return obj


def _number(value: Any, path: str, src: str, *, positive: bool = True, integer: bool = False) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or (positive and value <= 0):
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"must be {kind}{' > 0' if positive else ''}, got {value!r}", key=path, source=src)
    return value


def _settings(raw: Any, src: str) -> RouterSettings:
    fields = {f.name: f for f in dataclasses.fields(RouterSettings)}
    obj = _check_keys(raw, set(fields), "settings", src)
    kwargs: dict[str, Any] = {}
    for k, v in obj.items():
        if k == "breaker":
            bfields = {f.name for f in dataclasses.fields(BreakerSettings)}
            b = _check_keys(v, bfields, "settings.breaker", src)
            try:
                kwargs[k] = BreakerSettings(**b)
            except (TypeError, ValueError) as exc:
                raise ConfigError(str(exc), key="settings.breaker", source=src) from None
        else:
            kwargs[k] = v
    try:
        return RouterSettings(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc), key="settings", source=src) from None


def _adapter_class(api: str) -> Any:
    import importlib

    module, name, _ = _APIS[api]
    return getattr(importlib.import_module(module), name)


def _deployments(raw: Any, src: str, connect_timeout_s: float) -> list[Deployment]:
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError("must map deployment names to their settings (at least one)", key="deployments", source=src)
    adapters: dict[tuple[str, str, str | None], Any] = {}
    out = []
    for key, spec in raw.items():
        path = f"deployments.{key}"
        if spec is None:
            spec = {}
        if isinstance(spec, Mapping) and "api_key" in spec:
            raise ConfigError(
                "keys never go in config files: put the key in an environment variable and name it with api_key_env",
                key=f"{path}.api_key",
                source=src,
            )
        spec = _check_keys(spec, _DEPLOYMENT, path, src)
        model = spec.get("model")
        if not isinstance(model, str) or not model:
            raise ConfigError(f"missing or empty model name (got {model!r})", key=f"{path}.model", source=src)
        api = spec.get("api", "openai")
        if not isinstance(api, str) or api not in _APIS:
            raise ConfigError(f"unsupported api {api!r}; supported: {list(_APIS)}", key=f"{path}.api", source=src)
        provider = spec.get("provider") or str(key).split("/", 1)[0]
        base_url = spec.get("base_url", _APIS[api][2])
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"must be an http(s) URL, got {base_url!r}", key=f"{path}.base_url", source=src)
        env = spec.get("api_key_env")
        api_key: str | None = None
        if env is not None:
            if not isinstance(env, str) or not env:
                raise ConfigError(f"must name an environment variable, got {env!r}", key=f"{path}.api_key_env", source=src)
            api_key = os.environ.get(env)
            if not api_key:
                raise ConfigError(f"environment variable {env!r} is not set", key=f"{path}.api_key_env", source=src)
        headers = spec.get("headers")
        if headers is not None and not (isinstance(headers, Mapping) and all(isinstance(v, str) for v in headers.values())):
            raise ConfigError("must map header names to strings", key=f"{path}.headers", source=src)
        price = spec.get("price")
        pin = pout = None
        if price is not None:
            p = _check_keys(price, {"input_per_mtok", "output_per_mtok"}, f"{path}.price", src)
            if set(p) != {"input_per_mtok", "output_per_mtok"}:
                raise ConfigError("needs both input_per_mtok and output_per_mtok", key=f"{path}.price", source=src)
            pin = float(_number(p["input_per_mtok"], f"{path}.price.input_per_mtok", src, positive=False))
            pout = float(_number(p["output_per_mtok"], f"{path}.price.output_per_mtok", src, positive=False))
        ctx = spec.get("context_window")
        if ctx is not None:
            _number(ctx, f"{path}.context_window", src, integer=True)
        timeout = spec.get("attempt_timeout_s")
        if timeout is not None:
            _number(timeout, f"{path}.attempt_timeout_s", src)
        akey = (api, base_url, env)
        adapter = adapters.get(akey)
        if adapter is None or headers:
            adapter = _adapter_class(api)(
                base_url=base_url, api_key=api_key, name=provider, connect_timeout_s=connect_timeout_s, extra_headers=dict(headers or {})
            )
            if not headers:
                adapters[akey] = adapter
        out.append(
            Deployment(
                key=str(key),
                adapter=adapter,
                model=model,
                provider=provider,
                input_price_per_mtok=pin,
                output_price_per_mtok=pout,
                context_window=ctx,
                attempt_timeout_s=timeout,
            )
        )
    return out


def _tiers(raw: Any, src: str, known: set[str]) -> list[Tier]:
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        raise ConfigError("must map tier names to their settings", key="tiers", source=src)
    from policies import policy_names

    names = set(policy_names())
    out = []
    for name, spec in raw.items():
        path = f"tiers.{name}"
        spec = _check_keys(spec, _TIER, path, src)
        chain = spec.get("chain")
        if not isinstance(chain, list) or not chain or not all(isinstance(c, str) for c in chain):
            raise ConfigError(f"must be a non-empty list of deployment names, got {chain!r}", key=f"{path}.chain", source=src)
        for i, c in enumerate(chain):
            if c not in known:
                raise ConfigError(f"unknown deployment {c!r}; defined: {sorted(known)}", key=f"{path}.chain[{i}]", source=src)
        policy = spec.get("policy", Tier.__dataclass_fields__["policy"].default)
        by_task = spec.get("policies_by_task") or {}
        if not isinstance(by_task, Mapping):
            raise ConfigError("must map task types to policy names", key=f"{path}.policies_by_task", source=src)
        for pkey, pname in [("policy", policy), *((f"policies_by_task.{t}", p) for t, p in by_task.items())]:
            if pname not in names:
                raise ConfigError(f"unknown policy {pname!r}; known: {sorted(names)}", key=f"{path}.{pkey}", source=src)
        objective = spec.get("objective", "reliability")
        if objective not in OBJECTIVES:
            raise ConfigError(f"unknown objective {objective!r}; one of {list(OBJECTIVES)}", key=f"{path}.objective", source=src)
        cap = spec.get("cost_cap")
        if cap is not None:
            _number(cap, f"{path}.cost_cap", src)
        try:
            out.append(
                Tier(
                    name=str(name),
                    chain=chain,
                    policy=policy,
                    policies_by_task=dict(by_task),
                    objective=objective,
                    cost_cap=cap,
                    errors=spec.get("errors"),
                )
            )
        except ValueError as exc:
            raise ConfigError(str(exc), key=path, source=src) from None
    return out


def build_router(source: str | PathLike[str] | Mapping[str, Any], **overrides: Any) -> Any:
    """A ``Router`` (with its telemetry backend) from a config file or mapping.

    ``overrides`` go to the ``Router`` constructor (``telemetry=``, ``clock=``, ...).
    """
    from router.core import Router

    cfg, src = load_config(source)
    _check_keys(cfg, _TOP, "", src)
    settings = _settings(cfg.get("settings") or {}, src)
    deployments = _deployments(cfg.get("deployments"), src, settings.connect_timeout_s)
    tiers = _tiers(cfg.get("tiers"), src, {d.key for d in deployments})
    if "telemetry" not in overrides:
        overrides["telemetry"] = _telemetry(cfg.get("telemetry"), src)
    return Router(deployments=deployments, tiers=tiers, settings=settings, **overrides)


def _telemetry(raw: Any, src: str) -> Any:
    if raw is False:
        return None
    url = None
    if raw is not None:
        spec = _check_keys(raw, {"url"}, "telemetry", src)
        url = spec.get("url")
        if url is not None and not isinstance(url, str):
            raise ConfigError(f"must be a database URL string, got {type(url).__name__}", key="telemetry.url", source=src)
    from telemetry import TelemetryBackend

    return TelemetryBackend(url)
