"""The error taxonomy's behaviour: for each ``error_type``, whether to retry the same
deployment, whether to fall back, and whether it counts against the breaker.

Defaults follow the table in docs/design.md ("Error taxonomy"); a tier may override any row in its config
(``tiers.<name>.errors.<error_type>: {retry: false}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["ANSWER_ERROR_TYPES", "DEFAULT_RULES", "ERROR_TYPES", "ErrorRule", "merge_rules"]


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """How the router treats one error class.

    ``max_retries``: after a failure of this class the same deployment is retried only while
    the attempts made there in this call, of any class, number at most ``max_retries`` (so
    ``invalid_response``'s 1 allows one retry when it is the first failure, none after a 503
    and a retry); ``None``: the retry policy's own stop decides; ``0``: never retried.
    """

    max_retries: int | None
    fallback: bool
    breaker: bool

    @property
    def retry(self) -> bool:
        return self.max_retries is None or self.max_retries > 0


DEFAULT_RULES: dict[str, ErrorRule] = {
    "rate_limited": ErrorRule(max_retries=None, fallback=True, breaker=False),
    "overloaded": ErrorRule(max_retries=None, fallback=True, breaker=True),
    "server_error": ErrorRule(max_retries=None, fallback=True, breaker=True),
    "timeout": ErrorRule(max_retries=None, fallback=True, breaker=True),
    "connection": ErrorRule(max_retries=None, fallback=True, breaker=True),
    "invalid_response": ErrorRule(max_retries=1, fallback=True, breaker=True),
    "auth": ErrorRule(max_retries=0, fallback=True, breaker=False),
    "context_length": ErrorRule(max_retries=0, fallback=True, breaker=False),
    "bad_request": ErrorRule(max_retries=0, fallback=False, breaker=False),
    "circuit_open": ErrorRule(max_retries=0, fallback=True, breaker=False),
}

ERROR_TYPES: tuple[str, ...] = tuple(DEFAULT_RULES) + ("cancelled",)
# what a provider's answer (or its silence) can end an attempt with: every type but the
# router's own circuit_open and the caller's cancelled (the simulator's error kinds)
ANSWER_ERROR_TYPES: tuple[str, ...] = tuple(k for k in DEFAULT_RULES if k != "circuit_open")


def merge_rules(overrides: Mapping[str, Mapping[str, Any]] | None, *, source: str = "rules") -> dict[str, ErrorRule]:
    """Defaults with per-class overrides (``{"timeout": {"retry": False}}``) applied."""
    rules = dict(DEFAULT_RULES)
    if not overrides:
        return rules
    for etype, change in overrides.items():
        if etype not in DEFAULT_RULES:
            raise ValueError(f"unknown error class {etype!r} in {source}; known: {sorted(DEFAULT_RULES)}")
        if not isinstance(change, Mapping):
            raise ValueError(f"{source}.{etype} must be a mapping, got {change!r}")
        kwargs: dict[str, Any] = {}
        for k, v in change.items():
            if k == "retry":
                if isinstance(v, bool):
                    kwargs["max_retries"] = None if v else 0
                elif isinstance(v, int) and v >= 0:
                    kwargs["max_retries"] = v
                else:
                    raise ValueError(f"{source}.{etype}.retry must be true, false or a count >= 0, got {v!r}")
            elif k in ("fallback", "breaker"):
                if not isinstance(v, bool):
                    raise ValueError(f"{source}.{etype}.{k} must be true or false, got {v!r}")
                kwargs[k] = v
            else:
                raise ValueError(f"unknown key {k!r} in {source}.{etype}; known: retry, fallback, breaker")
        rules[etype] = replace(rules[etype], **kwargs)
    return rules
