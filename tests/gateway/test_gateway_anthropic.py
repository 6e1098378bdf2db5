"""The gateway's ``POST /v1/messages`` with the official ``anthropic`` SDK as its client: create,
streams, tools, the SDK's exception classes, records, and every object checked with the SDK's
own types (the SDK builds responses without validating them, so the tests validate)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pydantic
import pytest
from gatewaykit import FAST, GatewayThread, ScriptedUpstream, write_config

from router.testing import Fault, FakeProviderServer
from telemetry import TelemetryStore

MSG = [{"role": "user", "content": "hello"}]
WEATHER = {"name": "get_weather", "description": "Get the weather", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}}
EVENT = pydantic.TypeAdapter(anthropic.types.RawMessageStreamEvent)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"


def sdk(gw: GatewayThread, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.base, api_key=key, max_retries=0)


def post(gw: GatewayThread, body: Any, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
    return httpx.post(f"{gw.base}/v1/messages", json=body, headers=headers or {}, timeout=10, **kw)


def sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) of each server-sent event."""
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((fields["event"], json.loads(fields["data"])))
    return out


def valid_error(resp: httpx.Response, type_: str) -> str:
    body = anthropic.types.ErrorResponse.model_validate(resp.json())
    assert body.type == "error" and body.error.type == type_, resp.text
    return body.error.message


# -- create ---------------------------------------------------------------------------------


def test_create_with_a_system_prompt(gateway: GatewayThread, key: str, fake: FakeProviderServer) -> None:
    with sdk(gateway, key) as client:
        raw = client.messages.with_raw_response.create(
            model="capable", max_tokens=64, system=[{"type": "text", "text": "Be terse."}], messages=MSG,
            stop_sequences=["END"], extra_body={"temperature": 0.2},
        )
        msg = raw.parse()
    anthropic.types.Message.model_validate(raw.http_response.json())
    assert isinstance(msg, anthropic.types.Message) and msg.role == "assistant" and msg.type == "message"
    assert isinstance(msg.content[0], anthropic.types.TextBlock) and msg.content[0].text.startswith("ok")
    assert msg.stop_reason == "end_turn" and msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    assert raw.headers["x-attune-deployment"] == "openai/gpt-4o" and raw.headers["x-attune-fallback-used"] == "false"
    assert msg._request_id == raw.headers["x-request-id"] and msg.id.startswith("msg_")
    sent = fake.last_request("a").body
    assert sent["messages"] == [{"role": "system", "content": "Be terse."}, *MSG]
    assert (sent["max_completion_tokens"], sent["stop"], sent["temperature"]) == (64, ["END"], 0.2)


async def test_async_create_falls_back_down_the_chain(gateway: GatewayThread, key: str, fake: FakeProviderServer) -> None:
    fake.set_default("a", Fault.status(500))
    async with anthropic.AsyncAnthropic(base_url=gateway.base, api_key=key, max_retries=0) as client:
        raw = await client.messages.with_raw_response.create(model="capable", max_tokens=32, system="Be terse.", messages=MSG)
    msg = anthropic.types.Message.model_validate(raw.http_response.json())
    assert msg.content[0].type == "text"
    assert raw.headers["x-attune-deployment"] == "backup/gpt-4o-mini" and raw.headers["x-attune-fallback-used"] == "true"


def test_x_api_key_and_anthropic_version_are_accepted(gateway: GatewayThread, key: str) -> None:
    resp = post(gateway, {"model": "capable", "max_tokens": 16, "messages": MSG}, {"x-api-key": key, "anthropic-version": "2023-06-01"})
    assert resp.status_code == 200, resp.text
    anthropic.types.Message.model_validate(resp.json())
    missing = post(gateway, {"model": "capable", "max_tokens": 16, "messages": MSG})
    assert missing.status_code == 401 and "x-api-key" in valid_error(missing, "authentication_error")


# -- streams --------------------------------------------------------------------------------


