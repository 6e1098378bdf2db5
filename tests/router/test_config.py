"""Config files: a working one builds a router; each mistake names the key and the file."""

from collections.abc import Callable
from pathlib import Path

import pytest

from router import AsyncClient, ConfigError
from router.config import build_router
from router.prices import lookup_price

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
    assert d.provider == "openai" and (d.input_price_per_mtok, d.output_price_per_mtok) == lookup_price("openai", "gpt-4o")  # genai-prices
    assert router.deployments["anthropic/claude-sonnet-4"].input_price_per_mtok == 3.0
    assert isinstance(AsyncClient.from_config(write(tmp_path, GOOD)), AsyncClient)


@pytest.mark.parametrize(
    ("edit", "key", "fragment"),
    [
        (("model: gpt-4o", "modl: gpt-4o"), "deployments.openai/gpt-4o.modl", "unknown key; allowed: model, provider, api"),
        (("deadline_s: 30", "deadline_s: soon"), "settings.deadline_s", "must be a valid number (got 'soon')"),
        (("chain: [openai/gpt-4o, anthropic/claude-sonnet-4]", "chain: [openai/gpt-4o, nobody/x]"), "tiers.capable.chain[1]", "unknown deployment 'nobody/x'"),
        (("policy: static", "policy: clever"), "tiers.capable.policy", "unknown policy 'clever'"),
        (("base_url: http://127.0.0.1:9/v1\n    api_key_env", "base_url: ftp://x\n    api_key_env"), "deployments.openai/gpt-4o.base_url", "http(s) URL"),
        (("{timeout: {retry: false}}", "{timeout: {retry: maybe}}"), "tiers.capable.errors.timeout.retry", "must be true, false or a count"),
        (("{timeout: {retry: false}}", "{timeout: {retries: 1}}"), "tiers.capable.errors.timeout.retries", "allowed: retry, fallback, breaker"),
        (("input_per_mtok: 3, ", ""), "deployments.anthropic/claude-sonnet-4.price.input_per_mtok", "is required"),
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
    assert "deployments.gemini/gemini-2.5-pro.api" in msg and str(path) in msg
    assert ("['openai', 'anthropic', 'gemini', 'azure']" if value[0] != "[" else "must be a valid string (got ['anthropic'])") in msg


# -- issue 12 (findings 4 and 10): every bad value is a ConfigError naming file, key and value --
ONE = """
telemetry: false
deployments:
  openai/gpt-4o:
    model: gpt-4o
    base_url: http://127.0.0.1:9/v1
tiers:
  capable:
    chain: [openai/gpt-4o]
"""
SETTINGS_NAN = ["deadline_s", "attempt_timeout_s", "connect_timeout_s", "backoff_initial_s", "backoff_max_s", "max_retry_after_s", "retry_budget_ratio", "retry_budget_tokens"]


def config_error(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        build_router(path)
    assert str(path) in str(info.value)
    return info.value


@pytest.mark.parametrize("name", SETTINGS_NAN)
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_non_finite_settings_are_refused(tmp_path: Path, name: str, value: str) -> None:
    err = config_error(tmp_path, ONE + f"settings: {{{name}: {value}}}\n")
    assert err.key == f"settings.{name}" and "finite" in str(err)


@pytest.mark.parametrize("name", ["jitter", "reset_timeout_s", "max_open_s", "failure_rate"])
def test_non_finite_breaker_settings_are_refused(tmp_path: Path, name: str) -> None:
    err = config_error(tmp_path, ONE + f"settings: {{breaker: {{{name}: .nan}}}}\n")
    assert err.key == f"settings.breaker.{name}" and "finite number (got nan)" in str(err)


@pytest.mark.parametrize(
    ("settings", "key", "fragment"),
    [
        ("{deadline_s: true}", "settings.deadline_s", "must be a valid number (got True)"),
        ("{retry_budget_tokens: ten}", "settings.retry_budget_tokens", "must be a valid number (got 'ten')"),
        ("{retry_budget_tokens: -5}", "settings.retry_budget_tokens", "greater than 0 (got -5)"),
        ("{breaker: {window: 2.5}}", "settings.breaker.window", "must be a valid integer (got 2.5)"),
        ("{breaker: {window: 10000000000000000000}}", "settings.breaker.window", "less than or equal to 1000000"),
        ("{breaker: {jitter: 1.5}}", "settings.breaker.jitter", "less than 1"),
        ("{max_attempts_per_deployment: 0}", "settings.max_attempts_per_deployment", "greater than or equal to 1"),
        ("{backoff_initial_s: 5, backoff_max_s: 1}", "settings.backoff_max_s", "must be >= backoff_initial_s (5)"),
        ("{breaker: {reset_timeout_s: 90}}", "settings.breaker.max_open_s", "must be >= reset_timeout_s (90)"),
        ("{breakers_enabled: 'no'}", "settings.breakers_enabled", "valid boolean"),
    ],
)
def test_bad_settings_name_the_key_and_value(tmp_path: Path, settings: str, key: str, fragment: str) -> None:
    err = config_error(tmp_path, ONE + f"settings: {settings}\n")
    assert err.key == key and fragment in str(err)


@pytest.mark.parametrize(
    ("edit", "key", "fragment"),
    [
        (("model: gpt-4o", "model: gpt-4o\n    price: {input_per_mtok: .nan, output_per_mtok: 1}"), "deployments.openai/gpt-4o.price.input_per_mtok", "finite"),
        (("model: gpt-4o", "model: gpt-4o\n    price: {input_per_mtok: 1, output_per_mtok: -1}"), "deployments.openai/gpt-4o.price.output_per_mtok", "greater than or equal to 0"),
        (("model: gpt-4o", "model: gpt-4o\n    price: {input_per_mtok: .inf, output_per_mtok: 1}"), "deployments.openai/gpt-4o.price.input_per_mtok", "finite"),
        (("model: gpt-4o", "model: gpt-4o\n    attempt_timeout_s: .nan"), "deployments.openai/gpt-4o.attempt_timeout_s", "finite"),
        (("model: gpt-4o", "model: gpt-4o\n    provider: ['x']"), "deployments.openai/gpt-4o.provider", "valid string (got ['x'])"),
        (("model: gpt-4o", "model: gpt-4o\n    context_window: 2.5"), "deployments.openai/gpt-4o.context_window", "valid integer"),
        (("http://127.0.0.1:9/v1", "'http://'"), "deployments.openai/gpt-4o.base_url", "with a host (got 'http://')"),
        (("http://127.0.0.1:9/v1", "'http://h:port/'"), "deployments.openai/gpt-4o.base_url", "not a valid URL"),
        (("openai/gpt-4o:\n", "'':\n"), "deployments['']", "must not be empty"),
        (("chain: [openai/gpt-4o]", "chain: [[openai/gpt-4o]]"), "tiers.capable.chain[0]", "valid string"),
        (("chain: [openai/gpt-4o]", "chain: [openai/gpt-4o]\n    policy: [static, health]"), "tiers.capable.policy", "valid string (got ['static', 'health'])"),
        (("chain: [openai/gpt-4o]", "chain: [openai/gpt-4o]\n    policies_by_task: {review: [static]}"), "tiers.capable.policies_by_task.review", "valid string"),
        (("chain: [openai/gpt-4o]", "chain: [openai/gpt-4o]\n    errors: [timeout]"), "tiers.capable.errors", "must be a mapping (got ['timeout'])"),
        (("chain: [openai/gpt-4o]", "chain: [openai/gpt-4o]\n    errors: {timeot: {retry: false}}"), "tiers.capable.errors.timeot", "unknown error class"),
        (("chain: [openai/gpt-4o]", "chain: [openai/gpt-4o]\n    cost_cap: .nan"), "tiers.capable.cost_cap", "finite"),
        (("  capable:\n    chain: [openai/gpt-4o]", "  openai/gpt-4o:\n    chain: [openai/gpt-4o, openai/gpt-4o]"), "tiers.openai/gpt-4o", "share its name with a deployment"),
        (("telemetry: false", "telemetry: {url: 'mysql://db/x'}"), "telemetry.url", "unsupported telemetry URL scheme 'mysql'"),
        (("telemetry: false", "telemetry: {url: 5}"), "telemetry.url", "valid string"),
    ],
)
def test_bad_values_name_file_key_and_value(tmp_path: Path, edit: tuple[str, str], key: str, fragment: str) -> None:
    assert edit[0] in ONE
    err = config_error(tmp_path, ONE.replace(edit[0], edit[1], 1))
    assert err.key == key and fragment in str(err), str(err)


def test_a_header_value_with_crlf_is_refused_without_showing_it(tmp_path: Path) -> None:
    text = ONE.replace("model: gpt-4o", 'model: gpt-4o\n    headers: {x-team: "a\\r\\nAuthorization: Bearer sk-canary"}')
    err = config_error(tmp_path, text)
    assert err.key == "deployments.openai/gpt-4o.headers.x-team" and "CR, LF" in str(err)
    assert "sk-canary" not in str(err)
    err = config_error(tmp_path, ONE.replace("model: gpt-4o", "model: gpt-4o\n    headers: {'bad name': v}"))
    assert err.key == "deployments.openai/gpt-4o.headers.bad name"


def test_a_telemetry_url_password_is_never_shown(tmp_path: Path) -> None:
    err = config_error(tmp_path, ONE.replace("telemetry: false", "telemetry: {url: 'mysql://u:hunter2@db/x'}"))
    assert err.key == "telemetry.url" and "hunter2" not in str(err)


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = ONE.replace("model: gpt-4o", "model: ''\n    provider: 5") + "settings: {deadline_s: .nan, breaker: {window: 2.5}}\n"
    err = config_error(tmp_path, text)
    keys = [k for k, _, _ in err.problems]
    assert keys == ["settings.deadline_s", "settings.breaker.window", "deployments.openai/gpt-4o.model", "deployments.openai/gpt-4o.provider"]
    assert str(err).startswith(f"{tmp_path / 'attune.yaml'}: 4 problems:\n  settings.deadline_s: ")


def test_invalid_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "attune.yaml"
    path.write_bytes(ONE.encode() + b"# caf\xe9\n")
    with pytest.raises(ConfigError, match=r"attune.yaml: is not valid UTF-8 \(byte \d+"):
        build_router(path)


def test_deep_nesting_is_refused_quickly(tmp_path: Path) -> None:
    err = config_error(tmp_path, ONE + "x: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested deeper than 64 levels" in str(err)


BOMB = "a: &a [" + ",".join(["lol"] * 9) + "]\n" + "".join(
    f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, n in zip("abcdefgh", "bcdefghi")
)


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    err = config_error(tmp_path, BOMB)  # 9**9 values once expanded
    assert "expands to more than 100000 values through aliases" in str(err)
    assert len(str(err)) < 300


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    text = ONE.replace("    model: gpt-4o", "    model: &m gpt-4o").replace("  capable:", "  other:\n    chain: [openai/gpt-4o]\n    policy: &p static\n  capable:")
    router = build_router(write(tmp_path, text + "    policy: *p\n"))
    assert set(router.tiers) == {"other", "capable"}


def test_long_values_are_cut_in_messages(tmp_path: Path) -> None:
    err = config_error(tmp_path, ONE.replace("model: gpt-4o", "model: gpt-4o\n    provider: [" + ",".join(["x" * 50] * 2000) + "]"))
    assert err.key == "deployments.openai/gpt-4o.provider" and len(str(err)) < 400


def test_a_yaml_value_pyyaml_cannot_construct_is_a_config_error(tmp_path: Path) -> None:
    err = config_error(tmp_path, ONE + "x: 2024-02-30\n")
    assert "invalid YAML" in str(err)


# -- settings built in Python validate the same way ----------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"deadline_s": float("nan")}, "deadline_s"),
        ({"attempt_timeout_s": float("inf")}, "attempt_timeout_s"),
        ({"deadline_s": True}, "deadline_s"),
        ({"retry_budget_tokens": "ten"}, "retry_budget_tokens"),
        ({"max_retry_after_s": float("nan")}, "max_retry_after_s"),
        ({"breaker": "fast"}, "breaker"),
    ],
)
def test_router_settings_built_in_python_are_checked(kwargs: dict[str, object], key: str) -> None:
    from router import RouterSettings

    with pytest.raises(ConfigError) as info:
        RouterSettings(**kwargs)  # type: ignore[arg-type]
    assert info.value.key == key and str(info.value).startswith(f"RouterSettings: {key}: ")


def test_breaker_settings_built_in_python_are_checked() -> None:
    from router import BreakerSettings

    with pytest.raises(ConfigError) as info:
        BreakerSettings(window=2.5, jitter=float("nan"))  # type: ignore[arg-type]
    assert [k for k, _, _ in info.value.problems] == ["window", "jitter"]
    with pytest.raises(ConfigError, match="reset_timeout_s"):
        BreakerSettings(reset_timeout_s=float("nan"))


def test_settings_are_keyword_only() -> None:
    from router import BreakerSettings, RouterSettings

    with pytest.raises(TypeError):
        RouterSettings(30.0)  # type: ignore[misc]
    with pytest.raises(TypeError):
        BreakerSettings(5)  # type: ignore[misc]


def test_probe_when_all_open_still_works_with_a_deprecation_warning(tmp_path: Path) -> None:
    from router import RouterSettings

    with pytest.warns(DeprecationWarning, match="panic_routing"):
        s = RouterSettings(probe_when_all_open=False)
    assert s.panic_routing is False
    with pytest.warns(DeprecationWarning, match="panic_routing"):
        assert s.probe_when_all_open is False
    with pytest.warns(DeprecationWarning, match="panic_routing"):
        router = build_router(write(tmp_path, ONE + "settings: {probe_when_all_open: false}\n"))
    assert router.settings.panic_routing is False


# -- a policy's router_settings are honoured from attune.yaml as in attune bench -----------------
def test_policy_cooldown_turns_breakers_and_the_budget_off(tmp_path: Path) -> None:
    from router.resilience.breaker import PassThroughBreaker
    from router.resilience.retry import UnlimitedRetryBudget

    router = build_router(write(tmp_path, ONE + "    policy: cooldown\n"))
    s = router.settings
    assert (s.breakers_enabled, s.retry_budget_enabled, s.honour_retry_after, s.max_attempts_per_deployment) == (False, False, False, 3)
    assert isinstance(router.breaker("openai/gpt-4o"), PassThroughBreaker)
    assert isinstance(router.budget("openai/gpt-4o"), UnlimitedRetryBudget)
    plain = build_router(write(tmp_path, ONE + "    policy: static\n"))
    assert plain.settings.breakers_enabled and plain.settings.retry_budget_enabled


def test_explicit_settings_win_over_the_policy(tmp_path: Path) -> None:
    router = build_router(write(tmp_path, ONE + "    policy: cooldown\nsettings: {breakers_enabled: true}\n"))
    assert router.settings.breakers_enabled is True and router.settings.retry_budget_enabled is False


def test_policies_asking_for_different_router_settings_are_refused(tmp_path: Path) -> None:
    text = ONE + "    policy: cooldown\n  other:\n    chain: [openai/gpt-4o]\n    policy: adaptive\n"
    err = config_error(tmp_path, text)
    assert err.key == "tiers.other.policy" and "tiers.capable.policy" in str(err)


def test_bench_and_config_share_one_mechanism() -> None:
    from policies import CooldownPolicy
    from router.settings import RouterSettings, with_policy_settings
    from router.sim.runner import _settings
    from router.sim.scenario import load_scenario

    sc = load_scenario("steady-state")
    base = RouterSettings(deadline_s=sc.deadline_s, attempt_timeout_s=sc.attempt_timeout_s)
    assert _settings(sc, CooldownPolicy()) == with_policy_settings(base, [("policy", CooldownPolicy())])
    assert _settings(sc, CooldownPolicy()).breakers_enabled is False


def test_a_bad_telemetry_port_names_the_key_and_hides_the_password(tmp_path: Path) -> None:
    err = config_error(tmp_path, ONE.replace("telemetry: false", "telemetry: {url: 'postgresql://u:hunter2@db:notaport/x'}"))
    assert err.key == "telemetry.url" and "notaport" in str(err) and "hunter2" not in str(err)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"input_price_per_mtok": float("nan")}, "input_price_per_mtok"),
        ({"output_price_per_mtok": -1.0}, "output_price_per_mtok"),
        ({"input_price_per_mtok": float("inf")}, "input_price_per_mtok"),
        ({"attempt_timeout_s": float("nan")}, "attempt_timeout_s"),
        ({"context_window": 2.5}, "context_window"),
    ],
)
def test_deployments_built_in_python_are_checked(kwargs: dict[str, object], key: str) -> None:
    from router import Deployment, MemoryProvider

    with pytest.raises(ConfigError) as info:
        Deployment("p/m", MemoryProvider(), "m", **kwargs)  # type: ignore[arg-type]
    assert info.value.key == key and str(info.value).startswith("Deployment 'p/m': ")


