"""Scenario files: the packaged library loads, and bad files fail with file, key path and value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from router.sim import ScenarioError, load_scenario, parse_scenario, scenario_paths

BASE: dict[str, Any] = {
    "name": "t",
    "duration_s": 600,
    "traffic": {"rate_per_s": 5},
    "chain": ["openai/gpt-4o", "anthropic/claude-sonnet-4"],
    "providers": {
        "openai/gpt-4o": {
            "latency_ms": {"median": 900, "p95": 2500},
            "phases": [
                {"start_s": 100, "end_s": 300, "error_rate": 0.5},
                {"start_s": 200, "end_s": 400, "latency_factor": 3},
            ],
        },
        "anthropic/claude-sonnet-4": {"latency_ms": {"median": 1200, "p95": 3000}},
    },
}


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    data = yaml.safe_load(yaml.safe_dump(BASE))
    node = data
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return data


def _write(tmp_path: Path, data: Any) -> Path:
    p = tmp_path / "user.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_the_packaged_library_has_at_least_ten_valid_scenarios_with_sources() -> None:
    paths = scenario_paths()
    assert len(paths) >= 10
    names = set()
    for p in paths:
        sc = load_scenario(p)
        names.add(sc.name)
        assert sc.sources, f"{p.name} cites no source"
        assert sc.expected_calls() > 1000
    assert len(names) == len(paths)


def test_a_packaged_scenario_loads_by_name() -> None:
    assert load_scenario("full-outage").name == "full-outage"


@pytest.mark.parametrize(
    ("path", "value", "key", "shown"),
    [
        (["providers", "openai/gpt-4o", "phases", 1, "end_s"], 50, "providers.openai/gpt-4o.phases[1].end_s", "50"),
        (["providers", "openai/gpt-4o", "phases", 0, "error_rate"], 1.5, "providers.openai/gpt-4o.phases[0].error_rate", "1.5"),
        (["providers", "openai/gpt-4o", "phases", 0, "erors"], {"timeout": 1}, "providers.openai/gpt-4o.phases[0].erors", "{'timeout': 1}"),
        (["providers", "openai/gpt-4o", "latency_ms", "p95"], 500, "providers.openai/gpt-4o.latency_ms.p95", "500"),
        (["providers", "openai/gpt-4o", "errors"], {"overload": 1}, "providers.openai/gpt-4o.errors.overload", "'overload'"),
        (["traffic", "rate_per_s"], "fast", "traffic.rate_per_s", "'fast'"),
        (["traffic", "rate"], 3, "traffic.rate", "3"),
        (["chain", 1], "anthropic/claude", "chain[1]", "'anthropic/claude'"),
        (["duration_s"], -1, "duration_s", "-1"),
        (["seed"], True, "seed", "True"),
    ],
)
def test_a_bad_value_names_the_file_the_key_path_and_the_value(tmp_path: Path, path: list[Any], value: Any, key: str, shown: str) -> None:
    f = _write(tmp_path, _with(path, value))
    with pytest.raises(ScenarioError) as ei:
        load_scenario(f)
    msg = str(ei.value)
    assert str(f) in msg
    assert f"{key}:" in msg
    assert shown in msg
    assert ei.value.key == key


def test_a_missing_required_key_is_named(tmp_path: Path) -> None:
    data = _with(["name"], "x")
    del data["providers"]["openai/gpt-4o"]["latency_ms"]
    with pytest.raises(ScenarioError, match=r"providers\.openai/gpt-4o\.latency_ms: is required"):
        load_scenario(_write(tmp_path, data))


def test_unparsable_yaml_and_missing_files_are_reported_with_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="broken.yaml"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="nope.yaml"):
        load_scenario(tmp_path / "nope.yaml")


def test_phases_overlap_field_by_field_and_the_later_one_wins() -> None:
    data = _with(["providers", "openai/gpt-4o", "phases"], [
        {"start_s": 100, "end_s": 300, "error_rate": 0.5, "errors": {"timeout": 1}, "latency_factor": 2},
        {"start_s": 200, "end_s": 400, "error_rate": 0.1},
    ])  # fmt: skip
    tl = parse_scenario(data).timeline("openai/gpt-4o")
    assert tl.error_rate_at(50) == 0.0
    assert tl.error_rate_at(150) == 0.5 and tl.at(150).latency_factor == 2
    # later phase wins the error rate; the earlier phase's other fields still apply where it runs
    assert tl.error_rate_at(250) == 0.1 and tl.at(250).latency_factor == 2 and tl.at(250).kinds == ("timeout",)
    assert tl.error_rate_at(350) == 0.1 and tl.at(350).latency_factor == 1.0
    assert tl.error_rate_at(450) == 0.0


def test_an_error_rate_ramp_interpolates_linearly() -> None:
    data = _with(["providers", "openai/gpt-4o", "phases"], [{"start_s": 100, "end_s": 300, "error_rate": 1.0, "error_rate_end": 0.0}])
    tl = parse_scenario(data).timeline("openai/gpt-4o")
    assert tl.error_rate_at(100) == pytest.approx(1.0)
    assert tl.error_rate_at(150) == pytest.approx(0.75)
    assert tl.error_rate_at(299) == pytest.approx(0.005)
    assert tl.error_rate_at(300) == 0.0


def test_error_rate_end_without_error_rate_is_rejected() -> None:
    data = _with(["providers", "openai/gpt-4o", "phases"], [{"start_s": 1, "end_s": 2, "error_rate_end": 0.1}])
    with pytest.raises(ScenarioError, match=r"phases\[0\]\.error_rate_end: needs error_rate"):
        parse_scenario(data, "mem.yaml")


def test_upstream_phases_reach_every_deployment_that_names_the_upstream() -> None:
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data["upstreams"] = {"cloud": {"phases": [{"start_s": 10, "end_s": 20, "error_rate": 0.9}]}}
    for p in data["providers"].values():
        p["upstream"] = "cloud"
    sc = parse_scenario(data)
    assert all(sc.timeline(k).error_rate_at(15) == 0.9 for k in sc.chain)
    data["providers"]["openai/gpt-4o"]["upstream"] = "other"
    with pytest.raises(ScenarioError, match=r"providers\.openai/gpt-4o\.upstream: names no entry of upstreams"):
        parse_scenario(data)


def test_a_traffic_profile_shapes_the_expected_calls() -> None:
    data = _with(["traffic", "profile"], [{"start_s": 0, "end_s": 300, "factor": 0.0}])
    sc = parse_scenario(data)
    assert sc.rate_at(100) == 0.0 and sc.rate_at(400) == 5
    assert sc.expected_calls() == pytest.approx(5 * 300)


# -- issue 12 finding 10: bad scenario files are ScenarioErrors, never raw exceptions ----------
def test_an_unhashable_chain_entry_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as ei:
        load_scenario(_write(tmp_path, _with(["chain", 0], ["openai/gpt-4o"])))
    assert ei.value.key == "chain[0]" and "valid string (got ['openai/gpt-4o'])" in str(ei.value)


def test_invalid_utf8_is_named(tmp_path: Path) -> None:
    f = tmp_path / "latin1.yaml"
    f.write_bytes(yaml.safe_dump(BASE).encode() + b"# d\xe9j\xe0 vu\n")
    with pytest.raises(ScenarioError, match=r"latin1.yaml: is not valid UTF-8"):
        load_scenario(f)


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "deep.yaml"
    f.write_text(yaml.safe_dump(BASE) + "description: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ScenarioError, match="deep.yaml: nested deeper than 64 levels"):
        load_scenario(f)
    deep: Any = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ScenarioError, match="description: must be a valid string"):
        parse_scenario(_with(["description"], deep), "mem.yaml")


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        (["duration_s"], float("nan"), "duration_s"),
        (["traffic", "rate_per_s"], float("inf"), "traffic.rate_per_s"),
        (["traffic", "rate_per_s"], True, "traffic.rate_per_s"),
        (["providers", "openai/gpt-4o", "latency_ms", "median"], float("nan"), "providers.openai/gpt-4o.latency_ms.median"),
        (["providers", "openai/gpt-4o", "price"], {"input_per_mtok": float("nan"), "output_per_mtok": 1}, "providers.openai/gpt-4o.price.input_per_mtok"),
        (["router"], {"deadline_s": float("nan")}, "router.deadline_s"),
        (["router"], {"attempt_timeout_s": True}, "router.attempt_timeout_s"),
        (["seed"], 2.5, "seed"),
        (["providers", "openai/gpt-4o", "errors"], ["timeout"], "providers.openai/gpt-4o.errors"),
    ],
)
def test_non_finite_and_mistyped_numbers_are_refused(path: list[Any], value: Any, key: str) -> None:
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(_with(path, value), "mem.yaml")
    assert ei.value.key == key, str(ei.value)


def test_every_problem_is_reported_at_once() -> None:
    data = _with(["duration_s"], -1)
    data["traffic"]["rate_per_s"] = "fast"
    data["chain"][1] = "nobody/x"
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(data, "mem.yaml")
    assert [k for k, _, _ in ei.value.problems] == ["duration_s", "traffic.rate_per_s"]  # shape first
    data = _with(["chain", 1], "nobody/x")
    data["providers"]["openai/gpt-4o"]["latency_ms"]["p95"] = 100
    with pytest.raises(ScenarioError) as ei:
        parse_scenario(data, "mem.yaml")
    assert [k for k, _, _ in ei.value.problems] == ["providers.openai/gpt-4o.latency_ms.p95", "chain[1]"]


def test_the_router_defaults_come_from_router_settings() -> None:
    from router import RouterSettings

    sc = parse_scenario(BASE)
    assert (sc.deadline_s, sc.attempt_timeout_s) == (RouterSettings().deadline_s, RouterSettings().attempt_timeout_s)
    assert parse_scenario(_with(["router"], {"deadline_s": 30})).deadline_s == 30


def test_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "bomb.yaml"
    f.write_text("a: &a [" + ",".join(["x"] * 9) + "]\n" + "".join(f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, n in zip("abcdefgh", "bcdefghi")))
    with pytest.raises(ScenarioError, match="expands to more than"):
        load_scenario(f)
