"""Property tests over config and scenario files: whatever a file holds, loading it either works
or raises ``ConfigError`` (``ScenarioError`` for scenarios) promptly; never a raw exception."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.config import build_router
from router.errors import ConfigError
from router.sim import ScenarioError, load_scenario, parse_scenario

CONFIG: dict[str, Any] = {
    "telemetry": {"url": "sqlite:///never-opened.db"},
    "settings": {"deadline_s": 30, "retry_budget_tokens": 10, "breaker": {"fail_max": 3, "window": 50, "jitter": 0.1}},
    "deployments": {
        "openai/gpt-4o": {"model": "gpt-4o", "base_url": "http://127.0.0.1:9/v1", "headers": {"x-team": "a"}, "attempt_timeout_s": 5},
        "anthropic/claude": {"model": "claude", "api": "anthropic", "price": {"input_per_mtok": 3, "output_per_mtok": 15}, "context_window": 200000},
    },
    "tiers": {
        "capable": {"chain": ["openai/gpt-4o", "anthropic/claude"], "policy": "static", "policies_by_task": {"review": "health"}, "errors": {"timeout": {"retry": False}}},
        "cheap": {"chain": ["anthropic/claude"], "objective": "cost", "cost_cap": 0.01},
    },
}
SCENARIO: dict[str, Any] = {
    "name": "prop",
    "seed": 3,
    "duration_s": 600,
    "traffic": {"rate_per_s": 5, "tier": "t", "tasks": {"a": 1}, "tokens": {"input_mean": 100}, "profile": [{"start_s": 0, "end_s": 60, "factor": 2}]},
    "chain": ["p/a", "p/b"],
    "router": {"deadline_s": 30},
    "upstreams": {"up": {"phases": [{"start_s": 10, "end_s": 20, "error_rate": 0.5}]}},
    "providers": {
        "p/a": {"latency_ms": {"median": 100, "p95": 300}, "upstream": "up", "errors": {"timeout": 1}, "phases": [{"start_s": 100, "end_s": 200, "error_rate": 0.2, "error_rate_end": 0.0}]},
        "p/b": {"latency_ms": {"median": 200, "p95": 500}, "price": {"input_per_mtok": 1, "output_per_mtok": 2}, "rate_limit_rpm": 60},
    },
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "http://", "a\r\nb", "static", "cooldown", "openai/gpt-4o", "p/a", "timeout", ".nan", "x" * 500]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    """``base`` with one to three values replaced, keys deleted or unknown keys added."""
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            return draw(values)
        path = draw(st.sampled_from(paths))
        parent = data
        for k in path[:-1]:
            parent = parent[k]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(values)
        else:
            parent.append(draw(values))
    return data


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True)


def _loads_or_config_error(load: Callable[[], Any], error: type[Exception] = ConfigError) -> None:
    t0 = time.perf_counter()
    try:
        load()
    except error as exc:
        assert len(str(exc)) < 20_000
    # a hang guard, not a timing claim: every file here loads in milliseconds
    assert time.perf_counter() - t0 < 20


PROPS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTUNE_PROP_KEY", "sk-prop")


def test_the_base_files_are_valid(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(_dump(CONFIG))
    assert set(build_router(path, telemetry=None).tiers) == {"capable", "cheap"}
    assert parse_scenario(SCENARIO).chain == ("p/a", "p/b")


@PROPS
@given(data=mutated(CONFIG))
def test_mutated_config_files_load_or_raise_config_error(tmp_path: Path, data: Any) -> None:
    path = tmp_path / "attune.yaml"
    path.write_text(_dump(data))
    _loads_or_config_error(lambda: build_router(path, telemetry=None))
    _loads_or_config_error(lambda: build_router(data, telemetry=None) if isinstance(data, dict) else None)


YAML_CHARS = st.sampled_from(list("abcxyz019 :-[]{},&*!|>'\"\n#?%@.\t\\") + ["\n  ", ": ", "- ", "&a ", "*a", "!!", "<<: ", ".nan", "\ufeff", "\x00", "\x85"])


@PROPS
@given(text=st.lists(YAML_CHARS, max_size=60).map("".join), raw=st.binary(max_size=40))
def test_random_yaml_and_bytes_raise_only_config_error(tmp_path: Path, text: str, raw: bytes) -> None:
    path = tmp_path / "attune.yaml"
    path.write_text(text, encoding="utf-8")
    _loads_or_config_error(lambda: build_router(path, telemetry=None))
    _loads_or_config_error(lambda: load_scenario(path), ScenarioError)
    path.write_bytes(raw)
    _loads_or_config_error(lambda: build_router(path, telemetry=None))
    _loads_or_config_error(lambda: load_scenario(path), ScenarioError)


@PROPS
@given(data=mutated(SCENARIO))
def test_mutated_scenario_files_load_or_raise_scenario_error(tmp_path: Path, data: Any) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(_dump(data))
    _loads_or_config_error(lambda: load_scenario(path), ScenarioError)
    _loads_or_config_error(lambda: parse_scenario(data, "mem"), ScenarioError)


@PROPS
@given(data=mutated(SCENARIO), odd=st.sampled_from([(1, 2), {1, 2}, object(), b"bytes", 1 + 2j, math.nan, 10**5000]))
def test_python_values_yaml_cannot_hold_raise_scenario_error(data: Any, odd: Any) -> None:
    paths = [p for p in _paths(data) if p]
    if paths:
        parent = data
        for k in paths[len(paths) // 2][:-1]:
            parent = parent[k]
        parent[paths[len(paths) // 2][-1]] = odd
    _loads_or_config_error(lambda: parse_scenario(data, "mem"), ScenarioError)
