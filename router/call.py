"""One routed call's walk down the chain, as small named steps::

    Call.run()                          the plan's order, then panic routing over the held back
      _try_deployment(dep)              one deployment, until it answers or a stop says move on
        _gate()                         context window, Retry-After window, breaker
        _send()                         one attempt, inside the router's own attempt timer
        _count_success() / _count_failure()   breaker, retry budget, statistics, attempt row
        _retry_delay()                  the stop strategies (router.resilience.stops), then backoff
        _readmit()                      the breaker lets the retry through, or the call moves on

What the call leaves behind (records, the response, the error) is ``router.call_outcome``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from router.answers import check_answer
from router.call_outcome import CallOutcome, DeploymentRuntime, RoutingHost
from router.embeddings import embed_sender
from router.errors import CircuitOpenError, InvalidResponseError, ProviderError, ProviderTimeoutError, RateLimitedError
from router.providers.base import ProviderRequest
from router.redact import Redactor
from router.resilience.retry import new_retry_state, set_failure
from router.resilience.stops import FIRM, SOFT, TIME, RetryCheck, stop_on_open_breaker
from router.resilience.timeouts import AttemptTimeouts
from router.streaming import one_shot_stream
from telemetry.records import AttemptRecord, SkippedDeployment

if TYPE_CHECKING:
    from policies.base import Plan
    from router.deployment import Deployment, Tier
    from router.options import CallOptions

__all__ = ["Call"]

log = logging.getLogger("attune.router")
DEADLINE_GUARD_S = 0.01  # the last attempt is cut this much before the deadline, to record and raise
GUARD_SHARE = 0.1  # ... but never more than this share of the call's whole deadline
_READMIT = stop_on_open_breaker()


class _Leg:
    """The state of one deployment's attempts within a call."""

    __slots__ = ("dep", "rt", "position", "forced", "probe", "retry_number", "state", "request", "redact", "send", "check", "past_stop", "timeout")

    def __init__(self, dep: Deployment, rt: DeploymentRuntime, position: int, forced: bool, cap: float | None) -> None:
        self.dep = dep
        self.rt = rt
        # the plan's latency-relative attempt timeout when shorter (a panic attempt keeps the configured one)
        self.timeout = cap if cap is not None and cap < rt.timeout and not forced else rt.timeout
        self.position = position
        self.forced = forced
        self.probe = False
        self.retry_number = 0
        self.state: Any = None  # tenacity's RetryCallState, made at the first failure
        self.request: ProviderRequest | None = None
        self.redact: Redactor = rt.redact
        self.send: Any = None
        self.check: RetryCheck | None = None  # what the stop strategies read of the last failure
        self.past_stop = False  # this retry took a token of the chain-wide degraded budget