def test_stream_helper_text_and_final_message(gateway: GatewayThread, key: str) -> None:
    with sdk(gateway, key) as client, client.messages.stream(model="capable", max_tokens=32, system="Be terse.", messages=MSG) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    anthropic.types.Message.model_validate(final.to_dict())
    assert text and final.content[0].text == text
    assert final.stop_reason == "end_turn" and final.usage.input_tokens > 0 and final.usage.output_tokens > 0


async def test_async_stream_helper(gateway: GatewayThread, key: str) -> None:
    async with anthropic.AsyncAnthropic(base_url=gateway.base, api_key=key, max_retries=0) as client:
        async with client.messages.stream(model="capable", max_tokens=32, messages=MSG) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
    assert text and final.content[0].text == text


def test_stream_true_events_in_order(gateway: GatewayThread, key: str) -> None:
    with sdk(gateway, key) as client:
        events = list(client.messages.create(model="capable", max_tokens=32, messages=MSG, stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds[1:-2] == ["content_block_start", *["content_block_delta"] * (len(kinds) - 5), "content_block_stop"]
    for e in events:
        EVENT.validate_python(e.to_dict())
    assert events[-2].delta.stop_reason == "end_turn" and events[-2].usage.output_tokens > 0


def test_the_wire_has_event_names_and_a_ping(gateway: GatewayThread, key: str) -> None:
    resp = post(gateway, {"model": "capable", "max_tokens": 32, "messages": MSG, "stream": True}, {"x-api-key": key})
    assert resp.headers["content-type"].startswith("text/event-stream") and resp.headers["x-attune-deployment"] == "openai/gpt-4o"
    events = sse(resp.text)
    assert [n for n, _ in events][:2] == ["message_start", "ping"]
    for name, data in events:
        assert data["type"] == name
        if name != "ping":
            EVENT.validate_python(data)


def test_an_error_mid_stream_is_an_error_event_the_sdk_raises(gateway: GatewayThread, key: str, fake: FakeProviderServer) -> None:
    fake.set_default("a", Fault.stream_error(500))
    with sdk(gateway, key) as client, pytest.raises(anthropic.APIStatusError) as info:
        with client.messages.stream(model="capable", max_tokens=32, messages=MSG) as stream:
            list(stream.text_stream)
    assert info.value.body["type"] == "error" and info.value.body["error"]["type"] == "api_error"


# -- tools ----------------------------------------------------------------------------------


def test_tool_use_back_and_tool_result_in(gateway: GatewayThread, key: str, fake: FakeProviderServer) -> None:
    with sdk(gateway, key) as client:
        first = client.messages.create(model="capable", max_tokens=64, messages=MSG, tools=[WEATHER],
                                       tool_choice={"type": "any", "disable_parallel_tool_use": True})
        sent = fake.last_request("a").body
        call = first.content[0]
        assert isinstance(call, anthropic.types.ToolUseBlock) and call.name == "get_weather" and first.stop_reason == "tool_use"
        again = client.messages.create(model="capable", max_tokens=64, tools=[WEATHER], messages=[
            *MSG, {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}, {"type": "text", "text": "and so?"}]},
        ])
    assert sent["tools"] == [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER["input_schema"], "description": "Get the weather"}}]
    assert (sent["tool_choice"], sent["parallel_tool_calls"]) == ("required", False)
    assert fake.last_request("a").body["messages"][1:] == [
        {"role": "assistant", "content": None, "tool_calls": [{"id": call.id, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        {"role": "user", "content": "and so?"},
    ]
    assert again.content[0].type == "text" and again.stop_reason == "end_turn"


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    out: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "choices": choices}
    if usage is not None:
        out["usage"] = usage
    return out


def _tool_delta(i: int, args: str, head: bool = False) -> dict[str, Any]:
    call: dict[str, Any] = {"index": i, "function": {"arguments": args}}
    if head:
        call.update(id=f"call_{i}", type="function", function={"name": "get_weather", "arguments": args})
    return {"tool_calls": [call]}


@pytest.fixture
def scripted(tmp_path: Path, fake: FakeProviderServer) -> Iterator[tuple[GatewayThread, ScriptedUpstream, str]]:
    with ScriptedUpstream() as upstream:
        cfg = write_config(tmp_path, fake, deployments={"openai/gpt-4o": {"model": "gpt-4o", "base_url": upstream.url, "api_key_env": "ATTUNE_TEST_UPSTREAM_KEY"}},
                           tiers={"capable": {"chain": ["openai/gpt-4o"], "policy": "static"}})
        with GatewayThread(cfg) as gw:
            yield gw, upstream, gw.gateway.access.store.create("team-s")[1]


USAGE = {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29, "prompt_tokens_details": {"cached_tokens": 8}}


def test_a_stream_carries_text_then_tool_arguments_in_pieces(scripted: tuple[GatewayThread, ScriptedUpstream, str]) -> None:
    gw, upstream, key = scripted
    upstream.chunks = [
        _chunk({"role": "assistant", "content": ""}), _chunk({"content": "Let me "}), _chunk({"content": "check."}),
        _chunk(_tool_delta(0, "", head=True)), _chunk(_tool_delta(0, '{"loca')), _chunk(_tool_delta(0, 'tion": "SF"}')),
        _chunk({}, "tool_calls"), _chunk(usage=USAGE),
    ]
    with sdk(gw, key) as client, client.messages.stream(model="capable", max_tokens=64, messages=MSG, tools=[WEATHER]) as stream:
        events = list(stream)
        final = stream.get_final_message()
    anthropic.types.Message.model_validate(final.to_dict())
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[0].text == "Let me check." and final.content[1].input == {"location": "SF"} and final.content[1].id == "call_0"
    pieces = [e.delta.partial_json for e in events if e.type == "content_block_delta" and e.delta.type == "input_json_delta"]
    assert pieces == ['{"loca', 'tion": "SF"}']
    assert [e.index for e in events if e.type == "content_block_start"] == [0, 1]
    assert final.stop_reason == "tool_use"
    u = final.usage
    assert (u.input_tokens, u.cache_read_input_tokens, u.output_tokens) == (12, 8, 9)
    assert upstream.bodies[-1]["stream"] is True


def test_interleaved_tool_arguments_end_the_stream_with_an_error(scripted: tuple[GatewayThread, ScriptedUpstream, str]) -> None:
    gw, upstream, key = scripted
    upstream.chunks = [_chunk(_tool_delta(0, "{", head=True)), _chunk(_tool_delta(1, "{", head=True)), _chunk(_tool_delta(0, "}")), _chunk({}, "tool_calls")]
    with sdk(gw, key) as client, pytest.raises(anthropic.APIStatusError, match="interleaved"):
        with client.messages.stream(model="capable", max_tokens=64, messages=MSG, tools=[WEATHER]) as stream:
            list(stream)


def test_a_completion_with_text_and_a_tool_call(scripted: tuple[GatewayThread, ScriptedUpstream, str]) -> None:
    gw, upstream, key = scripted
    call = {"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": '{"location": "Oslo"}'}}
    upstream.completion = {"id": "chatcmpl-2", "object": "chat.completion", "created": 1, "model": "gpt-4o", "usage": USAGE,
                           "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Checking.", "tool_calls": [call]}}]}
    with sdk(gw, key) as client:
        raw = client.messages.with_raw_response.create(model="capable", max_tokens=64, messages=MSG, tools=[WEATHER])
    msg = anthropic.types.Message.model_validate(raw.http_response.json())
    assert msg.content[0] == anthropic.types.TextBlock(type="text", text="Checking.")
    assert msg.content[1] == anthropic.types.ToolUseBlock(type="tool_use", id="call_9", name="get_weather", input={"location": "Oslo"})
    assert (msg.stop_reason, msg.usage.input_tokens, msg.usage.cache_read_input_tokens) == ("tool_use", 12, 8)


