"""Policies built from a spec (``attune bench --policy NAME:OPTION=VALUE,...``) and from a
name with options (``attune.yaml``'s ``policy_options``): the options reach the policy, and a
bad one is named."""

from __future__ import annotations

import pytest

from policies import AdaptivePolicy, StaticPolicy
from policies.registry import PolicyOptionError, build_policy, policy_from_spec


def test_a_bare_name_is_the_registered_policy() -> None:
    assert isinstance(policy_from_spec("static"), StaticPolicy)


def test_options_are_read_as_numbers_booleans_or_text() -> None:
    p = policy_from_spec("adaptive: timeout_multiple=0 , ramp_s=2.5,probe_min_calls=7")
    assert isinstance(p, AdaptivePolicy)
    assert p.timeouts is None and p.ramp_s == 2.5 and p.probe_min_calls == 7 and isinstance(p.probe_min_calls, int)
    on = policy_from_spec("adaptive:timeout_multiple=2")
    assert on.timeouts is not None and on.timeouts.multiple == 2


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("adaptive:bogus=1", "policy 'adaptive' takes no option 'bogus'"),
        ("adaptive:ramp_floor=2", "ramp_floor in (0, 1]"),
        ("adaptive:=1", "expected NAME:OPTION=VALUE"),
        ("adaptive:ramp_s", "expected NAME:OPTION=VALUE"),
        ("adaptive:ramp_s=inf", "'inf' is not a finite number"),
        ("clever:x=1", "unknown policy 'clever'"),
    ],
)
def test_a_bad_spec_says_what_is_wrong(spec: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        policy_from_spec(spec)
    assert fragment in str(info.value)


def test_build_policy_names_the_option_it_does_not_take() -> None:
    with pytest.raises(PolicyOptionError) as info:
        build_policy("health", {"timeout_multiple": 2})
    assert info.value.option == "timeout_multiple"
    with pytest.raises(PolicyOptionError) as refused:
        build_policy("adaptive", {"ramp_floor": 0})
    assert refused.value.option is None and "ramp_floor" in str(refused.value)
