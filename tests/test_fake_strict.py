"""The fake provider is as strict as the real APIs (each answering in its own 400 shape), records
requests as they arrived, serves Azure and embeddings, and streams event by event."""

from __future__ import annotations

import base64
import json
import struct
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from router.testing import FakeProviderServer, Fault
from router.testing.fake_cli import build_parser
from router.testing.fake_cli import _default_fault as cli_default

USER = [{"role": "user", "content": "hello there!"}]
# ``server``: the session's fake provider, cleared for each test (tests/conftest.py)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as c:
        yield c


def openai(http: httpx.Client, server: FakeProviderServer, **body: Any) -> httpx.Response:
    return http.post(f"{server.url}/chat/completions", json=body)


@pytest.mark.parametrize(
    ("body", "param", "code", "message"),
    [
        ({"model": "m", "messages": USER, "timeout": 5}, None, None, "Unrecognized request argument supplied: timeout"),
        ({"model": "m", "messages": USER, "extra_headers": {}}, None, None, "Unrecognized request argument supplied: extra_headers"),
        ({"messages": USER}, "model", "missing_required_parameter", "Missing required parameter: 'model'."),
        ({"model": "m"}, "messages", "missing_required_parameter", "Missing required parameter: 'messages'."),
        ({"model": "m", "messages": USER, "temperature": "hot"}, "temperature", "invalid_type",
         "Invalid type for 'temperature': expected a decimal, but got a string instead."),
        ({"model": "m", "messages": USER, "n": 1.5}, "n", "invalid_type", "Invalid type for 'n': expected an integer, but got a number instead."),
        ({"model": "m", "messages": USER, "stop": 3}, "stop", "invalid_type",
         "Invalid type for 'stop': expected a string or an array, but got a number instead."),
        ({"model": "m", "messages": USER, "n": 0}, "n", None, "'n' must be a positive integer"),
    ],
)
def test_openai_rejects_what_the_api_rejects(http: httpx.Client, server: FakeProviderServer, body: dict[str, Any], param: str | None,
                                             code: str | None, message: str) -> None:
    resp = openai(http, server, **body)
    assert resp.status_code == 400
    assert resp.json() == {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    assert server.request_log[-1].outcome == 400


def test_openai_accepts_every_documented_parameter_and_null(http: httpx.Client, server: FakeProviderServer) -> None:
    resp = openai(http, server, model="m", messages=USER, temperature=None, top_p=1, seed=3, stop=["x"], user="u", logprobs=True,
                  top_logprobs=1, n=2, service_tier="auto", parallel_tool_calls=True, metadata={"k": "v"}, store=False)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert [c["index"] for c in data["choices"]] == [0, 1]
    assert data["choices"][0]["logprobs"]["content"][0]["token"] == data["choices"][0]["message"]["content"]


def test_openai_answers_follow_the_request(http: httpx.Client, server: FakeProviderServer) -> None:
    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in ("a", "b")]
    calls = openai(http, server, model="m", messages=USER, tools=tools, tool_choice="required").json()["choices"][0]
    assert calls["finish_reason"] == "tool_calls" and [c["function"]["name"] for c in calls["message"]["tool_calls"]] == ["a", "b"]
    one = openai(http, server, model="m", messages=USER, tools=tools, tool_choice={"type": "function", "function": {"name": "b"}}).json()
    assert [c["function"]["name"] for c in one["choices"][0]["message"]["tool_calls"]] == ["b"]
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    content = openai(http, server, model="m", messages=USER, response_format=fmt).json()["choices"][0]["message"]["content"]
    assert json.loads(content) == {"name": "ok", "n": 1, "tags": ["ok"]}


def anthropic(http: httpx.Client, server: FakeProviderServer, **body: Any) -> httpx.Response:
    return http.post(f"{server.base}/v1/messages", json=body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "c", "max_tokens": 5, "messages": USER, "seed": 5}, "seed: Extra inputs are not permitted"),
        # the sampling parameters, by model (wire_anthropic.sampling_rule, docs/providers.md)
        ({"model": "claude-opus-4-1", "max_tokens": 5, "messages": USER, "temperature": 0.5, "top_p": 0.9},
         "`temperature` and `top_p` cannot both be specified for this model. Please use only one."),
        ({"model": "claude-opus-4-7", "max_tokens": 5, "messages": USER, "temperature": 0.5}, "`temperature` is deprecated for this model."),
        ({"model": "c", "max_tokens": 5, "messages": USER, "temperature": "hot"}, "temperature: Input should be a valid number"),
        ({"model": "c", "messages": USER}, "max_tokens: Field required"),
        ({"model": "c", "max_tokens": "5", "messages": USER}, "max_tokens: Input should be a valid integer"),
        ({"model": "c", "max_tokens": 5, "messages": USER, "stop_sequences": "x"}, "stop_sequences: Input should be a valid list"),
        ({"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
         "messages.0.content.0.type: Input tag 'image_url' found"),
        ({"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/tiff", "data": "AA"}}]}]}, "messages.0.content.0.source.media_type"),
    ],
)
def test_anthropic_rejects_what_the_api_rejects(http: httpx.Client, server: FakeProviderServer, body: dict[str, Any], message: str) -> None:
    resp = anthropic(http, server, **body)
    assert resp.status_code == 400
    payload = resp.json()
    assert payload["type"] == "error" and payload["error"]["type"] == "invalid_request_error"
    assert payload["error"]["message"].startswith(message), payload


