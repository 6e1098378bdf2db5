"""Routed failures are caught by the OpenAI SDK's except clauses, and are still RoutingErrors."""

from __future__ import annotations

import subprocess
import sys

import openai
import pytest

from router import RouterSettings, RoutingError
from router import sdk_errors
from router.errors import InvalidRequestError, RateLimitedError
from router.testing import FakeProviderServer, Fault
from tests.client.conftest import FAST, Canned, canned_client, fake_client

MSGS = [{"role": "user", "content": "hi"}]
ONE_TRY = RouterSettings(backoff_initial_s=0.001, backoff_max_s=0.002, attempt_timeout_s=2.0, deadline_s=5.0, max_attempts_per_deployment=1)


def status(code: int, error: dict | None = None, headers: dict | None = None) -> Canned:
    body = {"error": error or {"message": f"status {code}", "type": "invalid_request_error", "param": "model", "code": "bad_thing"}}
    return Canned(lambda req: (code, {"x-request-id": "req_9", **(headers or {})}, body))


@pytest.mark.parametrize(
    ("code", "sdk_class"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (409, openai.ConflictError),
        (422, openai.UnprocessableEntityError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
async def test_each_status_is_caught_by_the_sdks_class(code: int, sdk_class: type[openai.APIStatusError]) -> None:
    canned = status(code)
    client = canned_client(canned, settings=ONE_TRY)
    try:
        await client.chat.completions.create(model="capable", messages=MSGS)
    except sdk_class as e:  # the clause a user of the SDK wrote
        assert isinstance(e, openai.APIStatusError) and isinstance(e, openai.APIError) and isinstance(e, RoutingError)
        assert isinstance(e, getattr(sdk_errors, sdk_class.__name__))  # ours, same name, without the SDK too
        assert e.status_code == code and e.response.status_code == code and e.request_id == "req_9"
        assert e.body == {"message": f"status {code}", "type": "invalid_request_error", "param": "model", "code": "bad_thing"}
        assert (e.code, e.param, e.type) == ("bad_thing", "model", "invalid_request_error")
        assert e.message == str(e) == f"Error code: {code} - status {code}"  # the SDK's wording
        assert "all deployments" in e.summary and e.__notes__ == [e.summary]  # the router's account, shown in tracebacks
        assert e.attempts and e.attempts[-1].http_status == code and e.record is not None and not e.record.success
        assert e.request.method == "POST"
    else:  # pragma: no cover
        pytest.fail("not raised")
    await client.aclose()


async def test_timeout_and_connection_errors(server: FakeProviderServer) -> None:
    client = fake_client(server, "a", settings=RouterSettings(attempt_timeout_s=0.2, deadline_s=0.5, max_attempts_per_deployment=1))
    server.set_default("a", Fault.hang())
    with pytest.raises(openai.APITimeoutError) as info:
        await client.chat.completions.create(model="capable", messages=MSGS)
    assert isinstance(info.value, openai.APIConnectionError) and isinstance(info.value, RoutingError) and info.value.error_type == "timeout"
    server.set_default("a", Fault.reset())
    with pytest.raises(openai.APIConnectionError) as conn:
        await client.chat.completions.create(model="capable", messages=MSGS)
    assert not isinstance(conn.value, openai.APITimeoutError) and conn.value.error_type == "connection"
    await client.aclose()


async def test_a_multi_attempt_failure_takes_the_class_of_its_last_attempt() -> None:
    first, last = status(500), status(400)
    client = canned_client(first, last, settings=ONE_TRY)
    with pytest.raises(openai.BadRequestError) as info:  # 500 at d0, then 400 at d1: the last one decides
        await client.chat.completions.create(model="capable", messages=MSGS)
    assert [a.http_status for a in info.value.attempts] == [500, 400] and info.value.status_code == 400
    await client.aclose()
    client = canned_client(status(503), status(429, headers={"retry-after": "30"}), settings=ONE_TRY)
    with pytest.raises(openai.RateLimitError) as rl:
        await client.chat.completions.create(model="capable", messages=MSGS)
    assert rl.value.response.headers["retry-after"] == "30"
    await client.aclose()


async def test_failures_without_an_answer_get_a_synthesized_status() -> None:
    settings = RouterSettings(backoff_initial_s=0.001, backoff_max_s=0.002, max_attempts_per_deployment=1, panic_routing=False)
    client = canned_client(status(503), settings=settings)
    for _ in range(6):  # trip the breaker
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="capable", messages=MSGS)
    with pytest.raises(openai.InternalServerError) as info:
        await client.chat.completions.create(model="capable", messages=MSGS)
    assert info.value.error_type == "circuit_open" and info.value.status_code == 503 and info.value.body["type"] == "circuit_open"
    await client.aclose()


async def test_our_own_errors_keep_working() -> None:
    client = canned_client(status(429), settings=ONE_TRY)
    with pytest.raises(RoutingError) as info:
        await client.chat.completions.create(model="capable", messages=MSGS)
    assert info.value.error_type == "rate_limited" and isinstance(info.value.last_error, RateLimitedError)
    with pytest.raises(InvalidRequestError):
        await client.chat.completions.create(model="capable", messages="hi")  # type: ignore[arg-type]
    await client.aclose()


def test_without_openai_the_same_names_and_attributes_exist() -> None:
    code = (
        "import sys; sys.modules['openai'] = None\n"  # as if not installed
        "import asyncio, httpx\n"
        "from router import sdk_errors, RoutingError\n"
        "from router.errors import RateLimitedError\n"
        "e = sdk_errors.routing_error('m', error_type='rate_limited', call_id='c', attempts=[], last_error=RateLimitedError('x', status=429))\n"
        "assert type(e) is sdk_errors.RateLimitError and isinstance(e, sdk_errors.APIStatusError) and isinstance(e, RoutingError)\n"
        "assert e.status_code == 429 and e.response.status_code == 429 and e.body['type'] == 'rate_limited'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
