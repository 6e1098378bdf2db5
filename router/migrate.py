"""A LiteLLM ``Router(model_list=..., fallbacks=...)`` as an attune config mapping, for
``AsyncClient.from_config(from_litellm(model_list, ...))`` or to write out as ``attune.yaml``.

Each ``model_name`` becomes a tier over its deployments (LiteLLM balances them; a tier orders
them by its policy), ``fallbacks`` append the fallback groups' deployments to the tier's chain,
``num_retries`` and ``timeout`` become ``settings``. Keys must come from the environment
(``"os.environ/NAME"``, LiteLLM's own form): a literal key is refused, as in ``attune.yaml``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from router.errors import ConfigError

__all__ = ["from_litellm"]

_APIS = {"openai": "openai", "anthropic": "anthropic", "gemini": "gemini", "hosted_vllm": "openai", "ollama_chat": "openai"}
_PARAMS = {"model", "api_key", "api_base", "input_cost_per_token", "output_cost_per_token"}


def _deployment(entry: Any, i: int) -> tuple[str, str, dict[str, Any]]:
    where = f"model_list[{i}]"
    if not isinstance(entry, Mapping) or not isinstance(entry.get("model_name"), str):
        raise ConfigError("needs a model_name and litellm_params", key=where, source="LiteLLM model_list")
    params = entry.get("litellm_params")
    if not isinstance(params, Mapping) or not isinstance(params.get("model"), str) or "/" not in params["model"]:
        raise ConfigError("litellm_params.model must be 'provider/model'", key=f"{where}.litellm_params", source="LiteLLM model_list")
    unknown = sorted(set(params) - _PARAMS)
    if unknown:
        raise ConfigError(f"not converted: {unknown}; supported: {sorted(_PARAMS)}", key=f"{where}.litellm_params", source="LiteLLM model_list")
    family, model = params["model"].split("/", 1)
    if family not in _APIS:
        raise ConfigError(f"provider {family!r} is not converted; supported: {sorted(_APIS)}", key=f"{where}.litellm_params.model", source="LiteLLM model_list")
    spec: dict[str, Any] = {"model": model, "api": _APIS[family]}
    key = params.get("api_key")
    if key is not None:
        if not (isinstance(key, str) and key.startswith("os.environ/")):
            raise ConfigError("keys never go in config: use 'os.environ/NAME'", key=f"{where}.litellm_params.api_key", source="LiteLLM model_list")
        spec["api_key_env"] = key.removeprefix("os.environ/")
    if params.get("api_base"):
        spec["base_url"] = params["api_base"]
    if "input_cost_per_token" in params and "output_cost_per_token" in params:
        spec["price"] = {"input_per_mtok": params["input_cost_per_token"] * 1e6, "output_per_mtok": params["output_cost_per_token"] * 1e6}
    return entry["model_name"], f"{family}/{model}", spec


def from_litellm(
    model_list: Sequence[Mapping[str, Any]],
    *,
    fallbacks: Iterable[Mapping[str, Sequence[str]]] = (),
    num_retries: int | None = None,
    timeout: float | None = None,
    policy: str = "adaptive",
) -> dict[str, Any]:
    """The attune config (``deployments``, ``tiers``, ``settings``) of a LiteLLM router."""
    deployments: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[str]] = {}
    for i, entry in enumerate(model_list):
        group, key, spec = _deployment(entry, i)
        n = 2
        base = key
        while key in deployments:  # the same model twice (two regions, two keys): keep both
            key, n = f"{base}#{n}", n + 1
        deployments[key] = spec
        groups.setdefault(group, []).append(key)
    tiers = {name: {"chain": list(keys), "policy": policy} for name, keys in groups.items()}
    for i, rule in enumerate(fallbacks):
        for name, targets in rule.items():
            if name not in tiers or any(t not in groups for t in targets):
                raise ConfigError(f"names an unknown model_name; known: {sorted(groups)}", key=f"fallbacks[{i}]", source="LiteLLM router")
            chain = tiers[name]["chain"]
            chain.extend(k for t in targets for k in groups[t] if k not in chain)
    settings: dict[str, Any] = {}
    if num_retries is not None:
        settings["max_attempts_per_deployment"] = num_retries + 1
    if timeout is not None:
        settings["deadline_s"] = timeout
    config: dict[str, Any] = {"deployments": deployments, "tiers": tiers}
    if settings:
        config["settings"] = settings
    return config
