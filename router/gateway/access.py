"""Who may call the gateway, and how much: key lookup (cached), limits, budgets and spend.

The key store is blocking SQL, so lookups and spend writes run in a worker thread and never on
the event loop; a lookup is cached for ``key_cache_s`` (a revoked key stops working within that
time). Spend comes from the calls' telemetry records: a record hook adds each call's cost to
its key, and the sums go to the store every ``spend_flush_s`` (an atomic add per key, so
workers and machines sharing the store all count).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from router.gateway.limits import Limiter, window_of
from telemetry.keys import ApiKey, KeyStore, hash_key

__all__ = ["Access", "Denied", "KEY_TAG"]

log = logging.getLogger("attune.gateway")
KEY_TAG = "api_key"  # the record tag holding the key's name (never the key)
_NEGATIVE_CACHE = 10_000


class Denied(Exception):
    """A request the gateway refuses: HTTP status, OpenAI error type and code, a message."""

    def __init__(
        self,
        status: int,
        type: str,  # noqa: A002 - the OpenAI error field
        code: str | None,
        message: str,
        *,
        retry_after: float | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.param = param


class Access:
    """Authenticates requests and holds each key to its limits and budget."""

    def __init__(self, store: KeyStore, limiter: Limiter, *, cache_s: float, flush_s: float, clock: Any = time.time) -> None:
        self.store = store
        self.limiter = limiter
        self.cache_s = cache_s
        self.flush_s = flush_s
        self.clock = clock
        self._cache: OrderedDict[str, tuple[float, ApiKey | None]] = OrderedDict()
        self._pending: dict[str, float] = {}  # spend not yet in the store
        self._unflushed: dict[str, float] = {}  # spend being written
        self._flusher: asyncio.Task[None] | None = None

    # -- authentication ---------------------------------------------------------------
    async def authenticate(self, authorization: str | None, api_key: str | None = None) -> ApiKey:
        """The key of ``Authorization: Bearer <key>``, or of ``x-api-key`` (``api_key``, the
        Anthropic wire's header, which wins when both are sent)."""
        if api_key is not None:
            secret = api_key.strip()
            if not secret:
                raise Denied(401, "invalid_request_error", "invalid_api_key", "Empty x-api-key header.")
        elif not authorization:
            raise Denied(401, "invalid_request_error", "invalid_api_key", "Missing API key: send 'Authorization: Bearer <key>'.")
        else:
            scheme, _, secret = authorization.partition(" ")
            secret = secret.strip()
            if scheme.lower() != "bearer" or not secret:
                raise Denied(401, "invalid_request_error", "invalid_api_key", "Malformed Authorization header: expected 'Bearer <key>'.")
        key = await self._lookup(secret)
        if key is None:
            raise Denied(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
        return key

    async def _lookup(self, secret: str) -> ApiKey | None:
        digest = hash_key(secret)  # the cache never holds the secret itself
        now = self.clock()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        key = await asyncio.to_thread(self.store.lookup, secret)
        self._cache[digest] = (now + self.cache_s, key)
        self._cache.move_to_end(digest)
        while len(self._cache) > _NEGATIVE_CACHE:
            self._cache.popitem(last=False)
        return key

    # -- limits -------------------------------------------------------------------------
    def check_model(self, key: ApiKey, model: str) -> None:
        if not key.allows(model):
            raise Denied(404, "invalid_request_error", "model_not_found", f"The model `{model}` does not exist or you do not have access to it.", param="model")

    async def admit(self, key: ApiKey) -> None:
        """Raise ``Denied`` (429) when the key is over its budget, tokens or requests."""
        now = self.clock()
        if key.budget_usd is not None and self.spent(key) >= key.budget_usd:
            raise Denied(429, "insufficient_quota", "insufficient_quota", f"Key {key.name!r} has used its budget of ${key.budget_usd:g}.")
        if key.tpm is not None:
            used = await self.limiter.tokens_used(key.name, now)
            if used >= key.tpm:
                raise Denied(429, "tokens", "rate_limit_exceeded", f"Rate limit reached for key {key.name!r}: {key.tpm} tokens per minute.", retry_after=window_of(now)[1])
        if key.rpm is not None:
            wait = await self.limiter.take_request(key.name, key.rpm, now)
            if wait is not None:
                raise Denied(429, "requests", "rate_limit_exceeded", f"Rate limit reached for key {key.name!r}: {key.rpm} requests per minute.", retry_after=wait)

    def spent(self, key: ApiKey) -> float:
        return key.spent_usd + self._pending.get(key.name, 0.0) + self._unflushed.get(key.name, 0.0)

    # -- accounting (a telemetry record hook) -------------------------------------------
    def on_record(self, record: Any) -> None:
        name = record.tags.get(KEY_TAG) if record.tags else None
        if not name:
            return
        if record.cost:
            self._pending[name] = self._pending.get(name, 0.0) + record.cost
        tokens = record.input_tokens + record.output_tokens
        if tokens:
            loop = asyncio.get_running_loop()
            loop.create_task(self.limiter.add_tokens(name, tokens, self.clock()))

    def start(self) -> None:
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop(), name="attune-gateway-spend")

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        for k, v in batch.items():
            self._unflushed[k] = self._unflushed.get(k, 0.0) + v
        try:
            await asyncio.to_thread(self.store.add_spend, batch)
        except Exception as exc:  # noqa: BLE001 - keep the spend and try again next time
            log.warning("could not record key spend (%s); will retry", type(exc).__name__)
            for k, v in batch.items():
                self._pending[k] = self._pending.get(k, 0.0) + v
        else:
            # the store has it now; cached keys still show the old total until they expire
            for k in batch:
                self._cache_add_spent(k, batch[k])
        finally:
            for k, v in batch.items():
                left = self._unflushed.get(k, 0.0) - v
                if left > 1e-12:
                    self._unflushed[k] = left
                else:
                    self._unflushed.pop(k, None)

    def _cache_add_spent(self, name: str, usd: float) -> None:
        for digest, (exp, key) in self._cache.items():
            if key is not None and key.name == name:
                self._cache[digest] = (exp, replace(key, spent_usd=key.spent_usd + usd))

    async def aclose(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            try:
                await self._flusher
            except asyncio.CancelledError:
                pass
        await self.flush()
        await self.limiter.aclose()
