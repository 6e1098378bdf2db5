"""Breaker openings and Retry-After windows shared between routers.

Every router keeps its own breakers (the gate never waits on the network). A ``SharedState``
mirrors two facts through a store so that ten routers learn of an outage once:

- ``open``      deployment -> wall time until which its breaker is open
- ``cooldown``  deployment -> wall time until which a Retry-After holds it back

A router publishes when its breaker opens (and clears the entry when its probe closes the
breaker) or when it sets a Retry-After window; a background task polls the store and applies
newer entries to the router through the ``SharedTarget`` protocol (three methods; the shared
state knows nothing else of the router). Writes keep the later deadline, so routers never
shorten each other's windows.

Storage is a backend in the pybreaker manner, with one contract suite run against each
(``tests/router/test_shared_state.py``): ``MemorySharedStore`` (routers of one process; pass
one store to several ``LocalSharedState``) and ``RedisSharedStore`` (processes; what
``RedisSharedState(url)`` uses). A store that fails degrades to local state: calls never fail
or wait because of it; a warning is logged once per outage and polling retries with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Protocol

from router.redact import redact_url

__all__ = ["LocalSharedState", "MemorySharedStore", "RedisSharedState", "SharedState", "SharedStore", "SharedTarget"]

log = logging.getLogger("attune.shared")

OPEN, COOLDOWN = "open", "cooldown"


class SharedTarget(Protocol):
    """What a shared state applies remote news to (``Router`` implements it)."""

    def shared_now(self) -> float:
        """Wall-clock time, on the router's clock."""

    def apply_shared_open(self, key: str, until: float) -> None:
        """Another router saw ``key``'s breaker open until ``until``."""

    def apply_shared_cooldown(self, key: str, until: float) -> None:
        """Another router holds ``key`` back until ``until``."""


class SharedStore(Protocol):
    """Where shared entries live: per table (``open``, ``cooldown``) a map of deployment to a
    wall time. ``max_set`` keeps the later time."""

    async def max_set(self, table: str, key: str, until: float) -> None: ...

    async def delete(self, table: str, key: str) -> None: ...

    async def read(self, table: str) -> dict[str, float]: ...

    async def aclose(self) -> None: ...

    def describe(self) -> str: ...


