"""The policy engine: statistics it reads, built-in policies, and plans with reasons."""

from policies.base import Candidate, Plan, PlanContext, Policy, as_policy, chain_policies
from policies.registry import get_policy, policy_names, register_policy
from policies.static import StaticPolicy
from policies.stats import DeploymentStats, StatsRegistry

__all__ = [
    "Candidate",
    "DeploymentStats",
    "Plan",
    "PlanContext",
    "Policy",
    "StaticPolicy",
    "StatsRegistry",
    "as_policy",
    "chain_policies",
    "get_policy",
    "policy_names",
    "register_policy",
]
