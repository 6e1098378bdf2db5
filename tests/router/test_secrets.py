"""No API key in any stored, logged or raised text, whatever the provider echoes back.

A hostile provider echoes every request header value (the canary API key and a canary header
value among them) into every text it controls: error messages, codes and types of every status,
unparsable bodies, bodies of the wrong shape, stream error events, response ids and model
names, ``x-request-id``. Swept for each adapter, stream and non-stream: the calls table and the
attempts table (SQLite file bytes too), the spool, every log line at DEBUG, and ``str``, ``repr``
and the formatted traceback of every exception raised and every response returned.
"""

from __future__ import annotations

import json
import logging
import secrets
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from router import AnthropicProvider, Deployment, GeminiProvider, OpenAIProvider, Router, RouterSettings, RoutingError, Tier
from telemetry import MemorySink, TelemetryBackend
from telemetry.spool import Spool
from tests.router.hostile import ECHO, Answer, HostileServer, sse

KEY = "sk-canary-" + secrets.token_hex(16)
HEADER_SECRET = "org-canary-" + secrets.token_hex(8)  # not key-shaped: caught as a value we sent
CANARIES = (KEY, HEADER_SECRET, KEY[10:30])
MSGS = [{"role": "user", "content": "hi"}]


def _j(obj: Any) -> bytes:
    return json.dumps(obj).encode()


ERROR_STATUSES = [400, 401, 403, 404, 408, 413, 422, 429, 500, 502, 503, 529]

ERROR_BODY = {
    "openai": lambda: {"error": {"message": f"bad {ECHO}", "type": ECHO, "code": ECHO, "param": ECHO}},
    "anthropic": lambda: {"type": "error", "error": {"type": ECHO, "message": f"bad {ECHO}"}},
    "gemini": lambda: {"error": {"code": 500, "message": f"bad {ECHO}", "status": ECHO, "details": [{"@type": ECHO, "reason": ECHO}]}},
}
CONTEXT_BODY = {
    "openai": {"error": {"message": f"maximum context length exceeded {ECHO}", "code": "context_length_exceeded"}},
    "anthropic": {"type": "error", "error": {"type": "invalid_request_error", "message": f"prompt is too long {ECHO}"}},
    "gemini": {"error": {"code": 400, "message": f"input token count exceeds the context window {ECHO}", "status": "INVALID_ARGUMENT"}},
}
OK_BODY = {
    "openai": {"id": ECHO, "model": ECHO, "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
    "anthropic": {"id": ECHO, "type": "message", "role": "assistant", "model": ECHO, "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 1}},
    "gemini": {"responseId": ECHO, "modelVersion": ECHO, "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}},
}
# bodies of the wrong shape whose parsing fails on an echoed value (int('<echo>') and the like)
WRONG_SHAPE = {
    "openai": {**OK_BODY["openai"], "usage": {"prompt_tokens": ECHO}},
    "anthropic": {**OK_BODY["anthropic"], "usage": {"input_tokens": ECHO, "output_tokens": 1}},
    "gemini": {**OK_BODY["gemini"], "usageMetadata": {"promptTokenCount": ECHO}},
}


def stream_error(api: str) -> bytes:
    if api == "openai":
        return sse({"error": {"message": f"boom {ECHO}", "type": ECHO, "code": ECHO}})
    if api == "anthropic":
        return sse({"type": "error", "error": {"type": "overloaded_error", "message": f"boom {ECHO}"}}, event="error")
    return sse({"error": {"code": 503, "message": f"boom {ECHO}", "status": ECHO}})


def stream_first(api: str) -> bytes:
    if api == "openai":
        return sse({"id": ECHO, "object": "chat.completion.chunk", "model": ECHO, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "he"}}]})
    if api == "anthropic":
        start = {"type": "message_start", "message": {"id": ECHO, "type": "message", "role": "assistant", "model": ECHO, "content": [], "usage": {"input_tokens": 3, "output_tokens": 0}}}
        return sse(start, event="message_start") + sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}, event="content_block_start") + sse(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "he"}}, event="content_block_delta"
        )
    return sse({"responseId": ECHO, "modelVersion": ECHO, "candidates": [{"content": {"role": "model", "parts": [{"text": "he"}]}}]})


