"""Built-in policies by name, for config files (``policy: adaptive``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["get_policy", "policy_names", "register_policy", "unregister_policy"]

_FACTORIES: dict[str, Callable[..., Any]] = {}
_BUILTIN = frozenset({"static", "cooldown", "health", "bandit", "adaptive"})


def register_policy(name: str, factory: Callable[..., Any]) -> None:
    """Make ``factory(**options)`` available as ``policy: <name>`` in config files."""
    _FACTORIES[name] = factory


def unregister_policy(name: str) -> None:
    """Forget a name given to ``register_policy`` (built-in names cannot be removed)."""
    if name in _BUILTIN:
        raise ValueError(f"{name!r} is a built-in policy and cannot be unregistered")
    if _FACTORIES.pop(name, None) is None:
        raise ValueError(f"no policy registered as {name!r}")


def policy_names() -> list[str]:
    _load_builtins()
    return sorted(_FACTORIES)


def get_policy(name: str, **options: Any) -> Any:
    """A new policy object for a built-in or registered name."""
    _load_builtins()
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; known: {sorted(_FACTORIES)}") from None
    return factory(**options)


def _load_builtins() -> None:
    if "static" in _FACTORIES:
        return
    from policies.adaptive import AdaptivePolicy
    from policies.bandit import BanditPolicy
    from policies.cooldown import CooldownPolicy
    from policies.health import HealthPolicy
    from policies.static import StaticPolicy

    register_policy("static", StaticPolicy)
    register_policy("cooldown", CooldownPolicy)
    register_policy("health", HealthPolicy)
    register_policy("bandit", BanditPolicy)
    register_policy("adaptive", AdaptivePolicy)
