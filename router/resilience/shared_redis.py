"""The Redis backend of ``router.resilience.shared``: one hash per table
(``{namespace}:open``, ``{namespace}:cooldown``), written with a small Lua script that keeps
the later deadline and refreshes the hash's TTL. ``redis`` (the ``redis`` extra) is imported
on first use."""

from __future__ import annotations

from typing import Any

from router.redact import redact_url

__all__ = ["RedisSharedStore"]

_MAX_SET = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (not cur) or tonumber(cur) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


class RedisSharedStore:
    """Shared entries in Redis under ``namespace`` (short socket timeouts: a slow Redis degrades
    to local state rather than stalling the poller)."""

    def __init__(self, url: str, *, namespace: str = "attune", ttl_s: int = 3600) -> None:
        self.url = url
        self.namespace = namespace
        self.ttl_s = ttl_s
        self._client: Any = None
        self._script: Any = None

    def describe(self) -> str:
        return f"{redact_url(self.url)} ({self.namespace})"

    def _key(self, table: str) -> str:
        return f"{self.namespace}:{table}"

    async def _connect(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis

            self._client = aioredis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
            self._script = self._client.register_script(_MAX_SET)
        return self._client

    async def max_set(self, table: str, key: str, until: float) -> None:
        await self._connect()
        await self._script(keys=[self._key(table)], args=[key, repr(until), self.ttl_s])

    async def delete(self, table: str, key: str) -> None:
        client = await self._connect()
        await client.hdel(self._key(table), key)

    async def read(self, table: str) -> dict[str, float]:
        client = await self._connect()
        raw = await client.hgetall(self._key(table))
        return {k.decode(): float(v) for k, v in raw.items()}

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