def test_anthropic_structured_output_and_images(http: httpx.Client, server: FakeProviderServer) -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": False}
    resp = anthropic(http, server, model="c", max_tokens=5, messages=[{"role": "user", "content": [image, {"type": "text", "text": "?"}]}],
                     output_config={"format": {"type": "json_schema", "schema": schema}})
    assert resp.status_code == 200, resp.text
    assert json.loads(resp.json()["content"][0]["text"]) == {"ok": True}


def gemini(http: httpx.Client, server: FakeProviderServer, body: dict[str, Any], method: str = "generateContent") -> httpx.Response:
    return http.post(f"{server.base}/v1beta/models/gemini-2.5-pro:{method}", json=body)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"contents": [{"role": "user", "parts": [{"text": "q"}]}], "temperature": 1},
         "temperature", 'Invalid JSON payload received. Unknown name "temperature": Cannot find field.'),
        ({"contents": [{"role": "user", "parts": [{"text": "q"}]}], "generationConfig": {"max_tokens": 1}},
         "generation_config.max_tokens", """Invalid JSON payload received. Unknown name "max_tokens" at 'generation_config': Cannot find field."""),
        ({"contents": [{"role": "user", "parts": [{"text": "q"}]}], "generationConfig": {"temperature": "hot"}},
         "generation_config.temperature", """Invalid value at 'generation_config.temperature' (TYPE_FLOAT), "hot\""""),
    ],
)
def test_gemini_rejects_unknown_and_mistyped_fields(http: httpx.Client, server: FakeProviderServer, body: dict[str, Any], field: str, message: str) -> None:
    resp = gemini(http, server, body)
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["status"] == "INVALID_ARGUMENT" and err["message"] == message
    assert err["details"][0]["fieldViolations"] == [{"field": field, "description": message}]