class MemorySharedStore:
    """Entries in this process's memory: share one instance between routers of one process."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, float]] = {OPEN: {}, COOLDOWN: {}}

    async def max_set(self, table: str, key: str, until: float) -> None:
        t = self.tables.setdefault(table, {})
        if until > t.get(key, float("-inf")):
            t[key] = until

    async def delete(self, table: str, key: str) -> None:
        self.tables.setdefault(table, {}).pop(key, None)

    async def read(self, table: str) -> dict[str, float]:
        return dict(self.tables.get(table, {}))

    async def aclose(self) -> None:
        return None

    def describe(self) -> str:
        return "memory"


class SharedState:
    """Publishes a router's breaker openings and Retry-After windows to ``store`` and applies
    other routers' to it. ``poll_interval_s`` bounds how stale their news can be."""

    _MAX_OUTBOX = 10_000

    def __init__(self, store: SharedStore, *, poll_interval_s: float = 0.5) -> None:
        self.store = store
        self.poll_interval_s = poll_interval_s
        self.instance = os.urandom(4).hex()
        self.available = False
        self.errors = 0
        self._target: SharedTarget | None = None
        self._task: asyncio.Task[None] | None = None
        self._outbox: list[tuple[str, str, float | None]] = []
        self._wake: asyncio.Event | None = None
        self._applying = False
        self._down_logged = False
        self._exchanged = asyncio.Event()  # set after the first exchange with the store, answered or not

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.store.describe()!r})"

    # -- wiring ---------------------------------------------------------------------------
    def attach(self, target: SharedTarget) -> None:
        self._target = target

    def ensure_started(self) -> None:
        """Start the background task on the running loop (called by the router on a call)."""
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="attune-shared-state")

    async def start(self, *, timeout_s: float = 2.0) -> bool:
        """Start polling and wait up to ``timeout_s`` for the first exchange with the store, so
        that a new process knows what others learned before it serves (the gateway calls this
        before it listens). Returns whether the store answered; a store that is down leaves
        the state degraded to local, as on any later outage."""
        self.ensure_started()
        try:
            await asyncio.wait_for(self._exchanged.wait(), timeout=timeout_s)
        except TimeoutError:
            pass
        return self.available

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(self._flush_outbox(), timeout=1.0)
            except Exception:  # noqa: BLE001 - store down at close: local state only, nothing to lose
                pass
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        try:
            await self.store.aclose()
        except Exception:  # noqa: BLE001
            pass

    # -- events from the local router (never block) -----------------------------------------
    def breaker_changed(self, key: str, state: str, open_until: float) -> None:
        if state == "open":
            self._post(("open", key, open_until))
        elif state == "closed":
            self._post(("close", key, None))

    def cooldown_set(self, key: str, until: float) -> None:
        self._post(("cooldown", key, until))

    def _post(self, item: tuple[str, str, float | None]) -> None:
        if self._applying or len(self._outbox) >= self._MAX_OUTBOX:
            return
        self._outbox.append(item)
        if self._wake is not None:
            self._wake.set()

    # -- one exchange with the store -----------------------------------------------------------
    async def sync(self) -> None:
        """Publish what is pending, then apply what others published (the background task's
        step; raises when the store fails)."""
        await self._flush_outbox()
        await self._poll()

    async def _flush_outbox(self) -> None:
        pending, self._outbox = self._outbox, []
        try:
            for kind, key, until in pending:
                if kind == "open":
                    await self.store.max_set(OPEN, key, until)  # type: ignore[arg-type]
                elif kind == "cooldown":
                    await self.store.max_set(COOLDOWN, key, until)  # type: ignore[arg-type]
                else:
                    await self.store.delete(OPEN, key)
        except BaseException:
            self._outbox[:0] = pending  # kept for the next try
            raise

    async def _poll(self) -> None:
        opened, cooled = await asyncio.gather(self.store.read(OPEN), self.store.read(COOLDOWN))
        target = self._target
        if target is None:
            return
        now = target.shared_now()
        self._applying = True
        try:
            for key, until in opened.items():
                if until > now:
                    target.apply_shared_open(key, until)
            for key, until in cooled.items():
                if until > now:
                    target.apply_shared_cooldown(key, until)
        finally:
            self._applying = False

    async def _run(self) -> None:
        backoff = self.poll_interval_s
        while True:
            try:
                await self.sync()
                if not self.available:
                    log.info("shared state: connected to %s", self.store.describe())
                self.available = True
                self._down_logged = False
                backoff = self.poll_interval_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - store down: degrade to local state
                self.available = False
                self.errors += 1
                if not self._down_logged:
                    log.warning("shared state unavailable (%s); using local state only", type(exc).__name__)
                    self._down_logged = True
                backoff = min(backoff * 2, 10.0)
            self._exchanged.set()
            assert self._wake is not None
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            except TimeoutError:
                pass


class LocalSharedState(SharedState):
    """Sharing between routers of one process: ``LocalSharedState(store)`` with one
    ``MemorySharedStore`` for all of them (a new store when none is given)."""

    def __init__(self, store: MemorySharedStore | None = None, *, poll_interval_s: float = 0.5) -> None:
        super().__init__(store or MemorySharedStore(), poll_interval_s=poll_interval_s)


class RedisSharedState(SharedState):
    """Sharing between processes through Redis: ``RedisSharedState("redis://127.0.0.1:6379/0",
    namespace="attune")``; pass it to ``Router(shared_state=...)``."""

    def __init__(self, url: str, *, namespace: str = "attune", poll_interval_s: float = 0.5, ttl_s: int = 3600) -> None:
        from router.resilience.shared_redis import RedisSharedStore

        super().__init__(RedisSharedStore(url, namespace=namespace, ttl_s=ttl_s), poll_interval_s=poll_interval_s)
        self.url = url
        self.namespace = namespace

    def __repr__(self) -> str:
        return f"RedisSharedState({redact_url(self.url)!r}, namespace={self.namespace!r})"
