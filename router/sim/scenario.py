"""Scenario files: load, validate and resolve a scenario into per-deployment timelines.

The format is the contract in docs/design.md ("Scenario files") plus the extensions documented
in ``router/sim/SCENARIOS.md``. Validation is the config's (``router.validation``): strict
types, unknown keys are errors, and every problem of a file at once, each naming the file, the
key path and the bad value. The shape is in ``router.sim.scenario_schema``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from router.errors import ConfigError
from router.resilience.rules import ANSWER_ERROR_TYPES as ERROR_KINDS  # re-exported: the kinds a scenario may name
from router.settings import RouterSettings
from router.validation import cut, read_yaml

__all__ = [
    "ERROR_KINDS",
    "LatencySpec",
    "PhaseSpec",
    "ProviderSpec",
    "Scenario",
    "ScenarioError",
    "State",
    "Timeline",
    "TrafficSpec",
    "load_scenario",
    "parse_scenario",
]

Z95 = 1.6448536269514722  # standard normal quantile at 0.95


_ROUTER_DEFAULTS = RouterSettings.__dataclass_fields__  # the defaults live there only


class ScenarioError(ConfigError):
    """A scenario file is wrong: names the file, the key path and the bad value."""


# -- the parsed shape ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LatencySpec:
    """Lognormal latency given by its median and p95, in milliseconds."""

    median_ms: float
    p95_ms: float

    @property
    def mu(self) -> float:
        """Log-mean in seconds."""
        return math.log(self.median_ms / 1000.0)

    @property
    def sigma(self) -> float:
        return math.log(self.p95_ms / self.median_ms) / Z95


@dataclass(frozen=True, slots=True)
class PhaseSpec:
    """A window on the virtual clock that overrides some of a provider's fields."""

    start_s: float
    end_s: float
    error_rate: float | None = None
    error_rate_end: float | None = None  # linear ramp from error_rate to this over the window
    errors: Mapping[str, float] | None = None
    latency_factor: float | None = None
    rate_limit_rpm: float | None = None
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    key: str
    latency: LatencySpec
    error_latency: LatencySpec | None = None
    base_error_rate: float = 0.0
    errors: Mapping[str, float] = field(default_factory=lambda: {"server_error": 1.0})
    rate_limit_rpm: float | None = None
    retry_after_s: float | None = None
    price: tuple[float, float] | None = None  # dollars per million input / output tokens
    upstream: str | None = None
    phases: tuple[PhaseSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class TrafficSpec:
    rate_per_s: float
    tier: str = "default"
    tasks: Mapping[str, float] = field(default_factory=lambda: {"default": 1.0})
    input_mean: float = 1000.0
    output_mean: float = 300.0
    profile: tuple[tuple[float, float, float], ...] = ()  # (start_s, end_s, factor), later wins


@dataclass(frozen=True, slots=True)
class Scenario:
    """A parsed, validated scenario. ``source`` is the file it came from (or ``"<dict>"``)."""

    name: str
    duration_s: float
    traffic: TrafficSpec
    chain: tuple[str, ...]
    providers: Mapping[str, ProviderSpec]
    seed: int = 0
    deadline_s: float = _ROUTER_DEFAULTS["deadline_s"].default
    attempt_timeout_s: float = _ROUTER_DEFAULTS["attempt_timeout_s"].default
    description: str = ""
    sources: tuple[str, ...] = ()
    upstreams: Mapping[str, tuple[PhaseSpec, ...]] = field(default_factory=dict)
    source: str = "<dict>"

    def timeline(self, key: str) -> Timeline:
        """The resolved state of deployment ``key`` over the scenario."""
        p = self.providers[key]
        phases = (self.upstreams.get(p.upstream, ()) if p.upstream else ()) + p.phases
        return Timeline(p, phases, self.duration_s)

    def rate_at(self, t: float) -> float:
        """Arrival rate (calls per second) at scenario time ``t``."""
        f = 1.0
        for start, end, factor in self.traffic.profile:
            if start <= t < end:
                f = factor
        return self.traffic.rate_per_s * f

    def expected_calls(self) -> float:
        edges = sorted({0.0, self.duration_s, *(x for s, e, _ in self.traffic.profile for x in (s, e) if 0 < x < self.duration_s)})
        return sum(self.rate_at((a + b) / 2) * (b - a) for a, b in zip(edges, edges[1:]))


# -- resolved state ----------------------------------------------------------------------------
@dataclass(slots=True)
class State:
    """A deployment's true state over one segment of time."""

    error_rate: float
    error_rate_end: float | None  # ramp target at ramp_end (linear from ramp_start)
    ramp_start: float
    ramp_end: float
    kinds: tuple[str, ...]
    kind_cum: tuple[float, ...]  # cumulative weights, last == 1
    latency_factor: float
    rate_limit_rpm: float | None
    retry_after_s: float | None

    def error_rate_at(self, t: float) -> float:
        end = self.error_rate_end
        if end is None:
            return self.error_rate
        span = self.ramp_end - self.ramp_start
        x = (t - self.ramp_start) / span if span > 0 else 1.0
        x = 0.0 if x < 0 else 1.0 if x > 1 else x
        return self.error_rate + (end - self.error_rate) * x


def _mix(errors: Mapping[str, float]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    total = sum(errors.values())
    kinds = tuple(errors)
    cum: list[float] = []
    acc = 0.0
    for k in kinds:
        acc += errors[k] / total
        cum.append(acc)
    cum[-1] = 1.0
    return kinds, tuple(cum)


class Timeline:
    """Piecewise state of one deployment: ``at(t)`` finds the segment by bisection."""

    __slots__ = ("spec", "edges", "states", "duration_s")

    def __init__(self, spec: ProviderSpec, phases: Sequence[PhaseSpec], duration_s: float) -> None:
        self.spec = spec
        self.duration_s = duration_s
        cuts = {0.0}
        for ph in phases:
            cuts.add(ph.start_s)
            cuts.add(ph.end_s)
        edges = sorted(c for c in cuts if c >= 0)
        self.edges = edges
        self.states = [self._resolve(spec, phases, (a + b) / 2) for a, b in zip(edges, edges[1:] + [math.inf])]

    @staticmethod
    def _resolve(spec: ProviderSpec, phases: Sequence[PhaseSpec], t: float) -> State:
        er, er_end, r0, r1 = spec.base_error_rate, None, 0.0, 0.0
        errors: Mapping[str, float] = spec.errors
        lf = 1.0
        rpm, ra = spec.rate_limit_rpm, spec.retry_after_s
        for ph in phases:  # later wins, field by field
            if not ph.start_s <= t < ph.end_s:
                continue
            if ph.error_rate is not None:
                er, er_end, r0, r1 = ph.error_rate, ph.error_rate_end, ph.start_s, ph.end_s
            if ph.errors is not None:
                errors = ph.errors
            if ph.latency_factor is not None:
                lf = ph.latency_factor
            if ph.rate_limit_rpm is not None:
                rpm = ph.rate_limit_rpm
            if ph.retry_after_s is not None:
                ra = ph.retry_after_s
        kinds, cum = _mix(errors)
        return State(er, er_end, r0, r1, kinds, cum, lf, rpm, ra)

    def at(self, t: float) -> State:
        return self.states[bisect.bisect_right(self.edges, t) - 1] if t >= 0 else self.states[0]

    def error_rate_at(self, t: float) -> float:
        return self.at(t).error_rate_at(t)

    def segments(self) -> list[tuple[float, float, State]]:
        """``(start, end, state)`` over ``[0, duration_s)``."""
        out = []
        for i, a in enumerate(self.edges):
            if a >= self.duration_s:
                break
            b = self.edges[i + 1] if i + 1 < len(self.edges) else self.duration_s
            out.append((a, min(b, self.duration_s), self.states[i]))
        return out


# -- validation --------------------------------------------------------------------------------
Problems = list[tuple[str | None, str, str | None]]


def _given(model: Any, *names: str) -> dict[str, Any]:
    """The fields of ``model`` the file gave (the dataclass defaults stand for the rest)."""
    return {n: getattr(model, n) for n in names if getattr(model, n) is not None}


def _latency(m: Any, key: str, bad: Problems) -> LatencySpec:
    if m.p95 <= m.median:
        bad.append((key + ".p95", f"must be greater than the median ({m.median:g})", repr(m.p95)))
    return LatencySpec(m.median, m.p95)


def _weights(mix: Mapping[str, float], key: str, bad: Problems) -> dict[str, float]:
    if sum(mix.values()) <= 0:
        bad.append((key, "weights must not all be 0", cut(dict(mix))))
    return dict(mix)


def _window(start: float, end: float, key: str, bad: Problems) -> None:
    if end <= start:
        bad.append((key + ".end_s", f"must be after start_s ({start:g})", repr(end)))


def _phases(phases: Sequence[Any] | None, key: str, duration: float, bad: Problems) -> tuple[PhaseSpec, ...]:
    out = []
    for i, ph in enumerate(phases or ()):
        k = f"{key}[{i}]"
        _window(ph.start_s, ph.end_s, k, bad)
        if ph.start_s >= duration:
            bad.append((k + ".start_s", f"must be before the end of the scenario (duration_s {duration:g})", repr(ph.start_s)))
        if ph.error_rate_end is not None and ph.error_rate is None:
            bad.append((k + ".error_rate_end", "needs error_rate in the same phase (the ramp's start)", repr(ph.error_rate_end)))
        errors = _weights(ph.errors, k + ".errors", bad) if ph.errors is not None else None
        out.append(PhaseSpec(ph.start_s, ph.end_s, ph.error_rate, ph.error_rate_end, errors, ph.latency_factor, ph.rate_limit_rpm, ph.retry_after_s))
    return tuple(out)


def _traffic(tr: Any, bad: Problems) -> TrafficSpec:
    given = _given(tr, "tier")
    if tr.tasks is not None:
        given["tasks"] = _weights(tr.tasks, "traffic.tasks", bad)
    if tr.tokens is not None:
        given |= _given(tr.tokens, "input_mean", "output_mean")
    profile = []
    for i, p in enumerate(tr.profile or ()):
        _window(p.start_s, p.end_s, f"traffic.profile[{i}]", bad)
        profile.append((p.start_s, p.end_s, p.factor))
    return TrafficSpec(rate_per_s=tr.rate_per_s, profile=tuple(profile), **given)


def _provider(key: str, m: Any, upstreams: Mapping[str, Any], duration: float, bad: Problems) -> ProviderSpec:
    k = f"providers.{key}"
    given = _given(m, "base_error_rate", "rate_limit_rpm", "retry_after_s", "upstream")
    if m.errors is not None:
        given["errors"] = _weights(m.errors, k + ".errors", bad)
    if m.price is not None:
        given["price"] = (m.price.input_per_mtok, m.price.output_per_mtok)
    if m.error_latency_ms is not None:
        given["error_latency"] = _latency(m.error_latency_ms, k + ".error_latency_ms", bad)
    if m.upstream is not None and m.upstream not in upstreams:
        known = ", ".join(sorted(upstreams)) or "none defined"
        bad.append((k + ".upstream", f"names no entry of upstreams ({known})", repr(m.upstream)))
    phases = _phases(m.phases, k + ".phases", duration, bad)
    return ProviderSpec(key=key, latency=_latency(m.latency_ms, k + ".latency_ms", bad), phases=phases, **given)


def _chain(chain: Sequence[str], providers: Mapping[str, Any], bad: Problems) -> None:
    for i, c in enumerate(chain):
        if c not in providers:
            bad.append((f"chain[{i}]", f"names no deployment under providers ({', '.join(providers)})", repr(c)))
    if len(set(chain)) != len(chain):
        bad.append(("chain", "names a deployment twice", cut(list(chain))))


def parse_scenario(data: Any, source: str = "<dict>") -> Scenario:
    """Validate a scenario already read from YAML (a mapping) and return it.

    Raises ``ScenarioError`` (a ``ConfigError``) listing every problem found.
    """
    from router._schema import validate
    from router.sim.scenario_schema import ScenarioModel

    try:
        top = validate(ScenarioModel, data, source=source)
    except ConfigError as exc:
        raise ScenarioError(source=source, problems=exc.problems) from None
    bad: Problems = []
    duration = top.duration_s
    upstreams = {name: _phases(u.phases, f"upstreams.{name}.phases", duration, bad) for name, u in (top.upstreams or {}).items()}
    providers = {key: _provider(key, m, upstreams, duration, bad) for key, m in top.providers.items()}
    _chain(top.chain, providers, bad)
    traffic = _traffic(top.traffic, bad)
    if bad:
        raise ScenarioError(source=source, problems=bad)
    given = _given(top, "seed", "description")
    if top.router is not None:
        given |= _given(top.router, "deadline_s", "attempt_timeout_s")
    return Scenario(
        name=top.name,
        duration_s=duration,
        traffic=traffic,
        chain=tuple(top.chain),
        providers=providers,
        sources=tuple(top.sources or ()),
        upstreams=upstreams,
        source=source,
        **given,
    )


def load_scenario(path: str | Path | Mapping[str, Any] | Scenario) -> Scenario:
    """Read and validate a scenario from a YAML file (or a packaged scenario's name, or a dict)."""
    if isinstance(path, Scenario):
        return path
    if isinstance(path, Mapping):
        return parse_scenario(path)
    p = Path(path)
    if not p.exists() and not p.suffix:
        from router.sim.library import scenario_path

        found = scenario_path(str(path))
        if found is not None:
            p = found
    try:
        data, name = read_yaml(p, what="scenario file")
    except ConfigError as exc:
        raise ScenarioError(source=exc.source, problems=exc.problems) from None
    return parse_scenario(data, name)