def test_a_tier_cost_cap_built_in_python_is_checked() -> None:
    from router import Tier

    with pytest.raises(ConfigError, match=r"Tier 't': cost_cap: must be a finite number \(got nan\)"):
        Tier("t", ["p/m"], cost_cap=float("nan"))


def test_every_part_of_a_message_is_cut(tmp_path: Path) -> None:
    long = "x" * 5000
    err = config_error(tmp_path, ONE.replace("chain: [openai/gpt-4o]", f"chain: [{long}]\n    policy: {long}"))
    assert [k for k, _, _ in err.problems] == ["tiers.capable.policy"]
    assert len(str(err)) < 700
    many = "".join(f"  p{i}/m:\n    model: m\n    base_url: http://127.0.0.1:9\n" for i in range(300))
    err = config_error(tmp_path, ONE.replace("deployments:\n", "deployments:\n" + many).replace("chain: [openai/gpt-4o]", "chain: [nobody/x]"))
    assert err.key == "tiers.capable.chain[0]" and len(str(err)) < 700


ADAPTIVE = GOOD.replace("policy: static", "policy: adaptive\n    policy_options: {timeout_multiple: 2, ramp_s: 2.5}")


def test_policy_options_reach_the_tiers_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTUNE_TEST_KEY", "sk-test")
    policy = build_router(write(tmp_path, ADAPTIVE)).tiers["capable"].policy
    assert policy.ramp_s == 2.5 and policy.timeouts is not None and policy.timeouts.multiple == 2
    off = build_router(write(tmp_path, ADAPTIVE.replace("timeout_multiple: 2", "timeout_multiple: 0"))).tiers["capable"].policy
    assert off.timeouts is None  # the latency-relative attempt timeouts turned off from the file


@pytest.mark.parametrize(
    ("options", "key", "fragment"),
    [
        ("{bogus: 1}", "tiers.capable.policy_options.bogus", "policy 'adaptive' takes no option 'bogus'"),
        ("{timeout_multiple: 0.5}", "tiers.capable.policy_options", "timeout_multiple must be >= 1"),
        ("{ramp_floor: 2}", "tiers.capable.policy_options", "ramp_floor in (0, 1]"),
        ("{ramp_s: [1]}", "tiers.capable.policy_options.ramp_s", ""),
        ("{ramp_s: .nan}", "tiers.capable.policy_options.ramp_s", ""),
    ],
)
def test_bad_policy_options_name_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: str, key: str, fragment: str) -> None:
    monkeypatch.setenv("ATTUNE_TEST_KEY", "sk-test")
    err = config_error(tmp_path, ADAPTIVE.replace("{timeout_multiple: 2, ramp_s: 2.5}", options))
    assert any((k or "").startswith(key) for k, _, _ in err.problems), err.problems
    assert fragment in str(err)
