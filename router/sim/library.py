"""The packaged scenario library (``router/sim/scenarios/*.yaml``)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SCENARIO_DIR", "scenario_path", "scenario_paths"]

SCENARIO_DIR = Path(__file__).with_name("scenarios")


def scenario_paths() -> list[Path]:
    """Every packaged scenario file, sorted by name."""
    return sorted(SCENARIO_DIR.glob("*.yaml"))


def scenario_path(name: str) -> Path | None:
    """The packaged file for a scenario file stem, or ``None``."""
    p = SCENARIO_DIR / f"{name}.yaml"
    return p if p.exists() else None
