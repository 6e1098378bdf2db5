"""Every document the code and docs cite is in the repository (the contracts live in
docs/design.md, not in a file only some machines have)."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {"__pycache__", "build", "dist", "node_modules"}
TEXT = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".ini"}
DOC = re.compile(r"(?<![\w/.-])((?:\.{1,2}/|[\w-]+/)*[\w-]+\.md)\b")
OUTSIDE = re.compile(r"\bDESIGN\b|/work/|\bseed/000_")


def _files() -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS and not d.endswith(".egg-info")]
        out += [Path(dirpath) / f for f in filenames if Path(f).suffix in TEXT]
    return out


def _resolves(ref: str, where: Path, names: set[str]) -> bool:
    if (where.parent / ref).is_file() or (ROOT / ref).is_file():
        return True
    return "/" not in ref and ref in names  # a bare name (``SCENARIOS.md``) of a document we have


def test_no_file_cites_a_document_outside_the_repo() -> None:
    files = _files()
    names = {p.name for p in files if p.suffix == ".md"}
    bad = []
    for path in files:
        if path == Path(__file__).resolve():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            rel = path.relative_to(ROOT)
            bad += [f"{rel}:{n}: {m.group(0)!r}" for m in OUTSIDE.finditer(line)]
            bad += [f"{rel}:{n}: {m.group(1)!r} is not in the repo" for m in DOC.finditer(line) if not _resolves(m.group(1), path, names)]
    assert not bad, "\n".join(bad)


def test_the_design_document_exists_and_modules_point_into_it() -> None:
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    for heading in ("## Layout", "## The call path", "## Telemetry records", "## Error taxonomy", "## Configuration", "## Scenario files", "## Command line"):
        assert heading in design
    for module in ("router/resilience/breaker.py", "router/resilience/rules.py", "router/sim/bounds.py", "router/sim/scenario.py", "router/sim/SCENARIOS.md"):
        assert "docs/design.md" in (ROOT / module).read_text(encoding="utf-8"), module


def test_every_config_key_is_in_the_design_document() -> None:
    from router.config_schema import ConfigSpec, DeploymentSpec, TierSpec
    from router.settings import BreakerSettings, RouterSettings
    from router.sim.scenario_schema import ProviderModel, ScenarioModel

    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    scenarios = (ROOT / "router" / "sim" / "SCENARIOS.md").read_text(encoding="utf-8")
    config_keys = [*ConfigSpec.model_fields, *DeploymentSpec.model_fields, *TierSpec.model_fields]
    config_keys += [f.name for cls in (RouterSettings, BreakerSettings) for f in dataclasses.fields(cls)]
    missing = [k for k in config_keys if f"`{k}" not in design]
    missing += [k for k in (*ScenarioModel.model_fields, *ProviderModel.model_fields) if f"`{k}`" not in scenarios]
    assert not missing, f"undocumented keys: {missing}"
