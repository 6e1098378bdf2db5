"""The policy seam: a policy turns a tier's chain into a plan.

A ``Plan`` is the deployments in the order to try them, plus the ones left out with a reason
each. Policies never see HTTP or the router; they read ``StatsRegistry`` (live, in-memory
statistics per deployment) and the candidates' static facts (price, context window).

Policies compose in the manner of tenacity's strategies: ``health() | bandit()`` runs
``health`` first and lets ``bandit`` order what it kept; a plain function
``(chain, ctx, stats) -> Plan`` is accepted wherever a policy is.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from policies.timeouts import NO_CAPS

if TYPE_CHECKING:
    from policies.stats import StatsRegistry

__all__ = ["Candidate", "LazyNotes", "Plan", "PlanContext", "Policy", "PolicyFn", "as_policy", "chain_policies"]


@runtime_checkable
class Candidate(Protocol):
    """What a policy knows of a deployment. The router's ``Deployment`` satisfies it."""

    key: str  # "provider/model" or the configured deployment name
    provider: str
    model: str
    input_price_per_mtok: float
    output_price_per_mtok: float
    context_window: int | None


@dataclass(slots=True)
class PlanContext:
    """What the router knows of the call when it asks for a plan (read it, do not change it:
    it is not frozen only because a frozen dataclass costs a microsecond more per call)."""

    tier: str
    task_type: str
    now: float  # seconds on the router's clock (wall time, virtual in the simulator)
    objective: str = "reliability"  # "reliability" | "latency" | "cost"
    cost_cap: float | None = None  # dollars per call, for the "cost" objective
    input_tokens: int = 0  # estimate for the request, for cost and context-window checks
    output_tokens: int = 0


class LazyNotes(Mapping[str, Any]):
    """A plan's notes, built by ``build()`` on first read: policies that replan often need
    not format numbers nobody asks for. ``build`` must capture what it reports by value."""

    __slots__ = ("_build", "_data")

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self._build: Callable[[], dict[str, Any]] | None = build
        self._data: dict[str, Any] = {}

    def _get(self) -> dict[str, Any]:
        build = self._build
        if build is not None:
            self._build = None
            self._data = build()
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return f"LazyNotes({self._get()!r})"


@dataclass(frozen=True, slots=True)
class Plan:
    """Deployments to try, in order, and the ones skipped with a reason each.

    ``degraded_everywhere``: no deployment of the chain is healthier than a degraded one, so
    the router spends the deadline on retries rather than stopping them at a per-deployment
    budget or an open breaker (within its chain-wide budget, ``router.resilience.degraded``).

    ``attempt_timeouts`` (keyword only): ``{deployment key: seconds}``, a shorter attempt
    timeout the policy wants for that deployment's attempts in this call (a latency-relative
    timeout, ``policies.timeouts``). The router uses the smaller of it and the configured
    attempt timeout, and the call's deadline bounds both; panic attempts (the last resort at
    a held-back deployment) keep the configured one. Empty (the default, and ``static``'s and
    ``cooldown``'s): the configured timeout everywhere.
    """

    order: tuple[Any, ...]
    skipped: tuple[tuple[Any, str], ...] = ()
    policy: str = "static"
    notes: Mapping[str, Any] = field(default_factory=dict)  # for people: explain() shows them
    degraded_everywhere: bool = False
    attempt_timeouts: Mapping[str, float] = field(default_factory=lambda: NO_CAPS, kw_only=True)
    order_keys: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "order_keys", tuple(c.key for c in self.order))

    def keys(self) -> list[str]:
        return list(self.order_keys)


class Policy(Protocol):
    """A routing policy: ``plan`` must be cheap (it runs on every call) and never skip every
    deployment of a non-empty chain."""

    name: str

    def plan(self, chain: Sequence[Any], ctx: PlanContext, stats: StatsRegistry) -> Plan: ...


PolicyFn = Callable[[Sequence[Any], PlanContext, "StatsRegistry"], Plan]


class _FnPolicy:
    __slots__ = ("name", "_fn")

    def __init__(self, fn: PolicyFn, name: str | None = None) -> None:
        self._fn = fn
        self.name = name or getattr(fn, "__name__", "custom")

    def plan(self, chain: Sequence[Any], ctx: PlanContext, stats: StatsRegistry) -> Plan:
        return self._fn(chain, ctx, stats)

    def __or__(self, other: Any) -> Any:
        return chain_policies(self, as_policy(other))


def as_policy(obj: Any) -> Policy:
    """Accept a policy object or a plain ``(chain, ctx, stats) -> Plan`` function."""
    if hasattr(obj, "plan"):
        return obj  # type: ignore[no-any-return]
    if callable(obj):
        return _FnPolicy(obj)
    raise TypeError(f"not a policy: {obj!r} (needs a .plan(chain, ctx, stats) method or to be callable)")


def chain_policies(first: Policy, second: Policy) -> Policy:
    """``first | second``: ``first`` filters and orders, ``second`` re-orders what ``first`` kept.

    Skips from both are kept; if ``second`` would skip everything ``first`` kept, its skips are
    ignored so a chain is never emptied.
    """

    def plan(chain: Sequence[Any], ctx: PlanContext, stats: StatsRegistry) -> Plan:
        p1 = first.plan(chain, ctx, stats)
        p2 = second.plan(p1.order, ctx, stats)
        order = p2.order if p2.order else p1.order
        skipped = p1.skipped + (p2.skipped if p2.order else ())
        notes = ChainMap(p2.notes, p1.notes)  # type: ignore[arg-type]  # read only when explained
        return Plan(
            order=order,
            skipped=skipped,
            policy=f"{first.name}|{second.name}",
            notes=notes,
            degraded_everywhere=p1.degraded_everywhere or p2.degraded_everywhere,
            attempt_timeouts=_tighter(p1.attempt_timeouts, p2.attempt_timeouts),
        )

    return _FnPolicy(plan, name=f"{first.name}|{second.name}")


def _tighter(a: Mapping[str, float], b: Mapping[str, float]) -> Mapping[str, float]:
    """Both policies' attempt timeouts, the shorter where both set one."""
    if not a or not b:
        return a or b
    return {k: min(v, b[k]) if k in b else v for k, v in a.items()} | {k: v for k, v in b.items() if k not in a}
