"""Retry, circuit breaking, error rules and Retry-After handling for the call path."""

from router.resilience.breaker import BreakerSettings, DeploymentBreaker
from router.resilience.retry import RetryBudget, RetryPolicy, retry_if_retryable, wait_jittered_backoff
from router.resilience.retry_after import parse_retry_after
from router.resilience.rules import DEFAULT_RULES, ERROR_TYPES, ErrorRule, merge_rules

__all__ = [
    "BreakerSettings",
    "DEFAULT_RULES",
    "DeploymentBreaker",
    "ERROR_TYPES",
    "ErrorRule",
    "RetryBudget",
    "RetryPolicy",
    "merge_rules",
    "parse_retry_after",
    "retry_if_retryable",
    "wait_jittered_backoff",
]
