"""router.migrate.from_litellm: a LiteLLM model_list as an attune config."""

from __future__ import annotations

import pytest

from router import AsyncClient, ConfigError
from router.migrate import from_litellm


def entry(name: str, model: str, **params: object) -> dict[str, object]:
    return {"model_name": name, "litellm_params": {"model": model, **params}}


async def test_groups_become_tiers_and_fallbacks_extend_chains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K1", "sk-1")
    model_list = [
        entry("gpt-4o", "openai/gpt-4o", api_key="os.environ/K1"),
        entry("gpt-4o", "openai/gpt-4o", api_key="os.environ/K1", api_base="http://127.0.0.1:9/v1"),
        entry("local", "hosted_vllm/llama", api_base="http://127.0.0.1:8000/v1", input_cost_per_token=1e-7, output_cost_per_token=2e-7),
    ]
    cfg = from_litellm(model_list, fallbacks=[{"gpt-4o": ["local"]}], num_retries=1, timeout=12)
    assert cfg["tiers"]["gpt-4o"]["chain"] == ["openai/gpt-4o", "openai/gpt-4o#2", "hosted_vllm/llama"]
    assert cfg["deployments"]["openai/gpt-4o#2"]["base_url"] == "http://127.0.0.1:9/v1"
    assert cfg["deployments"]["hosted_vllm/llama"]["price"] == {"input_per_mtok": pytest.approx(0.1), "output_per_mtok": pytest.approx(0.2)}
    assert cfg["settings"] == {"max_attempts_per_deployment": 2, "deadline_s": 12}
    client = AsyncClient.from_config({**cfg, "telemetry": False})
    assert [m.id for m in await client.models.list()][:2] == ["gpt-4o", "local"]
    await client.close()


@pytest.mark.parametrize(
    ("model_list", "fallbacks", "where"),
    [
        ([entry("a", "openai/gpt-4o", api_key="sk-literal")], [], "api_key"),
        ([entry("a", "openai/gpt-4o", rpm=10)], [], "rpm"),
        ([entry("a", "bedrock/claude")], [], "bedrock"),
        ([entry("a", "gpt-4o")], [], "provider/model"),
        ([entry("a", "openai/gpt-4o")], [{"a": ["nope"]}], "fallbacks[0]"),
    ],
)
def test_what_is_not_converted_is_named(model_list: list, fallbacks: list, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_litellm(model_list, fallbacks=fallbacks)
    assert where in str(info.value) and "sk-literal" not in str(info.value)
