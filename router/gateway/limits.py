"""Per-key request and token limits over one-minute windows, in memory or shared through Redis.

Both backends keep the same contract (``tests/gateway/test_limits.py`` runs one suite against
each): ``take_request`` counts a request against ``rpm`` and answers how long to wait when the
window is full; ``add_tokens``/``tokens_used`` keep the window's token count for ``tpm``.
Windows are aligned to the wall-clock minute, so every worker and machine agrees on them.
Redis being down degrades to the local counters (logged once): a limit is then per process.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

__all__ = ["Limiter", "MemoryLimiter", "RedisLimiter", "window_of"]

log = logging.getLogger("attune.gateway")
WINDOW_S = 60


def window_of(now: float) -> tuple[int, float]:
    """The window number of ``now`` and the seconds left in it."""
    w = int(now // WINDOW_S)
    return w, (w + 1) * WINDOW_S - now


class Limiter(Protocol):
    async def take_request(self, name: str, rpm: int, now: float) -> float | None:
        """Count one request; None when it fits, else the seconds until the window resets."""

    async def add_tokens(self, name: str, tokens: int, now: float) -> None: ...

    async def tokens_used(self, name: str, now: float) -> int: ...

    async def aclose(self) -> None: ...


class MemoryLimiter:
    """Counters of this process only."""

    def __init__(self) -> None:
        self._requests: dict[str, tuple[int, int]] = {}
        self._tokens: dict[str, tuple[int, int]] = {}

    async def take_request(self, name: str, rpm: int, now: float) -> float | None:
        return self.take_request_now(name, rpm, now)

    def take_request_now(self, name: str, rpm: int, now: float) -> float | None:
        w, left = window_of(now)
        win, n = self._requests.get(name, (w, 0))
        if win != w:
            n = 0
        if n >= rpm:
            return left
        self._requests[name] = (w, n + 1)
        return None

    async def add_tokens(self, name: str, tokens: int, now: float) -> None:
        self.add_tokens_now(name, tokens, now)

    def add_tokens_now(self, name: str, tokens: int, now: float) -> None:
        w, _ = window_of(now)
        win, n = self._tokens.get(name, (w, 0))
        self._tokens[name] = (w, (n if win == w else 0) + tokens)

    async def tokens_used(self, name: str, now: float) -> int:
        w, _ = window_of(now)
        win, n = self._tokens.get(name, (w, 0))
        return n if win == w else 0

    async def aclose(self) -> None:
        return None


# count the request only while the window has room: INCR then undo would let a burst of
# rejected requests push the counter past the limit for everyone
_TAKE = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


class RedisLimiter:
    """Counters shared by every gateway worker and machine through Redis."""

    def __init__(self, url: str, *, namespace: str = "attune") -> None:
        import redis.asyncio as aioredis

        self._redis: Any = aioredis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._ns = namespace
        self._take: Any = self._redis.register_script(_TAKE)
        self._local = MemoryLimiter()
        self._down = False

    def _failed(self, exc: BaseException) -> None:
        if not self._down:
            log.warning("Redis unavailable for key limits (%s); limits are per process until it is back", type(exc).__name__)
        self._down = True

    def _ok(self) -> None:
        if self._down:
            log.warning("Redis is back; key limits are shared again")
        self._down = False

    async def take_request(self, name: str, rpm: int, now: float) -> float | None:
        w, left = window_of(now)
        try:
            ok = await self._take(keys=[f"{self._ns}:rpm:{name}:{w}"], args=[rpm, WINDOW_S * 2])
        except Exception as exc:  # noqa: BLE001 - Redis down: fall back to this process's counters
            self._failed(exc)
            return self._local.take_request_now(name, rpm, now)
        self._ok()
        return None if int(ok) == 1 else left

    async def add_tokens(self, name: str, tokens: int, now: float) -> None:
        w, _ = window_of(now)
        key = f"{self._ns}:tpm:{name}:{w}"
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.incrby(key, int(tokens))
            pipe.expire(key, WINDOW_S * 2)
            await pipe.execute()
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            self._local.add_tokens_now(name, tokens, now)
            return
        self._ok()

    async def tokens_used(self, name: str, now: float) -> int:
        w, _ = window_of(now)
        try:
            v = await self._redis.get(f"{self._ns}:tpm:{name}:{w}")
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            return await self._local.tokens_used(name, now)
        self._ok()
        return int(v or 0)

    async def aclose(self) -> None:
        try:
            await self._redis.aclose()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass
