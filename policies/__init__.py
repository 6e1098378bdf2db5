"""The policy engine: statistics it reads, built-in policies, and plans with reasons."""

from policies.adaptive import AdaptivePolicy
from policies.bandit import BanditPolicy
from policies.base import Candidate, Plan, PlanContext, Policy, as_policy, chain_policies
from policies.cooldown import CooldownPolicy
from policies.health import HealthPolicy
from policies.registry import get_policy, policy_names, register_policy, unregister_policy
from policies.static import StaticPolicy
from policies.stats import DeploymentStats, StatsRegistry

__all__ = [
    "AdaptivePolicy",
    "BanditPolicy",
    "Candidate",
    "CooldownPolicy",
    "DeploymentStats",
    "HealthPolicy",
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
    "unregister_policy",
]