def stream_end(api: str) -> bytes:
    if api == "openai":
        return sse("[DONE]")
    if api == "anthropic":
        return sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}}, event="message_delta") + sse({"type": "message_stop"}, event="message_stop")
    return sse({"responseId": ECHO, "candidates": [{"content": {"parts": [{"text": "!"}]}, "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}})


def stream_bad_chunk(api: str) -> bytes:
    if api == "openai":
        return sse({"id": ECHO, "choices": [{"index": 0, "delta": ECHO}], "usage": {"prompt_tokens": ECHO}})
    if api == "anthropic":
        return sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": ECHO}}, event="message_delta")
    return sse({"responseId": ECHO, "candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": ECHO}})


def paths(api: str) -> list[tuple[str, Answer, bool]]:
    """(name, answer, stream) for every error path and the success path of ``api``."""
    out: list[tuple[str, Answer, bool]] = []
    for stream in (False, True):
        for status in ERROR_STATUSES:
            headers = {"retry-after": "0", "x-request-id": ECHO} if status in (429, 503) else {"x-request-id": ECHO}
            out.append((f"status-{status}", Answer(status=status, headers=headers, body=_j(ERROR_BODY[api]())), stream))
        out.append(("context", Answer(status=400, body=_j(CONTEXT_BODY[api])), stream))
        out.append(("not-json-500", Answer(status=500, body=f"<html>{ECHO}</html>".encode()), stream))
        out.append(("error-is-string", Answer(status=500, body=_j({"error": ECHO})), stream))
    out.append(("ok", Answer(body=_j(OK_BODY[api]), headers={"x-request-id": ECHO}), False))
    out.append(("ok-no-id", Answer(body=_j({k: v for k, v in OK_BODY[api].items() if k not in ("id", "responseId")}), headers={"x-request-id": ECHO}), False))
    out.append(("not-json-200", Answer(body=f"not json {ECHO}".encode()), False))
    out.append(("wrong-shape", Answer(body=_j(WRONG_SHAPE[api])), False))
    out.append(("stream-error-first", Answer(pieces=[(0, stream_error(api))]), True))
    out.append(("stream-error-mid", Answer(pieces=[(0, stream_first(api)), (0.01, stream_error(api))]), True))
    out.append(("stream-bad-chunk", Answer(pieces=[(0, stream_first(api)), (0.01, stream_bad_chunk(api))]), True))
    out.append(("stream-not-json", Answer(pieces=[(0, stream_first(api)), (0.01, f"data: {{{ECHO}\n\n".encode())]), True))
    out.append(("stream-ok", Answer(pieces=[(0, stream_first(api)), (0.01, stream_end(api))]), True))
    return out


def adapter(api: str, base: str) -> Any:
    extra = {"x-org-token": HEADER_SECRET}
    if api == "openai":
        return OpenAIProvider(base_url=base + "/v1", api_key=KEY, extra_headers=extra)
    if api == "anthropic":
        return AnthropicProvider(base_url=base, api_key=KEY, extra_headers=extra)
    return GeminiProvider(base_url=base, api_key=KEY, extra_headers=extra)


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as srv:
        yield srv


def _texts_of(obj: Any) -> list[str]:
    out = [str(obj), repr(obj)]
    if isinstance(obj, BaseException):
        out.append("".join(traceback.format_exception(obj)))
        for e in (getattr(obj, "last_error", None), obj.__cause__, obj.__context__):
            if e is not None:
                out += [str(e), repr(e), "".join(traceback.format_exception(e))]
    else:
        dump = getattr(obj, "model_dump", None)
        if dump is not None:
            out.append(json.dumps(dump(), default=str))
    return out


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
async def test_no_canary_in_rows_attempts_spool_logs_or_exceptions(
    api: str, hostile: HostileServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "t.db"
    backend = TelemetryBackend(f"sqlite:///{db}", spool_path=tmp_path / "t.spool", flush_interval=0.05)
    sink = MemorySink()

    def both(rec: Any) -> None:
        sink.submit(rec)

    dep = Deployment("x/model", adapter(api, hostile.base), "gemini-2.5-pro" if api == "gemini" else "m", provider=api)
    settings = RouterSettings(backoff_initial_s=0.001, backoff_max_s=0.002, attempt_timeout_s=2.0, deadline_s=5.0, max_attempts_per_deployment=2)
    router = Router(deployments=[dep], tiers=[Tier("t", ["x/model"], policy="static")], telemetry=backend, hooks=[both], settings=settings)
    seen: list[str] = []
    outcomes: dict[str, str] = {}
    for name, answer, stream in paths(api):
        hostile.answer = answer
        label = f"{name}{'-stream' if stream else ''}"
        try:
            resp = await router.acompletion("t", MSGS, stream=stream)
            if stream:
                async for chunk in resp:  # chunk text is completion content, not ours to scrub
                    pass
            seen += _texts_of(resp)
            outcomes[label] = "ok"
        except RoutingError as exc:
            seen += _texts_of(exc)
            outcomes[label] = exc.error_type
        router.breaker("x/model").reset()
    await router.aclose()
    await backend.flush()
    await backend.aclose()
    Spool(tmp_path / "spooled.spool").append(sink.records)  # what a spill to the spool would write

    assert outcomes["ok"] == "ok" and outcomes["stream-ok-stream"] == "ok"
    assert outcomes["stream-error-mid-stream"] != "ok" and outcomes["wrong-shape"] == "invalid_response"
    assert len(sink.records) == len(outcomes)
    for rec in sink.records:
        seen += [repr(rec), rec.error_message or "", rec.request_id or ""]
    seen += [r.getMessage() for r in caplog.records] + [caplog.text]
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    rows = backend_rows(db)
    assert len(rows) >= len(outcomes) and stored
    for canary in CANARIES:
        assert canary.encode() not in stored
        assert not [t for t in seen if canary in t], [t for t in seen if canary in t][:3]
        assert canary not in rows
    assert "***" in " ".join(r.error_message or "" for r in sink.records)  # the echo was there, scrubbed


def backend_rows(db: Path) -> str:
    import sqlite3

    con = sqlite3.connect(db)
    try:
        tables = [t for (t,) in con.execute("select name from sqlite_master where type='table'")]
        return "\n".join(repr(row) for t in tables for row in con.execute(f'select * from "{t}"'))
    finally:
        con.close()
