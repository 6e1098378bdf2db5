"""The call path: plan the chain, then try deployments in order, each behind its breaker and
inside a retry loop, all within one deadline; fill one telemetry record per call.

::

    Router.acompletion(model="capable", messages=[...], task_type="code_review")
      -> policy.plan(chain, context, stats)       order + skipped, each with a reason
      -> for each deployment, within the deadline:
           Retry-After window / breaker gate       skipped at once, recorded
             attempt loop (tenacity strategies)    per-error rules, backoff, retry budget
               adapter.send()                      one HTTP request (or a simulated one)
      -> LLMCallRecord -> sink.submit() (never blocks) and live statistics
      <- ChatCompletion, or RoutingError carrying every attempt
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from policies.base import Plan, PlanContext, as_policy
from policies.stats import StatsRegistry
from router.arguments import check_deadline, check_messages, check_params, check_tags, check_task_type, estimate_parts, estimate_tokens
from router.clock import Clock, SystemClock
from router.deployment import Deployment, Tier
from router.logs import log_call
from router.errors import (
    CircuitOpenError,
    InvalidRequestError,
    InvalidResponseError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    RoutingError,
    UnknownModelError,
    routing_error,
)
from router.providers.base import ProviderRequest, ProviderResponse
from router.redact import Redactor, redact_http_logs
from router.resilience._pybreaker import pybreaker
from router.resilience.breaker import DeploymentBreaker, PassThroughBreaker
from router.resilience.degraded import DegradedRetryBudget
from router.resilience.retry import (
    RetryBudget,
    RetryPolicy,
    UnlimitedRetryBudget,
    new_retry_state,
    set_failure,
    wait_jittered_backoff,
)
from router.resilience.shared import SharedState
from router.resilience.timeouts import AttemptTimeouts
from router.options import CallOptions, split_call_options
from router.embeddings import embed_sender, embedding_input_tokens, routed_embedding
from router.facts import RoutingFacts
from router.response import routed_completion
from router.streaming import AsyncChatCompletionStream, StreamLimits, check_chunk, one_shot_stream, token_count

if TYPE_CHECKING:
    from router.types.chat import ChatCompletion
from router.settings import RouterSettings
from telemetry.records import AttemptRecord, LLMCallRecord, SkippedDeployment

__all__ = ["RecordSink", "Router"]

log = logging.getLogger("attune.router")
_DEADLINE_GUARD_S = 0.01
_UTC = timezone.utc
_fromts = datetime.fromtimestamp


class RecordSink(Protocol):
    """Where finished records go: ``TelemetryBackend``, ``MemorySink`` or your own."""

    def submit(self, record: LLMCallRecord) -> None: ...


class _Runtime:
    """Per-deployment resilience state shared by every call of a router."""

    __slots__ = ("breaker", "budget", "timeout", "redact")

    def __init__(self, breaker: DeploymentBreaker, budget: RetryBudget, timeout: float, redact: Redactor) -> None:
        self.breaker = breaker
        self.budget = budget
        self.timeout = timeout
        self.redact = redact


def _resolve_policy(spec: Any) -> Any:
    if isinstance(spec, str):
        from policies import get_policy

        return get_policy(spec)
    return as_policy(spec)


class Router:
    """Routes chat calls over tiers of deployments. Build it once and share it.

    ``deployments`` and ``tiers`` describe what to call; ``telemetry`` receives one record per
    call (and, when it can ``load_rollups``, warm-starts and refreshes the statistics unless
    ``learn_from_telemetry=False``); ``hooks`` also receive every record. ``clock`` and ``rng``
    are injectable (tests and the simulator use virtual time and a seed). ``retry`` holds the
    tenacity strategies; ``breaker_listeners`` are pybreaker listeners attached to every
    deployment's breaker; ``shared_state`` shares breaker openings and Retry-After windows
    between processes; ``id_prefix`` starts every call id; ``otel=True`` adds OpenTelemetry
    spans and metrics on the global providers (``router.otel.instrument``, the ``otel`` extra).
    """

    def __init__(
        self,
        *,
        deployments: Iterable[Deployment],
        tiers: Iterable[Tier] | Mapping[str, Tier] = (),
        telemetry: RecordSink | None = None,
        settings: RouterSettings | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        stats: StatsRegistry | None = None,
        retry: RetryPolicy | None = None,
        breaker_listeners: Iterable[pybreaker.CircuitBreakerListener] = (),
        hooks: Iterable[Callable[[LLMCallRecord], None]] = (),
        shared_state: SharedState | None = None,
        learn_from_telemetry: bool = True,
        id_prefix: str | None = None,
        otel: bool = False,
    ) -> None:
        import router.types  # noqa: F401 - the response models (pydantic), loaded here rather than on the first call

        self.settings = settings or RouterSettings()
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.stats = stats or StatsRegistry()
        self.telemetry = telemetry
        self.hooks = [*hooks, log_call]  # router.logs: one structured line per call, quiet by default
        s = self.settings
        if retry is None:
            from tenacity import stop_after_attempt

            retry = RetryPolicy(
                stop=stop_after_attempt(s.max_attempts_per_deployment),
                wait=wait_jittered_backoff(s.backoff_initial_s, s.backoff_max_s, rng=self.rng),
            )
        self.retry = retry
        listeners = tuple(breaker_listeners)

        self.deployments: dict[str, Deployment] = {}
        self._rt: dict[str, _Runtime] = {}
        for d in deployments:
            if d.key in self.deployments:
                raise ValueError(f"deployment {d.key!r} is defined twice")
            self.deployments[d.key] = d
            breaker = (DeploymentBreaker if s.breakers_enabled else PassThroughBreaker)(
                d.key,
                s.breaker,
                clock_time=self.clock.time,
                rng=self.rng,
                listeners=listeners,
                on_change=self._on_breaker_change,
            )
            budget = RetryBudget(s.retry_budget_tokens, s.retry_budget_ratio) if s.retry_budget_enabled else UnlimitedRetryBudget()
            redactor = Redactor.for_adapter(d.adapter)
            redact_http_logs(redactor)
            self._rt[d.key] = _Runtime(breaker, budget, d.attempt_timeout_s or s.attempt_timeout_s, redactor)
        if not self.deployments:
            raise ValueError("a router needs at least one deployment")

        tier_list = list(tiers.values()) if isinstance(tiers, Mapping) else list(tiers)
        self.tiers: dict[str, Tier] = {}
        self._chains: dict[str, list[Deployment]] = {}
        self._policies: dict[str, tuple[Any, dict[str, Any]]] = {}
        for t in tier_list:
            self.add_tier(t)
        self._ids = itertools.count(1)
        self.degraded_budget = DegradedRetryBudget(s.degraded_retries_per_call)
        if id_prefix is None:
            id_prefix = "%08x" % self.rng.getrandbits(32) if rng is not None else os.urandom(4).hex()
        self._id_prefix = id_prefix  # call ids are "<prefix>-<counter in hex>"
        self._cooldown: dict[str, float] = {}
        self.shared_state = shared_state
        if shared_state is not None:
            shared_state.attach(self)
        # warm start and shared learning: fold the store's per-minute rollups into the stats
        self.refresher: Any = None
        if learn_from_telemetry and hasattr(telemetry, "load_rollups"):
            from policies.warmstart import RollupRefresher

            self.refresher = RollupRefresher(self.stats, telemetry, clock=self.clock.time)
        self._background: asyncio.Task[None] | None = None
        self._timeouts: AttemptTimeouts | None = None
        self._needs_background = shared_state is not None or self.refresher is not None
        if otel:
            from router.otel import instrument

            instrument(self)

    # -- configuration ------------------------------------------------------------------
    def add_tier(self, tier: Tier) -> None:
        """Add (or replace) a tier; every deployment in its chain must exist."""
        for key in tier.chain:
            if key not in self.deployments:
                raise ValueError(
                    f"tier {tier.name!r} names unknown deployment {key!r}; known: {sorted(self.deployments)}"
                )
        if tier.name in self.deployments and tier.chain != [tier.name]:
            raise ValueError(f"tier name {tier.name!r} clashes with a deployment key")
        self.tiers[tier.name] = tier
        self._chains[tier.name] = [self.deployments[k] for k in tier.chain]
        by_task = {task: _resolve_policy(p) for task, p in tier.policies_by_task.items()}
        policy = _resolve_policy(tier.policy)
        self._policies[tier.name] = (policy, by_task)
        for p in (policy, *by_task.values()):
            observe = getattr(p, "observe_record", None)
            if observe is not None and observe not in self.hooks:
                self.hooks.append(observe)  # policies that learn from finished calls

    def _tier_for(self, model: str) -> Tier:
        if type(model) is not str or not model:
            raise InvalidRequestError(f"model must be a tier or deployment name, got {model!r}", argument="model")
        tier = self.tiers.get(model)
        if tier is not None:
            return tier
        if model in self.deployments:
            self.add_tier(Tier(name=model, chain=[model]))
            return self.tiers[model]
        raise UnknownModelError(
            f"model {model!r} is neither a tier ({sorted(self.tiers)}) nor a deployment ({sorted(self.deployments)})",
            argument="model",
        )

    def breaker(self, key: str) -> DeploymentBreaker:
        """The breaker of deployment ``key``."""
        return self._rt[key].breaker

    def replace_breaker(self, key: str, breaker: DeploymentBreaker) -> None:
        """Put ``breaker`` in front of deployment ``key`` (tests: ``router.testing.use_breaker``)."""
        self._rt[key].breaker = breaker

    def chain(self, tier: str) -> list[Deployment]:
        """The deployments of ``tier``, in the order its chain names them."""
        return list(self._chains[tier])

    def budget(self, key: str) -> RetryBudget:
        return self._rt[key].budget

    def cooldown_until(self, key: str) -> float:
        """Wall time until which ``key`` is held back by a Retry-After (0 when not)."""
        return self._cooldown.get(key, 0.0)

    def set_cooldown(self, key: str, until: float, reason: str = "retry_after") -> None:
        """Hold ``key`` back until ``until`` (wall clock) for every caller of this router."""
        if until > self._cooldown.get(key, 0.0):
            self._cooldown[key] = until
            self.stats.set_cooldown(key, until, reason)
            if self.shared_state is not None:
                self.shared_state.cooldown_set(key, until)

    # -- shared state (router.resilience.shared.SharedTarget) -------------------------------
    def shared_now(self) -> float:
        return self.clock.time()

    def apply_shared_open(self, key: str, until: float) -> None:
        """Another router saw ``key``'s breaker open until ``until`` (keeps the later end)."""
        if key in self._rt:
            br = self._rt[key].breaker
            if br.state == "closed" or br.open_until < until:
                br.apply_remote_open(until)

    def apply_shared_cooldown(self, key: str, until: float) -> None:
        if key in self._rt:
            self.set_cooldown(key, until, "retry_after (shared)")

    def _on_breaker_change(self, key: str, state: str, open_until: float) -> None:
        self.stats.set_breaker(key, state, open_until)
        if self.shared_state is not None:
            self.shared_state.breaker_changed(key, state, open_until)
        log.info("breaker %s -> %s", key, state)

    # -- planning -----------------------------------------------------------------------
    def plan(self, model: str, *, task_type: str = "default", input_tokens: int = 0) -> Plan:
        """The plan the tier's policy makes right now (what a call would try, in order)."""
        tier = self._tier_for(model)
        return self._plan(tier, task_type, self.clock.time(), input_tokens)

    def _plan(self, tier: Tier, task_type: str, now: float, input_tokens: int) -> Plan:
        policy, by_task = self._policies[tier.name]
        if by_task:
            policy = by_task.get(task_type, policy)
        ctx = PlanContext(tier.name, task_type, now, tier.objective, tier.cost_cap, input_tokens)
        plan = policy.plan(self._chains[tier.name], ctx, self.stats)
        if not plan.order:
            raise RuntimeError(f"policy {getattr(policy, 'name', policy)!r} skipped every deployment of tier {tier.name!r}")
        return plan

    # -- the call -----------------------------------------------------------------------
    async def acompletion(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        task_type: str = "default",
        tags: Mapping[str, str] | None = None,
        deadline_s: float | None = None,
        **params: Any,
    ) -> ChatCompletion:
        """Route one chat completion; see the module docstring for the path it takes."""
        tier = self.tiers.get(model) if type(model) is str else None
        if tier is None:
            tier = self._tier_for(model)
        est_tokens = estimate_tokens(messages) if type(messages) is list else -1
        if est_tokens < 0:
            messages = check_messages(messages)
            est_tokens = estimate_parts(messages)
        if task_type.__class__ is not str or not task_type:
            check_task_type(task_type)
        tags = check_tags(tags) if tags is not None else {}
        if deadline_s is not None:
            deadline_s = check_deadline(deadline_s)
        options = split_call_options(params) if params else None  # the SDK's timeout/extra_*/max_retries
        if options is not None and deadline_s is None and options.deadline_s is not None:
            deadline_s = check_deadline(options.deadline_s, argument="timeout")
        stream = bool(params.pop("stream", False)) if params else False
        if params:
            check_params(params)
        if self._needs_background:
            self._start_background()
        clock = self.clock
        t0 = clock.monotonic()
        now = clock.time()
        deadline = t0 + (deadline_s or self.settings.deadline_s)
        plan = self._plan(tier, task_type, now, est_tokens)
        call = _Call(self, tier, plan, task_type, tags, messages, params, est_tokens, t0, now, deadline)
        call.options = options
        if stream:
            call.stream = True
        return await call.run()

    async def aembedding(
        self,
        model: str,
        input: Any,  # noqa: A002 - the OpenAI parameter name
        *,
        task_type: str = "embedding",
        tags: Mapping[str, str] | None = None,
        deadline_s: float | None = None,
        **params: Any,
    ) -> Any:
        """Route one embeddings call over a tier of embedding deployments (see ``router.embeddings``)."""
        tier = self._tier_for(model)
        est_tokens = embedding_input_tokens(input)
        if task_type.__class__ is not str or not task_type:
            check_task_type(task_type)
        tags = check_tags(tags) if tags is not None else {}
        if deadline_s is not None:
            deadline_s = check_deadline(deadline_s)
        options = split_call_options(params) if params else None
        if options is not None and deadline_s is None and options.deadline_s is not None:
            deadline_s = check_deadline(options.deadline_s, argument="timeout")
        if params:
            check_params(params)
        if self._needs_background:
            self._start_background()
        t0, now = self.clock.monotonic(), self.clock.time()
        plan = self._plan(tier, task_type, now, est_tokens)
        deadline = t0 + (deadline_s or self.settings.deadline_s)
        call = _Call(self, tier, plan, task_type, tags, [], {**params, "input": input}, est_tokens, t0, now, deadline)
        call.options = options
        call.operation = "embeddings"
        return await call.run()

    def _start_background(self) -> None:
        """Start shared-state polling and rollup refreshing on the running loop (once)."""
        if self.shared_state is not None:
            self.shared_state.ensure_started()
        if self.refresher is not None and (self._background is None or self._background.done()):
            self._background = asyncio.get_running_loop().create_task(self.refresher.run(), name="attune-rollup-refresh")
        self._needs_background = self.shared_state is not None  # its task restarts if it died

    # -- explanation --------------------------------------------------------------------
    def explain(self, model: str, *, task_type: str = "default") -> dict[str, Any]:
        """The current order for a tier with the numbers and reasons behind it."""
        plan = self.plan(model, task_type=task_type)
        now = self.clock.time()
        rows = []
        for d in self._chains[self._tier_for(model).name]:
            br = self._rt[d.key].breaker
            rows.append(
                {
                    "deployment": d.key,
                    **self.stats.get(d.key).snapshot(now),  # the numbers the policies read
                    "breaker": br.state,
                    "open_for_s": max(br.open_until - now, 0.0) if br.state != "closed" else 0.0,
                    "cooldown_for_s": max(self._cooldown.get(d.key, 0.0) - now, 0.0),
                    "price_in_out_per_mtok": (d.input_price_per_mtok, d.output_price_per_mtok),
                }
            )
        return {
            "tier": model,
            "task_type": task_type,
            "policy": plan.policy,
            "order": plan.keys(),
            "skipped": [{"deployment": c.key, "reason": r} for c, r in plan.skipped],
            "notes": dict(plan.notes),
            "deployments": rows,
        }

    async def aclose(self) -> None:
        """Close the adapters (HTTP connection pools) of every deployment."""
        if self.shared_state is not None:
            await self.shared_state.aclose()
        task, self._background = self._background, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - closing anyway
                pass
        for d in self.deployments.values():
            close = getattr(d.adapter, "aclose", None)
            if close is not None:
                await close()


