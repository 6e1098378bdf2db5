"""Helpers for the gateway tests: a config over the fake provider, a gateway on a thread."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import yaml

from router.testing import FakeProviderServer, http11
from router.testing.serving import ThreadedServer

UPSTREAM_KEY = "sk-upstream-canary-3f9a1c"  # what the deployments send upstream (from the environment)
FAST = {"deadline_s": 5, "attempt_timeout_s": 2, "backoff_initial_s": 0.01, "backoff_max_s": 0.05}


def write_config(tmp_path: Path, fake: FakeProviderServer, *, db: str | None = None, **top: Any) -> Path:
    """attune.yaml with two OpenAI-wire deployments on separate fake routes, tier `capable`."""
    cfg: dict[str, Any] = {
        "telemetry": {"url": db or f"sqlite:///{tmp_path / 'gw.db'}"},
        "settings": dict(FAST),
        "deployments": {
            "openai/gpt-4o": {"model": "gpt-4o", "base_url": fake.url_for("a"), "api_key_env": "ATTUNE_TEST_UPSTREAM_KEY"},
            "backup/gpt-4o-mini": {"model": "gpt-4o-mini", "base_url": fake.url_for("b"), "api_key_env": "ATTUNE_TEST_UPSTREAM_KEY"},
        },
        "tiers": {"capable": {"chain": ["openai/gpt-4o", "backup/gpt-4o-mini"], "policy": "static"}},
    }
    for k, v in top.items():
        cfg[k] = v
    path = tmp_path / "attune.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


class GatewayThread:
    """``run_worker`` on its own event loop in a thread, on a free port."""

    def __init__(self, config: Path, **overrides: Any) -> None:
        self.config = config
        self.overrides = overrides
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.gateway: Any = None
        self._thread = threading.Thread(target=self._main, name="gateway-test", daemon=True)

    def _main(self) -> None:
        from router.gateway import run_worker

        async def go() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await run_worker(self.config, "127.0.0.1", 0, on_ready=self._on_ready, stop=self._stop, **self.overrides)

        try:
            asyncio.run(go())
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
            self._ready.set()

    def _on_ready(self, gateway: Any, port: int) -> None:
        self.gateway = gateway
        self.port = port
        self._ready.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def base(self) -> str:
        """The Anthropic SDK's ``base_url`` (it adds ``/v1/messages`` itself)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayThread:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the gateway did not start")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def __enter__(self) -> GatewayThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServeProcess:
    """``attune serve`` in a child process, as a user runs it."""

    def __init__(self, config: Path, *, workers: int = 1, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        import os
        import subprocess
        import sys

        self.port = free_port()
        self.log = config.parent / f"serve-{self.port}.log"
        self._out = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "router.cli", "serve", "--config", str(config), "--port", str(self.port), "--workers", str(workers), *args],
            stdout=self._out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )
        self._wait_healthy()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _wait_healthy(self, timeout: float = 120.0) -> None:
        import time

        import httpx

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"attune serve exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("attune serve did not become ready")

    def terminate(self) -> None:
        import signal

        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 60.0) -> int:
        code = self.proc.wait(timeout)
        self._out.close()
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.wait(60)
            except Exception:  # noqa: BLE001
                self.proc.kill()
        if not self._out.closed:
            self._out.close()

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def create_key_cli(config: Path, name: str, *extra: str) -> str:
    """``attune keys create`` as a user runs it; the key is its last line."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "router.cli", "keys", "create", "--config", str(config), "--name", name, *extra],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip().splitlines()[-1]


class ScriptedUpstream(ThreadedServer):
    """An OpenAI chat endpoint on 127.0.0.1 that answers every request with what the test set:
    ``chunks`` (a stream, whatever the request asked) or a ``completion`` body; ``bodies`` holds
    the requests' JSON."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1", 0, backlog=64)
        self.chunks: list[dict[str, Any]] = []
        self.completion: dict[str, Any] | None = None
        self.bodies: list[dict[str, Any]] = []

    async def _handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while (req := await http11.read_request(reader, writer)) is not None:
                self.bodies.append(json.loads(req.body or b"{}"))
                if self.completion is not None:
                    http11.write_response(writer, 200, json.dumps(self.completion).encode())
                else:
                    http11.write_chunked_head(writer, 200, content_type="text/event-stream")
                    for chunk in self.chunks:
                        http11.write_chunk(writer, b"data: " + json.dumps(chunk).encode() + b"\n\n")
                    http11.write_chunk(writer, b"data: [DONE]\n\n")
                    http11.write_chunk(writer, b"")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
