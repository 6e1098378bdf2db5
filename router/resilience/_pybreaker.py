"""Import pybreaker without its optional Redis storage.

pybreaker imports ``redis`` at import time when it is installed (about 0.2 s), only to offer
``CircuitRedisStorage``, which the router does not use: its breakers keep local state and
share it through ``router.resilience.shared`` instead. If ``redis`` is not imported yet, it
is hidden while pybreaker loads.
"""

from __future__ import annotations

import sys

if "pybreaker" in sys.modules or "redis" in sys.modules:
    import pybreaker
else:
    sys.modules["redis"] = None  # type: ignore[assignment]
    try:
        import pybreaker
    finally:
        del sys.modules["redis"]

__all__ = ["pybreaker"]