# -- errors ---------------------------------------------------------------------------------


def test_a_bad_key_is_an_authentication_error(gateway: GatewayThread, key: str) -> None:
    with sdk(gateway, "sk-attune-wrong") as client, pytest.raises(anthropic.AuthenticationError) as info:
        client.messages.create(model="capable", max_tokens=16, messages=MSG)
    anthropic.types.ErrorResponse.model_validate(info.value.body)
    assert info.value.body["error"]["type"] == "authentication_error"


def test_an_exhausted_rpm_is_a_rate_limit_error(gateway: GatewayThread) -> None:
    key = gateway.gateway.access.store.create("limited", rpm=1)[1]
    with sdk(gateway, key) as client:
        client.messages.create(model="capable", max_tokens=16, messages=MSG)
        with pytest.raises(anthropic.RateLimitError) as info:
            client.messages.create(model="capable", max_tokens=16, messages=MSG)
    assert info.value.body["error"]["type"] == "rate_limit_error"
    assert 1 <= float(info.value.response.headers["retry-after"]) <= 60


def test_an_unknown_model_is_not_found(gateway: GatewayThread, key: str) -> None:
    with sdk(gateway, key) as client, pytest.raises(anthropic.NotFoundError) as info:
        client.messages.create(model="no-such-tier", max_tokens=16, messages=MSG)
    anthropic.types.ErrorResponse.model_validate(info.value.body)
    assert info.value.body["error"]["type"] == "not_found_error"


