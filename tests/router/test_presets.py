"""Presets of OpenAI-compatible services and Azure OpenAI in config: what a deployment resolves to,
the errors that name the key, and an Azure deployment end to end over the strict fake."""

from __future__ import annotations

from typing import Any

import pytest

from router import AsyncClient
from router.config import build_router
from router.errors import ConfigError
from router.providers.azure import AzureOpenAIProvider
from router.providers.openai import OpenAIProvider
from router.providers.presets import PRESETS, resolve
from router.testing import FakeProviderServer, Fault


def config(**deployment: Any) -> dict[str, Any]:
    return {"telemetry": False, "deployments": {"svc/model-x": {"model": "model-x", **deployment}}}


@pytest.mark.parametrize("name", sorted(n for n, p in PRESETS.items() if p.api == "openai" and p.key_required and n != "openai"))
def test_an_openai_compatible_preset_fills_in_url_key_and_provider(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PRESETS[name].key_env, "sk-preset-canary")
    r, problems = resolve("svc/model-x", {"preset": name})
    assert problems == [] and r is not None
    assert (r.api, r.base_url, r.key_env, r.provider) == ("openai", PRESETS[name].base_url, PRESETS[name].key_env, name)
    router = build_router(config(preset=name))
    (dep,) = router.deployments.values()
    assert isinstance(dep.adapter, OpenAIProvider) and dep.adapter.base_url == PRESETS[name].base_url.rstrip("/") and dep.provider == name
    assert dep.adapter._headers["authorization"] == "Bearer sk-preset-canary"


def test_keys_the_deployment_sets_win_and_local_services_need_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "k")
    r, _ = resolve("svc/x", {"preset": "groq", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "MY_KEY", "provider": "mine"})
    assert r is not None and (r.base_url, r.key_env, r.provider) == ("http://127.0.0.1:9/v1", "MY_KEY", "mine")
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    r, problems = resolve("svc/x", {"preset": "ollama"})
    assert problems == [] and r is not None and r.key_env is None and r.base_url == "http://localhost:11434/v1"
    monkeypatch.setenv("OLLAMA_API_KEY", "o")
    r, _ = resolve("svc/x", {"preset": "ollama"})
    assert r is not None and r.key_env == "OLLAMA_API_KEY"


@pytest.mark.parametrize(("given", "key", "fragment"), [
    ({"preset": "grok"}, "preset", "unknown preset 'grok'; known: ["),
    ({"preset": "groq", "api": "anthropic"}, "api", "contradicts preset 'groq'"),
    ({"provider": "mistral"}, "base_url", "set preset: mistral"),
    ({"api_version": "2024-10-21"}, "api_version", "only an azure deployment"),
    ({"api": "azure"}, "base_url", "AZURE_OPENAI_ENDPOINT"),
    ({"preset": "groq"}, "api_key_env", "'GROQ_API_KEY' is not set"),
])
def test_config_errors_name_the_key(given: dict[str, Any], key: str, fragment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GROQ_API_KEY", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "a")
    with pytest.raises(ConfigError) as info:
        build_router(config(**given))
    assert f"deployments.svc/model-x.{key}" in str(info.value) and fragment in str(info.value)


def test_azure_from_the_sdks_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com/")
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-01-01-preview")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-canary")
    (dep,) = list(build_router(config(preset="azure")).deployments.values())
    assert isinstance(dep.adapter, AzureOpenAIProvider)
    assert (dep.adapter.base_url, dep.adapter.api_version, dep.provider) == ("https://res.openai.azure.com", "2025-01-01-preview", "azure")
    assert "azure-canary" not in repr(dep.adapter)


async def test_an_azure_deployment_end_to_end(server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_KEY", "azure-canary-7")
    server.require_api_key("azure-canary-7")
    cfg = {"telemetry": False, "settings": {"max_attempts_per_deployment": 1},
           "deployments": {"azure/gpt-4o": {"api": "azure", "model": "my-gpt-4o", "base_url": server.base, "api_version": "2024-10-21",
                                            "api_key_env": "AZURE_KEY"}}}
    client = AsyncClient.from_config(cfg)
    resp = await client.chat.completions.create(model="azure/gpt-4o", messages=[{"role": "user", "content": "hi"}], temperature=0.1)
    assert resp.choices[0].message.content == "ok: 1" and resp.provider == "azure"
    rec = server.last_request("my-gpt-4o")
    assert rec is not None and rec.path == "/openai/deployments/my-gpt-4o/chat/completions" and rec.query_params == [("api-version", "2024-10-21")]
    assert rec.headers["api-key"] == "azure-canary-7" and "authorization" not in rec.headers
    assert rec.body == {"model": "my-gpt-4o", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.1}
    stream = await client.chat.completions.create(model="azure/gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "ok: 2"
    server.script("my-gpt-4o", [Fault.status(429, retry_after="1")])
    with pytest.raises(Exception) as info:
        await client.chat.completions.create(model="azure/gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert getattr(info.value, "error_type", None) == "rate_limited" and "azure-canary-7" not in str(info.value)
    await client.aclose()
