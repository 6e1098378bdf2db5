"""Simulated providers: answer from a scenario timeline and the pre-drawn numbers.

The arrival task sets ``CURRENT_CALL`` to the call's ``CallDraws``; the provider reads the
numbers for its deployment and the attempt count, looks up its true state at the loop's
virtual time, and answers after a virtual sleep: a response, or the error class of the drawn
kind. It enforces the per-attempt timeout itself (``enforces_timeout = True``): a latency
draw longer than the timeout, or a ``timeout`` error, costs exactly the timeout.
"""

from __future__ import annotations

import bisect
import math
from contextvars import ContextVar
from typing import Any

from router.errors import ProviderError, ProviderTimeoutError, RateLimitedError, error_class_for
from router.providers.base import ProviderRequest, ProviderResponse
from router.sim.draws import ATTEMPT_SLOTS
from router.sim.loop import VirtualLoop
from router.sim.scenario import ProviderSpec, State, Timeline

__all__ = ["CURRENT_CALL", "CallDraws", "SimProvider", "STATUS_BY_KIND"]

STATUS_BY_KIND: dict[str, int | None] = {
    "rate_limited": 429,
    "overloaded": 529,
    "server_error": 500,
    "timeout": None,
    "connection": None,
    "invalid_response": 200,
    "auth": 401,
    "context_length": 400,
    "bad_request": 400,
}
_ERR_CLS: dict[str, type[ProviderError]] = {k: error_class_for(k) for k in STATUS_BY_KIND}


class CallDraws:
    """One call's view of the pre-drawn numbers, and how many attempts each deployment has had.

    ``numbers`` is the run's draw array reshaped to ``(calls, 4 * deployments * slots)``;
    values are read one at a time with ``ndarray.item`` (no per-call copy)."""

    __slots__ = ("index", "item", "stride", "sent", "input_tokens", "output_tokens")

    def __init__(self, index: int, item: Any, stride: int, input_tokens: int, output_tokens: int, deployments: int) -> None:
        self.index = index
        self.item = item  # the bound ``ndarray.item`` of the run's numbers
        self.stride = stride  # deployments * slots: distance between the four kinds of number
        self.sent = [0] * deployments
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens


CURRENT_CALL: ContextVar[CallDraws] = ContextVar("attune_sim_call")


class SimProvider:
    """One simulated deployment. ``quota_scale`` multiplies every per-minute rate limit (the
    runner thins traffic and quotas together)."""

    enforces_timeout = True

    def __init__(self, key: str, index: int, timeline: Timeline, loop: VirtualLoop, *, quota_scale: float = 1.0) -> None:
        spec: ProviderSpec = timeline.spec
        self.name = key.split("/", 1)[0]
        self.key = key
        self.index = index
        self.timeline = timeline
        self.loop = loop
        self.quota_scale = quota_scale
        self.mu = spec.latency.mu
        self.sigma = spec.latency.sigma
        el = spec.error_latency
        self.emu = el.mu if el is not None else spec.latency.mu - math.log(10.0)
        self.esigma = el.sigma if el is not None else spec.latency.sigma
        self.model = key.split("/", 1)[-1]
        self._seg_end = -math.inf
        self._seg_start = math.inf
        self._state: State | None = None
        self._window = -1
        self._window_count = 0
        # what happened, for tests and reports
        self.attempts = 0
        self.by_kind: dict[str, int] = {}
        self.successes = 0
        self.latencies_s: list[float] = []

    # -- truth -------------------------------------------------------------------------------
    def state(self, t: float) -> State:
        """The true state at scenario time ``t`` (cached for the current segment)."""
        if self._seg_start <= t < self._seg_end:
            return self._state  # type: ignore[return-value]
        tl = self.timeline
        i = bisect.bisect_right(tl.edges, t) - 1
        if i < 0:
            i = 0
        self._seg_start = tl.edges[i]
        self._seg_end = tl.edges[i + 1] if i + 1 < len(tl.edges) else math.inf
        self._state = tl.states[i]
        return self._state

    def quota_left(self, t: float) -> float:
        """Requests still accepted in the current minute window (``inf`` without a limit)."""
        rpm = self.state(t).rate_limit_rpm
        if rpm is None:
            return math.inf
        used = self._window_count if int(t // 60.0) == self._window else 0
        return rpm * self.quota_scale - used

    # -- the seam ----------------------------------------------------------------------------
    async def send(self, request: ProviderRequest, *, timeout: float) -> ProviderResponse:
        c = CURRENT_CALL.get()
        j = self.index
        k = c.sent[j]
        c.sent[j] = k + 1
        i = c.index
        item = c.item
        stride = c.stride
        slot = j * ATTEMPT_SLOTS + k % ATTEMPT_SLOTS  # offset of this attempt's numbers
        loop = self.loop
        t = loop._now
        st = self.state(t)
        self.attempts += 1
        kind: str | None = None
        retry_after: float | None = None
        next_window: float | None = None  # a quota 429 without Retry-After: wait for this time
        rpm = st.rate_limit_rpm
        if rpm is not None:
            w = int(t // 60.0)
            if w != self._window:
                self._window = w
                self._window_count = 0
            if self._window_count >= rpm * self.quota_scale:
                kind = "rate_limited"
                retry_after = st.retry_after_s
                if retry_after is None:
                    next_window = (w + 1) * 60.0
            else:
                self._window_count += 1
        if kind is None:
            er = st.error_rate if st.error_rate_end is None else st.error_rate_at(t)
            if item(i, slot) < er:
                u = item(i, stride + slot)
                kinds = st.kinds
                kind = kinds[-1]
                for n, edge in enumerate(st.kind_cum):
                    if u < edge:
                        kind = kinds[n]
                        break
                if kind == "rate_limited":
                    retry_after = st.retry_after_s
        if kind is None:
            lat = math.exp(self.mu + self.sigma * item(i, 2 * stride + slot)) * st.latency_factor
            if lat <= timeout:
                await loop.sleep_until(t + lat)
                self.successes += 1
                self.latencies_s.append(lat)
                return ProviderResponse("ok", c.input_tokens, c.output_tokens, "stop", None, self.model)
            kind = "timeout"
            lat = timeout
        elif kind == "timeout":
            lat = timeout
        else:
            lat = math.exp(self.emu + self.esigma * item(i, 3 * stride + slot))
            if lat > timeout:
                kind, lat = "timeout", timeout
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        await loop.sleep_until(t + lat)
        if kind == "timeout":
            raise ProviderTimeoutError(f"no answer within {timeout:.3f}s", deployment=self.key)
        if kind == "rate_limited":
            if next_window is not None:
                retry_after = max(next_window - loop._now, 0.0)  # counted from the answer
            raise RateLimitedError("simulated 429", status=429, retry_after=retry_after, deployment=self.key)
        raise _ERR_CLS[kind](f"simulated {kind}", status=STATUS_BY_KIND[kind], deployment=self.key)

    async def aclose(self) -> None:
        return None