def test_a_missing_max_tokens_is_a_bad_request_naming_it(gateway: GatewayThread, key: str, fake: FakeProviderServer) -> None:
    with sdk(gateway, key) as client, pytest.raises(anthropic.BadRequestError) as info:
        # the SDK's create() refuses this itself; its raw post sends it
        client.post("/v1/messages", body={"model": "capable", "messages": MSG}, cast_to=anthropic.types.Message)
    anthropic.types.ErrorResponse.model_validate(info.value.body)
    assert info.value.body["error"] == {"type": "invalid_request_error", "message": "max_tokens: Field required"}
    assert fake.requests("a") == 0


BAD_BODIES = [
    ({"max_tokens": 16, "messages": MSG, "foo": 1}, "foo: Extra inputs are not permitted"),
    ({"max_tokens": "16", "messages": MSG}, "max_tokens: Input should be a valid integer"),
    ({"max_tokens": 0, "messages": MSG}, "max_tokens: Input should be greater than or equal to 1"),
    ({"max_tokens": 16}, "messages: Field required"),
    ({"max_tokens": 16, "messages": []}, "messages: List should have at least 1 item after validation, not 0"),
    ({"max_tokens": 16, "messages": MSG, "temperature": 1.5}, "temperature: Input should be less than or equal to 1"),
    ({"max_tokens": 16, "messages": MSG, "thinking": {"type": "enabled", "budget_tokens": 1024}}, "thinking: not supported by this gateway"),
    ({"max_tokens": 16, "messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages.0.content.0.text: Field required"),
    ({"max_tokens": 16, "messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}, "messages.0.content.0.type: 'document' content blocks"),
    ({"max_tokens": 16, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": "AA=="}}]}]},
     "messages.0.content.0.source.media_type: Input should be"),
    ({"max_tokens": 16, "messages": [{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t"}]}]},
     "messages.0.content.0.type: 'tool_result' blocks are not allowed in a assistant message"),
    ({"max_tokens": 16, "messages": [{"role": "bot", "content": "x"}]}, "messages.0.role: Input should be 'user', 'assistant' or 'system'"),
    ({"max_tokens": 16, "messages": MSG, "tools": [{"name": "a b", "input_schema": {"type": "object"}}]}, "tools.0.name: String should match pattern"),
    ({"max_tokens": 16, "messages": MSG, "tools": [WEATHER], "tool_choice": {"type": "tool", "name": "nope"}}, "tool_choice.name: tool 'nope' is not among"),
    ({"max_tokens": 16, "messages": MSG, "tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools.0.type: tool type 'web_search_20250305' is not supported"),
    ({"max_tokens": 16, "messages": MSG, "task_type": "x"}, "task_type: Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES, ids=[m.split(":")[0] for _, m in BAD_BODIES])
def test_a_bad_body_is_refused_by_name_before_routing(gateway: GatewayThread, key: str, fake: FakeProviderServer, body: dict[str, Any], message: str) -> None:
    resp = post(gateway, {"model": "capable", **body}, {"x-api-key": key})
    assert resp.status_code == 400
    assert valid_error(resp, "invalid_request_error").startswith(message)
    assert fake.requests("a") == 0


def test_every_deployment_overloaded_is_an_overloaded_error(gateway: GatewayThread, key: str, fake: FakeProviderServer) -> None:
    fake.set_default("a", Fault.status(503))
    fake.set_default("b", Fault.status(503))
    with sdk(gateway, key) as client, pytest.raises(anthropic.OverloadedError) as info:
        client.messages.create(model="capable", max_tokens=16, messages=MSG)
    anthropic.types.ErrorResponse.model_validate(info.value.body)
    assert info.value.status_code == 529 and info.value.body["request_id"] == info.value.response.headers["request-id"]


def test_malformed_json_is_an_anthropic_invalid_request(gateway: GatewayThread, key: str) -> None:
    resp = httpx.post(f"{gateway.base}/v1/messages", content=b"{bad", headers={"x-api-key": key, "content-type": "application/json"})
    assert resp.status_code == 400
    valid_error(resp, "invalid_request_error")


# -- records, other providers, docs ---------------------------------------------------------


def test_records_carry_the_key_name_and_the_task_type(tmp_path: Path, fake: FakeProviderServer) -> None:
    db = tmp_path / "m.db"
    cfg = write_config(tmp_path, fake, db=f"sqlite:///{db}")
    with GatewayThread(cfg) as gw:
        key = gw.gateway.access.store.create("team-m")[1]
        with sdk(gw, key) as client:
            client.messages.create(model="capable", max_tokens=16, messages=MSG, metadata={"user_id": "u-7"},
                                   extra_headers={"x-attune-task-type": "code_review"})
            with client.messages.stream(model="capable", max_tokens=16, messages=MSG) as stream:
                stream.get_final_message()
    store = TelemetryStore(f"sqlite:///{db}")
    rows = sorted(store.query(), key=lambda r: r.timestamp)
    store.close()
    assert [r.tags["api_key"] for r in rows] == ["team-m", "team-m"]
    assert [r.task_type for r in rows] == ["code_review", "default"]
    assert rows[0].tags["user_id"] == "u-7" and all(r.success for r in rows)


def test_routed_to_an_anthropic_deployment(tmp_path: Path, fake: FakeProviderServer) -> None:
    deployments = {"anthropic/claude": {"model": "claude-sonnet-4-6", "api": "anthropic", "base_url": fake.base_for("c"), "api_key_env": "ATTUNE_TEST_UPSTREAM_KEY"}}
    cfg = write_config(tmp_path, fake, deployments=deployments, tiers={"claude": {"chain": ["anthropic/claude"], "policy": "static"}}, settings=FAST)
    body = {"max_tokens": 64, "system": "Be terse.", "messages": [{"role": "user", "content": "Hello, Claude"}]}
    with GatewayThread(cfg) as gw:
        key = gw.gateway.access.store.create("team-c")[1]
        with sdk(gw, key) as client:
            msg = client.messages.create(model="claude", **body)  # type: ignore[arg-type]
            upstream = fake.last_request("c").body
            with client.messages.stream(model="claude", **body) as stream:  # type: ignore[arg-type]
                text = "".join(stream.text_stream)
    assert upstream == {"model": "claude-sonnet-4-6", **body}  # what the SDK would have sent to Anthropic itself
    assert msg.id.startswith("msg_") and msg.model == "claude-sonnet-4-6" and msg.content[0].text.startswith("ok")
    assert text.startswith("ok")


def _docs_block(marker: str) -> str:
    blocks = re.findall(r"^```python\n(.*?)^```", DOCS.read_text(), re.S | re.M)
    return next(b for b in blocks if marker in b)


@pytest.mark.parametrize("marker", ["import anthropic", "ChatAnthropic"])
def test_the_docs_examples_run(gateway: GatewayThread, key: str, marker: str, capsys: pytest.CaptureFixture[str]) -> None:
    source = _docs_block(marker).replace("http://127.0.0.1:8080", gateway.base).replace("sk-attune-...", key)
    exec(compile(source, f"docs/gateway.md ({marker})", "exec"), {"__name__": "docs_example"})
    assert "ok" in capsys.readouterr().out
