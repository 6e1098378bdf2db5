"""What the packages export, and that importing the router stays light."""

from __future__ import annotations

import subprocess
import sys

import policies
import router
import telemetry


def test_router_exports() -> None:
    assert router.__all__ == sorted(router.__all__)
    assert {"AsyncClient", "Client", "Router", "Deployment", "Tier", "RouterSettings", "RoutingError", "OpenAIProvider", "AnthropicProvider", "GeminiProvider"} <= set(router.__all__)
    assert {"BreakerSettings", "RedisSharedState", "RetryPolicy"} <= set(router.__all__)
    for name in router.__all__:
        assert getattr(router, name) is not None


def test_exports_are_the_classes_the_modules_define() -> None:
    from policies.cooldown import CooldownPolicy
    from router.resilience.breaker import BreakerSettings
    from router.resilience.retry import RetryPolicy
    from router.resilience.shared import RedisSharedState

    assert (router.BreakerSettings, router.RetryPolicy, router.RedisSharedState) == (BreakerSettings, RetryPolicy, RedisSharedState)
    assert policies.CooldownPolicy is CooldownPolicy and "CooldownPolicy" in policies.__all__


def test_policies_and_telemetry_exports_resolve() -> None:
    for mod in (policies, telemetry):
        assert mod.__all__ == sorted(mod.__all__)
        for name in mod.__all__:
            assert getattr(mod, name) is not None, (mod.__name__, name)


def test_import_router_does_not_load_heavy_modules() -> None:
    code = (
        "import sys, router; heavy = [m for m in ('sqlalchemy', 'sqlmodel', 'numpy', 'matplotlib', 'rich', 'redis', 'httpx', 'pydantic', 'yaml')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_imports_flow_one_way() -> None:
    code = "import sys, telemetry, policies; print(','.join(m for m in sys.modules if m == 'router' or m.startswith('router.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
