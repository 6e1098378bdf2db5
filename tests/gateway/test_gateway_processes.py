"""The gateway as processes: SIGTERM drains without losing a record, workers share what they learn."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from gatewaykit import ServeProcess, create_key_cli, write_config

from router.testing import Fault, FakeProviderServer
from telemetry import TelemetryStore

BODY = {"model": "capable", "messages": [{"role": "user", "content": "hello"}]}


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_sigterm_under_load_answers_in_flight_and_loses_no_record(tmp_path: Path, fake: FakeProviderServer, loop: str) -> None:
    db = f"sqlite:///{tmp_path / 'drain.db'}"
    cfg = write_config(tmp_path, fake, db=db)
    key = create_key_cli(cfg, "loader")
    fake.set_default("a", Fault.delay(0.3))  # calls in flight when the signal comes
    answered: list[str] = []
    statuses: list[int] = []

    async def caller(c: httpx.AsyncClient, url: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                r = await c.post(f"{url}/chat/completions", json=BODY, headers={"Authorization": f"Bearer {key}"})
            except httpx.HTTPError:
                await asyncio.sleep(0.05)
                continue
            statuses.append(r.status_code)
            if r.status_code == 200:
                answered.append(r.headers["x-request-id"])

    async def load(server: ServeProcess) -> None:
        stop = asyncio.Event()
        async with httpx.AsyncClient(timeout=30) as c:
            tasks = [asyncio.create_task(caller(c, server.url, stop)) for _ in range(16)]
            for _ in range(600):  # under way: some answered, and every caller has one in flight
                if len(answered) >= 16:
                    break
                await asyncio.sleep(0.05)
            server.terminate()
            code = await asyncio.to_thread(server.wait, 60)
            stop.set()
            await asyncio.gather(*tasks)
        assert code == 0

    with ServeProcess(cfg, args=("--loop", loop)) as server:
        asyncio.run(load(server))
    assert f"{loop} loop)" in server.log.read_text()  # the worker says which loop it ran on
    assert len(answered) >= 16
    assert len(set(answered)) == len(answered)  # no request answered twice
    assert set(statuses) <= {200, 503}
    store = TelemetryStore(db)
    records = store.query()
    store.close()
    assert sorted(r.call_id for r in records) == sorted(answered)  # records == requests answered
    assert all(r.tags["api_key"] == "loader" for r in records)


def test_two_workers_share_key_limits(tmp_path: Path, fake: FakeProviderServer, redis_url: str) -> None:
    ns = f"gw-{uuid.uuid4().hex[:8]}"
    cfg = write_config(tmp_path, fake, shared_state={"redis_url": redis_url, "namespace": ns})
    limited = create_key_cli(cfg, f"limited-{ns}", "--rpm", "4")
    with ServeProcess(cfg, workers=2) as server:
        # rpm is counted across both workers: fresh connections spread over them
        codes = [httpx.post(f"{server.url}/chat/completions", json=BODY, headers={"Authorization": f"Bearer {limited}", "Connection": "close"}, timeout=10).status_code for _ in range(10)]
        assert sorted(codes) == [200] * 4 + [429] * 6


def test_two_workers_share_breakers(tmp_path: Path, fake: FakeProviderServer, redis_url: str) -> None:
    ns = f"gw-{uuid.uuid4().hex[:8]}"
    cfg = write_config(tmp_path, fake, shared_state={"redis_url": redis_url, "namespace": ns})
    free = create_key_cli(cfg, f"free-{ns}")
    with ServeProcess(cfg, workers=2) as server:
        # open the primary's breaker through one worker (one keep-alive connection)
        fake.set_default("a", Fault.status(500))
        with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {free}"}) as one:
            for _ in range(6):
                assert one.post(f"{server.url}/chat/completions", json=BODY).headers["x-attune-deployment"] == "backup/gpt-4o-mini"
        asyncio.run(asyncio.sleep(1.5))  # both workers poll the shared state
        before = fake.requests("a")
        for _ in range(20):  # fresh connections: both workers serve some
            r = httpx.post(f"{server.url}/chat/completions", json=BODY, headers={"Authorization": f"Bearer {free}", "Connection": "close"}, timeout=10)
            assert r.status_code == 200 and r.headers["x-attune-deployment"] == "backup/gpt-4o-mini"
        assert fake.requests("a") == before  # neither worker sent to the open deployment


def test_the_event_loop_is_chosen_by_name_and_a_bad_name_is_refused() -> None:
    from router.gateway.serve import event_loop_runner

    with event_loop_runner("uvloop") as runner:
        assert type(runner.get_loop()).__module__.startswith("uvloop")
    with event_loop_runner("asyncio") as runner:
        assert type(runner.get_loop()).__module__.startswith("asyncio")
    with event_loop_runner("auto") as runner:  # uvloop is installed with the dev extra
        assert type(runner.get_loop()).__module__.startswith("uvloop")
    with pytest.raises(ValueError, match="'trio'"):
        event_loop_runner("trio")
