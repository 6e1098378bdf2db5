"""A TCP server on its own event loop in a daemon thread, so sync and async tests can use it
alike: the lifecycle and addresses of the fake provider. Standard library only."""

from __future__ import annotations

import abc
import asyncio
import threading
from types import TracebackType
from typing import Self

from router.testing import http11

__all__ = ["ThreadedServer"]


class ThreadedServer(abc.ABC):
    """Serves ``_handle_connection`` on ``host:port`` (0 picks a free port) from ``start()`` to ``stop()``."""

    def __init__(self, host: str, port: int, *, backlog: int) -> None:
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._backlog = backlog
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    @abc.abstractmethod
    async def _handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one connection (add ``writer`` to ``_writers`` while it is open)."""

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving in a daemon thread (idempotent); returns ``self`` once listening."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._ready.clear()
        self._start_error = None
        self._thread = threading.Thread(target=self._run, name="fake-provider", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            self._thread.join()
            self._thread = None
            raise self._start_error
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if thread.is_alive():
            try:
                loop.call_soon_threadsafe(self._shutdown)
            except RuntimeError:  # loop already closed
                pass
            thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(
                    self._handle_connection, self.host, self._requested_port, backlog=self._backlog, limit=http11.MAX_HEADER_BYTES
                )
            )
            self._port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # reported to start()
            self._start_error = exc
            loop.close()
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            _drain_tasks(loop)

    def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        assert self._loop is not None
        self._loop.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.stop)

    # -- addresses ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The listening port (after ``start()``)."""
        if self._port is None:
            raise RuntimeError("the fake provider is not started")
        return self._port

    @property
    def base(self) -> str:
        """``http://HOST:PORT`` without a path (the Anthropic, Gemini and Azure base URL)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI ``base_url``: ``http://HOST:PORT/v1``."""
        return f"{self.base}/v1"


def _drain_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Finish the loop's tasks after ``run_forever`` returned, then close it."""
    tasks = asyncio.all_tasks(loop)
    if tasks:  # connections were aborted: give handlers a moment to see it
        loop.run_until_complete(asyncio.wait(tasks, timeout=0.5))
    tasks = {t for t in tasks if not t.done()}
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
