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
from typing import TYPE_CHECKING, Any, Protocol

from policies.base import Plan, PlanContext, as_policy
from policies.stats import StatsRegistry
from router.arguments import check_deadline, check_messages, check_params, check_tags, check_task_type, estimate_parts, estimate_tokens
from router.call import Call
from router.call_outcome import DeploymentRuntime
from router.clock import Clock, SystemClock
from router.deployment import Deployment, Tier
from router.embeddings import embedding_input_tokens
from router.errors import InvalidRequestError, UnknownModelError
from router.logs import log_call
from router.options import split_call_options
from router.redact import Redactor, redact_http_logs
from router.resilience._pybreaker import pybreaker
from router.resilience.breaker import DeploymentBreaker, PassThroughBreaker
from router.resilience.degraded import DegradedRetryBudget
from router.resilience.retry import RetryBudget, RetryPolicy, UnlimitedRetryBudget, wait_jittered_backoff
from router.resilience.shared import SharedState
from router.resilience.timeouts import AttemptTimeouts
from router.settings import RouterSettings
from telemetry.records import LLMCallRecord

if TYPE_CHECKING:
    from router.types.chat import ChatCompletion

__all__ = ["RecordSink", "Router"]

log = logging.getLogger("attune.router")


class RecordSink(Protocol):
    """Where finished records go: ``TelemetryBackend``, ``MemorySink`` or your own."""

    def submit(self, record: LLMCallRecord) -> None: ...


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
        self.retry = retry if retry is not None else self._default_retry()
        listeners = tuple(breaker_listeners)
        self.deployments: dict[str, Deployment] = {}
        self._rt: dict[str, DeploymentRuntime] = {}
        for d in deployments:
            if d.key in self.deployments:
                raise ValueError(f"deployment {d.key!r} is defined twice")
            self.deployments[d.key] = d
            self._rt[d.key] = self._runtime(d, listeners)
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
        self._background: asyncio.Task[None] | None = None
        self._timeouts: AttemptTimeouts | None = None
        self._connect(shared_state, learn_from_telemetry, otel)

    def _connect(self, shared_state: SharedState | None, learn_from_telemetry: bool, otel: bool) -> None:
        """Shared state, warm start and shared learning (the store's per-minute rollups folded
        into the statistics), OpenTelemetry."""
        self.shared_state = shared_state
        if shared_state is not None:
            shared_state.attach(self)
        self.refresher: Any = None
        if learn_from_telemetry and hasattr(self.telemetry, "load_rollups"):
            from policies.warmstart import RollupRefresher

            self.refresher = RollupRefresher(self.stats, self.telemetry, clock=self.clock.time)
        self._needs_background = shared_state is not None or self.refresher is not None
        if otel:
            from router.otel import instrument

            instrument(self)

    def _default_retry(self) -> RetryPolicy:
        from tenacity import stop_after_attempt

        s = self.settings
        return RetryPolicy(
            stop=stop_after_attempt(s.max_attempts_per_deployment),
            wait=wait_jittered_backoff(s.backoff_initial_s, s.backoff_max_s, rng=self.rng),
        )

    def _runtime(self, d: Deployment, listeners: tuple[pybreaker.CircuitBreakerListener, ...]) -> DeploymentRuntime:
        """The breaker, retry budget, attempt timeout and redactor of deployment ``d``."""
        s = self.settings
        breaker = (DeploymentBreaker if s.breakers_enabled else PassThroughBreaker)(
            d.key, s.breaker, clock_time=self.clock.time, rng=self.rng, listeners=listeners, on_change=self._on_breaker_change
        )
        budget = RetryBudget(s.retry_budget_tokens, s.retry_budget_ratio) if s.retry_budget_enabled else UnlimitedRetryBudget()
        redactor = Redactor.for_adapter(d.adapter)
        redact_http_logs(redactor)
        return DeploymentRuntime(breaker=breaker, budget=budget, timeout=d.attempt_timeout_s or s.attempt_timeout_s, redact=redactor)

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
        stream = bool(params.get("stream")) if params else False
        if stream or (params and "stream" in params and params["stream"] is not False):
            del params["stream"]  # an explicit ``stream=False`` stays: the SDK sends it (parse() does)
        if params:
            check_params(params)
        if self._needs_background:
            self._start_background()
        clock = self.clock
        t0 = clock.monotonic()
        now = clock.time()
        deadline = t0 + (deadline_s or self.settings.deadline_s)
        plan = self._plan(tier, task_type, now, est_tokens)
        call = Call(
            self, tier=tier, plan=plan, task_type=task_type, tags=tags, messages=messages, params=params,
            est_tokens=est_tokens, t0=t0, started=now, deadline=deadline, options=options, stream=stream,
        )  # fmt: skip
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
        call = Call(
            self, tier=tier, plan=plan, task_type=task_type, tags=tags, messages=[], params={**params, "input": input},
            est_tokens=est_tokens, t0=t0, started=now, deadline=deadline, options=options, operation="embeddings",
        )  # fmt: skip
        return await call.run()

    async def astart(self) -> None:
        """Start the background work now and wait briefly for the shared state's first exchange,
        so that the first call already knows the breakers other routers opened. Optional: the
        first call starts it otherwise, without waiting (``async with AsyncClient(...)`` calls it)."""
        self._start_background()
        if self.shared_state is not None:
            await self.shared_state.start()

    def _attempt_timers(self) -> AttemptTimeouts:
        """The attempt timers on the running loop (made on first use, and again on a new loop)."""
        loop = asyncio.get_running_loop()
        timers = self._timeouts
        if timers is None or timers.loop is not loop:
            timers = self._timeouts = AttemptTimeouts(loop)
        return timers

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
