"""The gateway under careless and hostile clients: keys, bodies, slow senders, secrets."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from pathlib import Path

import httpx
import pytest
from gatewaykit import UPSTREAM_KEY, GatewayThread, write_config

from router.testing import FakeProviderServer
from telemetry import TelemetryStore

BODY = {"model": "capable", "messages": [{"role": "user", "content": "hello"}]}


def post(gw: GatewayThread, key: str | None, body: object = BODY, timeout: float = 10) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(f"{gw.url}/chat/completions", content=content, headers={**headers, "content-type": "application/json"}, timeout=timeout)


@pytest.mark.parametrize("auth", [None, "Bearer", "Basic abc", "Bearer sk-attune-not-a-key", "Bearer " + "x" * 5000])
def test_requests_without_a_valid_key_get_401(gateway: GatewayThread, key: str, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth is not None else {}
    r = httpx.post(f"{gateway.url}/chat/completions", json=BODY, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"
    assert gateway.gateway.router.telemetry.stats.submitted == 0  # nothing was routed


def test_a_revoked_key_stops_working(gateway: GatewayThread) -> None:
    store = gateway.gateway.access.store
    secret = store.create("leaver")[1]
    assert post(gateway, secret).status_code == 200
    store.revoke("leaver")
    time.sleep(gateway.gateway.access.cache_s + 0.1)
    r = post(gateway, secret)
    assert r.status_code == 401


def test_every_path_needs_a_key_but_health(gateway: GatewayThread) -> None:
    assert httpx.get(f"{gateway.url}/models").status_code == 401
    assert httpx.post(f"{gateway.url}/embeddings", json={"model": "x", "input": "y"}).status_code == 401
    base = gateway.url.removesuffix("/v1")
    assert httpx.get(f"{base}/healthz").status_code == 200
    assert httpx.get(f"{base}/readyz").json()["status"] == "ready"


def test_malformed_json_and_bad_shapes_are_400(gateway: GatewayThread, key: str) -> None:
    for body in (b"{not json", b"[1, 2]", b"\xff\xfe", json.dumps({**BODY, "task_type": "x"}).encode()):
        r = post(gateway, key, body)
        assert r.status_code == 400, body
        assert r.json()["error"]["type"] == "invalid_request_error"
    r = post(gateway, key, {"messages": BODY["messages"]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"


def test_oversized_bodies_are_413(tmp_path: Path, fake: FakeProviderServer) -> None:
    cfg = write_config(tmp_path, fake, gateway={"max_body_bytes": 4096})
    with GatewayThread(cfg) as gw:
        key = gw.gateway.access.store.create("big")[1]
        big = {**BODY, "messages": [{"role": "user", "content": "x" * 10_000}]}
        assert post(gw, key, big).status_code == 413
        assert post(gw, key).status_code == 200


def test_a_client_that_never_finishes_its_body_is_cut_off(tmp_path: Path, fake: FakeProviderServer) -> None:
    cfg = write_config(tmp_path, fake, gateway={"body_timeout_s": 0.5})
    with GatewayThread(cfg) as gw:
        key = gw.gateway.access.store.create("slow")[1]
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as s:
            s.sendall(
                f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\":".encode()
            )
            t0 = time.monotonic()
            answer = s.recv(4096).decode()
            waited = time.monotonic() - t0
        assert answer.startswith("HTTP/1.1 408"), answer[:100]
        assert waited < 3


def test_concurrency_limit_answers_503(tmp_path: Path, fake: FakeProviderServer) -> None:
    from router.testing import Fault

    cfg = write_config(tmp_path, fake, gateway={"max_concurrent": 2})
    fake.set_default("a", Fault.delay(1.0))
    with GatewayThread(cfg) as gw:
        key = gw.gateway.access.store.create("busy")[1]

        async def burst() -> list[int]:
            async with httpx.AsyncClient(timeout=10) as c:
                rs = await asyncio.gather(*(c.post(f"{gw.url}/chat/completions", json=BODY, headers={"Authorization": f"Bearer {key}"}) for _ in range(5)))
            return sorted(r.status_code for r in rs)

        codes = asyncio.run(burst())
    assert codes == [200, 200, 503, 503, 503]


def test_no_key_in_logs_records_or_error_bodies(tmp_path: Path, fake: FakeProviderServer, caplog: pytest.LogCaptureFixture) -> None:
    from router.testing import Fault

    db = tmp_path / "s.db"
    cfg = write_config(tmp_path, fake, db=f"sqlite:///{db}")
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    with GatewayThread(cfg) as gw:
        secret = gw.gateway.access.store.create("secretive")[1]
        bodies.append(post(gw, secret).text)
        fake.set_default("a", Fault.status(500, message=f"echo {UPSTREAM_KEY} {secret}"))
        fake.set_default("b", Fault.status(400, message=f"echo {UPSTREAM_KEY} {secret}"))
        bodies.append(post(gw, secret).text)
        bodies.append(post(gw, secret + "x").text)
        bodies.append(post(gw, secret, b"{bad").text)
    store = TelemetryStore(f"sqlite:///{db}")
    rows = store.query()
    store.close()
    assert len(rows) == 2 and {r.tags["api_key"] for r in rows} == {"secretive"}
    everything = "\n".join([*bodies, caplog.text, *(repr(r) for r in rows), db.read_bytes().decode("latin-1")])
    assert secret not in everything
    assert UPSTREAM_KEY not in everything


def test_a_client_that_disconnects_cancels_its_call(tmp_path: Path, fake: FakeProviderServer) -> None:
    from router.testing import Fault

    db = tmp_path / "c.db"
    cfg = write_config(tmp_path, fake, db=f"sqlite:///{db}")
    fake.set_default("a", Fault.delay(3.0))
    with GatewayThread(cfg) as gw:
        key = gw.gateway.access.store.create("impatient")[1]
        with pytest.raises(httpx.ReadTimeout):
            post(gw, key, timeout=0.5)
        deadline = time.monotonic() + 5
        while gw.gateway.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gw.gateway.in_flight == 0  # the routed call ended with the connection
    store = TelemetryStore(f"sqlite:///{db}")
    (rec,) = store.query()
    store.close()
    assert rec.error_type == "cancelled" and rec.latency_ms < 2500
