"""Presets: the wire format, base URL and key variable of known services, so a deployment names
a service instead of spelling out its endpoint::

    deployments:
      groq/llama-3.3-70b:
        preset: groq              # api openai, https://api.groq.com/openai/v1, key from GROQ_API_KEY
        model: llama-3.3-70b-versatile
      azure/gpt-4o:
        api: azure                # or preset: azure
        base_url: https://my-resource.openai.azure.com   # else $AZURE_OPENAI_ENDPOINT
        api_version: "2024-10-21"                        # else $OPENAI_API_VERSION, else 2024-10-21
        model: my-gpt-4o-deployment                      # the Azure deployment name

Keys the deployment sets (``api``, ``base_url``, ``api_key_env``, ``provider``) win over the
preset's; an ``api`` that contradicts the preset is an error. A preset's key variable must be set
unless the service takes none (``vllm``, ``ollama``: the key is sent only when it is set). A
deployment of ``api: openai`` whose ``provider`` names another preset and that sets no
``base_url`` is an error: it would send that service's traffic to api.openai.com.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from router.providers.base import DEFAULT_BASE_URLS

__all__ = ["PRESETS", "Preset", "Resolved", "resolve"]


class Preset(NamedTuple):
    """One known service: its wire format (``api``), ``base_url`` and key variable
    (``key_required=False``: a key is sent only when the variable is set)."""

    api: str
    base_url: str
    key_env: str
    key_required: bool = True


PRESETS: dict[str, Preset] = {
    "openai": Preset("openai", DEFAULT_BASE_URLS["openai"], "OPENAI_API_KEY"),
    "anthropic": Preset("anthropic", DEFAULT_BASE_URLS["anthropic"], "ANTHROPIC_API_KEY"),
    "gemini": Preset("gemini", DEFAULT_BASE_URLS["gemini"], "GEMINI_API_KEY"),
    "azure": Preset("azure", "", "AZURE_OPENAI_API_KEY"),  # the endpoint is per resource
    "groq": Preset("openai", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "together": Preset("openai", "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    "mistral": Preset("openai", "https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "deepseek": Preset("openai", "https://api.deepseek.com", "DEEPSEEK_API_KEY"),
    "openrouter": Preset("openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "fireworks": Preset("openai", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
    "vllm": Preset("openai", "http://localhost:8000/v1", "VLLM_API_KEY", key_required=False),
    "ollama": Preset("openai", "http://localhost:11434/v1", "OLLAMA_API_KEY", key_required=False),
}
AZURE_ENDPOINT_ENV = "AZURE_OPENAI_ENDPOINT"  # the variables openai.AzureOpenAI reads
AZURE_VERSION_ENV = "OPENAI_API_VERSION"


class Resolved(NamedTuple):
    """What a deployment talks to once its preset is applied. ``key_env`` None: no key."""

    api: str
    base_url: str
    key_env: str | None
    key_required: bool
    provider: str
    adapter_kwargs: dict[str, Any]


def resolve(key: str, given: Mapping[str, Any], env: Mapping[str, str] | None = None) -> tuple[Resolved | None, list[tuple[str, str]]]:
    """Apply ``given['preset']`` (if any) to a deployment's keys (those the file sets, None for
    the others). Returns the resolution, or None with ``(field, problem)`` pairs."""
    env = os.environ if env is None else env
    name = given.get("preset")
    preset = PRESETS.get(name) if name is not None else None
    if name is not None and preset is None:
        return None, [("preset", f"unknown preset {name!r}; known: {sorted(PRESETS)}")]
    api = given.get("api") or (preset.api if preset else "openai")
    if preset is not None and given.get("api") and given["api"] != preset.api:
        return None, [("api", f"api {given['api']!r} contradicts preset {name!r} (api {preset.api!r})")]
    provider = given.get("provider") or (name if preset else None) or key.split("/", 1)[0]
    base_url = given.get("base_url") or (preset.base_url if preset else "") or DEFAULT_BASE_URLS.get(api, "")
    key_env = given.get("api_key_env") or (preset.key_env if preset else None)
    key_required = given.get("api_key_env") is not None or (preset.key_required if preset else False)
    problems: list[tuple[str, str]] = []
    kwargs: dict[str, Any] = {}
    if api == "azure":
        key_env, key_required = key_env or PRESETS["azure"].key_env, True
        base_url = base_url or env.get(AZURE_ENDPOINT_ENV, "")
        if not base_url:
            problems.append(("base_url", f"an azure deployment needs its resource endpoint (https://NAME.openai.azure.com) here or in ${AZURE_ENDPOINT_ENV}"))
        version = given.get("api_version") or env.get(AZURE_VERSION_ENV)
        if version:
            kwargs["api_version"] = version
    elif given.get("api_version") is not None:
        problems.append(("api_version", f"only an azure deployment takes an api_version (this one's api is {api!r})"))
    other = PRESETS.get(provider)
    if api == "openai" and preset is None and not given.get("base_url") and other is not None and other.api == "openai" and provider != "openai":
        problems.append(("base_url", f"provider {provider!r} would be called at {base_url}; set preset: {provider} (or a base_url)"))
    if key_env is not None and key_required and not env.get(key_env):
        problems.append(("api_key_env", f"environment variable {key_env!r} is not set"))
    if key_env is not None and not key_required and not env.get(key_env):
        key_env = None  # a local service without a key
    if problems:
        return None, problems
    return Resolved(api, base_url, key_env, key_required, provider, kwargs), []
