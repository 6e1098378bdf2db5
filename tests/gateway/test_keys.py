"""Keys: stored hashed, limited to their tiers, held to tokens and budget; the keys CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import openai
import pytest
from gatewaykit import GatewayThread, create_key_cli, write_config

from router.cli import main
from router.testing import FakeProviderServer
from telemetry.keys import KeyStore, KeyStoreError, hash_key

MSG = [{"role": "user", "content": "hello"}]


def test_only_the_digest_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    store = KeyStore(f"sqlite:///{db}")
    key, secret = store.create("team", rpm=10, tiers=["capable"])
    store.close()
    raw = db.read_bytes()
    assert secret.encode() not in raw and hash_key(secret).encode() in raw
    store = KeyStore(f"sqlite:///{db}")
    assert store.lookup(secret) == key
    assert store.lookup(secret[:-1] + "x") is None
    store.close()


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [({"name": ""}, "key name"), ({"name": "a b"}, "key name"), ({"name": "x", "rpm": 0}, "rpm"), ({"name": "x", "rpm": True}, "rpm"),
     ({"name": "x", "budget_usd": float("nan")}, "budget_usd"), ({"name": "x", "tiers": []}, "tiers")],
)
def test_bad_key_arguments_name_the_value(tmp_path: Path, kwargs: dict, bad: str) -> None:
    store = KeyStore(f"sqlite:///{tmp_path / 'k.db'}")
    with pytest.raises(KeyStoreError, match=bad):
        store.create(**kwargs)
    store.close()


def test_keys_cli_create_list_revoke(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = create_key_cli(config, "ops", "--rpm", "5", "--tiers", "capable")
    assert secret.startswith("sk-attune-")
    assert main(["keys", "list", "--config", str(config), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["name"] == "ops" and row["rpm"] == 5 and row["tiers"] == ["capable"] and secret not in json.dumps(row)
    assert main(["keys", "create", "--config", str(config), "--name", "ops"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["keys", "revoke", "--config", str(config), "--name", "ops"]) == 0
    assert main(["keys", "revoke", "--config", str(config), "--name", "nobody"]) == 2
    assert "no key named 'nobody'" in capsys.readouterr().err


def test_a_key_sees_and_uses_only_its_tiers(gateway: GatewayThread) -> None:
    secret = gateway.gateway.access.store.create("narrow", tiers=["capable"])[1]
    with openai.OpenAI(base_url=gateway.url, api_key=secret, max_retries=0) as client:
        assert [m.id for m in client.models.list()] == ["capable"]
        client.chat.completions.create(model="capable", messages=MSG)
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="openai/gpt-4o", messages=MSG)


def test_token_limit_and_budget(gateway: GatewayThread) -> None:
    store = gateway.gateway.access.store
    tokens = store.create("tokens", tpm=1)[1]
    with openai.OpenAI(base_url=gateway.url, api_key=tokens, max_retries=0) as client:
        client.chat.completions.create(model="capable", messages=MSG)  # uses more than 1 token
        time.sleep(0.2)  # the record hook counts its tokens
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model="capable", messages=MSG)
    assert info.value.code == "rate_limit_exceeded"
    budget = store.create("budget", budget_usd=1e-9)[1]
    with openai.OpenAI(base_url=gateway.url, api_key=budget, max_retries=0) as client:
        client.chat.completions.create(model="openai/gpt-4o", messages=MSG)  # priced: spends more than the budget
        time.sleep(0.2)
        with pytest.raises(openai.RateLimitError) as info:
            client.chat.completions.create(model="openai/gpt-4o", messages=MSG)
    assert info.value.code == "insufficient_quota"
    time.sleep(gateway.gateway.access.flush_s + 0.5)
    assert store.get("budget").spent_usd > 1e-9  # the spend reached the store


def test_metrics_and_readiness(tmp_path: Path, fake: FakeProviderServer) -> None:
    with GatewayThread(write_config(tmp_path, fake, gateway={"router_metrics": True})) as gateway:
        key = gateway.gateway.access.store.create("metered")[1]
        _check_metrics(gateway, key)


def _check_metrics(gateway: GatewayThread, key: str) -> None:
    base = gateway.url.removesuffix("/v1")
    httpx.post(f"{gateway.url}/chat/completions", json={"model": "capable", "messages": MSG}, headers={"Authorization": f"Bearer {key}"})
    text = httpx.get(f"{base}/metrics").text
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    assert samples['attune_gateway_requests_total{route="/v1/chat/completions",status="200"}'] == 1
    assert samples['attune_breaker_state{deployment="openai/gpt-4o",state="closed"}'] == 1
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(text)}  # the whole page parses
    calls = families["gen_ai_client_operation_duration_seconds"]
    (count,) = [s for s in calls.samples if s.name.endswith("_count")]
    assert count.value == 1 and count.labels["attune_deployment"] == "openai/gpt-4o"
    ready = httpx.get(f"{base}/readyz").json()
    assert ready == {"status": "ready", "telemetry": "ok", "shared_state": "off"}


def test_serve_refuses_a_bad_config_before_starting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("deployments: {a/b: {model: m}}\ngateway: {max_concurrent: 0, colour: blue}\n")
    assert main(["serve", "--config", str(bad), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "gateway.max_concurrent" in err and "gateway.colour" in err and str(bad) in err
    assert main(["serve", "--config", str(bad), "--workers", "0"]) == 2