def test_gemini_reads_snake_case_checks_parts_and_answers_function_calls(http: httpx.Client, server: FakeProviderServer) -> None:
    ok = gemini(http, server, {"contents": [{"role": "user", "parts": [{"text": "q"}]}], "generation_config": {"max_output_tokens": 3}})
    assert ok.status_code == 200, ok.text
    assert ok.json()["usageMetadata"]["candidatesTokenCount"] == 3
    bad = gemini(http, server, {"contents": [{"role": "user", "parts": [{"text": "q", "inlineData": {"mimeType": "image/png", "data": "AA"}}]}]})
    assert bad.status_code == 400 and "oneof field 'data'" in bad.json()["error"]["message"]
    tools = [{"functionDeclarations": [{"name": "get_weather", "parametersJsonSchema": {"type": "object"}}]}]
    forced = gemini(http, server, {"contents": [{"role": "user", "parts": [{"text": "q"}]}], "tools": tools,
                                   "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}})
    assert forced.json()["candidates"][0]["content"]["parts"] == [{"functionCall": {"name": "get_weather", "args": {}}}]


def test_azure_deployment_urls_keys_and_errors(http: httpx.Client, server: FakeProviderServer) -> None:
    server.require_api_key("azure-key")
    url = f"{server.base}/openai/deployments/my-gpt4o/chat/completions"
    no_version = http.post(url, json={"model": "gpt-4o", "messages": USER}, headers={"api-key": "azure-key"})
    assert no_version.status_code == 404 and no_version.json() == {"error": {"code": "404", "message": "Resource not found"}}
    wrong_key = http.post(url, params={"api-version": "2024-10-21"}, json={"messages": USER}, headers={"api-key": "nope"})
    assert wrong_key.status_code == 401 and wrong_key.json()["error"]["code"] == "401"
    ok = http.post(url, params={"api-version": "2024-10-21"}, json={"messages": USER}, headers={"api-key": "azure-key"})
    assert ok.status_code == 200 and ok.json()["model"] == "my-gpt4o"
    server.script("my-gpt4o", [Fault.status(429, retry_after="1")])
    limited = http.post(url, params={"api-version": "2024-10-21"}, json={"messages": USER}, headers={"api-key": "azure-key"})
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "429" and limited.headers["retry-after"] == "1"
    rec = server.last_request("my-gpt4o")
    assert rec is not None and rec.query_params == [("api-version", "2024-10-21")] and rec.headers["api-key"] == "azure-key"


def test_embeddings_float_and_base64(http: httpx.Client, server: FakeProviderServer) -> None:
    floats = http.post(f"{server.url}/embeddings", json={"model": "e", "input": ["a", "bb"], "dimensions": 4}).json()
    assert [d["index"] for d in floats["data"]] == [0, 1] and len(floats["data"][0]["embedding"]) == 4
    packed = http.post(f"{server.url}/embeddings", json={"model": "e", "input": ["a", "bb"], "dimensions": 4, "encoding_format": "base64"}).json()
    decoded = list(struct.unpack("<4f", base64.b64decode(packed["data"][1]["embedding"])))
    assert decoded == pytest.approx(floats["data"][1]["embedding"], abs=1e-6)
    bad = http.post(f"{server.url}/embeddings", json={"model": "e", "input": "a", "encoding_format": "int8"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "encoding_format"
    assert http.post(f"{server.url}/embeddings", json={"model": "e"}).json()["error"]["code"] == "missing_required_parameter"


def test_requests_are_recorded_as_they_arrived(http: httpx.Client, server: FakeProviderServer) -> None:
    http.post(f"{server.url_for('rec')}/chat/completions?x=1&x=2&y=", json={"model": "m", "messages": USER}, headers={"X-Trace": "abc"})
    http.get(f"{server.url_for('rec')}/models")
    chat, models = server.recordings("rec")
    assert (chat.method, chat.path, chat.query, chat.query_params) == ("POST", "/r/rec/v1/chat/completions", "x=1&x=2&y=", [("x", "1"), ("x", "2"), ("y", "")])
    assert chat.headers["x-trace"] == "abc" and chat.body == {"model": "m", "messages": USER} and json.loads(chat.raw) == chat.body
    assert models.method == "GET" and server.last_request("rec") == models and server.requests("rec") == 1


def _event_times(http: httpx.Client, server: FakeProviderServer) -> tuple[list[float], httpx.Response]:
    times = []
    with http.stream("POST", f"{server.url}/chat/completions", json={"model": "m", "messages": USER, "stream": True}) as resp:
        for line in resp.iter_lines():
            if line.startswith("data:"):
                times.append(time.monotonic())
    return times, resp


def test_streams_are_sent_event_by_event_with_the_fault_gap(http: httpx.Client, server: FakeProviderServer) -> None:
    server.set_default("m", Fault.ok().with_gap(0.15))
    times, resp = _event_times(http, server)
    assert resp.headers["transfer-encoding"] == "chunked" and len(times) == 4  # role, content, finish, [DONE]
    assert times[-1] - times[0] >= 3 * 0.15 * 0.9  # a lower bound only: a loaded machine is slower, never faster


def test_a_stall_stops_the_stream_after_n_events(http: httpx.Client, server: FakeProviderServer) -> None:
    server.set_default("m", Fault.stall(after=2))
    lines = []
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.3)) as short:
        with short.stream("POST", f"{server.url}/chat/completions", json={"model": "m", "messages": USER, "stream": True}) as resp:
            with pytest.raises(httpx.ReadTimeout):
                for line in resp.iter_lines():
                    lines.append(line)
    assert [json.loads(x[5:])["choices"][0]["delta"] for x in lines if x.startswith("data:")] == [
        {"role": "assistant", "content": "", "refusal": None}, {"content": "ok: 1"}]
    assert server.request_log[-1].outcome == "stall"
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.3)) as short, pytest.raises(httpx.ReadTimeout):  # not streamed: a hang
        short.post(f"{server.url}/chat/completions", json={"model": "m", "messages": USER})


def test_gap_and_stall_in_json_and_the_cli() -> None:
    for fault in (Fault.stall(after=3).with_gap(0.1), Fault.ok().with_gap(0.02), Fault.error_rate(0.5, [Fault.stall(0)], seed=1).with_gap(0.01)):
        assert Fault.from_json(fault.to_json()) == fault
    assert Fault.from_json({"kind": "stall", "after": 2}) == Fault.stall(2)
    with pytest.raises(ValueError, match="after"):
        Fault.from_json({"kind": "stall", "after": "2"})
    with pytest.raises(ValueError, match="gap"):
        Fault.from_json({"kind": "ok", "gap": "fast"})
    assert Fault.error_rate(1.0, [Fault.ok()], seed=1).with_gap(0.25).resolve().gap_s == 0.25
    assert cli_default(build_parser().parse_args(["--chunk-gap-ms", "20"])) == Fault.ok().with_gap(0.02)


def test_control_endpoint_sets_gap_and_stall(http: httpx.Client, server: FakeProviderServer) -> None:
    answer = http.post(f"{server.base}/_control/faults", json={"route": "m", "default": {"kind": "stall", "after": 1, "gap": 0.01}})
    assert answer.json() == {"route": "m", "scripted": 0, "default": {"kind": "stall", "after": 1, "gap": 0.01}}