class _Call:
    """One call's walk down the chain. Kept as an object so the path reads top to bottom."""

    __slots__ = (
        "r",
        "tier",
        "plan",
        "task_type",
        "tags",
        "messages",
        "params",
        "est_tokens",
        "t0",
        "started",
        "deadline",
        "call_id",
        "attempts",
        "tried",
        "skipped",
        "retries",
        "last_exc",
        "min_context",
        "sent_any",
        "last_key",
        "n_skipped",
        "stream",
        "started_dt",
        "options",
        "operation",
    )

    def __init__(
        self,
        r: Router,
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
        self.call_id = f"{r._id_prefix}-{next(r._ids):x}"
        self.attempts: list[AttemptRecord] = []
        self.tried: list[str] = []
        self.skipped: list[SkippedDeployment] = [SkippedDeployment(c.key, reason) for c, reason in plan.skipped] if plan.skipped else []
        self.retries = 0
        self.last_exc: BaseException | None = None
        self.min_context: int | None = None
        self.sent_any = False
        self.last_key: str | None = None
        self.n_skipped = 0
        self.stream = False  # stream=True: the attempt ends at the first chunk, see router.streaming
        self.started_dt = _fromts(started, _UTC)
        self.options: CallOptions | None = None  # the SDK's request options, when given
        self.operation = "chat"  # or "embeddings" (adapter.embed, a CreateEmbeddingResponse)

    async def run(self) -> ChatCompletion:
        r = self.r
        order: Sequence[Deployment] = self.plan.order
        if self.plan.skipped:  # deployments the policy demoted are still tried, last, before failing the caller
            order = [*order, *(c for c, _ in self.plan.skipped if c not in order)]
        held_back: list[tuple[float, str, Deployment]] = []
        if self.plan.degraded_everywhere:
            r.degraded_budget.on_degraded_call()
        try:
            for dep in order:
                result = await self._try_deployment(dep, held_back, forced=False)
                if result is not None:
                    return result
                if self._stop_now():
                    break
            if held_back and r.settings.panic_routing and not self._stop_now():
                # what was open to the call failed (or nothing was): as Envoy's panic routing, try
                # the held-back deployments anyway before failing the caller, likeliest to have
                # recovered first, one attempt each and no retries (failing fast while some
                # deployment may answer turns a partial outage into a full one)
                opened = sorted(
                    (h for h in held_back if h[1] != "retry_after"),
                    key=lambda h: (r._rt[h[2].key].breaker.probe_in_flight, h[0]),
                )
                quota = sorted((h for h in held_back if h[1] == "retry_after"), key=lambda h: h[0])
                for _, _, dep in opened:
                    result = await self._try_deployment(dep, [], forced=True)
                    if result is not None:
                        return result
                    if self._stop_now():
                        break
                else:
                    if quota:  # then the quota window that ends first, if waiting for it fits
                        until, _, dep = quota[0]
                        wait = until - r.clock.time()
                        if wait <= r.settings.max_retry_after_s and r.clock.monotonic() + wait < self.deadline:
                            await r.clock.sleep(wait)
                            result = await self._try_deployment(dep, [], forced=True)
                            if result is not None:
                                return result
        except asyncio.CancelledError:
            self._finish_failure("cancelled", "the caller cancelled the call", raise_error=False)
            raise
        raise self._finish_failure(None, None, raise_error=True)  # type: ignore[misc]

    def _stop_now(self) -> bool:
        exc = self.last_exc
        if isinstance(exc, ProviderError):
            rule = self.tier.rules.get(exc.error_type)
            if rule is not None and not rule.fallback:
                return True
        return self.r.clock.monotonic() >= self.deadline

    def _skip(self, dep: Deployment, position: int, reason: str, error_type: str) -> None:
        self.n_skipped += 1
        self.skipped.append(SkippedDeployment(dep.key, reason))
        self.attempts.append(
            AttemptRecord(
                call_id=self.call_id,
                position=position,
                retry_number=0,
                deployment=dep.key,
                provider=dep.provider,
                model=dep.model,
                outcome="skipped",
                error_type=error_type,
                latency_ms=0.0,
                started_at=_fromts(self.r.clock.time(), _UTC),
            )
        )

    async def _try_deployment(
        self, dep: Deployment, held_back: list[tuple[float, str, Deployment]], *, forced: bool
    ) -> ChatCompletion | None:
        r = self.r
        clock = r.clock
        key = dep.key
        rt = r._rt[key]
        position = len(self.tried) + self.n_skipped
        if self.min_context is not None and (dep.context_window or 0) <= self.min_context:
            self._skip(dep, position, "context window too small", "context_length")
            return None
        # the gate: a Retry-After window, then the breaker (a forced attempt passes both)
        now = clock.time()
        breaker = rt.breaker
        probe = False
        if not forced:
            cool = r._cooldown.get(key)
            if cool is not None and cool > now:
                self._skip(dep, position, f"retry_after ({cool - now:.1f}s left)", "rate_limited")
                held_back.append((cool, "retry_after", dep))
                self.last_exc = RateLimitedError(f"held back by Retry-After for {cool - now:.1f}s", deployment=key)
                return None
        if forced:
            probe = breaker.force_probe()  # False when another probe is out: a panic attempt
        else:
            try:
                probe = breaker.admit(now)
            except CircuitOpenError as exc:
                self._skip(dep, position, "circuit_open", "circuit_open")
                held_back.append((breaker.open_until, "circuit_open", dep))
                self.last_exc = exc
                return None

        self.tried.append(key)
        self.last_key = key
        msgs = self.messages
        request = ProviderRequest(dep.model, msgs if type(msgs) is list else list(msgs), self.params, self.task_type, self.est_tokens)
        opts = self.options
        redact = rt.redact
        if opts is not None:
            request.extra_headers, request.extra_query, request.extra_body = opts.extra_headers, opts.extra_query, opts.extra_body
            if opts.extra_headers:
                redact = redact.with_secrets(opts.extra_headers.values())  # header values this call sends
        adapter = dep.adapter
        send = one_shot_stream(adapter) if self.stream else adapter.send if self.operation == "chat" else embed_sender(adapter)
        rules = self.tier.rules
        state = None
        retry_number = 0
        while True:
            # the last attempt is cut a little before the deadline, leaving time to record and raise
            a0 = clock.monotonic()
            remaining = self.deadline - a0 - _DEADLINE_GUARD_S
            if remaining <= 0:
                breaker.on_neutral(probe)
                return None
            timeout = rt.timeout if rt.timeout < remaining else remaining
            started = self.started + (a0 - self.t0)  # wall time, from the one clock read
            self.sent_any = True
            resp = None
            try:
                if adapter.enforces_timeout:
                    resp = await send(request, timeout=timeout)
                else:
                    loop = asyncio.get_running_loop()
                    timers = r._timeouts
                    if timers is None or timers.loop is not loop:
                        timers = r._timeouts = AttemptTimeouts(loop)
                    task = asyncio.current_task()
                    entry = timers.arm(loop.time() + timeout, task)  # type: ignore[arg-type]
                    try:
                        resp = await send(request, timeout=timeout)
                    except asyncio.CancelledError:
                        if AttemptTimeouts.fired(entry) and task.uncancel() == 0:  # type: ignore[union-attr]
                            raise ProviderTimeoutError(f"no answer within {timeout:.3f}s", deployment=key) from None
                        raise
                    finally:
                        timers.disarm(entry)
                self._check_answer(resp)
            except ProviderError as exc:
                err: ProviderError = exc
                redact.error(err)  # the one boundary: provider text scrubbed before it is kept
                local_fault = False
                if resp is not None and self.stream:
                    await resp.aclose()  # a stream whose first chunk was unusable
            except asyncio.CancelledError:
                breaker.on_neutral(probe)
                self._attempt(dep, position, retry_number, "cancelled", "cancelled", None, clock.monotonic() - a0, started)
                raise
            except Exception as exc:  # noqa: BLE001 - an adapter bug must not escape as a raw error
                # our side's fault (the adapter's code, or an argument it could not encode), never
                # the deployment's health: not counted against its breaker, retry budget or stats
                log.warning("adapter for %s raised %s; treated as invalid_response", key, type(exc).__name__)
                err = InvalidResponseError(f"adapter raised {type(exc).__name__}", deployment=key)
                local_fault = True
            else:
                end = clock.monotonic()
                latency = end - a0
                if forced and not probe:
                    breaker.on_panic_success()
                else:
                    breaker.on_success(probe)
                rt.budget.on_success()
                r.stats.observe(key, True, None, latency, started + latency)
                self._attempt(dep, position, retry_number, "success", None, resp.http_status, latency, started)
                return self._finish_success(dep, resp, end)

            # -- a failed attempt --------------------------------------------------------
            latency = clock.monotonic() - a0
            if err.deployment is None:
                err.deployment = key
            etype = err.error_type
            self.last_exc = err
            self._attempt(dep, position, retry_number, "error", etype, err.status, latency, started)
            now = started + latency
            if local_fault:
                breaker.on_neutral(probe)
                return None  # no retry here (the same code would fail the same way), nothing counted
            r.stats.observe(key, False, etype, latency, now)
            rule = rules.get(etype)
            if rule is None or rule.breaker:
                breaker.on_failure(err, probe)
                rt.budget.on_failure()
            else:
                breaker.on_neutral(probe)
            probe = False
            if etype == "auth":
                r.stats.flag_misconfigured(key, f"auth failed (HTTP {err.status})")
                log.warning("deployment %s rejected our credentials (HTTP %s): check its API key", key, err.status)
            elif etype == "context_length":
                self.min_context = max(dep.context_window or self.est_tokens, self.min_context or 0)
            if rule is not None and not rule.fallback and not rule.retry:
                return None
            wait_retry_after = False
            if etype == "rate_limited" and r.settings.honour_retry_after:
                if err.spend_limit:
                    r.set_cooldown(key, now + r.settings.max_retry_after_s, "spend_limit")
                    return None
                if err.retry_after is not None:
                    r.set_cooldown(key, now + err.retry_after, "retry_after")
                    # honour it here only when nothing else in the chain can take the call
                    if self._others_available(dep) or err.retry_after > r.settings.max_retry_after_s:
                        return None
                    wait_retry_after = True
            # -- retry here, or move on? -------------------------------------------------
            if state is None:
                state = new_retry_state(a0, rules)
            set_failure(state, err, a0 + latency)  # monotonic, like the state's start
            delay = r.retry.next_delay(state)
            if delay is None or (opts is not None and opts.max_retries is not None and retry_number >= opts.max_retries):
                return None
            past_stop = False  # this retry took a token of the chain-wide degraded budget
            if forced:
                if not self._retry_past_stop():
                    return None  # the last resort gets one attempt (unless degraded everywhere)
                past_stop = True
            if wait_retry_after:
                delay = max(delay, err.retry_after or 0.0)
            if not past_stop and not rt.budget.allows_retry():
                if not self._retry_past_stop():
                    return None
                past_stop = True
            retry_at = clock.monotonic() + delay
            if retry_at >= self.deadline:
                return None
            if (
                etype == "timeout"
                and r.settings.keep_time_to_fall_back
                and retry_at + 2.0 * rt.timeout > self.deadline
                and self._others_available(dep)
            ):
                return None  # another timeout here would leave no time to fall back: fall back now
            if delay > 0:
                await clock.sleep(delay)
            try:
                probe = breaker.admit(clock.time())
            except CircuitOpenError:
                if not past_stop and not self._retry_past_stop():
                    return None
                probe = False  # through the open breaker, which only its own probe moves
            state.prepare_for_next_attempt()
            state.idle_for += delay
            retry_number += 1
            self.retries += 1

    def _retry_past_stop(self) -> bool:
        """Whether a retry that a budget, an open breaker or the one-attempt rule of a last
        resort would stop goes ahead: only when the plan is degraded everywhere, and within
        the router's chain-wide budget (``router.resilience.degraded``)."""
        return self.plan.degraded_everywhere and self.r.degraded_budget.spend()

    def _check_answer(self, resp: Any) -> None:
        """What an adapter returned, checked before it counts as a success: token counts in
        range and text content, or a stream's first chunk well formed (``InvalidResponseError``)."""
        if self.stream:
            check_chunk(resp.first)
            return
        try:
            token_count(resp.input_tokens, "usage.prompt_tokens")
            token_count(resp.output_tokens, "usage.completion_tokens")
            if resp.content is not None and type(resp.content) is not str:
                raise ValueError(f"content is a {type(resp.content).__name__}, not a string")
            if resp.body is not None and self.operation == "chat":
                _check_body(resp.body)
        except (ValueError, AttributeError) as exc:
            raise InvalidResponseError(f"unusable answer ({exc})", status=getattr(resp, "http_status", None)) from None

    def _others_available(self, current: Deployment) -> bool:
        r = self.r
        now = r.clock.time()
        for c in itertools.chain(self.plan.order, (c for c, _ in self.plan.skipped)):
            if c is current or c.key in self.tried:
                continue
            if r._cooldown.get(c.key, 0.0) > now:
                continue
            br = r._rt[c.key].breaker
            if br.state == "closed" or (br.open_until <= now and not br.probe_in_flight):
                return True
        return False

    def _attempt(
        self,
        dep: Deployment,
        position: int,
        retry_number: int,
        outcome: str,
        error_type: str | None,
        status: int | None,
        latency_s: float,
        started: float,
    ) -> None:
        self.attempts.append(
            AttemptRecord(
                self.call_id,
                position,
                retry_number,
                dep.key,
                dep.provider,
                dep.model,
                outcome,
                error_type,
                status,
                latency_s * 1000.0,
                self.started_dt if started - self.started < 0.001 else _fromts(started, _UTC),
            )
        )

    def _base_record(self, dep: Deployment, end: float | None = None) -> LLMCallRecord:
        first = self.plan.order[0]
        fallback = dep is not first
        if end is None:
            end = self.r.clock.monotonic()
        # positional, in field order (see telemetry.records): this runs on every call
        return LLMCallRecord(
            self.call_id,
            self.started_dt,
            dep.provider,
            dep.model,
            self.tier.name,
            self.task_type,
            0,
            0,
            0.0,
            int((end - self.t0) * 1000),
            fallback,
            self.tried,
            first.provider if fallback else None,
            first.model if fallback else None,
            self.retries,
            self.r._rt[dep.key].breaker.state,
            True,
            None,
            None,
            dep.key,
            None,
            None,
            self.plan.policy,
            list(self.plan.order_keys),
            self.skipped,
            self.tags,
            self.attempts,
        )

    def _emit(self, rec: LLMCallRecord) -> None:
        r = self.r
        sink = r.telemetry
        if sink is not None:
            sink.submit(rec)
        for hook in r.hooks:
            try:
                hook(rec)
            except Exception:  # noqa: BLE001 - a hook must never fail a call
                log.exception("telemetry hook %r failed", hook)

    def _finish_success(self, dep: Deployment, resp: Any, end: float) -> Any:
        rec = self._base_record(dep, end)
        if self.stream:
            return self._open_stream(dep, rec, resp, end)
        _scrub_answer(resp, self.r._rt[dep.key].redact)
        if resp.body is not None and self.operation == "chat":  # what the caller reads first is there, as the API always sends it
            body = resp.body
            if type(body.get("id")) is not str:
                body["id"] = f"chatcmpl-{self.call_id}"
            if type(body.get("model")) is not str:
                body["model"] = resp.model or dep.model
            if type(body.get("created")) is not int:
                body["created"] = int(self.started)
        rec.input_tokens = resp.input_tokens
        rec.output_tokens = resp.output_tokens
        rec.cost = dep.cost(resp.input_tokens, resp.output_tokens)
        rec.request_id = resp.response_id
        if resp.ttft_s is not None:
            rec.ttft_ms = int(resp.ttft_s * 1000)
        self._emit(rec)
        facts = RoutingFacts(dep.provider, dep.key, self.call_id, rec.fallback_used, self.retries)
        if self.operation == "embeddings":
            return routed_embedding(resp, facts)
        return routed_completion(resp, facts, created=int(self.started), model=dep.model)

    def _open_stream(self, dep: Deployment, rec: LLMCallRecord, pstream: Any, first_at: float) -> AsyncChatCompletionStream:
        """Hand the caller the stream; the record is completed and written when it ends."""
        r = self.r
        rec.ttft_ms = int((first_at - self.t0) * 1000)

        def finish(input_tokens: int, output_tokens: int, error: ProviderError | None, *, cancelled: bool = False) -> LLMCallRecord:
            end = r.clock.monotonic()
            rec.input_tokens = input_tokens
            rec.output_tokens = output_tokens
            rec.cost = dep.cost(input_tokens, output_tokens)
            rec.latency_ms = int((end - self.t0) * 1000)
            if cancelled:  # the caller's choice: recorded, counted against nothing
                rec.success = False
                rec.error_type = "cancelled"
                rec.error_message = "the caller cancelled the stream"
            elif error is not None:
                rec.success = False
                rec.error_type = error.error_type
                rec.error_message = str(error)[:500]
                r.stats.observe(dep.key, False, error.error_type, end - first_at, r.clock.time())
            self._emit(rec)
            return rec

        facts = RoutingFacts(dep.provider, dep.key, self.call_id, rec.fallback_used, self.retries)
        opts = self.params.get("stream_options")
        wants_usage = isinstance(opts, Mapping) and bool(opts.get("include_usage"))
        rt = r._rt[dep.key]
        return AsyncChatCompletionStream(
            pstream,
            finish,
            facts=facts,
            est_input=self.est_tokens,
            include_usage=wants_usage,
            limits=StreamLimits(idle_s=rt.timeout, deadline=self.deadline, monotonic=r.clock.monotonic),
            redact=rt.redact.error,
        )

    def _finish_failure(self, error_type: str | None, message: str | None, *, raise_error: bool) -> RoutingError | None:
        r = self.r
        dep = r.deployments[self.last_key] if self.last_key else self.plan.order[0]
        exc = self.last_exc
        if error_type is None:
            if isinstance(exc, ProviderError) and self.sent_any:
                error_type = exc.error_type
            elif not self.sent_any:
                error_type = exc.error_type if isinstance(exc, ProviderError) else "circuit_open"
            else:
                error_type = "timeout"  # the deadline ran out before any attempt answered
        if message is None:
            tried = ", ".join(self.tried) or "none"
            message = f"all deployments of tier {self.tier.name!r} failed (tried: {tried}); last error: {exc}"
        rec = self._base_record(dep)
        rec.success = False
        rec.error_type = error_type
        rec.error_message = message[:500]
        self._emit(rec)
        err = routing_error(
            message, error_type=error_type, call_id=self.call_id, attempts=self.attempts, record=rec, last_error=exc
        )
        return err if raise_error else None


def _scrub_answer(resp: ProviderResponse, redact: Redactor) -> None:
    """The provider-written ids and model name of an answer, scrubbed (and kept only when they
    are strings): they go into the record and the caller's response."""
    for name in ("response_id", "request_id", "model"):
        v = getattr(resp, name)
        if v is not None:
            setattr(resp, name, redact.text(v[:200]) if type(v) is str else None)
    body = resp.body
    if body is not None:
        for name in ("id", "model", "system_fingerprint"):
            v = body.get(name)
            if type(v) is str:
                body[name] = redact.text(v)


def _check_body(body: dict[str, Any]) -> None:
    """The parts of a kept ``chat.completion`` body a caller reads first: every choice an object
    with an integer ``index`` and a ``message`` object (string ``role``, string or null
    ``content``), ``finish_reason`` a string or null. ``ValueError`` otherwise."""
    choices = body.get("choices")
    if type(choices) is not list or not choices:
        raise ValueError("choices is not a non-empty list")
    for c in choices:
        if type(c) is not dict or type(c.get("index")) is not int or type(c.get("message")) is not dict:
            raise ValueError("a choice lacks an integer index or a message object")
        m = c["message"]
        if type(m.get("role", "assistant")) is not str or (m.get("content") is not None and type(m.get("content")) is not str):
            raise ValueError("a message has a role or content of the wrong type")
        if c.get("finish_reason") is not None and type(c.get("finish_reason")) is not str:
            raise ValueError("finish_reason is not a string")
