"""The fake provider server, exercised over real HTTP with httpx."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import router.testing
from router.testing import FakeProviderServer, Fault, RequestRecord
from router.testing.fake_cli import main

ROOT = Path(__file__).resolve().parents[1]


def chat_body(model: str = "gpt-4o", text: str = "hello there!", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    with FakeProviderServer() as srv:
        yield srv


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as c:
        yield c


def post(client: httpx.Client, server: FakeProviderServer, **body: Any) -> httpx.Response:
    return client.post(f"{server.url}/chat/completions", json=chat_body(**body))


def test_exports_are_what_we_mean() -> None:
    assert {"FakeProviderServer", "Fault", "RecordedRequest", "RequestRecord"} <= set(router.testing.__all__)
    assert router.testing.__all__ == sorted(router.testing.__all__)


def test_standalone_stdlib_only() -> None:
    """The fake provider's modules import only the standard library and each other (the testing
    mode, ``mode.py``, and the package's ``__init__`` that exports it use the router's settings)."""
    package = ROOT / "router" / "testing"
    allowed = set(sys.stdlib_module_names) | {"__future__"}
    for path in sorted(p for p in package.glob("*.py") if p.name not in ("mode.py", "__init__.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else []
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed or (name.startswith("router.testing") and name != "router.testing.mode"), (
                    f"{path.name} imports {name}"
                )


def test_success_shape(server: FakeProviderServer, client: httpx.Client) -> None:
    text = "x" * 400
    r = post(client, server, text=text, max_tokens=42)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-request-id"]
    data = r.json()
    assert data["id"].startswith("chatcmpl-")
    assert data["object"] == "chat.completion"
    assert isinstance(data["created"], int)
    assert data["model"] == "gpt-4o"
    choice = data["choices"][0]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "ok: 1"
    assert choice["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 100, "completion_tokens": 42, "total_tokens": 142}
    # deterministic content, default completion tokens, prompt tokens at least 1
    r2 = client.post(f"{server.url}/chat/completions",
                     json={"model": "gpt-4o", "messages": [{"role": "user", "content": ""}]})
    assert r2.json()["choices"][0]["message"]["content"] == "ok: 2"
    assert r2.json()["usage"]["prompt_tokens"] == 1
    assert r2.json()["usage"]["completion_tokens"] >= 1
    assert server.requests("gpt-4o") == 2


def test_content_parts_count_towards_prompt_tokens(
    server: FakeProviderServer, client: httpx.Client
) -> None:
    body = {"model": "m", "messages": [
        {"role": "system", "content": "a" * 40},
        {"role": "user", "content": [{"type": "text", "text": "b" * 40}]},
    ]}
    r = client.post(f"{server.url}/chat/completions", json=body)
    assert r.json()["usage"]["prompt_tokens"] == 20


def test_keep_alive_reuses_one_connection(server: FakeProviderServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        payload = json.dumps(chat_body()).encode()
        request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Type: application/json\r\n"
                   b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)
        sock.sendall(request + request)  # pipelined: answered in order on one connection
        received = b""
        deadline = time.monotonic() + 5
        while received.count(b"HTTP/1.1 200 OK") < 2 and time.monotonic() < deadline:
            received += sock.recv(65536)
    assert received.count(b"HTTP/1.1 200 OK") == 2
    assert b'"ok: 2"' in received


def test_scripted_503_then_success(server: FakeProviderServer, client: httpx.Client) -> None:
    server.script("gpt-4o", [Fault.status(503)])
    r1 = post(client, server)
    assert r1.status_code == 503
    err = r1.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "server_error"
    assert post(client, server).status_code == 200
    assert server.requests("gpt-4o") == 2
    assert [rec.outcome for rec in server.request_log] == [503, 200]


def test_default_fault_until_cleared(server: FakeProviderServer, client: httpx.Client) -> None:
    server.set_default("gpt-4o", Fault.status(500))
    server.script("gpt-4o", [None])  # scripted entries come first; None is success
    assert post(client, server).status_code == 200
    assert [post(client, server).status_code for _ in range(3)] == [500, 500, 500]
    assert post(client, server, model="other").status_code == 200
    server.set_default("gpt-4o", None)
    assert post(client, server).status_code == 200


def test_wildcard_default_applies_to_routes_without_their_own(
    server: FakeProviderServer, client: httpx.Client
) -> None:
    server.set_default("*", Fault.status(502))
    server.set_default("healthy", Fault.ok())
    assert post(client, server, model="any").status_code == 502
    assert post(client, server, model="healthy").status_code == 200


@pytest.mark.parametrize(
    ("fault", "header", "value"),
    [
        (Fault.status(429, retry_after="2"), "retry-after", "2"),
        (Fault.status(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"), "retry-after",
         "Wed, 21 Oct 2015 07:28:00 GMT"),
        (Fault.status(429, retry_after_ms=1500), "retry-after-ms", "1500"),
    ],
)
def test_429_retry_after_forms(
    server: FakeProviderServer, client: httpx.Client, fault: Fault, header: str, value: str
) -> None:
    server.script("gpt-4o", [fault])
    r = post(client, server)
    assert r.status_code == 429
    assert r.headers[header] == value
    assert r.json()["error"]["code"] == "rate_limit_exceeded"


def test_429_without_retry_after_and_custom_fields(
    server: FakeProviderServer, client: httpx.Client
) -> None:
    server.script("gpt-4o", [Fault.status(429, message="quota gone", code_str="insufficient_quota",
                                          headers={"x-ratelimit-remaining-requests": "0"})])
    r = post(client, server)
    assert r.status_code == 429
    assert "retry-after" not in r.headers and "retry-after-ms" not in r.headers
    assert r.headers["x-ratelimit-remaining-requests"] == "0"
    assert r.json()["error"]["message"] == "quota gone"
    assert r.json()["error"]["code"] == "insufficient_quota"


def test_delay_and_with_delay(server: FakeProviderServer, client: httpx.Client) -> None:
    server.script("gpt-4o", [Fault.delay(0.3), Fault.status(503).with_delay(0.2)])
    t0 = time.monotonic()
    assert post(client, server).status_code == 200
    t1 = time.monotonic()
    assert post(client, server).status_code == 503
    t2 = time.monotonic()
    assert 0.3 <= t1 - t0 < 1.5
    assert 0.2 <= t2 - t1 < 1.5


def test_reset_before_response(server: FakeProviderServer, client: httpx.Client) -> None:
    server.script("gpt-4o", [Fault.reset()])
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        post(client, server)
    assert post(client, server).status_code == 200  # the client recovers on a new connection
    assert [rec.outcome for rec in server.request_log] == ["reset", 200]


def test_reset_mid_body(server: FakeProviderServer, client: httpx.Client) -> None:
    server.script("gpt-4o", [Fault.reset_mid_body()])
    with client.stream("POST", f"{server.url}/chat/completions", json=chat_body()) as r:
        assert r.status_code == 200  # headers arrived
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            r.read()


def test_truncate(server: FakeProviderServer, client: httpx.Client) -> None:
    server.script("gpt-4o", [Fault.truncate()])
    with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
        post(client, server)


def test_invalid_json(server: FakeProviderServer, client: httpx.Client) -> None:
    server.script("gpt-4o", [Fault.invalid_json()])
    r = post(client, server)
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        r.json()
    assert server.request_log[-1].outcome == "invalid_json"


def test_hang_until_client_timeout(server: FakeProviderServer) -> None:
    server.script("gpt-4o", [Fault.hang()])
    with httpx.Client(timeout=0.3) as c:
        t0 = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            post(c, server)
        assert time.monotonic() - t0 < 2
        assert post(c, server).status_code == 200


def test_context_length(server: FakeProviderServer, client: httpx.Client) -> None:
    server.script("gpt-4o", [Fault.context_length()])
    r = post(client, server)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "context_length_exceeded"
    assert err["type"] == "invalid_request_error"
    assert err["param"] == "messages"
    assert "maximum context length" in err["message"]


def test_context_limit_by_prompt_size(server: FakeProviderServer, client: httpx.Client) -> None:
    server.set_context_limit("small", 10)
    assert post(client, server, model="small", text="x" * 40).status_code == 200
    r = post(client, server, model="small", text="x" * 44)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "context_length_exceeded"
    assert post(client, server, model="big", text="x" * 44).status_code == 200


def test_auth_required(server: FakeProviderServer, client: httpx.Client) -> None:
    key = "sk-test-secret-123"
    server.require_api_key(key)
    url = f"{server.url}/chat/completions"
    missing = client.post(url, json=chat_body())
    wrong = client.post(url, json=chat_body(), headers={"Authorization": "Bearer sk-wrong"})
    right = client.post(url, json=chat_body(), headers={"Authorization": f"Bearer {key}"})
    assert missing.status_code == wrong.status_code == 401
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert "sk-wrong" not in wrong.text
    assert right.status_code == 200
    assert server.last_headers("gpt-4o")["authorization"] == f"Bearer {key}"
    assert [rec.outcome for rec in server.request_log] == [401, 401, 200]
    assert all(key not in repr(rec) for rec in server.request_log)
    assert client.get(f"{server.url}/models").status_code == 401
    assert client.get(f"{server.url}/models", headers={"Authorization": f"Bearer {key}"}
                      ).status_code == 200


def test_per_route_counters_with_url_for(server: FakeProviderServer, client: httpx.Client) -> None:
    a, b = server.url_for("route-a"), server.url_for("route-b")
    assert a == f"http://127.0.0.1:{server.port}/r/route-a/v1"
    server.script("route-a", [Fault.status(503)])
    r_a = client.post(f"{a}/chat/completions", json=chat_body(model="gpt-4o"))
    r_b = client.post(f"{b}/chat/completions", json=chat_body(model="gpt-4o"))
    client.post(f"{b}/chat/completions", json=chat_body(model="gpt-4o"),
                headers={"X-Trace": "t1"})
    assert r_a.status_code == 503 and r_b.status_code == 200
    assert r_b.json()["model"] == "gpt-4o"
    assert server.requests("route-a") == 1
    assert server.requests("route-b") == 2
    assert server.requests("gpt-4o") == 0
    assert server.last_headers("route-b")["x-trace"] == "t1"
    assert server.last_headers("nope") is None
    assert server.request_log[0] == RequestRecord("route-a", "gpt-4o", 503,
                                                  server.request_log[0].t)
    server.reset()
    assert server.requests("route-b") == 0 and server.request_log == []
    assert client.post(f"{a}/chat/completions", json=chat_body()).status_code == 200


def test_error_rate_is_seeded_and_roughly_right(
    server: FakeProviderServer, client: httpx.Client
) -> None:
    def outcomes() -> list[int]:
        server.reset()
        server.set_default("m", Fault.error_rate(0.3, [Fault.status(503), Fault.status(500)],
                                                 seed=1))
        return [post(client, server, model="m").status_code for _ in range(200)]

    first = outcomes()
    assert first == outcomes()
    errors = sum(code != 200 for code in first)
    assert 35 <= errors <= 85
    assert {503, 500} <= set(first)


def test_bad_requests(server: FakeProviderServer, client: httpx.Client) -> None:
    url = f"{server.url}/chat/completions"
    r = client.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"
    r = client.post(url, json={"model": "gpt-4o"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"
    assert client.get(url).status_code == 405
    assert client.post(f"http://127.0.0.1:{server.port}/nope", json={}).status_code == 404
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GARBAGE\r\n\r\n")
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 400 ")
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: abc\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 400 ")
    assert post(client, server).status_code == 200  # the server survives


def test_chunked_request_body(server: FakeProviderServer, client: httpx.Client) -> None:
    payload = json.dumps(chat_body()).encode()

    def gen() -> Iterator[bytes]:
        yield payload[:10]
        yield payload[10:]

    r = client.post(f"{server.url}/chat/completions", content=gen(),
                    headers={"content-type": "application/json"})
    assert r.status_code == 200 and r.json()["model"] == "gpt-4o"


def test_stream_sse(server: FakeProviderServer, client: httpx.Client) -> None:
    r = post(client, server, stream=True, stream_options={"include_usage": True})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [line[6:] for line in r.text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "ok: 1"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_models(server: FakeProviderServer, client: httpx.Client) -> None:
    post(client, server, model="gpt-4o")
    data = client.get(f"{server.url}/models").json()
    assert data["object"] == "list"
    assert [m["id"] for m in data["data"]] == ["gpt-4o"]
    routed = client.get(f"{server.url_for('r1')}/models").json()
    assert [m["id"] for m in routed["data"]] == ["r1"]


def test_control_endpoint(server: FakeProviderServer, client: httpx.Client) -> None:
    base = f"http://127.0.0.1:{server.port}"
    r = client.post(f"{base}/_control/faults", json={
        "route": "gpt-4o",
        "script": [503, {"kind": "status", "status": 429, "retry_after_ms": 250}, "reset", None],
        "default": {"kind": "status", "status": 500, "delay": 0.01},
    })
    assert r.status_code == 200, r.text
    assert r.json()["scripted"] == 4
    assert post(client, server).status_code == 503
    r429 = post(client, server)
    assert r429.status_code == 429 and r429.headers["retry-after-ms"] == "250"
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        post(client, server)
    assert post(client, server).status_code == 200
    assert post(client, server).status_code == 500
    client.post(f"{base}/_control/faults", json={"route": "gpt-4o", "default": None})
    assert post(client, server).status_code == 200
    stats = client.get(f"{base}/_control/stats").json()
    assert stats["total"] == 6
    assert stats["routes"]["gpt-4o"]["requests"] == 6
    assert stats["routes"]["gpt-4o"]["outcomes"] == {"503": 1, "429": 1, "reset": 1,
                                                     "200": 2, "500": 1}
    bad = client.post(f"{base}/_control/faults", json={"route": "x", "script": ["explode"]})
    assert bad.status_code == 400 and "explode" in bad.json()["error"]["message"]
    assert client.post(f"{base}/_control/reset").status_code == 200
    assert client.get(f"{base}/_control/stats").json() == {"total": 0, "routes": {}}


@pytest.mark.parametrize(
    "fault",
    [
        Fault.ok(),
        Fault.delay(0.5),
        Fault.status(429, retry_after="3", retry_after_ms=3000, message="m", code_str="c",
                     headers={"a": "b"}),
        Fault.status(503).with_delay(0.2),
        Fault.context_length(),
        Fault.reset(),
        Fault.reset_mid_body(),
        Fault.truncate(),
        Fault.hang(),
        Fault.invalid_json(),
        Fault.stream_error(529, message="m", code_str="overloaded_error").with_delay(0.1),
        Fault.error_rate(0.3, [Fault.status(503), Fault.timeout(), None], weights=[2, 1, 1],
                         seed=4).with_delay(0.1),
    ],
)
def test_fault_json_roundtrip(fault: Fault) -> None:
    assert Fault.from_json(json.loads(json.dumps(fault.to_json()))) == fault


def test_fault_validation() -> None:
    with pytest.raises(ValueError):
        Fault.status(200)
    with pytest.raises(ValueError):
        Fault.error_rate(1.5)
    with pytest.raises(ValueError):
        Fault.delay(-1)
    with pytest.raises(ValueError):
        Fault.from_json({"kind": "status"})
    with pytest.raises(ValueError):
        Fault.from_json({"kind": "status", "status": 503, "bogus": 1})
    assert Fault.from_json(None) is None
    assert Fault.from_json("timeout") == Fault.hang()
    assert Fault.from_json({"kind": "delay", "seconds": 0.5}) == Fault.delay(0.5)
    assert Fault.from_json({"kind": "stream_error"}) == Fault.stream_error(500)
    with pytest.raises(ValueError):
        Fault.stream_error(200)


async def _raw_chat(port: int, model: str, n: int) -> list[bytes]:
    """Open one connection, send ``n`` chat requests on it in turn, return the bodies."""
    payload = json.dumps(chat_body(model=model)).encode()
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Type: application/json\r\nContent-Length: "
               + str(len(payload)).encode() + b"\r\n\r\n" + payload)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    bodies = []
    try:
        for _ in range(n):
            writer.write(request)
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            assert head.startswith("HTTP/1.1 200 "), head
            length = next(int(line.split(":", 1)[1]) for line in head.split("\r\n")
                          if line.lower().startswith("content-length:"))
            bodies.append(await reader.readexactly(length))
    finally:
        writer.close()
    return bodies


async def test_500_concurrent_connections() -> None:
    async with FakeProviderServer() as srv:
        srv.set_default("m", Fault.delay(0.1))  # all 500 connections are open at the same time
        t0 = time.monotonic()
        results = await asyncio.gather(*(_raw_chat(srv.port, "m", 2) for _ in range(500)))
        elapsed = time.monotonic() - t0
        contents = {json.loads(body)["choices"][0]["message"]["content"]
                    for bodies in results for body in bodies}
        assert contents == {f"ok: {i}" for i in range(1, 1001)}
        assert srv.requests("m") == 1000
        assert elapsed < 5  # two 0.1 s rounds, concurrently, not 1000 x 0.1 s


async def test_concurrent_requests_with_httpx_async_client() -> None:
    async with FakeProviderServer() as srv:
        srv.script("m", [Fault.status(503)] * 10)
        limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
        async with httpx.AsyncClient(limits=limits, timeout=10.0) as c:
            url = f"{srv.url}/chat/completions"
            responses = await asyncio.gather(
                *(c.post(url, json=chat_body(model="m")) for _ in range(100))
            )
        codes = [r.status_code for r in responses]
        assert codes.count(503) == 10 and codes.count(200) == 90
        assert srv.requests("m") == 100


async def test_hang_does_not_block_the_test_loop() -> None:
    async with FakeProviderServer() as srv:
        srv.script("m", [Fault.hang()])
        async with httpx.AsyncClient(timeout=0.2) as c:
            with pytest.raises(httpx.ReadTimeout):
                await c.post(f"{srv.url}/chat/completions", json=chat_body(model="m"))


def test_start_is_idempotent_and_stop_closes_hanging_connections() -> None:
    srv = FakeProviderServer()
    assert srv.start() is srv
    port = srv.port
    assert srv.start().port == port
    srv.script("m", [Fault.hang()])
    sock = socket.create_connection(("127.0.0.1", port))
    payload = json.dumps(chat_body(model="m")).encode()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: "
                 + str(len(payload)).encode() + b"\r\n\r\n" + payload)
    deadline = time.monotonic() + 2
    while srv.requests("m") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 2
    sock.settimeout(2)
    try:
        assert sock.recv(100) == b""
    except ConnectionResetError:
        pass
    sock.close()
    srv.stop()  # idempotent
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_main_serves_until_interrupted() -> None:
    env = dict(os.environ, FAKE_KEY_FOR_TEST="sk-cli-secret")
    proc = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from router.testing.fake_cli import main; sys.exit(main(sys.argv[1:]))",
         "--port", "0", "--error-rate", "1", "--error-status", "502", "--latency-ms", "50",
         "--require-key", "FAKE_KEY_FOR_TEST"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line
        assert "sk-cli-secret" not in line
        url = line.strip().rsplit(" ", 1)[-1]
        with httpx.Client(timeout=5) as c:
            denied = c.post(f"{url}/chat/completions", json=chat_body())
            t0 = time.monotonic()
            r = c.post(f"{url}/chat/completions", json=chat_body(),
                       headers={"Authorization": "Bearer sk-cli-secret"})
            assert time.monotonic() - t0 >= 0.05
        assert denied.status_code == 401
        assert r.status_code == 502
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=5)
        assert proc.returncode == 0, err
        assert "sk-cli-secret" not in out + err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_main_rejects_missing_key_env(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--port", "0", "--require-key", "ATTUNE_SURELY_UNSET_VAR_XYZ"])
    assert exc.value.code == 2
    assert "ATTUNE_SURELY_UNSET_VAR_XYZ" in capsys.readouterr().err


# -- Anthropic and Gemini wire formats ------------------------------------------------------


def anthropic_body(text: str = "hello there!", **extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4", "max_tokens": 16, "messages": [{"role": "user", "content": text}], **extra}


def gemini_body(text: str = "hello there!") -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


def sse_events(text: str) -> list[tuple[str | None, Any]]:
    out = []
    for block in text.strip().split("\n\n"):
        name = next((line[7:] for line in block.split("\n") if line.startswith("event: ")), None)
        data = next(line[6:] for line in block.split("\n") if line.startswith("data: "))
        out.append((name, json.loads(data)))
    return out


def test_anthropic_messages_shape(server: FakeProviderServer, client: httpx.Client) -> None:
    r = client.post(f"{server.base}/v1/messages", json=anthropic_body("x" * 40, system="y" * 40))
    assert r.status_code == 200
    data = r.json()
    assert data["id"].startswith("msg_") and data["type"] == "message" and data["role"] == "assistant"
    assert data["content"] == [{"type": "text", "text": "ok: 1"}] and data["stop_reason"] == "end_turn"
    assert data["model"] == "claude-sonnet-4" and data["usage"] == {"input_tokens": 20, "output_tokens": 16}
    assert server.requests("claude-sonnet-4") == 1 and server.last_body("claude-sonnet-4")["system"] == "y" * 40
    bad = client.post(f"{server.base}/v1/messages", json={"model": "m", "messages": [{"role": "system", "content": "s"}], "max_tokens": 1})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error" and "system" in bad.json()["error"]["message"]
    missing = client.post(f"{server.base}/v1/messages", json={"model": "m", "messages": [{"role": "user", "content": "q"}]})
    assert missing.status_code == 400 and "max_tokens" in missing.json()["error"]["message"]


def test_anthropic_faults_auth_and_stream(server: FakeProviderServer, client: httpx.Client) -> None:
    url = f"{server.base_for('a')}/v1/messages"
    server.script("a", [Fault.status(529), Fault.status(429, retry_after="7"), Fault.context_length()])
    r529, r429, rctx = (client.post(url, json=anthropic_body()) for _ in range(3))
    assert (r529.status_code, r529.json()["type"], r529.json()["error"]["type"]) == (529, "error", "overloaded_error")
    assert r429.headers["retry-after"] == "7" and r429.json()["error"]["type"] == "rate_limit_error"
    assert rctx.status_code == 400 and rctx.json()["error"]["message"].startswith("prompt is too long: ")
    stream = client.post(url, json=anthropic_body(stream=True))
    assert stream.headers["content-type"].startswith("text/event-stream")
    events = sse_events(stream.text)
    assert [n for n, _ in events] == ["message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
                                      "content_block_stop", "message_delta", "message_stop"]
    assert all(n == e["type"] for n, e in events)
    assert "".join(e["delta"]["text"] for n, e in events if n == "content_block_delta") == "ok: 4"
    server.script("a", [Fault.stream_error(529)])
    cut = sse_events(client.post(url, json=anthropic_body(stream=True)).text)
    assert cut[-1] == ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    server.require_api_key("sk-ant-right")
    wrong = client.post(url, json=anthropic_body(), headers={"x-api-key": "sk-ant-wrong"})
    right = client.post(url, json=anthropic_body(), headers={"x-api-key": "sk-ant-right"})
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error" and "sk-ant-wrong" not in wrong.text
    assert right.status_code == 200
    assert client.post(f"{server.url}/chat/completions", json=chat_body(), headers={"x-api-key": "sk-ant-right"}).status_code == 401


def test_gemini_generate_content_shape(server: FakeProviderServer, client: httpx.Client) -> None:
    r = client.post(f"{server.base}/v1beta/models/gemini-2.5-pro:generateContent",
                    json={**gemini_body("x" * 40), "systemInstruction": {"parts": [{"text": "y" * 40}]}, "generationConfig": {"maxOutputTokens": 5}})
    assert r.status_code == 200
    data = r.json()
    assert data["candidates"][0]["content"] == {"parts": [{"text": "ok: 1"}], "role": "model"}
    assert data["candidates"][0]["finishReason"] == "STOP" and data["modelVersion"] == "gemini-2.5-pro" and data["responseId"]
    assert data["usageMetadata"] == {"promptTokenCount": 20, "candidatesTokenCount": 5, "totalTokenCount": 25}
    assert server.requests("gemini-2.5-pro") == 1  # the route is the model named in the URL
    assert client.post(f"{server.base}/v1/models/gemini-2.5-pro:generateContent", json=gemini_body()).status_code == 200
    bad = client.post(f"{server.base}/v1beta/models/m:generateContent", json={"contents": [{"role": "assistant", "parts": [{"text": "q"}]}]})
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_gemini_faults_auth_and_streams(server: FakeProviderServer, client: httpx.Client) -> None:
    base = f"{server.base_for('g')}/v1beta/models/gemini-2.5-flash"
    server.script("g", [Fault.status(429, retry_after="17"), Fault.status(503), Fault.context_length()])
    r429, r503, rctx = (client.post(f"{base}:generateContent", json=gemini_body()) for _ in range(3))
    err = r429.json()["error"]
    assert (r429.status_code, err["code"], err["status"]) == (429, 429, "RESOURCE_EXHAUSTED") and "retry-after" not in r429.headers
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"} in err["details"]
    assert r503.json()["error"]["status"] == "UNAVAILABLE"
    assert "exceeds the maximum number of tokens allowed" in rctx.json()["error"]["message"]
    sse = client.post(f"{base}:streamGenerateContent?alt=sse", json=gemini_body())
    assert sse.headers["content-type"].startswith("text/event-stream")
    chunks = [e for _, e in sse_events(sse.text)]
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == "ok: 4"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP" and chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 8
    array = client.post(f"{base}:streamGenerateContent", json=gemini_body())
    assert array.headers["content-type"] == "application/json" and len(array.json()) == 2
    server.script("g", [Fault.stream_error(503)])
    cut = [e for _, e in sse_events(client.post(f"{base}:streamGenerateContent?alt=sse", json=gemini_body()).text)]
    assert cut[-1]["error"]["status"] == "UNAVAILABLE"
    server.require_api_key("AIza-right")
    missing = client.post(f"{base}:generateContent", json=gemini_body())
    wrong = client.post(f"{base}:generateContent", json=gemini_body(), headers={"x-goog-api-key": "AIza-wrong"})
    right = client.post(f"{base}:generateContent", json=gemini_body(), headers={"x-goog-api-key": "AIza-right"})
    assert (missing.status_code, missing.json()["error"]["status"]) == (403, "PERMISSION_DENIED")
    assert wrong.status_code == 400 and "API key not valid" in wrong.json()["error"]["message"] and "AIza-wrong" not in wrong.text
    assert right.status_code == 200
    assert [rec.outcome for rec in server.request_log][-3:] == [403, 400, 200]
    assert client.get(f"{base}:generateContent").status_code == 405
