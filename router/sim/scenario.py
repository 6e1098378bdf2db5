"""Scenario files: load, validate and resolve a scenario into per-deployment timelines.

The format is the contract in DESIGN.md plus the extensions documented in
``router/sim/SCENARIOS.md``. Every validation error names the file, the key path and the bad
value; unknown keys are errors.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from router.errors import ConfigError
from router.resilience.rules import DEFAULT_RULES

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

# error kinds a simulated provider can answer with (the router's taxonomy minus circuit_open)
ERROR_KINDS: tuple[str, ...] = tuple(k for k in DEFAULT_RULES if k != "circuit_open")
Z95 = 1.6448536269514722  # standard normal quantile at 0.95


class ScenarioError(ConfigError):
    """A scenario file is wrong: names the file, the key path and the bad value."""

    def __init__(self, source: str, key: str, problem: str, value: Any = None, *, has_value: bool = True) -> None:
        msg = f"{source}: {key}: {problem}"
        if has_value:
            msg += f" (got {value!r})"
        ValueError.__init__(self, msg)
        self.key = key
        self.source = source
        self.value = value


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
    deadline_s: float = 60.0
    attempt_timeout_s: float = 20.0
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
class _V:
    """Validation helpers that know the file name."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str, value: Any = None, *, has_value: bool = True) -> ScenarioError:
        return ScenarioError(self.source, key, problem, value, has_value=has_value)

    def mapping(self, obj: Any, key: str, allowed: Sequence[str], required: Sequence[str] = ()) -> Mapping[str, Any]:
        if not isinstance(obj, Mapping):
            raise self.fail(key or "<top>", "must be a mapping", obj)
        for k in obj:
            if k not in allowed:
                raise self.fail(_join(key, str(k)), f"unknown key; allowed: {', '.join(allowed)}", obj[k])
        for k in required:
            if k not in obj:
                raise self.fail(_join(key, k), "is required", has_value=False)
        return obj

    def number(self, obj: Any, key: str, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> float:
        if isinstance(obj, bool) or not isinstance(obj, (int, float)) or not math.isfinite(obj):
            raise self.fail(key, "must be a finite number", obj)
        if lo is not None and (obj <= lo if lo_open else obj < lo):
            raise self.fail(key, f"must be {'>' if lo_open else '>='} {lo}", obj)
        if hi is not None and obj > hi:
            raise self.fail(key, f"must be <= {hi}", obj)
        return float(obj)

    def string(self, obj: Any, key: str) -> str:
        if not isinstance(obj, str) or not obj:
            raise self.fail(key, "must be a non-empty string", obj)
        return obj

    def weights(self, obj: Any, key: str, allowed: Sequence[str] | None = None) -> dict[str, float]:
        if not isinstance(obj, Mapping) or not obj:
            raise self.fail(key, "must be a non-empty mapping of name -> weight", obj)
        out: dict[str, float] = {}
        for k, v in obj.items():
            if allowed is not None and k not in allowed:
                raise self.fail(_join(key, str(k)), f"unknown error kind; known: {', '.join(allowed)}", v)
            out[str(k)] = self.number(v, _join(key, str(k)), lo=0)
        if sum(out.values()) <= 0:
            raise self.fail(key, "weights must not all be 0", obj)
        return out

    def latency(self, obj: Any, key: str) -> LatencySpec:
        m = self.mapping(obj, key, ("median", "p95"), ("median", "p95"))
        med = self.number(m["median"], key + ".median", lo=0, lo_open=True)
        p95 = self.number(m["p95"], key + ".p95", lo=0, lo_open=True)
        if p95 <= med:
            raise self.fail(key + ".p95", f"must be greater than the median ({med:g})", p95)
        return LatencySpec(med, p95)


def _join(base: str, key: str) -> str:
    return f"{base}.{key}" if base else key


_PHASE_KEYS = ("start_s", "end_s", "error_rate", "error_rate_end", "errors", "latency_factor", "rate_limit_rpm", "retry_after_s")


def _phases(v: _V, obj: Any, key: str, duration: float) -> tuple[PhaseSpec, ...]:
    if obj is None:
        return ()
    if not isinstance(obj, list):
        raise v.fail(key, "must be a list of phases", obj)
    out = []
    for i, ph in enumerate(obj):
        k = f"{key}[{i}]"
        m = v.mapping(ph, k, _PHASE_KEYS, ("start_s", "end_s"))
        start = v.number(m["start_s"], k + ".start_s", lo=0)
        end = v.number(m["end_s"], k + ".end_s", lo=0)
        if end <= start:
            raise v.fail(k + ".end_s", f"must be after start_s ({start:g})", end)
        if start >= duration:
            raise v.fail(k + ".start_s", f"must be before the end of the scenario (duration_s {duration:g})", start)
        er = v.number(m["error_rate"], k + ".error_rate", lo=0, hi=1) if "error_rate" in m else None
        er_end = None
        if "error_rate_end" in m:
            if er is None:
                raise v.fail(k + ".error_rate_end", "needs error_rate in the same phase (the ramp's start)", m["error_rate_end"])
            er_end = v.number(m["error_rate_end"], k + ".error_rate_end", lo=0, hi=1)
        errors = v.weights(m["errors"], k + ".errors", ERROR_KINDS) if "errors" in m else None
        lf = v.number(m["latency_factor"], k + ".latency_factor", lo=0, lo_open=True) if "latency_factor" in m else None
        rpm = v.number(m["rate_limit_rpm"], k + ".rate_limit_rpm", lo=0, lo_open=True) if "rate_limit_rpm" in m else None
        ra = v.number(m["retry_after_s"], k + ".retry_after_s", lo=0) if "retry_after_s" in m else None
        out.append(PhaseSpec(start, end, er, er_end, errors, lf, rpm, ra))
    return tuple(out)


_TOP_KEYS = ("name", "seed", "duration_s", "traffic", "chain", "providers", "router", "description", "sources", "upstreams")
_PROVIDER_KEYS = (
    "latency_ms",
    "error_latency_ms",
    "base_error_rate",
    "errors",
    "rate_limit_rpm",
    "retry_after_s",
    "price",
    "upstream",
    "phases",
)


def parse_scenario(data: Any, source: str = "<dict>") -> Scenario:
    """Validate a scenario already read from YAML (a mapping) and return it."""
    v = _V(source)
    top = v.mapping(data, "", _TOP_KEYS, ("name", "duration_s", "traffic", "chain", "providers"))
    name = v.string(top["name"], "name")
    seed = top.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise v.fail("seed", "must be an integer >= 0", seed)
    duration = v.number(top["duration_s"], "duration_s", lo=0, lo_open=True)
    description = top.get("description", "")
    if not isinstance(description, str):
        raise v.fail("description", "must be a string", description)
    sources = top.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise v.fail("sources", "must be a list of strings", sources)

    tr = v.mapping(top["traffic"], "traffic", ("rate_per_s", "tier", "tasks", "tokens", "profile"), ("rate_per_s",))
    rate = v.number(tr["rate_per_s"], "traffic.rate_per_s", lo=0, lo_open=True)
    tier = v.string(tr.get("tier", "default"), "traffic.tier")
    tasks = v.weights(tr.get("tasks", {"default": 1.0}), "traffic.tasks")
    tok = v.mapping(tr.get("tokens", {}), "traffic.tokens", ("input_mean", "output_mean"))
    in_mean = v.number(tok.get("input_mean", 1000), "traffic.tokens.input_mean", lo=1)
    out_mean = v.number(tok.get("output_mean", 300), "traffic.tokens.output_mean", lo=1)
    profile = []
    prof = tr.get("profile", [])
    if not isinstance(prof, list):
        raise v.fail("traffic.profile", "must be a list of {start_s, end_s, factor}", prof)
    for i, p in enumerate(prof):
        k = f"traffic.profile[{i}]"
        m = v.mapping(p, k, ("start_s", "end_s", "factor"), ("start_s", "end_s", "factor"))
        s = v.number(m["start_s"], k + ".start_s", lo=0)
        e = v.number(m["end_s"], k + ".end_s", lo=0)
        if e <= s:
            raise v.fail(k + ".end_s", f"must be after start_s ({s:g})", e)
        profile.append((s, e, v.number(m["factor"], k + ".factor", lo=0)))
    traffic = TrafficSpec(rate, tier, tasks, in_mean, out_mean, tuple(profile))

    upstreams: dict[str, tuple[PhaseSpec, ...]] = {}
    ups = top.get("upstreams", {})
    if not isinstance(ups, Mapping):
        raise v.fail("upstreams", "must be a mapping of name -> {phases: [...]}", ups)
    for uname, u in ups.items():
        k = f"upstreams.{uname}"
        m = v.mapping(u, k, ("phases",), ("phases",))
        upstreams[str(uname)] = _phases(v, m["phases"], k + ".phases", duration)

    provs = top["providers"]
    if not isinstance(provs, Mapping) or not provs:
        raise v.fail("providers", "must be a non-empty mapping of deployment key -> provider", provs)
    providers: dict[str, ProviderSpec] = {}
    for key, p in provs.items():
        if not isinstance(key, str) or not key:
            raise v.fail("providers", "deployment keys must be non-empty strings", key)
        k = f"providers.{key}"
        m = v.mapping(p, k, _PROVIDER_KEYS, ("latency_ms",))
        lat = v.latency(m["latency_ms"], k + ".latency_ms")
        elat = v.latency(m["error_latency_ms"], k + ".error_latency_ms") if "error_latency_ms" in m else None
        ber = v.number(m.get("base_error_rate", 0.0), k + ".base_error_rate", lo=0, hi=1)
        errors = v.weights(m["errors"], k + ".errors", ERROR_KINDS) if "errors" in m else {"server_error": 1.0}
        rpm = v.number(m["rate_limit_rpm"], k + ".rate_limit_rpm", lo=0, lo_open=True) if "rate_limit_rpm" in m else None
        ra = v.number(m["retry_after_s"], k + ".retry_after_s", lo=0) if "retry_after_s" in m else None
        price = None
        if "price" in m:
            pm = v.mapping(m["price"], k + ".price", ("input_per_mtok", "output_per_mtok"), ("input_per_mtok", "output_per_mtok"))
            price = (
                v.number(pm["input_per_mtok"], k + ".price.input_per_mtok", lo=0),
                v.number(pm["output_per_mtok"], k + ".price.output_per_mtok", lo=0),
            )
        upstream = None
        if "upstream" in m:
            upstream = v.string(m["upstream"], k + ".upstream")
            if upstream not in upstreams:
                raise v.fail(k + ".upstream", f"names no entry of upstreams ({', '.join(sorted(upstreams)) or 'none defined'})", upstream)
        phases = _phases(v, m.get("phases"), k + ".phases", duration)
        providers[key] = ProviderSpec(key, lat, elat, ber, errors, rpm, ra, price, upstream, phases)

    chain = top["chain"]
    if not isinstance(chain, list) or not chain:
        raise v.fail("chain", "must be a non-empty list of deployment keys", chain)
    for i, c in enumerate(chain):
        if c not in providers:
            raise v.fail(f"chain[{i}]", f"names no deployment under providers ({', '.join(providers)})", c)
    if len(set(chain)) != len(chain):
        raise v.fail("chain", "names a deployment twice", chain)

    deadline, attempt_timeout = 60.0, 20.0
    if "router" in top:
        rt = v.mapping(top["router"], "router", ("deadline_s", "attempt_timeout_s"))
        deadline = v.number(rt.get("deadline_s", 60.0), "router.deadline_s", lo=0, lo_open=True)
        attempt_timeout = v.number(rt.get("attempt_timeout_s", 20.0), "router.attempt_timeout_s", lo=0, lo_open=True)
    return Scenario(
        name=name,
        duration_s=duration,
        traffic=traffic,
        chain=tuple(chain),
        providers=providers,
        seed=seed,
        deadline_s=deadline,
        attempt_timeout_s=attempt_timeout,
        description=description,
        sources=tuple(sources),
        upstreams=upstreams,
        source=source,
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
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(p), "<file>", f"cannot be read: {exc.strerror}", has_value=False) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(str(p), "<file>", f"is not valid YAML: {exc}", has_value=False) from None
    return parse_scenario(data, str(p))
