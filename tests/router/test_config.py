"""Config files: a working one builds a router; each mistake names the key and the file."""

from collections.abc import Callable
from pathlib import Path

import pytest

from router import AsyncClient, ConfigError
from router.config import build_router

GOOD = """
telemetry: false
settings:
  deadline_s: 30
  breaker: {fail_max: 3}
deployments:
  openai/gpt-4o:
    model: gpt-4o
    base_url: http://127.0.0.1:9/v1
    api_key_env: ATTUNE_TEST_KEY
  anthropic/claude-sonnet-4:
    model: claude-sonnet-4
    base_url: http://127.0.0.1:9/v1
    price: {input_per_mtok: 3, output_per_mtok: 15}
tiers:
  capable:
    chain: [openai/gpt-4o, anthropic/claude-sonnet-4]
    policy: static
    errors: {timeout: {retry: false}}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "attune.yaml"
    p.write_text(text)
    return p


def test_good_config_builds_a_router(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTUNE_TEST_KEY", "sk-test")
    router = build_router(write(tmp_path, GOOD))
    assert list(router.tiers) == ["capable"]
    assert router.settings.deadline_s == 30 and router.settings.breaker.fail_max == 3
    assert router.tiers["capable"].rules["timeout"].retry is False
    d = router.deployments["openai/gpt-4o"]
    assert (d.provider, d.input_price_per_mtok, d.output_price_per_mtok) == ("openai", 2.5, 10.0)  # genai-prices
    assert router.deployments["anthropic/claude-sonnet-4"].input_price_per_mtok == 3.0
    assert isinstance(AsyncClient.from_config(write(tmp_path, GOOD)), AsyncClient)


@pytest.mark.parametrize(
    ("edit", "key", "fragment"),
    [
        (("model: gpt-4o", "modl: gpt-4o"), "deployments.openai/gpt-4o.modl", "unknown key"),
        (("deadline_s: 30", "deadline_s: soon"), "settings", "deadline_s must be a number"),
        (("chain: [openai/gpt-4o, anthropic/claude-sonnet-4]", "chain: [openai/gpt-4o, nobody/x]"), "tiers.capable.chain[1]", "unknown deployment 'nobody/x'"),
        (("policy: static", "policy: clever"), "tiers.capable.policy", "unknown policy 'clever'"),
        (("base_url: http://127.0.0.1:9/v1\n    api_key_env", "base_url: ftp://x\n    api_key_env"), "deployments.openai/gpt-4o.base_url", "http(s) URL"),
        (("{timeout: {retry: false}}", "{timeout: {retry: maybe}}"), "tiers.capable", "retry must be"),
        (("input_per_mtok: 3, ", ""), "deployments.anthropic/claude-sonnet-4.price", "needs both"),
    ],
)
def test_mistakes_name_key_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: tuple[str, str], key: str, fragment: str) -> None:
    monkeypatch.setenv("ATTUNE_TEST_KEY", "sk-test")
    assert edit[0] in GOOD
    path = write(tmp_path, GOOD.replace(edit[0], edit[1], 1))
    with pytest.raises(ConfigError) as info:
        build_router(path)
    msg = str(info.value)
    assert fragment in msg and key in msg and str(path) in msg


def test_missing_key_env_var_is_named_not_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATTUNE_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="'ATTUNE_TEST_KEY' is not set") as info:
        build_router(write(tmp_path, GOOD))
    assert "deployments.openai/gpt-4o.api_key_env" in str(info.value)


def test_literal_api_key_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("api_key_env: ATTUNE_TEST_KEY", "api_key: sk-live-secret")
    with pytest.raises(ConfigError) as info:
        build_router(write(tmp_path, text))
    assert "api_key_env" in str(info.value) and "sk-live-secret" not in str(info.value)


def test_missing_section_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="deployments"):
        build_router(write(tmp_path, "tiers: {}\n"))
    with pytest.raises(ConfigError, match="invalid YAML at line 3"):
        build_router(write(tmp_path, "deployments:\n  a: [b\n"))
    with pytest.raises(ConfigError, match="cannot read config file"):
        build_router(tmp_path / "nope.yaml")


def test_a_registered_custom_policy_is_usable_from_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registered_policy: Callable[..., None]) -> None:
    from policies import Plan, as_policy

    def reversed_chain(chain, ctx, stats):  # type: ignore[no-untyped-def]
        return Plan(order=tuple(reversed(chain)), policy="reversed")

    registered_policy("reversed-test", lambda: as_policy(reversed_chain))
    monkeypatch.setenv("ATTUNE_TEST_KEY", "sk-test")
    router = build_router(write(tmp_path, GOOD.replace("policy: static", "policy: reversed-test")))
    assert router.plan("capable").keys() == ["anthropic/claude-sonnet-4", "openai/gpt-4o"]


THREE = """
telemetry: false
deployments:
  openai/gpt-4o:
    model: gpt-4o
    api_key_env: ATTUNE_TEST_KEY
  anthropic/claude-sonnet-4:
    model: claude-sonnet-4
    api: anthropic
    api_key_env: ATTUNE_TEST_KEY
  anthropic/claude-haiku:
    model: claude-haiku
    api: anthropic
    api_key_env: ATTUNE_TEST_KEY
  gemini/gemini-2.5-pro:
    model: gemini-2.5-pro
    api: gemini
    api_key_env: ATTUNE_TEST_KEY
  vertex-like/gemini-flash:
    model: gemini-2.5-flash
    api: gemini
    base_url: http://127.0.0.1:9/v1
tiers:
  capable:
    chain: [openai/gpt-4o, anthropic/claude-sonnet-4, gemini/gemini-2.5-pro]
"""


def test_api_anthropic_and_gemini_build_their_adapters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from router import AnthropicProvider, GeminiProvider, OpenAIProvider

    monkeypatch.setenv("ATTUNE_TEST_KEY", "sk-config-canary")
    router = build_router(write(tmp_path, THREE))
    deps = router.deployments
    kinds = {k: (type(d.adapter), d.adapter.base_url, d.provider) for k, d in deps.items()}
    assert kinds["openai/gpt-4o"] == (OpenAIProvider, "https://api.openai.com/v1", "openai")
    assert kinds["anthropic/claude-sonnet-4"] == (AnthropicProvider, "https://api.anthropic.com", "anthropic")
    assert kinds["gemini/gemini-2.5-pro"] == (GeminiProvider, "https://generativelanguage.googleapis.com", "gemini")
    assert kinds["vertex-like/gemini-flash"] == (GeminiProvider, "http://127.0.0.1:9", "vertex-like")
    assert deps["vertex-like/gemini-flash"].adapter.api_version == "v1" and deps["gemini/gemini-2.5-pro"].adapter.api_version == "v1beta"
    assert deps["anthropic/claude-sonnet-4"].adapter is deps["anthropic/claude-haiku"].adapter  # one pool per endpoint and key
    assert all("sk-config-canary" not in repr(d.adapter) for d in deps.values())


@pytest.mark.parametrize("value", ["claude", "[anthropic]", "OpenAI"])
def test_a_bad_api_names_key_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ATTUNE_TEST_KEY", "sk-test")
    path = write(tmp_path, THREE.replace("api: gemini\n    api_key_env", f"api: {value}\n    api_key_env", 1))
    with pytest.raises(ConfigError) as info:
        build_router(path)
    msg = str(info.value)
    assert "deployments.gemini/gemini-2.5-pro.api" in msg and str(path) in msg and "['openai', 'anthropic', 'gemini']" in msg
