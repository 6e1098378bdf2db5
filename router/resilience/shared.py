"""Breaker and Retry-After state shared by router processes through Redis.

Every router keeps its own breakers (the gate never waits on the network). This module
mirrors two facts through Redis so that ten processes learn of an outage once:

- ``{ns}:open``      hash: deployment -> wall time until which its breaker is open
- ``{ns}:cooldown``  hash: deployment -> wall time until which a Retry-After holds it back

A process publishes when its breaker opens (and clears the entry when its probe closes the
breaker) or when it sets a Retry-After window; a background task polls both hashes and
applies newer entries locally. Writes keep the later deadline (a small Lua script), so
processes never shorten each other's windows.

Redis being down degrades to local state: calls never fail or wait because of Redis; a
warning is logged once per outage and the task keeps retrying with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from telemetry._url import redact_url

if TYPE_CHECKING:
    from router.core import Router

__all__ = ["RedisSharedState"]

log = logging.getLogger("attune.shared")

_MAX_SET = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (not cur) or tonumber(cur) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


class RedisSharedState:
    """Share breaker openings and Retry-After windows between routers through Redis.

    ``RedisSharedState("redis://127.0.0.1:6379/0", namespace="attune")``; pass it to
    ``Router(shared_state=...)``. ``poll_interval_s`` bounds how stale another process's
    news can be.
    """

    def __init__(self, url: str, *, namespace: str = "attune", poll_interval_s: float = 0.5, ttl_s: int = 3600) -> None:
        self.url = url
        self.namespace = namespace
        self.poll_interval_s = poll_interval_s
        self.ttl_s = ttl_s
        self.instance = os.urandom(4).hex()
        self.available = False
        self.errors = 0
        self._router: Router | None = None
        self._client: Any = None
        self._script: Any = None
        self._task: asyncio.Task[None] | None = None
        self._outbox: list[tuple[str, str, float | None]] = []
        self._wake: asyncio.Event | None = None
        self._applying = False
        self._down_logged = False

    def __repr__(self) -> str:
        return f"RedisSharedState({redact_url(self.url)!r}, namespace={self.namespace!r})"

    # -- wiring ---------------------------------------------------------------------------
    def attach(self, router: Router) -> None:
        self._router = router

    def ensure_started(self) -> None:
        """Start the background task on the running loop (called by the router on a call)."""
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="attune-shared-state")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(self._flush_outbox(), timeout=1.0)
            except Exception:  # noqa: BLE001 - Redis down at close: local state only, nothing to lose
                pass
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        if self._client is not None:
            try:
                await self._client.aclose()
            except Exception:  # noqa: BLE001
                pass
            self._client = None

    # -- events from the local router (never block) -----------------------------------------
    _MAX_OUTBOX = 10_000

    def breaker_changed(self, key: str, state: str, open_until: float) -> None:
        if self._applying or len(self._outbox) >= self._MAX_OUTBOX:
            return
        if state == "open":
            self._outbox.append(("open", key, open_until))
        elif state == "closed":
            self._outbox.append(("close", key, None))
        if self._wake is not None:
            self._wake.set()

    def cooldown_set(self, key: str, until: float) -> None:
        if self._applying or len(self._outbox) >= self._MAX_OUTBOX:
            return
        self._outbox.append(("cooldown", key, until))
        if self._wake is not None:
            self._wake.set()

    # -- the background task ------------------------------------------------------------------
    def _keys(self) -> tuple[str, str]:
        return f"{self.namespace}:open", f"{self.namespace}:cooldown"

    async def _connect(self) -> None:
        if self._client is None:
            import redis.asyncio as aioredis

            self._client = aioredis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
            self._script = self._client.register_script(_MAX_SET)

    async def _flush_outbox(self) -> None:
        if not self._outbox:
            return
        await self._connect()
        open_key, cool_key = self._keys()
        pending, self._outbox = self._outbox, []
        try:
            for kind, key, until in pending:
                if kind == "open":
                    await self._script(keys=[open_key], args=[key, repr(until), self.ttl_s])
                elif kind == "cooldown":
                    await self._script(keys=[cool_key], args=[key, repr(until), self.ttl_s])
                else:
                    await self._client.hdel(open_key, key)
        except BaseException:
            self._outbox[:0] = pending  # keep them for the next try
            raise

    async def _poll(self) -> None:
        await self._connect()
        open_key, cool_key = self._keys()
        opened, cooled = await asyncio.gather(self._client.hgetall(open_key), self._client.hgetall(cool_key))
        router = self._router
        if router is None:
            return
        now = router.clock.time()
        self._applying = True
        try:
            for raw_key, raw_until in opened.items():
                key, until = raw_key.decode(), float(raw_until)
                if until > now and key in router.deployments:
                    br = router.breaker(key)
                    if br.state == "closed" or br.open_until < until:
                        br.apply_remote_open(until)
            for raw_key, raw_until in cooled.items():
                key, until = raw_key.decode(), float(raw_until)
                if until > now and key in router.deployments:
                    router.set_cooldown(key, until, "retry_after (shared)")
        finally:
            self._applying = False

    async def _run(self) -> None:
        backoff = self.poll_interval_s
        while True:
            try:
                await self._flush_outbox()
                await self._poll()
                if not self.available:
                    log.info("shared state: connected to %s", redact_url(self.url))
                self.available = True
                self._down_logged = False
                backoff = self.poll_interval_s
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis down: degrade to local state
                self.available = False
                self.errors += 1
                if not self._down_logged:
                    log.warning("shared state unavailable (%s); using local state only", type(exc).__name__)
                    self._down_logged = True
                backoff = min(backoff * 2, 10.0)
            assert self._wake is not None
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=backoff)
            except TimeoutError:
                pass