class Call(CallOutcome):
    """One call. Kept as an object so the path reads top to bottom."""

    __slots__ = (
        "r", "tier", "plan", "task_type", "tags", "messages", "params", "est_tokens", "t0", "started", "deadline",
        "call_id", "attempts", "tried", "skipped", "retries", "last_exc", "min_context", "sent_any", "last_key",
        "n_skipped", "stream", "started_dt", "options", "operation", "guard",
    )  # fmt: skip

    def __init__(
        self,
        r: RoutingHost,
        *,
        tier: Tier,
        plan: Plan,
        task_type: str,
        tags: dict[str, str],
        messages: Sequence[Mapping[str, Any]],
        params: dict[str, Any],
        est_tokens: int,
        t0: float,
        started: float,
        deadline: float,
        options: CallOptions | None = None,
        stream: bool = False,
        operation: str = "chat",
    ) -> None:
        self.r = r
        self.tier = tier
        self.plan = plan
        self.task_type = task_type
        self.tags = tags  # a fresh dict, checked by the caller
        self.messages = messages
        self.params = params
        self.est_tokens = est_tokens
        self.t0 = t0
        self.started = started
        self.deadline = deadline
        self.guard = min(DEADLINE_GUARD_S, GUARD_SHARE * (deadline - t0))  # a short deadline still gets an attempt
        self.call_id = f"{r._id_prefix}-{next(r._ids):x}"
        self.attempts: list[AttemptRecord] = []
        self.tried: list[str] = []
        self.skipped = [SkippedDeployment(deployment=c.key, reason=why) for c, why in plan.skipped] if plan.skipped else []
        self.retries = 0
        self.last_exc: BaseException | None = None
        self.min_context: int | None = None
        self.sent_any = False
        self.last_key: str | None = None
        self.n_skipped = 0
        self.stream = stream  # the attempt ends at the first chunk, see router.streaming
        self.started_dt = datetime.fromtimestamp(started, timezone.utc)
        self.options = options  # the SDK's request options, when given
        self.operation = operation  # "chat" or "embeddings" (adapter.embed)

    # -- the chain -----------------------------------------------------------------------
    async def run(self) -> Any:
        order: Sequence[Deployment] = self.plan.order
        if self.plan.skipped:  # deployments the policy demoted are still tried, last, before failing the caller
            order = [*order, *(c for c, _ in self.plan.skipped if c not in order)]
        held_back: list[tuple[float, str, Deployment]] = []
        if self.plan.degraded_everywhere:
            self.r.degraded_budget.on_degraded_call()
        try:
            for dep in order:
                result = await self._try_deployment(dep, held_back, forced=False)
                if result is not None:
                    return result
                if self._stop_now():
                    break
            if held_back and self.r.settings.panic_routing and not self._stop_now():
                result = await self._panic(held_back)
                if result is not None:
                    return result
        except asyncio.CancelledError:
            self._finish_failure("cancelled", "the caller cancelled the call", raise_error=False)
            raise
        raise self._finish_failure(None, None, raise_error=True)  # type: ignore[misc]

    async def _panic(self, held_back: list[tuple[float, str, Deployment]]) -> Any:
        """What was open to the call failed (or nothing was): as Envoy's panic routing, try the
        held-back deployments anyway before failing the caller, likeliest to have recovered
        first, one attempt each (failing fast while some deployment may answer turns a partial
        outage into a full one); then the quota window that ends first, if waiting for it fits."""
        r = self.r
        opened = sorted((h for h in held_back if h[1] != "retry_after"), key=lambda h: (r.breaker(h[2].key).probe_in_flight, h[0]))
        quota = sorted((h for h in held_back if h[1] == "retry_after"), key=lambda h: h[0])
        for _, _, dep in opened:
            result = await self._try_deployment(dep, [], forced=True)
            if result is not None or self._stop_now():
                return result
        if quota:
            until, _, dep = quota[0]
            wait = until - r.clock.time()
            if wait <= r.settings.max_retry_after_s and r.clock.monotonic() + wait < self.deadline:
                await r.clock.sleep(wait)
                return await self._try_deployment(dep, [], forced=True)
        return None

    def _stop_now(self) -> bool:
        exc = self.last_exc
        if isinstance(exc, ProviderError):
            rule = self.tier.rules.get(exc.error_type)
            if rule is not None and not rule.fallback:
                return True
        return self.r.clock.monotonic() >= self.deadline

    # -- one deployment --------------------------------------------------------------------
    async def _try_deployment(self, dep: Deployment, held_back: list[tuple[float, str, Deployment]], *, forced: bool) -> Any:
        leg = _Leg(dep, self.r._rt[dep.key], len(self.tried) + self.n_skipped, forced, self.plan.attempt_timeouts.get(dep.key))
        if not self._gate(leg, held_back):
            return None
        self._prepare(leg)
        clock = self.r.clock
        while True:
            a0 = clock.monotonic()
            remaining = self.deadline - a0 - self.guard
            if remaining <= 0:
                leg.rt.breaker.on_neutral(leg.probe)
                return None
            started = self.started + (a0 - self.t0)  # wall time, from the one clock read
            resp, err, local_fault = await self._send(leg, min(leg.timeout, remaining), a0, started)
            if err is None:
                return self._count_success(leg, resp, a0, started)
            latency = clock.monotonic() - a0
            if not self._count_failure(leg, err, local_fault, latency, started):
                return None
            delay = await self._retry_delay(leg, err, a0, latency)
            if delay is None or not self._readmit(leg, delay):
                return None

    def _gate(self, leg: _Leg, held_back: list[tuple[float, str, Deployment]]) -> bool:
        """Whether the deployment takes an attempt now: its context window, then a Retry-After
        window, then its breaker (a forced attempt passes the last two); a skip is recorded."""
        r, dep = self.r, leg.dep
        if self.min_context is not None and (dep.context_window or 0) <= self.min_context:
            self._skip(dep, leg.position, "context window too small", "context_length")
            return False
        now = r.clock.time()
        breaker = leg.rt.breaker
        if leg.forced:
            leg.probe = breaker.force_probe()  # False when another probe is out: a panic attempt
            return True
        cool = r._cooldown.get(dep.key)
        if cool is not None and cool > now:
            self._skip(dep, leg.position, f"retry_after ({cool - now:.1f}s left)", "rate_limited")
            held_back.append((cool, "retry_after", dep))
            self.last_exc = RateLimitedError(f"held back by Retry-After for {cool - now:.1f}s", deployment=dep.key)
            return False
        try:
            leg.probe = breaker.admit(now)
        except CircuitOpenError as exc:
            self._skip(dep, leg.position, "circuit_open", "circuit_open")
            held_back.append((breaker.open_until, "circuit_open", dep))
            self.last_exc = exc
            return False
        return True

    def _prepare(self, leg: _Leg) -> None:
        """The request for this deployment (with the caller's request options) and its sender."""
        dep = leg.dep
        self.tried.append(dep.key)
        self.last_key = dep.key
        msgs = self.messages
        request = ProviderRequest(
            model=dep.model,
            messages=msgs if type(msgs) is list else list(msgs),
            params=self.params,
            task_type=self.task_type,
            input_tokens_estimate=self.est_tokens,
        )
        opts = self.options
        if opts is not None:
            request.extra_headers, request.extra_query, request.extra_body = opts.extra_headers, opts.extra_query, opts.extra_body
            if opts.extra_headers:
                leg.redact = leg.redact.with_secrets(opts.extra_headers.values())  # header values this call sends
        adapter = dep.adapter
        leg.request = request
        leg.send = one_shot_stream(adapter) if self.stream else adapter.send if self.operation == "chat" else embed_sender(adapter)

    async def _send(self, leg: _Leg, timeout: float, a0: float, started: float) -> tuple[Any, ProviderError | None, bool]:
        """One attempt within ``timeout``: ``(answer, None, False)``, or ``(None, error,
        local_fault)`` where a local fault is our side's (the adapter's own exception), never
        the deployment's health. The limit is the adapter's own when it enforces one exactly,
        else the router's attempt timer (one loop timer for every attempt, ``AttemptTimeouts``)."""
        self.sent_any = True
        resp = None
        try:
            armed = None if leg.dep.adapter.enforces_timeout else self._arm(timeout)
            try:
                resp = await leg.send(leg.request, timeout=timeout)
            except asyncio.CancelledError:
                if armed is not None and AttemptTimeouts.fired(armed[1]) and armed[2].uncancel() == 0:
                    raise ProviderTimeoutError(f"no answer within {timeout:.3f}s", deployment=leg.dep.key) from None
                raise
            finally:
                if armed is not None:
                    armed[0].disarm(armed[1])
            check_answer(resp, stream=self.stream, chat=self.operation == "chat")
        except ProviderError as exc:
            leg.redact.error(exc)  # the one boundary: provider text scrubbed before it is kept
            if resp is not None and self.stream:
                await resp.aclose()  # a stream whose first chunk was unusable
            return None, exc, False
        except asyncio.CancelledError:
            leg.rt.breaker.on_neutral(leg.probe)
            latency = self.r.clock.monotonic() - a0
            self._attempt(leg.dep, leg.position, leg.retry_number, "cancelled", "cancelled", None, latency, started)
            raise
        except Exception as exc:  # noqa: BLE001 - an adapter bug must not escape as a raw error
            log.warning("adapter for %s raised %s; treated as invalid_response", leg.dep.key, type(exc).__name__)
            return None, InvalidResponseError(f"adapter raised {type(exc).__name__}", deployment=leg.dep.key), True
        return resp, None, False

    def _arm(self, timeout: float) -> tuple[AttemptTimeouts, Any, asyncio.Task[Any]]:
        """Arm the router's attempt timer for this task: ``(timers, entry, task)``."""
        timers = self.r._attempt_timers()
        task = asyncio.current_task()
        assert task is not None
        return timers, timers.arm(timers.loop.time() + timeout, task), task

    # -- accounting ------------------------------------------------------------------------
    def _count_success(self, leg: _Leg, resp: Any, a0: float, started: float) -> Any:
        r = self.r
        end = r.clock.monotonic()
        latency = end - a0
        breaker = leg.rt.breaker
        if leg.forced and not leg.probe:
            breaker.on_panic_success()
        else:
            breaker.on_success(leg.probe)
        leg.rt.budget.on_success()
        r.stats.observe(leg.dep.key, True, None, latency, started + latency)
        self._attempt(leg.dep, leg.position, leg.retry_number, "success", None, resp.http_status, latency, started)
        return self._finish_success(leg.dep, resp, end)

    def _count_failure(self, leg: _Leg, err: ProviderError, local_fault: bool, latency: float, started: float) -> bool:
        """Book a failed attempt (breaker, budget, statistics, attempt row, flags); ``False`` when
        its error class or cause rules out another attempt here."""
        r, dep = self.r, leg.dep
        if err.deployment is None:
            err.deployment = dep.key
        etype = err.error_type
        self.last_exc = err
        self._attempt(dep, leg.position, leg.retry_number, "error", etype, err.status, latency, started)
        breaker = leg.rt.breaker
        if local_fault:  # the same code would fail the same way; nothing counted against the deployment
            breaker.on_neutral(leg.probe)
            return False
        r.stats.observe(dep.key, False, etype, latency, started + latency)
        rule = self.tier.rules.get(etype)
        if rule is None or rule.breaker:
            breaker.on_failure(err, leg.probe)
            leg.rt.budget.on_failure()
        else:
            breaker.on_neutral(leg.probe)
        leg.probe = False
        if etype == "auth":
            r.stats.flag_misconfigured(dep.key, f"auth failed (HTTP {err.status})")
            log.warning("deployment %s rejected our credentials (HTTP %s): check its API key", dep.key, err.status)
        elif etype == "context_length":
            self.min_context = max(dep.context_window or self.est_tokens, self.min_context or 0)
        return not (rule is not None and not rule.fallback and not rule.retry)

    # -- retry here, or move on? -----------------------------------------------------------------
    def _retry_after_wait(self, leg: _Leg, err: ProviderError, now: float) -> float | None:
        """For a 429: the Retry-After window set for every caller; the wait to honour here (only
        when nothing else in the chain can take the call), ``-1`` to move on, None for no wait."""
        r = self.r
        if err.error_type != "rate_limited" or not r.settings.honour_retry_after:
            return None
        if err.spend_limit:
            r.set_cooldown(leg.dep.key, now + r.settings.max_retry_after_s, "spend_limit")
            return -1.0
        if err.retry_after is None:
            return None
        r.set_cooldown(leg.dep.key, now + err.retry_after, "retry_after")
        if self._others_available(leg.dep) or err.retry_after > r.settings.max_retry_after_s:
            return -1.0
        return err.retry_after

    async def _retry_delay(self, leg: _Leg, err: ProviderError, a0: float, latency: float) -> float | None:
        """The backoff before another attempt here, or None to move on (the stop strategies of
        ``router.resilience.stops``); sleeps it."""
        r = self.r
        honour = self._retry_after_wait(leg, err, self.started + (a0 - self.t0) + latency)
        if honour is not None and honour < 0:
            return None
        if leg.state is None:
            leg.state = new_retry_state(a0, self.tier.rules)
        set_failure(leg.state, err, a0 + latency)  # monotonic, like the state's start
        delay, capped = r.retry.decide(leg.state)
        opts = self.options
        check = RetryCheck(
            error_type=err.error_type,
            retry_number=leg.retry_number,
            delay=delay,
            capped=capped,
            retry_at=0.0,
            deadline=self.deadline,
            attempt_timeout=leg.timeout,
            forced=leg.forced,
            budget_allows=leg.rt.budget.allows_retry(),
            max_retries=opts.max_retries if opts is not None else None,
            keep_time_to_fall_back=r.settings.keep_time_to_fall_back,
            others_available=lambda: self._others_available(leg.dep),
            alternative_left=lambda: self._alternative_left(leg.dep),
        )
        if FIRM(check) or (SOFT(check) and not self._retry_past_stop()):
            return None
        if capped:  # past the attempt cap: its wait is drawn now (the backoff goes on growing)
            delay = r.retry.wait_for(leg.state)
        leg.past_stop = SOFT(check)
        leg.check = check
        delay = max(delay or 0.0, honour or 0.0)
        check.retry_at = r.clock.monotonic() + delay
        if TIME(check):
            return None
        if delay > 0:
            await r.clock.sleep(delay)
        return delay

    def _readmit(self, leg: _Leg, delay: float) -> bool:
        """The breaker lets the retry through (a degraded-everywhere retry may pass it); the
        retry's counters move on."""
        try:
            leg.probe = leg.rt.breaker.admit(self.r.clock.time())
            admitted = True
        except CircuitOpenError:
            admitted = False
        check = leg.check
        assert check is not None and leg.state is not None
        check.breaker_admits = admitted
        if _READMIT(check):
            if not leg.past_stop and not self._retry_past_stop():
                return False
            leg.probe = False  # through the open breaker, which only its own probe moves
        leg.state.prepare_for_next_attempt()
        leg.state.idle_for += delay
        leg.retry_number += 1
        self.retries += 1
        return True

    def _retry_past_stop(self) -> bool:
        """Whether a retry that a budget, an open breaker, the attempt cap at the one deployment
        that can answer or the one-attempt rule of a last resort would stop goes ahead: only
        when the plan is degraded everywhere, and within the router's chain-wide budget
        (``router.resilience.degraded``)."""
        return self.plan.degraded_everywhere and self.r.degraded_budget.spend()

    def _alternative_left(self, current: Deployment) -> bool:
        """Whether another deployment of the plan, tried in this call or not, may be as good a
        place for the next attempt as ``current`` (the attempt cap then moves the call on):
        any but one whose breaker tripped again after its probe failed, which is down. A
        first trip may be a degraded deployment's, as this one's (the last resort reaches it
        at once), and a Retry-After window is a quota, not ill health."""
        r = self.r
        now = r.clock.time()
        return any(not r.breaker(c.key).is_down(now) for c in self._others(current))

    def _others_available(self, current: Deployment) -> bool:
        r = self.r
        now = r.clock.time()
        for c in self._others(current):
            if c.key not in self.tried and r._cooldown.get(c.key, 0.0) <= now and r.breaker(c.key).would_admit(now):
                return True
        return False

    def _others(self, current: Deployment) -> Iterator[Deployment]:
        """The plan's deployments but ``current``: the ordered ones, then the skipped ones."""
        for c in itertools.chain(self.plan.order, (c for c, _ in self.plan.skipped)):
            if c is not current:
                yield c
