"""Built-in policies by name, for config files (``policy: adaptive``)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["PolicyOptionError", "build_policy", "get_policy", "policy_from_spec", "policy_names", "register_policy", "unregister_policy"]

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
    return _factory(name)(**options)


def _factory(name: str) -> Callable[..., Any]:
    _load_builtins()
    try:
        return _FACTORIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; known: {sorted(_FACTORIES)}") from None


class PolicyOptionError(ValueError):
    """A policy refused its options: ``option`` names the one it does not take (``None`` when
    it refused a value; the message says which)."""

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


def build_policy(name: str, options: Mapping[str, Any] | None = None) -> Any:
    """``get_policy(name, **options)``; an unknown name is a ``ValueError``, an option the
    policy does not take, or a value it refuses, a ``PolicyOptionError`` naming the policy and
    the option (or the options given)."""
    factory = _factory(name)
    options = dict(options or {})
    try:
        return factory(**options)
    except (TypeError, ValueError) as exc:
        m = re.search(r"unexpected keyword argument '([^']+)'", str(exc)) if isinstance(exc, TypeError) else None
        if m is not None:
            raise PolicyOptionError(f"policy {name!r} takes no option {m.group(1)!r}", option=m.group(1)) from None
        given = ", ".join(f"{k}={v!r}" for k, v in options.items())
        raise PolicyOptionError(f"policy {name!r} ({given or 'no options'}): {exc}") from None


def policy_from_spec(spec: str) -> Any:
    """A policy from ``NAME`` or ``NAME:OPTION=VALUE[,OPTION=VALUE...]`` (``attune bench
    --policy adaptive:timeout_multiple=0``); a value is read as true/false, an integer, a finite
    number, or else text. ``ValueError`` says what is wrong."""
    name, sep, rest = spec.partition(":")
    options: dict[str, Any] = {}
    if sep:
        for item in rest.split(","):
            key, eq, raw = item.partition("=")
            key = key.strip()
            if not eq or not key.isidentifier():
                raise ValueError(f"expected NAME:OPTION=VALUE[,OPTION=VALUE...], got {item!r}")
            options[key] = _scalar(raw.strip(), key)
    return build_policy(name.strip(), options)


def _scalar(raw: str, option: str) -> Any:
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError:
        return raw
    if not math.isfinite(value):
        raise ValueError(f"option {option!r}: {raw!r} is not a finite number")
    return value


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
