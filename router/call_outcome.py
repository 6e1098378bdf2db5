"""What one call leaves behind: its attempt rows, its ``LLMCallRecord`` (handed to the sink and
the hooks), and what the caller gets (a response, a stream, or one ``RoutingError``). Every
record and response is built by keyword. Mixed into ``router.call.Call``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from router.answers import fill_body, scrub_answer
from router.embeddings import routed_embedding
from router.errors import ProviderError, RoutingError
from router.facts import RoutingFacts
from router.response import routed_completion
from router.sdk_errors import routing_error
from router.streaming import AsyncChatCompletionStream, StreamLimits
from telemetry.records import AttemptRecord, LLMCallRecord, SkippedDeployment

if TYPE_CHECKING:
    import itertools
    from collections.abc import Callable

    from policies.base import Plan
    from policies.stats import StatsRegistry
    from router.clock import Clock
    from router.deployment import Deployment, Tier
    from router.redact import Redactor
    from router.resilience.breaker import DeploymentBreaker
    from router.resilience.degraded import DegradedRetryBudget
    from router.resilience.retry import RetryBudget, RetryPolicy
    from router.resilience.timeouts import AttemptTimeouts
    from router.settings import RouterSettings

__all__ = ["CallOutcome", "DeploymentRuntime", "RoutingHost"]

log = logging.getLogger("attune.router")
_UTC = timezone.utc
_fromts = datetime.fromtimestamp
# Records are built by assigning every field of a bare instance: each field named, in any
# order, at a third of the cost of the dataclass's keyword ``__init__`` on this path
# (benchmarks/RESULTS.md, "Evening of 2026-12-01", the call path); tests/router/test_records_built.py checks
# that every field of every record the router emits is set.
_bare = object.__new__


class DeploymentRuntime:
    """Per-deployment resilience state shared by every call of a router."""

    __slots__ = ("breaker", "budget", "timeout", "redact")

    def __init__(self, *, breaker: DeploymentBreaker, budget: RetryBudget, timeout: float, redact: Redactor) -> None:
        self.breaker = breaker
        self.budget = budget
        self.timeout = timeout
        self.redact = redact


class RoutingHost(Protocol):
    """What a call reads of its router (``router.core.Router``): the seam between them."""

    settings: RouterSettings
    clock: Clock
    stats: StatsRegistry
    retry: RetryPolicy
    telemetry: Any
    hooks: list[Callable[[LLMCallRecord], None]]
    deployments: dict[str, Deployment]
    degraded_budget: DegradedRetryBudget
    _rt: dict[str, DeploymentRuntime]
    _cooldown: dict[str, float]
    _timeouts: AttemptTimeouts | None
    _ids: itertools.count[int]
    _id_prefix: str

    def breaker(self, key: str) -> DeploymentBreaker: ...

    def _attempt_timers(self) -> AttemptTimeouts: ...

    def set_cooldown(self, key: str, until: float, reason: str = "retry_after") -> None: ...


class CallOutcome:
    """Record keeping and results of a ``Call`` (the attributes are the call's)."""

    __slots__ = ()
    r: RoutingHost
    tier: Tier
    plan: Plan
    task_type: str
    tags: dict[str, str]
    params: dict[str, Any]
    est_tokens: int
    t0: float
    started: float
    started_dt: datetime
    deadline: float
    call_id: str
    attempts: list[AttemptRecord]
    tried: list[str]
    skipped: list[SkippedDeployment]
    retries: int
    last_exc: BaseException | None
    sent_any: bool
    last_key: str | None
    n_skipped: int
    stream: bool
    operation: str

    def _skip(self, dep: Deployment, position: int, reason: str, error_type: str) -> None:
        self.n_skipped += 1
        self.skipped.append(SkippedDeployment(deployment=dep.key, reason=reason))
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
        a = _bare(AttemptRecord)
        a.call_id = self.call_id
        a.position = position
        a.retry_number = retry_number
        a.deployment = dep.key
        a.provider = dep.provider
        a.model = dep.model
        a.outcome = outcome
        a.error_type = error_type
        a.http_status = status
        a.latency_ms = latency_s * 1000.0
        a.started_at = self.started_dt if started - self.started < 0.001 else _fromts(started, _UTC)
        self.attempts.append(a)

    def _base_record(self, dep: Deployment, end: float | None = None) -> LLMCallRecord:
        first = self.plan.order[0]
        fallback = dep is not first
        if end is None:
            end = self.r.clock.monotonic()
        rec = _bare(LLMCallRecord)
        rec.call_id = self.call_id
        rec.timestamp = self.started_dt
        rec.provider = dep.provider
        rec.model = dep.model
        rec.tier = self.tier.name
        rec.task_type = self.task_type
        rec.input_tokens = 0
        rec.output_tokens = 0
        rec.cost = 0.0
        rec.latency_ms = int((end - self.t0) * 1000)
        rec.fallback_used = fallback
        rec.fallback_chain = self.tried
        rec.original_provider = first.provider if fallback else None
        rec.original_model = first.model if fallback else None
        rec.retry_count = self.retries
        rec.circuit_breaker_state = self.r._rt[dep.key].breaker.state
        rec.success = True
        rec.error_type = None
        rec.error_message = None
        rec.deployment = dep.key
        rec.ttft_ms = None
        rec.request_id = None
        rec.policy = self.plan.policy
        rec.plan_order = list(self.plan.order_keys)
        rec.skipped = self.skipped
        rec.tags = self.tags
        rec.attempts = self.attempts
        return rec

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

    def _facts(self, dep: Deployment, rec: LLMCallRecord) -> RoutingFacts:
        return RoutingFacts(provider=dep.provider, deployment=dep.key, call_id=self.call_id, fallback_used=rec.fallback_used, retry_count=self.retries)

    def _finish_success(self, dep: Deployment, resp: Any, end: float) -> Any:
        rec = self._base_record(dep, end)
        if self.stream:
            return self._open_stream(dep, rec, resp, end)
        scrub_answer(resp, self.r._rt[dep.key].redact)
        if resp.body is not None and self.operation == "chat":
            fill_body(resp.body, id_=f"chatcmpl-{self.call_id}", model=resp.model or dep.model, created=int(self.started))
        rec.input_tokens = resp.input_tokens
        rec.output_tokens = resp.output_tokens
        rec.cost = dep.cost(resp.input_tokens, resp.output_tokens)
        rec.request_id = resp.response_id
        if resp.ttft_s is not None:
            rec.ttft_ms = int(resp.ttft_s * 1000)
        self._emit(rec)
        facts = self._facts(dep, rec)
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

        opts = self.params.get("stream_options")
        rt = r._rt[dep.key]
        return AsyncChatCompletionStream(
            pstream,
            finish,
            facts=self._facts(dep, rec),
            est_input=self.est_tokens,
            include_usage=isinstance(opts, Mapping) and bool(opts.get("include_usage")),
            limits=StreamLimits(idle_s=rt.timeout, deadline=self.deadline, monotonic=r.clock.monotonic, timers=r._attempt_timers),
            redact=rt.redact.error,
        )

    def _finish_failure(self, error_type: str | None, message: str | None, *, raise_error: bool) -> RoutingError | None:
        r = self.r
        dep = r.deployments[self.last_key] if self.last_key else self.plan.order[0]
        exc = self.last_exc
        if error_type is None:
            if isinstance(exc, ProviderError) and self.sent_any:
                error_type = exc.error_type
            elif not self.sent_any:  # held back (a ProviderError or an open breaker) or out of time
                error_type = exc.error_type if isinstance(exc, ProviderError) else "circuit_open" if exc is not None else "timeout"
            else:
                error_type = "timeout"  # the deadline ran out before any attempt answered
        if message is None:
            tried = ", ".join(self.tried) or "none"
            if exc is None:
                message = f"the deadline of tier {self.tier.name!r}'s call ran out before any deployment could be tried"
            else:
                message = f"all deployments of tier {self.tier.name!r} failed (tried: {tried}); last error: {exc}"
        rec = self._base_record(dep)
        rec.success = False
        rec.error_type = error_type
        rec.error_message = message[:500]
        self._emit(rec)
        err = routing_error(message, error_type=error_type, call_id=self.call_id, attempts=self.attempts, record=rec, last_error=exc)
        return err if raise_error else None
