"""The error taxonomy: one ``ProviderError`` subclass per ``error_type``, found by name."""

from __future__ import annotations

import pytest

import router.errors as errors
from router.resilience.rules import ANSWER_ERROR_TYPES, DEFAULT_RULES, ERROR_TYPES


def test_every_error_type_of_the_rules_has_its_class() -> None:
    classes = {name: errors.error_class_for(name) for name in DEFAULT_RULES}
    for name, cls in classes.items():
        assert issubclass(cls, errors.ProviderError) and cls.error_type == name
        assert getattr(errors, cls.__name__) is cls and cls.__name__ in errors.__all__
    assert len(set(classes.values())) == len(classes)  # one class a name
    assert set(ANSWER_ERROR_TYPES) == set(DEFAULT_RULES) - {"circuit_open"}
    assert set(ERROR_TYPES) == set(DEFAULT_RULES) | {"cancelled"}


def test_an_unknown_error_type_is_named_with_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown error_type 'teapot'; known: .*'rate_limited'"):
        errors.error_class_for("teapot")


def test_the_base_class_and_a_subclass_without_a_name_keep_server_error() -> None:
    class Custom(errors.ServerError):
        pass

    assert errors.ProviderError("x").error_type == "server_error" and Custom("x").error_type == "server_error"
    assert errors.error_class_for("server_error") is errors.ServerError  # a subclass does not take over the name
    assert str(errors.RateLimitedError("slow down", status=429, deployment="a/b")) == "rate_limited HTTP 429 from a/b: slow down"
