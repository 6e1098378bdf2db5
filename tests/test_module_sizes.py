"""The sizes the developers' guide sets: no module in router/, telemetry/, policies/ over 450
lines, no function over 60 lines in the call path."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CALL_PATH = [
    "router/core.py",
    "router/call.py",
    "router/call_outcome.py",
    "router/answers.py",
    "router/arguments.py",
    "router/redact.py",
    "router/streaming.py",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "router/resilience").glob("*.py")),
]


def test_no_module_over_450_lines() -> None:
    big = {
        str(p.relative_to(ROOT)): n
        for pkg in ("router", "telemetry", "policies")
        for p in (ROOT / pkg).rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 450
    }
    assert big == {}


def test_no_function_over_60_lines_in_the_call_path() -> None:
    long = []
    for rel in CALL_PATH:
        tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:  # type: ignore[operator]
                long.append(f"{rel}:{node.lineno} {node.name}")
    assert long == []
